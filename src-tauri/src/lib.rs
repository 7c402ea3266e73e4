//! The desktop app: a thin Tauri layer of typed commands and events over the
//! engine. All media work happens in onair-engine.

mod commands;
mod preview;

use std::sync::Arc;

use tauri::Manager;

pub use commands::{AppState, SessionEvent};

/// Commands and events the UI may use; their TypeScript is generated from here.
pub fn specta_builder() -> tauri_specta::Builder<tauri::Wry> {
    tauri_specta::Builder::<tauri::Wry>::new()
        .commands(tauri_specta::collect_commands![
            commands::source_info,
            commands::go_live,
            commands::stop,
        ])
        .events(tauri_specta::collect_events![SessionEvent])
}

pub fn run() {
    let builder = specta_builder();
    tauri::Builder::default()
        .invoke_handler(builder.invoke_handler())
        .register_uri_scheme_protocol(preview::SCHEME, |ctx, request| {
            let state = ctx.app_handle().state::<Arc<AppState>>();
            preview::respond(&state.capture, request.uri().path())
        })
        .setup(move |app| {
            builder.mount_events(app);
            let videos = app
                .path()
                .video_dir()
                .or_else(|_| app.path().home_dir())
                .unwrap_or_else(|_| std::env::temp_dir());
            let state = AppState::open(videos.join("Onair"), app.handle().clone())?;
            app.manage(Arc::new(state));
            Ok(())
        })
        .run(tauri::generate_context!())
        .expect("the Onair window could not start");
}

#[cfg(test)]
mod tests {
    use specta_typescript::Typescript;

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
