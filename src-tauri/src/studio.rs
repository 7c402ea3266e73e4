//! What the window drives: the open capture (preview, meter), the one
//! session, and the settings they are opened with. Commands over it live in
//! `commands`; this module owns the state and its rules (one session at a
//! time, devices change only while off air).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use onair_engine::clock::MediaClock;
use onair_engine::compose::Layout;
use onair_engine::destination::Destination;
use onair_engine::events::{Event, EventSink, SessionState};
use onair_engine::keys::{ConfigStore, Keys};
use onair_engine::pipeline::capture::{Capture, CaptureSpec};
use onair_engine::session::prepare::{self, Overrides, Stores};
use onair_engine::session::runner::Stopper;
use onair_engine::session::{self, LiveConfig, NamedDestination, SessionRequest, SessionSummary};
use onair_engine::settings::{Settings, SettingsStore};
use onair_engine::sink::file::default_recording_path;
use onair_engine::{ErrorCode, OnairError};

/// Where the window's events go; the app shell forwards them to the UI and the tray.
pub type Emit = Arc<dyn Fn(Event) + Send + Sync>;

/// The session on air: its Stop button, and whether its thread has ended.
struct Running {
    stopper: Stopper,
    done: Arc<Done>,
}

type Waiter = Box<dyn FnOnce() + Send>;

/// Set once the session's thread has been joined and its end reported; what
/// waits for that (Quit) runs then.
#[derive(Default)]
struct Done(Mutex<(bool, Vec<Waiter>)>);

impl Done {
    fn is_done(&self) -> bool {
        self.0.lock().unwrap().0
    }

    fn when_done(&self, waiter: Waiter) {
        let mut done = self.0.lock().unwrap();
        if done.0 {
            drop(done);
            waiter();
        } else {
            done.1.push(waiter);
        }
    }

    fn finish(&self) {
        let waiters = {
            let mut done = self.0.lock().unwrap();
            done.0 = true;
            std::mem::take(&mut done.1)
        };
        waiters.into_iter().for_each(|waiter| waiter());
    }
}

/// What the window must still be told once the session's thread has been
/// joined. A session ends by reporting ended or failed itself; one that
/// could not (its thread panicked) would leave the tally on LIVE, so its
/// end is reported here, with the join's error (`internal` for a panic).
pub(crate) fn closing_event(
    result: &Result<SessionSummary, OnairError>,
    last: SessionState,
    at_ms: u32,
) -> Option<Event> {
    if matches!(
        last,
        SessionState::Idle | SessionState::Ended | SessionState::Failed
    ) {
        return None;
    }
    Some(match result {
        Ok(_) => Event::State {
            state: SessionState::Ended,
            at_ms,
            error: None,
        },
        Err(e) => Event::State {
            state: SessionState::Failed,
            at_ms,
            error: Some(OnairError::new(
                e.code,
                format!(
                    "The stream stopped on an error Onair did not expect ({}). Go live again; if it happens again, please report it.",
                    e.message.trim_end_matches('.')
                ),
            )),
        },
    })
}

/// Records a state change for `Studio::state` and passes the event on.
fn report(state: &Mutex<SessionState>, emit: &Emit, event: Event) {
    if let Event::State { state: now, .. } = &event {
        *state.lock().unwrap() = *now;
    }
    emit(event);
}

pub struct Studio {
    capture: RwLock<Arc<Capture>>,
    /// Why the capture is not what the settings asked for, when it is not.
    capture_note: Mutex<Option<OnairError>>,
    session: Mutex<Option<Running>>,
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

    /// How the screen and the camera share the picture: on the next frame,
    /// live or not (no reconnect), and remembered.
    pub fn set_layout(&self, layout: Layout) -> Result<(), OnairError> {
        self.capture().set_layout(layout)?;
        self.remember(|s| s.layout = layout);
        Ok(())
    }

    /// Window geometry and the destinations ticked: remembered, never refused.
    pub fn remember(&self, change: impl FnOnce(&mut Settings)) {
        let mut settings = self.settings.lock().unwrap();
        change(&mut settings);
        let _ = self.store.save(&settings);
    }

