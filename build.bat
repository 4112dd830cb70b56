@echo off
rem build.bat - MSVC build of kanade-agent.exe and kanade.exe into build-msvc\.
rem Run from a "x64 Native Tools Command Prompt for VS" with:
rem   set BEARSSL_DIR=C:\src\BearSSL   (BearSSL built with its own nmake: inc\, build\bearssls.lib)
rem   set JSMN_DIR=C:\src\jsmn         (the folder holding jsmn.h)
rem The version comes from the VERSION file, or from the first argument.
setlocal
cd /d "%~dp0"
if "%BEARSSL_DIR%"=="" (echo build.bat: set BEARSSL_DIR to the BearSSL folder ^(inc\, build\bearssls.lib^) & exit /b 2)
if "%JSMN_DIR%"=="" (echo build.bat: set JSMN_DIR to the folder holding jsmn.h & exit /b 2)
if not exist "%BEARSSL_DIR%\build\bearssls.lib" (echo build.bat: %BEARSSL_DIR%\build\bearssls.lib not found; build BearSSL first & exit /b 2)
if not exist "%JSMN_DIR%\jsmn.h" (echo build.bat: %JSMN_DIR%\jsmn.h not found & exit /b 2)
set VERSION=%~1
if "%VERSION%"=="" set /p VERSION=<VERSION
rem "0.1.1" -> "0,1,1,0" for the fixed VERSIONINFO fields.
set A=0& set B=0& set C=0& set D=0
for /f "tokens=1-4 delims=.-+" %%a in ("%VERSION%") do (set A=%%a& set B=%%b& set C=%%c& set D=%%d)
if "%B%"=="" set B=0
if "%C%"=="" set C=0
if "%D%"=="" set D=0
nmake /nologo /f nmake.mak VERSION=%VERSION% VERSION_NUM=%A%,%B%,%C%,%D% %2 %3
exit /b %ERRORLEVEL%
