//! Desktop conventions for the main window: it reopens where it was left,
//! and closing it while live asks first (the UI shows the question; the
//! `quit` command does the closing).

use std::sync::Arc;

use onair_engine::settings::WindowGeometry;
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, PhysicalPosition, PhysicalSize, WebviewWindow, WindowEvent};
use tauri_specta::Event as _;

use crate::studio::Studio;

pub const MAIN: &str = "main";

/// Questions the app shell asks the window to put to the creator.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AppEvent {
    /// Closing while live: stop and close, or stay?
    ConfirmClose,
    /// Stop from the tray: end the stream?
    ConfirmStop,
    /// The global shortcut: what the one button does now.
    GoLiveOrStop,
}

pub fn restore_geometry(window: &WebviewWindow, geometry: Option<WindowGeometry>) {
    let Some(g) = geometry else {
        return;
    };
    let _ = window.set_size(PhysicalSize::new(g.width, g.height));
    let _ = window.set_position(PhysicalPosition::new(g.x, g.y));
    if g.maximized {
        let _ = window.maximize();
    }
}

pub fn remember_geometry(app: &AppHandle) {
    let (Some(window), Some(studio)) =
        (app.get_webview_window(MAIN), app.try_state::<Arc<Studio>>())
    else {
        return;
    };
    let maximized = window.is_maximized().unwrap_or(false);
    let (Ok(position), Ok(size)) = (window.outer_position(), window.inner_size()) else {
        return;
    };
    let previous = studio.settings().window;
    let geometry = match (maximized, previous) {
        // A maximized window keeps the size it un-maximizes to.
        (true, Some(before)) => WindowGeometry {
            maximized: true,
            ..before
        },
        _ => WindowGeometry {
            x: position.x,
            y: position.y,
            width: size.width,
            height: size.height,
            maximized,
        },
    };
    studio.remember(|s| s.window = Some(geometry));
}

pub fn bring_forward(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(MAIN) {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

/// Quit from the tray or the window's close button: straight away when off
/// air, after the creator confirms when live.
pub fn close_or_confirm(app: &AppHandle) {
    let live = app
        .try_state::<Arc<Studio>>()
        .is_some_and(|studio| studio.is_on_air());
    if live {
        bring_forward(app);
        let _ = AppEvent::ConfirmClose.emit(app);
    } else {
        remember_geometry(app);
        app.exit(0);
    }
}

pub fn on_event(window: &tauri::Window, event: &WindowEvent) {
    if window.label() != MAIN {
        return;
    }
    if let WindowEvent::CloseRequested { api, .. } = event {
        api.prevent_close();
        close_or_confirm(window.app_handle());
    }
}
