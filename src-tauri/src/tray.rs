//! The tray icon: shows whether Onair is live, and offers Stop (which the
//! window confirms, like its own Stop button) and Quit.

use onair_engine::events::SessionState;
use tauri::image::Image;
use tauri::menu::{Menu, MenuEvent, MenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Wry};
use tauri_specta::Event as _;

use crate::window::{self, AppEvent};

const IDLE_ICON: &[u8] = include_bytes!("../../assets/icons/32x32.png");
const LIVE_ICON: &[u8] = include_bytes!("../../assets/icons/tray-live.png");

pub struct Tray {
    icon: TrayIcon,
    status: MenuItem<Wry>,
    stop: MenuItem<Wry>,
}

impl Tray {
    pub fn create(app: &AppHandle) -> tauri::Result<Tray> {
        let status = MenuItem::with_id(app, "status", "Off air", false, None::<&str>)?;
        let show = MenuItem::with_id(app, "show", "Show Onair", true, None::<&str>)?;
        let stop = MenuItem::with_id(app, "stop", "Stop streaming…", false, None::<&str>)?;
        let quit = MenuItem::with_id(app, "quit", "Quit Onair", true, None::<&str>)?;
        let menu = Menu::with_items(app, &[&status, &show, &stop, &quit])?;
        let icon = TrayIconBuilder::with_id("onair")
            .icon(Image::from_bytes(IDLE_ICON)?)
            .tooltip("Onair: off air")
            .menu(&menu)
            .on_menu_event(on_menu)
            .build(app)?;
        Ok(Tray { icon, status, stop })
    }

    pub fn show_state(&self, state: SessionState) {
        let (label, live) = match state {
            SessionState::Live => ("LIVE", true),
            SessionState::Reconnecting => ("LIVE (reconnecting)", true),
            SessionState::Preparing | SessionState::Connecting => ("Going live…", true),
            SessionState::Stopping => ("Stopping…", false),
            SessionState::Idle | SessionState::Ended | SessionState::Failed => ("Off air", false),
        };
        let icon = if live { LIVE_ICON } else { IDLE_ICON };
        if let Ok(image) = Image::from_bytes(icon) {
            let _ = self.icon.set_icon(Some(image));
        }
        let _ = self.icon.set_tooltip(Some(format!("Onair: {label}")));
        let _ = self.status.set_text(label);
        let _ = self.stop.set_enabled(live);
    }
}

fn on_menu(app: &AppHandle, event: MenuEvent) {
    match event.id().as_ref() {
        "show" => window::bring_forward(app),
        "stop" => {
            window::bring_forward(app);
            let _ = AppEvent::ConfirmStop.emit(app);
        }
        "quit" => window::close_or_confirm(app),
        _ => {}
    }
    // Keep the tray's state fresh even if an event was missed.
    if let Some(studio) = app.try_state::<std::sync::Arc<crate::studio::Studio>>() {
        if let Some(tray) = app.try_state::<Tray>() {
            tray.show_state(studio.state());
        }
    }
}
