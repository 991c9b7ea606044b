; The Windows installer of HR-SM Backup (NSIS 3, built by scripts/build-windows-installer with
; Debian's makensis; see docs/ARCHITECTURE.md, "Installers").
;
; Why a script of our own and not the Tauri bundler's NSIS target: the bundler downloads its
; plugin DLL (nsis_tauri_utils) from GitHub at build time and checks its hash, and this build
; machine reaches no GitHub. Everything below uses NSIS's own plugins only (System, nsExec), so
; the installer builds from Debian's packages alone. tauri.conf.json keeps the bundler's
; settings for a Windows build machine that can use it (same install mode and identifier).
;
; What it does, per user, without administrator rights (like the bundler's currentUser mode):
; - installs the app ("HR-SM Backup.exe"), its WebView2 loader and the command-line tool
;   (hrsm-backup.exe, which the Task Scheduler's task runs) into
;   %LOCALAPPDATA%\Programs\HR-SM Backup;
; - a Start menu shortcut carrying the app id, and the app id registered under
;   HKCU\Software\Classes\AppUserModelId, so that Windows shows the app's notifications as
;   "HR-SM Backup" (notify.rs uses the same id, tauri.conf.json's identifier);
; - an entry in Settings > Apps with an uninstaller.
; Upgrading over a running app (or a running backup of the command-line tool) asks to quit it
; or let it finish first: the installer never kills a backup. Uninstalling keeps the settings,
; the backups and the key: they are the admin's data, not the program.
;
; Defines passed by the build script: VERSION, APPID, SRCDIR (the folder of the built .exe
; files and WebView2Loader.dll), ICON, OUTFILE.

Unicode true
Target amd64-unicode
SetCompressor /SOLID lzma
ManifestDPIAware true

!include "MUI2.nsh"
!include "LogicLib.nsh"
!include "FileFunc.nsh"
!include "x64.nsh"
!include "Win\COM.nsh"
!include "Win\Propkey.nsh"

!define PRODUCT "HR-SM Backup"
!define APPEXE "HR-SM Backup.exe"
!define UNINSTKEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APPID}"
!define AUMIDKEY "Software\Classes\AppUserModelId\${APPID}"

Name "${PRODUCT}"
OutFile "${OUTFILE}"
RequestExecutionLevel user
InstallDir "$LOCALAPPDATA\Programs\${PRODUCT}"
InstallDirRegKey HKCU "${UNINSTKEY}" "InstallLocation"
VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${PRODUCT}"
VIAddVersionKey "FileDescription" "${PRODUCT} installer"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "LegalCopyright" "${PRODUCT}"

!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\${APPEXE}"
!define MUI_FINISHPAGE_RUN_TEXT "Start ${PRODUCT} now"
!define MUI_WELCOMEPAGE_TEXT "This installs ${PRODUCT} ${VERSION}, which keeps encrypted, verified restore points of your HR-SM installation.$\r$\n$\r$\nNo administrator rights are needed: it is installed for you only."
!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!define MUI_UNCONFIRMPAGE_TEXT_TOP "${PRODUCT} will be removed from this computer. Your settings, your backups and your backup key stay where they are: installing it again finds them."
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_ICONSTOP "${PRODUCT} needs a 64-bit Windows." /SD IDOK
    Abort
  ${EndIf}
FunctionEnd

; A running program's file cannot be replaced on Windows. Rather than stop it (it may be in the
; middle of a backup or a restore), ask the admin to let it finish or quit it. Silent installs
; and uninstalls stop instead, with exit code 2. Both programs are looked at: the app, and the
; command-line tool the Task Scheduler's hourly task runs.
!macro WaitUntilNotRunning file message
  ${Do}
    ClearErrors
    ${IfNot} ${FileExists} "${file}"
      ${Break}
    ${EndIf}
    FileOpen $0 "${file}" a
    ${IfNot} ${Errors}
      FileClose $0
      ${Break}
    ${EndIf}
    MessageBox MB_RETRYCANCEL|MB_ICONEXCLAMATION "${message}" /SD IDCANCEL IDRETRY +3
    SetErrorLevel 2
    Quit
  ${Loop}
!macroend
!define APP_RUNNING "${PRODUCT} is running. Quit it from its icon next to the clock (right-click, Quit), then click Retry.$\r$\n$\r$\nIf a backup is running, wait until it has finished."
!define CLI_RUNNING "A backup started by the Task Scheduler (hrsm-backup.exe) is running. Wait until it has finished, then click Retry."

; A Start menu shortcut that carries the app id (PKEY_AppUserModel_ID), the NSIS COM example's
; way (Include\Win\COM.nsh).
Function CreateShortcutWithAppId
  !insertmacro ComHlpr_CreateInProcInstance ${CLSID_ShellLink} ${IID_IShellLink} r0 ""
  ${If} $0 P<> 0
    ${IShellLink::SetPath} $0 '("$INSTDIR\${APPEXE}").r1'
    ${IShellLink::SetIconLocation} $0 '("$INSTDIR\${APPEXE}",0).r2'
    ${IShellLink::SetDescription} $0 '("Encrypted, verified backups of HR-SM")'
    ${IUnknown::QueryInterface} $0 '("${IID_IPropertyStore}",.r1)'
    ${If} $1 P<> 0
      System::Call '*(&w${NSIS_MAX_STRLEN} "${APPID}")p.r4'
      System::Call '*(&i2 ${VT_LPWSTR}, &i6 0, p r4, &i8 0)p.r3'
      System::Call '*${SYSSTRUCT_PROPERTYKEY}(${PKEY_AppUserModel_ID})p.r2'
      ${IPropertyStore::SetValue} $1 '($2,$3)'
      ${IPropertyStore::Commit} $1 ""
      System::Free $2
      System::Free $3
      System::Free $4
      ${IUnknown::Release} $1 ""
    ${EndIf}
    ${IUnknown::QueryInterface} $0 '("${IID_IPersistFile}",.r1)'
    ${If} $1 P<> 0
      ${IPersistFile::Save} $1 '("$SMPROGRAMS\${PRODUCT}.lnk",1)'
      ${IUnknown::Release} $1 ""
    ${EndIf}
    ${IUnknown::Release} $0 ""
  ${EndIf}
  ; Where COM could not make it, a plain shortcut (the app id is still in the registry below).
  ${IfNot} ${FileExists} "$SMPROGRAMS\${PRODUCT}.lnk"
    CreateShortcut "$SMPROGRAMS\${PRODUCT}.lnk" "$INSTDIR\${APPEXE}"
  ${EndIf}
FunctionEnd

Section "Install"
  SetShellVarContext current
  !insertmacro WaitUntilNotRunning "$INSTDIR\${APPEXE}" "${APP_RUNNING}"
  !insertmacro WaitUntilNotRunning "$INSTDIR\hrsm-backup.exe" "${CLI_RUNNING}"
  SetOutPath "$INSTDIR"
  File "/oname=${APPEXE}" "${SRCDIR}\hrsm-backup-desktop.exe"
  File "${SRCDIR}\WebView2Loader.dll"
  File "${SRCDIR}\hrsm-backup.exe"
  File "/oname=HR-SM Backup.ico" "${ICON}"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  Call CreateShortcutWithAppId

  ; The app id for notifications (what Windows shows as their sender).
  WriteRegStr HKCU "${AUMIDKEY}" "DisplayName" "${PRODUCT}"
  WriteRegStr HKCU "${AUMIDKEY}" "IconUri" "$INSTDIR\HR-SM Backup.ico"

  ; Settings > Apps.
  WriteRegStr HKCU "${UNINSTKEY}" "DisplayName" "${PRODUCT}"
  WriteRegStr HKCU "${UNINSTKEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTKEY}" "Publisher" "${PRODUCT}"
  WriteRegStr HKCU "${UNINSTKEY}" "DisplayIcon" "$INSTDIR\${APPEXE}"
  WriteRegStr HKCU "${UNINSTKEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTKEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINSTKEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTKEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTKEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  WriteRegDWORD HKCU "${UNINSTKEY}" "EstimatedSize" $0

  ; The app's window is a WebView2 page: part of Windows 11 and of an up-to-date Windows 10.
  ; Where it is missing the app cannot open its window; say so (it cannot be bundled from here:
  ; see docs/ARCHITECTURE.md).
  ReadRegStr $0 HKLM "SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients\{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}" "pv"
  ${If} $0 == ""
    ReadRegStr $0 HKCU "Software\Microsoft\EdgeUpdate\Clients\{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}" "pv"
  ${EndIf}
  ${If} $0 == ""
  ${OrIf} $0 == "0.0.0.0"
    DetailPrint "Microsoft Edge WebView2 Runtime was not found."
    MessageBox MB_YESNO|MB_ICONINFORMATION "${PRODUCT} shows its window with the Microsoft Edge WebView2 Runtime, which this computer does not have yet. Open Microsoft's download page now?$\r$\n$\r$\n(Backups run without it; only the window needs it.)" /SD IDNO IDNO +2
    ExecShell "open" "https://developer.microsoft.com/microsoft-edge/webview2/"
  ${EndIf}
SectionEnd

Section "Uninstall"
  SetShellVarContext current
  !insertmacro WaitUntilNotRunning "$INSTDIR\${APPEXE}" "${APP_RUNNING}"
  !insertmacro WaitUntilNotRunning "$INSTDIR\hrsm-backup.exe" "${CLI_RUNNING}"
  ; The hourly task registered with this installation's hrsm-backup.exe (`schedule-task
  ; install` notes its program under HKCU\Software\<app id>) would run a program that is gone:
  ; remove it. A task of a copy of hrsm-backup.exe elsewhere (a server's) is kept.
  ReadRegStr $1 HKCU "Software\${APPID}" "TaskCommand"
  StrLen $2 "$INSTDIR\"
  StrCpy $3 $1 $2
  ${If} $1 != ""
  ${AndIf} $3 == "$INSTDIR\"
    nsExec::Exec 'schtasks.exe /Delete /TN "${PRODUCT}" /F'
    Pop $0
    DeleteRegValue HKCU "Software\${APPID}" "TaskCommand"
    DeleteRegKey /ifempty HKCU "Software\${APPID}"
  ${ElseIf} $1 != ""
    DetailPrint "The Task Scheduler's task runs $1, which is not part of this installation: it is kept."
  ${EndIf}
  ; The task may have started a backup between the first look and its removal.
  !insertmacro WaitUntilNotRunning "$INSTDIR\hrsm-backup.exe" "${CLI_RUNNING}"
  ; Start at login (tauri-plugin-autostart's entry, named after the app).
  DeleteRegValue HKCU "Software\Microsoft\Windows\CurrentVersion\Run" "${PRODUCT}"
  DeleteRegValue HKCU "Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run" "${PRODUCT}"
  Delete "$SMPROGRAMS\${PRODUCT}.lnk"
  Delete "$INSTDIR\${APPEXE}"
  Delete "$INSTDIR\WebView2Loader.dll"
  Delete "$INSTDIR\hrsm-backup.exe"
  Delete "$INSTDIR\HR-SM Backup.ico"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKCU "${AUMIDKEY}"
  DeleteRegKey HKCU "${UNINSTKEY}"
SectionEnd
