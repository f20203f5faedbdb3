; Inno Setup script: a per-user Windows installer for the one-folder PyInstaller build.
;
; Build on Windows, from the repository root, after the PyInstaller build made
; dist\sharegpt4v-setup\ (see packaging\README.md):
;
;   "%ProgramFiles(x86)%\Inno Setup 6\ISCC.exe" packaging\windows\sharegpt4v-setup.iss
;
; The installer lands in dist\. MyAppVersion must equal wizard/__init__.py's __version__:
; packaging/check_versions.py (run by packaging/build.sh and the test suite) checks it.

#define MyAppName "ShareGPT4V Setup"
#define MyAppVersion "0.1.0"
#define MyAppPublisher "sharegpt4v-setup contributors"
#define MyAppExeName "sharegpt4v-setup.exe"

[Setup]
; The AppId identifies the application for upgrades and the uninstaller: never change it.
AppId={{3F00DA87-A309-4E54-B644-64AD23B38D10}
AppName={#MyAppName}
AppVersion={#MyAppVersion}
AppVerName={#MyAppName} {#MyAppVersion}
AppPublisher={#MyAppPublisher}
VersionInfoVersion={#MyAppVersion}
; Per user, no administrator rights: {autopf} is %LOCALAPPDATA%\Programs here.
PrivilegesRequired=lowest
DefaultDirName={autopf}\sharegpt4v-setup
DefaultGroupName={#MyAppName}
DisableProgramGroupPage=yes
LicenseFile=..\..\LICENSE
SetupIconFile=sharegpt4v-setup.ico
UninstallDisplayIcon={app}\{#MyAppExeName}
UninstallDisplayName={#MyAppName}
OutputDir=..\..\dist
OutputBaseFilename=sharegpt4v-setup-{#MyAppVersion}-windows-x64-setup
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
Compression=lzma2
SolidCompression=yes
WizardStyle=modern

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "..\..\dist\sharegpt4v-setup\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#MyAppName}"; Filename: "{app}\{#MyAppExeName}"
Name: "{autoprograms}\{#MyAppName} (offline demo)"; Filename: "{app}\{#MyAppExeName}"; Parameters: "--demo"
Name: "{autodesktop}\{#MyAppName}"; Filename: "{app}\{#MyAppExeName}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#MyAppExeName}"; Description: "{cm:LaunchProgram,{#StringChange(MyAppName, '&', '&&')}}"; Flags: nowait postinstall skipifsilent

; The uninstaller removes what [Files] and [Icons] installed. Data roots, the settings in
; %LOCALAPPDATA%\sharegpt4v-setup and the logs are the user's and stay.
