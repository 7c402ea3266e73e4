//! The commands the UI calls: thin wrappers over the studio and the
//! engine's destination store. Their TypeScript is generated (bindings.ts).
//! Whatever can block (the keychain, whose unlock prompt can wait minutes,
//! device scans, opening a camera, files) runs on a blocking thread, never
//! on the main thread that runs the window.

use std::sync::Arc;

use onair_engine::compose::Layout;
use onair_engine::events::SessionState;
use onair_engine::settings::Settings;
use onair_engine::source::camera::{list_cameras, CameraInfo};
use onair_engine::source::microphone::{list_microphones, MicInfo};
use onair_engine::source::screen::{list_monitors, MonitorInfo};
use onair_engine::source::VideoChoice;
use onair_engine::OnairError;
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, State};

use crate::autostart;
use crate::studio::Studio;

/// Runs `work` on the async runtime's blocking pool. A panic there is an
/// `internal` error for the window rather than an unanswered call.
pub(crate) async fn off_main<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, OnairError> + Send + 'static,
) -> Result<T, OnairError> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(OnairError::internal(format!("A command failed ({e})."))))
}

pub(crate) fn studio(app: &AppHandle) -> Arc<Studio> {
    app.state::<Arc<Studio>>().inner().clone()
}

#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct SourceInfo {
    /// What is being captured, in words.
    pub description: String,
    pub test_pattern: bool,
    /// Why the test pattern is shown, when it is.
    pub note: Option<String>,
    /// Why the capture is not what the settings ask for.
    pub error: Option<OnairError>,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Where Go Live records when no destination is set.
    pub recordings_dir: String,
}

/// What can be captured here besides the test pattern and tone.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct Devices {
    pub cameras: Vec<CameraInfo>,
    pub microphones: Vec<MicInfo>,
    pub monitors: Vec<MonitorInfo>,
}

#[tauri::command]
#[specta::specta]
pub async fn source_info(app: AppHandle) -> SourceInfo {
    let studio = studio(&app);
    // Counting cameras enumerates devices.
    off_main(move || Ok(describe_source(&studio)))
        .await
        .expect("describing the source cannot fail")
}

fn describe_source(studio: &Studio) -> SourceInfo {
    let capture = studio.capture();
    let spec = capture.spec();
    let test_pattern = matches!(
        spec.video,
        VideoChoice::TestPattern | VideoChoice::BusyTestPattern
    );
    let error = studio.capture_note();
    let note = test_pattern.then(|| match (&error, list_cameras().len()) {
        (Some(e), _) => format!("{} Showing the test pattern.", e.message),
        (None, 0) => "No camera found: showing the test pattern.".to_string(),
        (None, _) => "Test pattern picked in Settings.".to_string(),
    });
    SourceInfo {
        description: capture.describe().to_string(),
        test_pattern,
        note,
        error,
        width: spec.width,
        height: spec.height,
        fps: spec.fps,
        recordings_dir: studio.recordings_dir().display().to_string(),
    }
}

#[tauri::command]
#[specta::specta]
pub async fn list_devices() -> Devices {
    off_main(|| {
        Ok(Devices {
            cameras: list_cameras(),
            microphones: list_microphones(),
            monitors: list_monitors(),
        })
    })
    .await
    .expect("listing devices cannot fail")
}

/// Goes live to the saved destinations ticked, all in one session, keeping
/// a local recording when `record`; with none ticked, only records.
/// Pressing it while a session runs does nothing.
#[tauri::command]
#[specta::specta]
pub async fn go_live(
    app: AppHandle,
    destinations: Vec<String>,
    record: bool,
) -> Result<(), OnairError> {
    let studio = studio(&app);
    off_main(move || studio.go_live(destinations, record)).await
}

/// Stops the session in whatever state it is, starting included; its last
/// events (stopping, ended) follow. Idempotent. The UI asks the creator
/// first when viewers would see the stream end.
#[tauri::command]
#[specta::specta]
pub async fn stop(app: AppHandle) {
    let studio = studio(&app);
    // Waits for nothing but the session slot's lock.
    let _ = off_main(move || {
        studio.stop(|| ());
        Ok(())
    })
    .await;
}

/// Where the session is now (the window may open or reload mid-session).
#[tauri::command]
#[specta::specta]
pub fn session_state(studio: State<'_, Arc<Studio>>) -> SessionState {
    studio.state()
}

/// How the screen and the camera share the picture, from the next frame
/// (live or not); remembered in the settings.
#[tauri::command]
#[specta::specta]
pub fn set_layout(app: AppHandle, layout: Layout) -> Result<(), OnairError> {
    studio(&app).set_layout(layout)
}

/// Where the log is (events, diagnostics, what libraries print; secrets
/// masked), opened in the file manager when the desktop has one. None when
/// Onair could not start its log.
#[tauri::command]
#[specta::specta]
pub fn show_log(app: AppHandle) -> Option<String> {
    let folder = app
        .try_state::<onair_engine::logbook::Logbook>()?
        .target
        .folder()
        .to_path_buf();
    open_outside(folder.as_os_str());
    Some(folder.display().to_string())
}

/// Opens a folder or a web page with the desktop's own opener. Best effort:
/// a desktop without one still gets the path or address shown in the window.
pub(crate) fn open_outside(target: &std::ffi::OsStr) {
    for opener in [&["xdg-open"][..], &["gio", "open"][..]] {
        let spawned = std::process::Command::new(opener[0])
            .args(&opener[1..])
            .arg(target)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if spawned.is_ok() {
            break;
        }
    }
}

/// Stops whatever is live, finishes the recording, then closes Onair.
#[tauri::command]
#[specta::specta]
pub async fn quit(app: AppHandle) {
    let studio = studio(&app);
    let _ = off_main(move || {
        crate::window::remember_geometry(&app);
        studio.stop(move || app.exit(0));
        Ok(())
    })
    .await;
}

#[tauri::command]
#[specta::specta]
pub fn get_settings(studio: State<'_, Arc<Studio>>) -> Settings {
    studio.settings()
}

/// Saves the settings (checked first: an out-of-range value is refused
/// whole) and applies start on login. Reopening the capture opens devices.
#[tauri::command]
#[specta::specta]
pub async fn save_settings(app: AppHandle, settings: Settings) -> Result<(), OnairError> {
    let studio = studio(&app);
    off_main(move || {
        settings.check()?;
        if settings.start_on_login != studio.settings().start_on_login {
            autostart::set(settings.start_on_login)?;
        }
        studio.save_settings(settings)
    })
    .await
}
