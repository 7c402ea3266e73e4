//! The desktop app: a thin Tauri layer of typed commands and events over the
//! engine. All media work happens in onair-engine.

mod autostart;
mod clipboard;
mod commands;
mod destinations;
mod preview;
mod reveal;
mod shortcut;
mod studio;
mod tray;
mod window;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use onair_engine::events::Event;
use serde::{Deserialize, Serialize};
use tauri::Manager;
use tauri_specta::Event as _;

pub use studio::Studio;
pub use window::AppEvent;

/// Every engine event, forwarded to the window as is.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct SessionEvent(pub Event);

/// Commands and events the UI may use; their TypeScript is generated from here.
pub fn specta_builder() -> tauri_specta::Builder<tauri::Wry> {
    tauri_specta::Builder::<tauri::Wry>::new()
        .commands(tauri_specta::collect_commands![
            commands::source_info,
            commands::list_devices,
            commands::go_live,
            commands::stop,
            commands::session_state,
            commands::quit,
            commands::show_log,
            commands::set_layout,
            commands::get_settings,
            commands::save_settings,
            destinations::list_destinations,
            destinations::add_destination,
            destinations::edit_destination,
            destinations::remove_destination,
            destinations::reveal_key,
            destinations::copy_key,
            destinations::rotate_key,
            destinations::import_obs,
            destinations::list_presets,
            destinations::preset_destination,
            destinations::open_key_page,
            destinations::check_destination,
        ])
        .events(tauri_specta::collect_events![SessionEvent, AppEvent])
        // The engine's scheme table, so the form reads the same one.
        .typ::<onair_engine::destination::Scheme>()
        .constant("DESTINATION_SCHEMES", onair_engine::destination::SCHEMES)
}

/// Sends engine events to the window and the tray. The meter's 20 a second
/// are halved: 10 is smooth to the eye and keeps the webview idle.
fn forward_events(app: tauri::AppHandle) -> studio::Emit {
    let levels = AtomicU32::new(0);
    Arc::new(move |event: Event| {
        if let Event::Levels { limiter_db, .. } = event {
            if !forward_levels(levels.fetch_add(1, Ordering::Relaxed), limiter_db) {
                return;
            }
        }
        if let (Some(tray), Some(studio)) = (
            app.try_state::<tray::Tray>(),
            app.try_state::<Arc<Studio>>(),
        ) {
            tray.follow(&event, studio.state());
        }
        let _ = SessionEvent(event).emit(&app);
    })
}

/// Every other meter reading, and every one in which the limiter acted: each
/// reading carries only its own 50 ms, and a lamp that skipped half of them
/// would miss a short peak half the time.
fn forward_levels(nth: u32, limiter_db: f32) -> bool {
    nth.is_multiple_of(2) || limiter_db > 0.0
}

pub fn run() {
    let builder = specta_builder();
    tauri::Builder::default()
        .plugin(shortcut::plugin())
        .invoke_handler(builder.invoke_handler())
        .register_asynchronous_uri_scheme_protocol(preview::SCHEME, preview::handle)
        .on_window_event(window::on_event)
        .setup(move |app| {
            builder.mount_events(app);
            // The log a creator can hand over; the window opens without it.
            match onair_engine::logbook::LogTarget::default_daily()
                .map(onair_engine::logbook::start)
            {
                Some(Ok(log)) => {
                    app.manage(log);
                }
                Some(Err(e)) => eprintln!("onair: {}", e.message),
                None => eprintln!("onair: no folder for the log"),
            }
            // No home at all: a new private folder, never a shared /tmp path.
            let videos = match app.path().video_dir().or_else(|_| app.path().home_dir()) {
                Ok(dir) => dir,
                Err(_) => onair_engine::sink::file::private_temp_dir()?,
            };
            let studio = Studio::open(videos.join("Onair"), forward_events(app.handle().clone()))?;
            if let Some(main) = app.get_webview_window(window::MAIN) {
                window::restore_geometry(&main, studio.settings().window);
            }
            app.manage(Arc::new(studio));
            // A desktop without a tray (a bare X server) still gets the window.
            match tray::Tray::create(app.handle()) {
                Ok(tray) => {
                    app.manage(tray);
                }
                Err(e) => eprintln!("onair: no tray icon: {e}"),
            }
            shortcut::register(app.handle());
            Ok(())
        })
        .run(tauri::generate_context!())
        .expect("the Onair window could not start");
}

#[cfg(test)]
mod tests {
    use specta_typescript::Typescript;

    #[test]
    fn the_meter_is_halved_but_no_limiter_reading_is_dropped() {
        let kept: Vec<bool> = [0.0, 0.0, 0.0, 2.5, 0.0, 0.0]
            .iter()
            .enumerate()
            .map(|(n, &db)| super::forward_levels(n as u32, db))
            .collect();
        assert_eq!(kept, [true, false, true, true, true, false]);
    }

    /// The UI's types are generated from the Rust ones; a stale or hand-edited
    /// copy fails here (and is rewritten, ready to commit).
    #[test]
    fn ui_bindings_are_generated_from_rust() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/ui/src/bindings.ts");
        let before = std::fs::read_to_string(path).unwrap_or_default();
        super::specta_builder()
            .export(
                Typescript::default()
                    .header("// Generated from Rust by tauri-specta. Do not edit.\n"),
                path,
            )
            .expect("export bindings");
        let after = std::fs::read_to_string(path).unwrap();
        assert!(
            before == after,
            "ui/src/bindings.ts was stale; it has been regenerated, commit it"
        );
    }
}
