//! The system clipboard for copying a key: written from Rust, so the key
//! never passes through the window, marked as a secret so clipboard
//! managers keep it out of their history, and cleared after a while if it
//! is still there.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use onair_engine::{ErrorCode, OnairError};

/// How long a copied key stays on the clipboard.
const CLEAR_AFTER: Duration = Duration::from_secs(45);

// On X11 the clipboard is served by whoever owns it: the handle lives as
// long as the app, or the copy would vanish with it.
static CLIPBOARD: OnceLock<Mutex<Option<arboard::Clipboard>>> = OnceLock::new();

pub fn put(text: &str) -> Result<(), OnairError> {
    let unavailable = |e: arboard::Error| {
        OnairError::new(
            ErrorCode::Internal,
            format!("The clipboard is not available ({e}). Reveal the key and copy it by hand."),
        )
    };
    let cell = CLIPBOARD.get_or_init(|| Mutex::new(None));
    let mut guard = cell.lock().unwrap();
    if guard.is_none() {
        *guard = Some(arboard::Clipboard::new().map_err(unavailable)?);
    }
    let clipboard = guard.as_mut().expect("opened above");
    set_secret(clipboard, text).map_err(unavailable)?;
    let copied = text.to_string();
    std::thread::spawn(move || {
        std::thread::sleep(CLEAR_AFTER);
        let mut guard = cell.lock().unwrap();
        if let Some(clipboard) = guard.as_mut() {
            if clipboard.get_text().is_ok_and(|now| now == copied) {
                let _ = clipboard.clear();
            }
        }
    });
    Ok(())
}

/// Sets `text` flagged for clipboard managers to leave out of their history:
/// on X11 the `x-kde-passwordManagerHint: secret` target (Klipper, GPaste,
/// CopyQ and others honour it), the equivalents on Windows and macOS.
fn set_secret(clipboard: &mut arboard::Clipboard, text: &str) -> Result<(), arboard::Error> {
    #[cfg(target_os = "macos")]
    use arboard::SetExtApple as _;
    #[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
    use arboard::SetExtLinux as _;
    #[cfg(windows)]
    use arboard::SetExtWindows as _;
    clipboard.set().exclude_from_history().text(text)
}
