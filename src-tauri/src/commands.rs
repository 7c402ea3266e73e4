//! The commands the UI calls and the one event it listens to.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use onair_engine::clock::MediaClock;
use onair_engine::destination::Destination;
use onair_engine::events::Event;
use onair_engine::pipeline::capture::{Capture, CaptureSpec};
use onair_engine::session::{self, LiveConfig, SessionHandle};
use onair_engine::sink::file::default_recording_path;
use onair_engine::source::{self, VideoChoice};
use onair_engine::OnairError;
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, State};
use tauri_specta::Event as _;

/// Every engine event, forwarded to the window as is.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct SessionEvent(pub Event);

#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct SourceInfo {
    /// What is being captured, in words.
    pub description: String,
    pub test_pattern: bool,
    /// Why the test pattern is shown, when it is.
    pub note: Option<String>,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Where Go Live records when no destination is set.
    pub recordings_dir: String,
}

pub struct AppState {
    pub capture: Arc<Capture>,
    session: Mutex<Option<SessionHandle>>,
    recordings_dir: PathBuf,
    cameras_found: usize,
}

impl AppState {
    pub fn open(recordings_dir: PathBuf, app: AppHandle) -> Result<Self, OnairError> {
        // The app opens the test pattern until its device picker lands (the
        // desktop-app issue); the UI says why. Capture's health events reach
        // the window like a session's; the meter's 20 a second wait for the
        // UI's meters, rather than keep the webview busy for nothing.
        let emit = move |event: Event| {
            if !matches!(event, Event::Levels { .. }) {
                let _ = SessionEvent(event).emit(&app);
            }
        };
        let capture = Capture::open(CaptureSpec::default(), MediaClock::start(), Arc::new(emit))?;
        Ok(AppState {
            capture: Arc::new(capture),
            session: Mutex::new(None),
            recordings_dir,
            cameras_found: source::camera_count(),
        })
    }
}

#[tauri::command]
#[specta::specta]
pub fn source_info(state: State<'_, Arc<AppState>>) -> SourceInfo {
    let spec = state.capture.spec();
    let test_pattern = matches!(
        spec.video,
        VideoChoice::TestPattern | VideoChoice::BusyTestPattern
    );
    let note = test_pattern.then(|| match state.cameras_found {
        0 => "No camera found: showing the test pattern.".to_string(),
        _ => "Camera capture is not supported in this version yet: showing the test pattern."
            .to_string(),
    });
    SourceInfo {
        description: state.capture.describe().to_string(),
        test_pattern,
        note,
        width: spec.width,
        height: spec.height,
        fps: spec.fps,
        recordings_dir: state.recordings_dir.display().to_string(),
    }
}

/// Goes live to the embedded default: a local recording. Pressing it while a
/// session runs does nothing (one session at a time).
#[tauri::command]
#[specta::specta]
pub fn go_live(app: AppHandle, state: State<'_, Arc<AppState>>) -> Result<(), OnairError> {
    let mut current = state.session.lock().unwrap();
    if current.as_ref().is_some_and(|s| !s.is_finished()) {
        return Ok(());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let destination = Destination::File(default_recording_path(&state.recordings_dir, now));
    let emit = move |event: Event| {
        let _ = SessionEvent(event).emit(&app);
    };
    *current = Some(session::start(
        LiveConfig::new(destination),
        state.capture.clone(),
        Arc::new(emit),
    ));
    Ok(())
}

/// Stops the session; its last events (stopping, ended) follow. Idempotent.
#[tauri::command]
#[specta::specta]
pub fn stop(state: State<'_, Arc<AppState>>) {
    if let Some(session) = state.session.lock().unwrap().take() {
        session.stop();
        // Joining waits for the recording to be finalised; not on the UI's thread.
        std::thread::spawn(move || drop(session.join()));
    }
}
