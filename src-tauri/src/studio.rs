//! What the window drives: the open capture (preview, meter), the one
//! session, and the settings they are opened with. Commands over it live in
//! `commands`; this module owns the state and its rules (one session at a
//! time, devices change only while off air).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use onair_engine::clock::MediaClock;
use onair_engine::destination::Destination;
use onair_engine::events::{Event, EventSink, SessionState};
use onair_engine::keys::{ConfigStore, DestinationKind, Keys};
use onair_engine::pipeline::capture::{Capture, CaptureSpec};
use onair_engine::session::prepare::{self, Overrides, Stores};
use onair_engine::session::{self, LiveConfig, SessionHandle};
use onair_engine::settings::{Settings, SettingsStore};
use onair_engine::sink::file::default_recording_path;
use onair_engine::{ErrorCode, OnairError};

/// Where the window's events go; the app shell forwards them to the UI and the tray.
pub type Emit = Arc<dyn Fn(Event) + Send + Sync>;

pub struct Studio {
    capture: RwLock<Arc<Capture>>,
    /// Why the capture is not what the settings asked for, when it is not.
    capture_note: Mutex<Option<OnairError>>,
    session: Mutex<Option<SessionHandle>>,
    state: Arc<Mutex<SessionState>>,
    settings: Mutex<Settings>,
    store: SettingsStore,
    config_dir: PathBuf,
    recordings_dir: PathBuf,
    emit: Emit,
}

impl Studio {
    pub fn open(recordings_dir: PathBuf, emit: Emit) -> Result<Studio, OnairError> {
        let destinations = ConfigStore::default_location()
            .map_err(|e| OnairError::new(ErrorCode::Internal, e.to_string()))?;
        let store = SettingsStore::beside(&destinations);
        // A broken settings file must not keep the window from opening: the
        // defaults are used (the file kept aside) and the note is shown.
        let (settings, load_error) = store.load();
        let (capture, open_error) = open_capture(&settings.capture_spec(), &emit);
        Ok(Studio {
            capture: RwLock::new(capture),
            capture_note: Mutex::new(load_error.or(open_error)),
            session: Mutex::new(None),
            state: Arc::new(Mutex::new(SessionState::Idle)),
            settings: Mutex::new(settings),
            store,
            config_dir: destinations.dir().to_path_buf(),
            recordings_dir,
            emit,
        })
    }

    pub fn capture(&self) -> Arc<Capture> {
        self.capture.read().unwrap().clone()
    }

    pub fn capture_note(&self) -> Option<OnairError> {
        self.capture_note.lock().unwrap().clone()
    }

    pub fn recordings_dir(&self) -> &PathBuf {
        &self.recordings_dir
    }

    pub fn settings(&self) -> Settings {
        self.settings.lock().unwrap().clone()
    }

    pub fn state(&self) -> SessionState {
        *self.state.lock().unwrap()
    }

    /// On air from Go Live until the session has ended or failed.
    pub fn is_on_air(&self) -> bool {
        !matches!(
            self.state(),
            SessionState::Idle | SessionState::Ended | SessionState::Failed
        )
    }

    /// Saves new settings; the capture is reopened when its devices, size or
    /// rate changed, which waits until the session is over.
    pub fn save_settings(&self, new: Settings) -> Result<(), OnairError> {
        let old = self.settings();
        let spec = new.capture_spec();
        if spec != old.capture_spec() && self.is_on_air() {
            return Err(OnairError::new(
                ErrorCode::InvalidSettings,
                "Devices, picture size and frame rate change only while off air: stop the stream first.",
            ));
        }
        self.store.save(&new)?;
        *self.settings.lock().unwrap() = new;
        if spec != old.capture_spec() || self.capture_note.lock().unwrap().is_some() {
            let (capture, note) = open_capture(&spec, &self.emit);
            // The old capture stops once the preview lets go of it.
            *self.capture.write().unwrap() = capture;
            *self.capture_note.lock().unwrap() = note.clone();
            if let Some(e) = note {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Window geometry and the last destination: remembered, never refused.
    pub fn remember(&self, change: impl FnOnce(&mut Settings)) {
        let mut settings = self.settings.lock().unwrap();
        change(&mut settings);
        let _ = self.store.save(&settings);
    }

    /// Goes live to a saved destination, or records locally when none is
    /// given. Pressing it while a session runs does nothing.
    pub fn go_live(&self, destination: Option<String>) -> Result<(), OnairError> {
        let mut current = self.session.lock().unwrap();
        if current.as_ref().is_some_and(|s| !s.is_finished()) {
            return Ok(());
        }
        let settings = self.settings();
        let mut config = match &destination {
            None => LiveConfig::new(Destination::File(self.new_recording_path())),
            Some(name) => {
                let resolved = Keys::open()?.resolve(name)?;
                let kind = resolved.saved.as_ref().map(|s| s.kind);
                let overrides = Overrides {
                    status_url: settings.status_url.clone(),
                    ..Default::default()
                };
                let mut config =
                    prepare::live_config(resolved, overrides, &Stores::os(&self.config_dir))?;
                config.simulcast = settings.simulcast
                    && matches!(kind, Some(DestinationKind::Livekit | DestinationKind::Whip));
                if settings.record_while_live {
                    config.record = Some(self.new_recording_path());
                }
                config
            }
        };
        config.video_kbps = settings.video_kbps;
        if destination != settings.last_destination {
            self.remember(|s| s.last_destination = destination.clone());
        }
        *self.state.lock().unwrap() = SessionState::Preparing;
        let state = self.state.clone();
        let emit = self.emit.clone();
        let events = move |event: Event| {
            if let Event::State { state: now, .. } = &event {
                *state.lock().unwrap() = *now;
            }
            emit(event);
        };
        *current = Some(session::start(config, self.capture(), Arc::new(events)));
        Ok(())
    }

    /// Stops the session; its last events (stopping, ended) follow. Idempotent.
    /// `finished` runs once the recording is finalised.
    pub fn stop(&self, finished: impl FnOnce() + Send + 'static) {
        match self.session.lock().unwrap().take() {
            Some(session) => {
                session.stop();
                // Joining waits for the recording to be finalised; not on the UI's thread.
                std::thread::spawn(move || {
                    drop(session.join());
                    finished();
                });
            }
            None => finished(),
        }
    }

    fn new_recording_path(&self) -> PathBuf {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        default_recording_path(&self.recordings_dir, now)
    }
}

/// Opens what the settings ask for; when that fails, the test pattern and
/// tone (always there) with the reason, so the window still has a picture.
fn open_capture(spec: &CaptureSpec, emit: &Emit) -> (Arc<Capture>, Option<OnairError>) {
    let sink: Arc<dyn EventSink> = {
        let emit = emit.clone();
        Arc::new(move |event: Event| emit(event))
    };
    match Capture::open(spec.clone(), MediaClock::start(), sink.clone()) {
        Ok(capture) => (Arc::new(capture), None),
        Err(e) => {
            let fallback = CaptureSpec {
                width: spec.width,
                height: spec.height,
                fps: spec.fps,
                ..CaptureSpec::default()
            };
            let capture = Capture::open(fallback, MediaClock::start(), sink)
                .expect("the test pattern and tone always open");
            (Arc::new(capture), Some(e))
        }
    }
}
