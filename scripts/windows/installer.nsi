; Onair's Windows installer, made by scripts/windows/build with Debian's
; makensis: the desktop app and the onair CLI for the current user (no
; administrator needed), a Start menu entry, and an uninstaller that
; Settings > Apps lists. Uninstalling keeps the creator's keys (in Windows'
; credential manager) and destinations (in %APPDATA%\onair), as the .deb does.
;
; makensis -DVERSION=0.1.0 -DDIST=dist/windows -DOUTFILE=Onair-0.1.0-setup.exe installer.nsi
; (DIST holds onair-desktop.exe, onair.exe and WebView2Loader.dll)

Unicode true
Target amd64-unicode
SetCompressor /SOLID lzma

!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\Onair"

Name "Onair"
OutFile "${OUTFILE}"
RequestExecutionLevel user
InstallDir "$LOCALAPPDATA\Programs\Onair"
InstallDirRegKey HKCU "${UNINSTALL_KEY}" "InstallLocation"

Page directory
Page instfiles
UninstPage uninstConfirm
UninstPage instfiles

Section "Onair"
  SetOutPath "$INSTDIR"
  File "${DIST}/onair-desktop.exe"
  File "${DIST}/onair.exe"
  File "${DIST}/WebView2Loader.dll"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  CreateShortCut "$SMPROGRAMS\Onair.lnk" "$INSTDIR\onair-desktop.exe"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "Onair"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "Onair"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\onair-desktop.exe"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
SectionEnd

Section "Uninstall"
  Delete "$INSTDIR\onair-desktop.exe"
  Delete "$INSTDIR\onair.exe"
  Delete "$INSTDIR\WebView2Loader.dll"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  Delete "$SMPROGRAMS\Onair.lnk"
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
SectionEnd
