# nmake.mak — MSVC build of kanade-agent.exe and kanade.exe (static CRT).
# Run through build.bat, which reads VERSION and checks the environment:
#   set BEARSSL_DIR=C:\src\BearSSL   (holds inc\ and build\bearssls.lib)
#   set JSMN_DIR=C:\src\jsmn         (holds jsmn.h)
#   build.bat
# The source list is sources.mk, shared with the GNU Makefile.

!include sources.mk

!IFNDEF BEARSSL_DIR
!ERROR BEARSSL_DIR is not set (folder with inc\ and build\bearssls.lib)
!ENDIF
!IFNDEF JSMN_DIR
!ERROR JSMN_DIR is not set (folder with jsmn.h)
!ENDIF
!IFNDEF VERSION
!ERROR VERSION is not set; run build.bat
!ENDIF
!IFNDEF VERSION_NUM
VERSION_NUM = 0,0,0,0
!ENDIF

OUT = build-msvc
CC = cl
RC = rc
CFLAGS = /nologo /std:c11 /O1 /MT /W3 /GS /DUNICODE /D_UNICODE /D_WIN32_WINNT=0x0601 \
	/D_CRT_SECURE_NO_WARNINGS /I"$(BEARSSL_DIR)\inc" /I"$(JSMN_DIR)" /Isrc
LDFLAGS = /nologo /OPT:REF /OPT:ICF
LIBS = "$(BEARSSL_DIR)\build\bearssls.lib" ws2_32.lib bcrypt.lib advapi32.lib \
	shell32.lib ole32.lib

LIB_OBJS = $(PURE_SRC:.c=.obj) $(WIN_SRC:.c=.obj)
AGENT_OBJS = $(AGENT_SRC:.c=.obj)
CLI_OBJS = $(CLI_SRC:.c=.obj)

all: $(OUT) $(OUT)\kanade-agent.exe $(OUT)\kanade.exe

$(OUT):
	if not exist $(OUT) mkdir $(OUT)

.c.obj:
	$(CC) $(CFLAGS) /c $< /Fo$@

$(OUT)\kanade-agent.res: src\version.rc VERSION
	$(RC) /nologo /DKVER_STR=\"$(VERSION)\" /DKVER_NUM=$(VERSION_NUM) \
	  /DKEXE_NAME=\"kanade-agent.exe\" /DKEXE_DESC=\"kanade-agent\" /fo$@ src\version.rc

$(OUT)\kanade.res: src\version.rc VERSION
	$(RC) /nologo /DKVER_STR=\"$(VERSION)\" /DKVER_NUM=$(VERSION_NUM) \
	  /DKEXE_NAME=\"kanade.exe\" /DKEXE_DESC=\"kanade\" /fo$@ src\version.rc

$(OUT)\kanade-agent.exe: $(LIB_OBJS) $(AGENT_OBJS) $(OUT)\kanade-agent.res
	link $(LDFLAGS) /OUT:$@ /SUBSYSTEM:CONSOLE $** $(LIBS)

$(OUT)\kanade.exe: $(LIB_OBJS) $(CLI_OBJS) $(OUT)\kanade.res
	link $(LDFLAGS) /OUT:$@ /SUBSYSTEM:CONSOLE $** $(LIBS)

clean:
	-del /q src\*.obj 2>nul
	-rmdir /s /q $(OUT) 2>nul
