//! The keyboard shortcut for the one button, Ctrl+Shift+L, registered with
//! the desktop so it works while another application has the focus. The
//! window does what its button does (Stop still asks first). Where the
//! desktop refuses global shortcuts (Wayland, or the keys already taken),
//! the window's own Ctrl+Shift+L still works while it has the focus.

use std::sync::Arc;

use tauri::plugin::TauriPlugin;
use tauri::{AppHandle, Manager, Wry};
use tauri_plugin_global_shortcut::{Builder, GlobalShortcutExt, ShortcutState};
use tauri_specta::Event as _;

use crate::studio::Studio;
use crate::window::{self, AppEvent};

const GO_LIVE_OR_STOP: &str = "CommandOrControl+Shift+L";

pub fn plugin() -> TauriPlugin<Wry> {
    Builder::new()
        .with_handler(|app, _shortcut, event| {
            if event.state() == ShortcutState::Pressed {
                // Stop asks in the window, so the window comes forward; Go
                // Live leaves the creator in the application they are in.
                if app
                    .try_state::<Arc<Studio>>()
                    .is_some_and(|studio| studio.is_on_air())
                {
                    window::bring_forward(app);
                }
                let _ = AppEvent::GoLiveOrStop.emit(app);
            }
        })
        .build()
}

pub fn register(app: &AppHandle) {
    if let Err(e) = app.global_shortcut().register(GO_LIVE_OR_STOP) {
        eprintln!("onair: no global shortcut ({e}); Ctrl+Shift+L works in the window");
    }
}
