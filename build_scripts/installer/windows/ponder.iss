; Ponder for Windows: an Inno Setup 6 script around the PyInstaller bundle.
;
; Not built on the Linux build machine (Inno Setup runs on Windows). On Windows:
;   .venv\Scripts\python build_scripts\build.py --no-smoke-test      -> dist\ponder\ (ponder.exe, ponder-engine.exe)
;   "C:\Program Files (x86)\Inno Setup 6\ISCC.exe" /DAppVersion=0.1.0 build_scripts\installer\windows\ponder.iss
;   -> dist\Ponder-0.1.0-windows-x64-setup.exe
; The installer is per user by default (no administrator rights; {autopf} follows the choice), adds a Start
; menu entry and optionally a desktop icon, registers "Open with Ponder" for PDF, DOCX and Markdown files,
; and offers to start Ponder at the end. Uninstall from Settings > Apps; chats in %APPDATA%\Ponder stay.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "Ponder"
#define BundleDir "..\..\..\dist\ponder"

[Setup]
AppId={{6C1F3B4E-2D7A-4E55-9B0B-7A1D2C9E5F41}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=Ponder
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\..\dist
OutputBaseFilename=Ponder-{#AppVersion}-windows-x64-setup
SetupIconFile=..\..\..\resources\icons\ponder.ico
UninstallDisplayIcon={app}\ponder.exe
Compression=lzma2/ultra64
SolidCompression=yes
LZMANumBlockThreads=4
WizardStyle=modern
ChangesAssociations=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "associate"; Description: "Offer Ponder in ""Open with"" for PDF, DOCX and Markdown files"; GroupDescription: "File types:"

[Files]
; the whole onedir bundle: both programs and the shared _internal folder (Python, Qt, torch, the model)
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\ponder.exe"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\ponder.exe"; Tasks: desktopicon

[Registry]
; "Open with" entries only (the user's default handler for these types is left alone)
Root: HKA; Subkey: "Software\Classes\Applications\ponder.exe\shell\open\command"; ValueType: string; ValueData: """{app}\ponder.exe"" ""%1"""; Flags: uninsdeletekey; Tasks: associate
Root: HKA; Subkey: "Software\Classes\Applications\ponder.exe"; ValueType: string; ValueName: "FriendlyAppName"; ValueData: "{#AppName}"; Tasks: associate
Root: HKA; Subkey: "Software\Classes\.pdf\OpenWithList\ponder.exe"; Flags: uninsdeletekey; Tasks: associate
Root: HKA; Subkey: "Software\Classes\.docx\OpenWithList\ponder.exe"; Flags: uninsdeletekey; Tasks: associate
Root: HKA; Subkey: "Software\Classes\.md\OpenWithList\ponder.exe"; Flags: uninsdeletekey; Tasks: associate

[Run]
Filename: "{app}\ponder.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallRun]
; the engine is a child of the window; if either still runs, stop it so its files can be removed
Filename: "{sys}\taskkill.exe"; Parameters: "/F /T /IM ponder.exe"; Flags: runhidden; RunOnceId: "StopPonder"
Filename: "{sys}\taskkill.exe"; Parameters: "/F /IM ponder-engine.exe"; Flags: runhidden; RunOnceId: "StopPonderEngine"