    /// Goes live to the saved destinations, all in one session, keeping a
    /// local recording when `record`; with no destination, only records.
    /// The choice is remembered. Pressing it while a session runs does
    /// nothing. Blocks while the keychain answers: call it off the UI's thread.
    pub fn go_live(&self, destinations: Vec<String>, record: bool) -> Result<(), OnairError> {
        let mut current = self.session.lock().unwrap();
        if current.as_ref().is_some_and(|s| !s.done.is_done()) {
            return Ok(());
        }
        let settings = self.settings();
        if destinations != settings.destinations || record != settings.record {
            self.remember(|s| {
                s.destinations = destinations.clone();
                s.record = record;
            });
        }
        let mut request = self.request(&settings, &destinations, record)?;
        request.video_kbps = settings.video_kbps;
        *self.state.lock().unwrap() = SessionState::Preparing;
        let (state, emit) = (self.state.clone(), self.emit.clone());
        let events = move |event: Event| report(&state, &emit, event);
        let started = Instant::now();
        let handle = session::start(request, self.capture(), Arc::new(events));
        let running = Running {
            stopper: handle.stopper(),
            done: Arc::new(Done::default()),
        };
        // Joins the session whatever way it ends, so a panic is reported
        // (and the tally leaves LIVE) even when nobody presses Stop.
        let (state, emit, done) = (self.state.clone(), self.emit.clone(), running.done.clone());
        std::thread::Builder::new()
            .name("onair-session-join".into())
            .spawn(move || {
                let result = handle.join();
                let at_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
                let last = *state.lock().unwrap();
                if let Some(event) = closing_event(&result, last, at_ms) {
                    report(&state, &emit, event);
                }
                done.finish();
            })
            .map_err(|e| OnairError::internal(format!("Could not watch the session ({e}).")))?;
        *current = Some(running);
        Ok(())
    }

    /// Stops the session; its last events (stopping, ended) follow. Idempotent.
    /// `finished` runs once the session's thread has ended (the recording is
    /// finalised), on that thread.
    pub fn stop(&self, finished: impl FnOnce() + Send + 'static) {
        match self.session.lock().unwrap().as_ref() {
            Some(running) => {
                running.stopper.stop();
                running.done.when_done(Box::new(finished));
            }
            None => finished(),
        }
    }

    /// What Go Live asks the engine for: each destination resolved from the
    /// store and the keychain, the recording when ticked.
    fn request(
        &self,
        settings: &Settings,
        destinations: &[String],
        record: bool,
    ) -> Result<SessionRequest, OnairError> {
        if destinations.is_empty() {
            if !record {
                return Err(OnairError::new(
                    ErrorCode::InvalidDestination,
                    "Tick where to go live: one or more destinations, or Local recording.",
                ));
            }
            let local = LiveConfig::new(Destination::File(self.new_recording_path()));
            return Ok(SessionRequest::single(local));
        }
        let keys = Keys::open()?;
        let stores = Stores::os(&self.config_dir);
        let mut named = Vec::with_capacity(destinations.len());
        for name in destinations {
            if named.iter().any(|d: &NamedDestination| &d.name == name) {
                continue;
            }
            let overrides = Overrides {
                status_url: settings.status_url.clone(),
                ..Default::default()
            };
            let config = prepare::live_config(keys.resolve(name)?, overrides, &stores)?;
            named.push(NamedDestination {
                name: name.clone(),
                config,
            });
        }
        let mut request = SessionRequest::new(named);
        request.simulcast = settings.simulcast;
        request.record = record.then(|| self.new_recording_path());
        Ok(request)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> SessionSummary {
        SessionSummary {
            recording: None,
            duration_ms: 0,
            frames_encoded: 0,
            frames_dropped: 0,
        }
    }

    #[test]
    fn a_session_thread_that_died_mid_show_is_reported_failed_with_internal() {
        let panicked = Err(OnairError::internal("the session thread panicked"));
        for last in [
            SessionState::Preparing,
            SessionState::Connecting,
            SessionState::Live,
            SessionState::Reconnecting,
            SessionState::Stopping,
        ] {
            match closing_event(&panicked, last, 42) {
                Some(Event::State {
                    state: SessionState::Failed,
                    at_ms: 42,
                    error: Some(e),
                }) => {
                    assert_eq!(e.code, ErrorCode::Internal);
                    assert!(e.message.contains("Go live again"), "{}", e.message);
                }
                other => panic!("after {last:?}: {other:?}"),
            }
        }
        assert!(matches!(
            closing_event(&Ok(summary()), SessionState::Live, 1),
            Some(Event::State {
                state: SessionState::Ended,
                error: None,
                ..
            })
        ));
    }

    #[test]
    fn a_session_that_reported_its_own_end_is_not_reported_twice() {
        let failed = Err(OnairError::new(ErrorCode::KeyRejected, "refused"));
        for last in [SessionState::Ended, SessionState::Failed] {
            assert!(closing_event(&failed, last, 0).is_none());
            assert!(closing_event(&Ok(summary()), last, 0).is_none());
        }
    }

    #[test]
    fn stop_waiters_run_once_the_session_is_done_or_at_once_after() {
        let done = Done::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let early = tx.clone();
        done.when_done(Box::new(move || early.send("early").unwrap()));
        assert!(rx.try_recv().is_err(), "waits for the session");
        done.finish();
        assert_eq!(rx.try_recv(), Ok("early"));
        done.when_done(Box::new(move || tx.send("late").unwrap()));
        assert_eq!(rx.try_recv(), Ok("late"));
        assert!(done.is_done());
    }
}
