<#
.SYNOPSIS
    Installs or updates the Kanade agent on this host. Run it as Administrator.

.DESCRIPTION
    A thin wrapper: everything that matters (the folders and their ACLs, the
    config, its validation, the service with its failure actions) is done by
    `kanade-agent.exe install`, which is tested. This script only:
      1. stops the running service, so its exe can be replaced;
      2. with -Recreate, deletes the service registration first;
      3. copies the exe to %ProgramFiles%\Kanade\;
      4. calls `kanade-agent.exe install` (it writes the config only when it
         is missing, or with -ForceConfig), then starts the service;
      5. prints the installed version.

.PARAMETER ExePath
    The kanade-agent.exe to install.
.PARAMETER NatsUrl
    Broker URL(s), e.g. tls://nats.example.com:4222 (comma-separated list allowed).
.PARAMETER PcId
    The agent id. Default: the computer name, lowercased by the agent.
.PARAMETER CaFile
    PEM file with the CA that signed the broker's certificate (for tls:// URLs).
    Its absolute path is written into the config: keep the file where it is.
.PARAMETER Token
    Broker auth token.
.PARAMETER AuthFile
    The PC's .auth file from `kanade broker config` (user= and password=). Its
    two values are copied into the config; the user is the PC id (-PcId, when
    given, must match it). Not together with -Token.
.PARAMETER ReleaseKey
    Public release key(s) as printed by 'kanade agent keygen' (P256:...), up to 4.
    With a key the agent runs only releases and targets signed by it.
.PARAMETER Recreate
    Delete and re-register the service (config, data and logs are kept).
.PARAMETER ForceConfig
    Rewrite %ProgramData%\Kanade\config\agent.conf even if it exists.

.EXAMPLE
    .\deploy-agent.ps1 -ExePath .\kanade-agent.exe -NatsUrl tls://nats.example.com:4222 -CaFile C:\certs\ca.pem
.EXAMPLE
    .\deploy-agent.ps1 -ExePath .\kanade-agent.exe -NatsUrl tls://nats.example.com:4222 -CaFile C:\certs\ca.pem -AuthFile .\pc-17.auth
.EXAMPLE
    .\deploy-agent.ps1 -ExePath .\kanade-agent.exe -NatsUrl tls://nats.example.com:4222 -CaFile C:\certs\ca.pem -ReleaseKey P256:BGD+...
#>
#Requires -Version 5.1
#Requires -RunAsAdministrator
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)] [string] $ExePath,
    [Parameter(Mandatory = $true)] [string] $NatsUrl,
    [string] $PcId,
    [string] $CaFile,
    [string] $Token,
    [string] $AuthFile,
    [string[]] $ReleaseKey,
    [switch] $Recreate,
    [switch] $ForceConfig
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$ServiceName  = 'KanadeAgent'
$InstallDir   = Join-Path $env:ProgramFiles 'Kanade'
$InstalledExe = Join-Path $InstallDir 'kanade-agent.exe'
$ConfigPath   = Join-Path $env:ProgramData 'Kanade\config\agent.conf'
$Timeout      = [TimeSpan]::FromSeconds(30)

# Runs a kanade-agent.exe. Native programs do not throw on failure, so the
# exit code is checked here (the exe has already printed the reason).
function Invoke-AgentExe([string] $Exe, [string[]] $Arguments) {
    & $Exe @Arguments
    if ($LASTEXITCODE -ne 0) {
        throw "$Exe $($Arguments[0]) failed (exit code $LASTEXITCODE)"
    }
}

# 0. Resolve the inputs to absolute paths before anything is changed
#    (Resolve-Path throws if a file does not exist).
$ExePath = (Resolve-Path -LiteralPath $ExePath).Path
if ($CaFile) { $CaFile = (Resolve-Path -LiteralPath $CaFile).Path }
if ($AuthFile) { $AuthFile = (Resolve-Path -LiteralPath $AuthFile).Path }

# 1. Stop the running service, if any: Windows refuses to overwrite a
#    running exe.
$service = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
if ($service -and $service.Status -ne 'Stopped') {
    Write-Host "stopping $ServiceName"
    Stop-Service -Name $ServiceName -Force
    $service.WaitForStatus('Stopped', $Timeout)
}

# 2. -Recreate: delete the registration with the new exe (uninstall without
#    --purge keeps config, data and logs); step 4 registers it again.
if ($Recreate -and $service) {
    Invoke-AgentExe $ExePath @('uninstall')
}

# 3. Copy the exe into %ProgramFiles%\Kanade (unless it already runs from there).
New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
if ($ExePath -ne $InstalledExe) {
    Copy-Item -LiteralPath $ExePath -Destination $InstalledExe -Force
}

# 4. Register (or update) the service. install creates the folders with
#    their ACLs, writes the config only if it is missing (or -ForceConfig),
#    and refuses a config that would not start.
$installArgs = @('install', '--config', $ConfigPath, '--nats-url', $NatsUrl)
if ($PcId)        { $installArgs += @('--id', $PcId) }
if ($CaFile)      { $installArgs += @('--ca-file', $CaFile) }
if ($Token)       { $installArgs += @('--token', $Token) }
if ($AuthFile)    { $installArgs += @('--auth-file', $AuthFile) }
foreach ($k in $ReleaseKey) { $installArgs += @('--release-key', $k) }
if ($ForceConfig) { $installArgs += '--force-config' }
Invoke-AgentExe $InstalledExe $installArgs

# 5. Start it and wait until the SCM reports it running.
Start-Service -Name $ServiceName
(Get-Service -Name $ServiceName).WaitForStatus('Running', $Timeout)

# 6. Print what is installed.
Invoke-AgentExe $InstalledExe @('--version')
Write-Host "logs: $(Join-Path $env:ProgramData 'Kanade\logs')"
