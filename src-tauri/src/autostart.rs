//! Start on login: an XDG autostart entry on Linux desktops. Off unless the
//! creator turns it on in Settings.

use onair_engine::{ErrorCode, OnairError};

#[cfg(target_os = "linux")]
pub fn set(enabled: bool) -> Result<(), OnairError> {
    let failed = |e: std::io::Error| {
        OnairError::new(
            ErrorCode::Internal,
            format!("Could not change start on login ({e})."),
        )
    };
    let dir = dirs::config_dir()
        .ok_or_else(|| {
            OnairError::new(
                ErrorCode::Internal,
                "No config folder for this user (is HOME set?), so start on login cannot be set.",
            )
        })?
        .join("autostart");
    let entry = dir.join("onair.desktop");
    if !enabled {
        return match std::fs::remove_file(&entry) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(failed(e)),
            _ => Ok(()),
        };
    }
    let exe = std::env::current_exe().map_err(failed)?;
    std::fs::create_dir_all(&dir).map_err(failed)?;
    let text = format!(
        "[Desktop Entry]\nType=Application\nName=Onair\nComment=Go live from your desktop\nExec=\"{}\"\nX-GNOME-Autostart-enabled=true\n",
        exe.display()
    );
    std::fs::write(&entry, text).map_err(failed)
}

#[cfg(not(target_os = "linux"))]
pub fn set(_enabled: bool) -> Result<(), OnairError> {
    Err(OnairError::new(
        ErrorCode::InvalidSettings,
        "Start on login is only available on Linux in this version; add Onair to your login items by hand.",
    ))
}
