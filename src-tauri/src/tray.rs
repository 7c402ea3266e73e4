//! The tray icon: shows whether Onair is live (and on how many of the
//! session's destinations), and offers Stop (which the window confirms,
//! like its own Stop button, and which ends every destination) and Quit.

use std::collections::BTreeMap;
use std::sync::Mutex;

use onair_engine::events::{DestinationState, Event, SessionState};
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
    /// Each destination of the session on air, by name.
    destinations: Mutex<BTreeMap<String, DestinationState>>,
}

/// What the tray says, and whether it shows the live icon.
fn label(state: SessionState, destinations: &BTreeMap<String, DestinationState>) -> (String, bool) {
    let live = destinations
        .values()
        .filter(|d| **d == DestinationState::Live)
        .count();
    let (text, on_air) = match state {
        // Several destinations: say how many of them viewers can see.
        SessionState::Live if destinations.len() > 1 => {
            return (format!("LIVE on {live} of {}", destinations.len()), true)
        }
        SessionState::Live => ("LIVE", true),
        SessionState::Reconnecting => ("LIVE (reconnecting)", true),
        SessionState::Preparing | SessionState::Connecting => ("Going live…", true),
        SessionState::Stopping => ("Stopping…", false),
        SessionState::Idle | SessionState::Ended | SessionState::Failed => ("Off air", false),
    };
    (text.to_string(), on_air)
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
        Ok(Tray {
            icon,
            status,
            stop,
            destinations: Mutex::default(),
        })
    }

    /// Follows the session's and its destinations' states.
    pub fn follow(&self, event: &Event, session: SessionState) {
        let mut destinations = self.destinations.lock().unwrap();
        match event {
            Event::State {
                state: SessionState::Preparing,
                ..
            } => destinations.clear(),
            Event::Destination {
                destination, state, ..
            } => {
                destinations.insert(destination.clone(), *state);
            }
            Event::State { .. } => {}
            _ => return,
        }
        drop(destinations);
        self.show_state(session);
    }

    pub fn show_state(&self, state: SessionState) {
        let (label, live) = label(state, &self.destinations.lock().unwrap());
        let icon = if live { LIVE_ICON } else { IDLE_ICON };
        if let Ok(image) = Image::from_bytes(icon) {
            let _ = self.icon.set_icon(Some(image));
        }
        let _ = self.icon.set_tooltip(Some(format!("Onair: {label}")));
        let _ = self.status.set_text(&label);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_destinations_say_on_how_many_the_stream_is_live() {
        use DestinationState::*;
        let session = |states: &[DestinationState]| {
            let named = states.iter().enumerate().map(|(n, s)| (n.to_string(), *s));
            BTreeMap::from_iter(named)
        };
        let live = SessionState::Live;
        assert_eq!(label(live, &session(&[])).0, "LIVE");
        assert_eq!(label(live, &session(&[Live])).0, "LIVE");
        assert_eq!(
            label(live, &session(&[Live, Failed, Reconnecting])),
            ("LIVE on 1 of 3".to_string(), true)
        );
        assert_eq!(
            label(SessionState::Ended, &session(&[Ended, Ended])),
            ("Off air".to_string(), false)
        );
    }
}
