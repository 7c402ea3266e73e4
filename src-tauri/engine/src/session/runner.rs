//! Runs one session: performs the machine's actions with one capture, one
//! set of encoders and a thread per destination, and reports every step as
//! an event. What is encoded for whom is decided by `plan`; where each
//! destination stands, and what that means for the session, by `roster`.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, unbounded, Receiver, Sender};

use super::grade::{Grader, Reading};
use super::machine::{Action, Input, Machine};
use super::member::{self, Setup, Wiring};
use super::plan::{plan, Carrier, PlanRequest, SessionPlan};
use super::platform::PlatformSide;
use super::roster::{Outcome, Report, Roster};
use crate::cancel::Cancel;
use crate::colour::Colour;
use crate::destination::Destination;
use crate::encode::aac::AacEncoder;
use crate::encode::h264::{H264Encoder, H264Settings};
use crate::encode::opus::OpusEncoder;
use crate::encode::simulcast::{LayerSpec, SimulcastEncoder};
use crate::encode::{AudioEncoder, VideoEncoder};
use crate::error::OnairError;
use crate::events::{
    DestinationEvents, DestinationState, DestinationStats, Event, EventSink, HealthCode,
    MaskingSink, SessionState,
};
use crate::livekit::credentials::TokenSource;
use crate::media::{AudioCodec, AudioInfo, StreamInfo};
use crate::peer::publisher::LayerDesc;
use crate::pipeline::capture::Capture;
use crate::pipeline::control::{ControlPort, EncoderControl};
use crate::pipeline::encoders::{self, Timeline};
use crate::pipeline::fanout::{Fanout, SinkPort};
use crate::pipeline::stats::{PipelineCounters, QueueGauge, StatsMeter};
use crate::platform::PlatformPlan;
use crate::secret::Secret;
use crate::sink::{NoticeSender, SinkLinks, SinkNotice, SinkReport};

/// One destination of a session: where to, with what, and its platform.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub destination: Destination,
    /// The stream key or bearer token, from the keychain or `--key-stdin`.
    pub secret: Option<Secret>,
    /// How often a network sink tries to reconnect before it gives up.
    pub reconnect_attempts: u32,
    /// The LiveKit room this destination streams to, when it names one.
    pub room: Option<String>,
    /// How a LiveKit token is obtained, when not given as `secret`.
    pub token_source: Option<TokenSource>,
    /// The creator's platform hooks, when the destination declares them.
    pub platform: Option<PlatformPlan>,
    /// What its platform accepts, when it was made from a preset.
    pub preset: Option<&'static crate::preset::Preset>,
}

impl LiveConfig {
    pub fn new(destination: Destination) -> Self {
        LiveConfig {
            destination,
            secret: None,
            reconnect_attempts: crate::sink::rtmp::DEFAULT_RECONNECT_ATTEMPTS,
            room: None,
            token_source: None,
            platform: None,
            preset: None,
        }
    }

    /// Every secret this destination may show in a sentence.
    fn secrets(&self) -> Vec<&Secret> {
        let mut secrets: Vec<&Secret> = self.secret.iter().collect();
        secrets.extend(self.platform.as_ref().and_then(|p| p.bearer.as_ref()));
        match &self.token_source {
            Some(TokenSource::Given(token)) => secrets.push(token),
            Some(TokenSource::Mint { api_secret, .. }) => secrets.push(api_secret),
            Some(TokenSource::Fetch { bearer, .. }) => secrets.push(bearer),
            None => {}
        }
        secrets
    }
}

/// A destination as the creator named it (a saved name, or its URL without
/// the key): the name every event about it carries.
#[derive(Debug, Clone)]
pub struct NamedDestination {
    pub name: String,
    pub config: LiveConfig,
}

/// One Go Live: every destination, and how the one encode is made. The CLI
/// and the desktop each build one and hand it over; the plan does the rest.
#[derive(Debug, Clone)]
pub struct SessionRequest {
    pub destinations: Vec<NamedDestination>,
    pub video_kbps: u32,
    pub audio_kbps: u32,
    /// Stop by itself after this much media.
    pub duration: Option<Duration>,
    /// Three layers (full, half, quarter size) for the WebRTC destinations.
    pub simulcast: bool,
    /// Also record locally while live (the same encoded media, no second encode).
    pub record: Option<PathBuf>,
}

impl SessionRequest {
    pub fn new(destinations: Vec<NamedDestination>) -> Self {
        SessionRequest {
            destinations,
            video_kbps: 2500,
            audio_kbps: 128,
            duration: None,
            simulcast: false,
            record: None,
        }
    }

    /// A session with one destination, named after its URL.
    pub fn single(config: LiveConfig) -> Self {
        let name = url_name(&config.destination);
        Self::new(vec![NamedDestination { name, config }])
    }
}

/// What a destination given as a URL is called in events: the URL with any
/// key masked.
pub fn url_name(destination: &Destination) -> String {
    match destination {
        Destination::File(path) => format!("file:{}", path.display()),
        other => crate::redact::redact_url(other.url()),
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionSummary {
    pub recording: Option<PathBuf>,
    pub duration_ms: u32,
    pub frames_encoded: u32,
    pub frames_dropped: u32,
}

/// Owner's side of a running session. Stop is idempotent; dropping the handle
/// stops the session too, so nothing is ever left half-live.
pub struct SessionHandle {
    stopper: Stopper,
    thread: Option<JoinHandle<Result<SessionSummary, OnairError>>>,
}

/// A Stop button that can live elsewhere (a signal handler, a tray menu).
/// It wakes the session and cancels whatever step is in flight (a platform
/// call, a token fetch, a connect), so Stop acts at once in every state.
#[derive(Clone)]
pub struct Stopper {
    wake: Sender<()>,
    cancel: Cancel,
}

impl Stopper {
    pub fn stop(&self) {
        self.cancel.cancel();
        let _ = self.wake.try_send(());
    }
}

impl SessionHandle {
    pub fn stop(&self) {
        self.stopper.stop();
    }

    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    pub fn join(mut self) -> Result<SessionSummary, OnairError> {
        let thread = self.thread.take().expect("joined once");
        thread
            .join()
            .unwrap_or_else(|_| Err(OnairError::internal("the session thread panicked")))
    }
}

impl Drop for SessionHandle {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop();
            let _ = thread.join();
        }
    }
}

pub fn start(
    config: SessionRequest,
    capture: Arc<Capture>,
    events: Arc<dyn EventSink>,
) -> SessionHandle {
    let (stop_tx, stop_rx) = bounded(1);
    let stopper = Stopper {
        wake: stop_tx,
        cancel: Cancel::new(),
    };
    let cancel = stopper.cancel.clone();
    let thread = std::thread::Builder::new()
        .name("onair-session".into())
        .spawn(move || {
            let reporter = events.clone();
            let started = Instant::now();
            // The runner catches panics step by step; this is the last net,
            // so the UI never shows LIVE for a session that is gone.
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                Runner::new(config, capture, events, stop_rx, cancel).run()
            }))
            .unwrap_or_else(|panic| {
                let error = panicked("the session", &*panic);
                MaskingSink::new(reporter).emit(Event::State {
                    state: SessionState::Failed,
                    at_ms: started.elapsed().as_millis() as u32,
                    error: Some(error.clone()),
                });
                Err(error)
            })
        })
        .expect("spawn session thread");
    SessionHandle {
        stopper,
        thread: Some(thread),
    }
}

/// A panic as the creator sees it: an internal error, never a hang. Its
/// words pass the secret mask (a panic may quote a value).
pub(super) fn panicked(part: &str, panic: &(dyn std::any::Any + Send)) -> OnairError {
    let said = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into());
    OnairError::internal(format!(
        "Onair hit an internal error in {part} ({}) and stopped the stream. Go live again; if it happens again, please report it.",
        crate::secret::mask_known(&said)
    ))
}

const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// How long Stop waits for a network destination to say goodbye (drain,
/// leave, DELETE) before leaving it to finish alone. A recording is always
/// waited for: its file must be complete.
const NETWORK_SINK_GOODBYE: Duration = Duration::from_secs(1);
/// About four seconds of packets: a destination slower than that drops to a
/// keyframe, alone.
const SINK_QUEUE: usize = 256;
const CAPTURE_QUEUE: usize = 8;
/// A destination that keeps falling behind is told about at most this often.
const BEHIND_NOTICE_EVERY: Duration = Duration::from_secs(10);
/// What the local recording is called in the roster (it is not a destination).
const RECORDING: &str = "recording";

/// The encoders, made before any destination connects.
struct Prepared {
    plan: SessionPlan,
    /// Per member: what it is sent (its audio codec may differ from the others').
    infos: Vec<StreamInfo>,
    video: Box<dyn VideoEncoder>,
    audio: Vec<AudioBranch>,
    /// Per member, once connecting: the fan-out's ends of its queue.
    video_ports: Vec<SinkPort>,
    audio_ports: Vec<Option<SinkPort>>,
}

/// One audio encoder and the members that take its codec: WebRTC rooms take
/// Opus while RTMP platforms and the recording take AAC.
struct AudioBranch {
    encoder: Box<dyn AudioEncoder>,
    codec: AudioCodec,
    kbps: u32,
    takers: Vec<usize>,
    /// Whether its bytes count in the stream's bitrate (the first destination's codec).
    counted: bool,
}

impl AudioBranch {
    fn info(&self) -> AudioInfo {
        AudioInfo {
            codec: self.codec,
            rate: 48_000,
            channels: 2,
            kbps: self.kbps,
            config: self.encoder.config(),
            lead_us: self.encoder.delay_samples() as i64 * 1_000_000 / 48_000,
        }
    }
}

/// The runner's side of one member (a destination, or the recording).
struct Member {
    name: String,
    events: DestinationEvents,
    /// A file on this computer: Stop waits for it.
    local: bool,
    /// The local recording beside the destinations (not a destination).
    recording: bool,
    recording_path: Option<PathBuf>,
    thread: Option<JoinHandle<()>>,
    platform: Arc<Mutex<PlatformSide>>,
    plan: Option<PlatformPlan>,
    depth: Arc<QueueGauge>,
    dropped: Arc<AtomicU32>,
    sent_bytes: Arc<AtomicU64>,
    /// Bytes and losses at the last stats event.
    last_bytes: u64,
    last_dropped: u32,
    behind_told_at: Option<Instant>,
    /// Its bitrate vote, read for its health.
    vote: ControlPort,
    grader: Grader,
    /// Its connection's latest round trip, when its protocol tells it.
    rtt: Option<Duration>,
}

struct Running {
    timeline: Arc<Timeline>,
    counters: Arc<PipelineCounters>,
    video_queue: Arc<QueueGauge>,
    audio_queue: Option<Arc<QueueGauge>>,
    encoders: Vec<JoinHandle<Result<(), OnairError>>>,
}

impl Drop for Running {
    /// However the session ends (a panic included), the encoders reach the
    /// end of the timeline and the members' queues close behind them.
    fn drop(&mut self) {
        self.timeline.stop_now();
    }
}

struct Runner {
    request: SessionRequest,
    capture: Arc<Capture>,
    events: Arc<MaskingSink>,
    stop_rx: Receiver<()>,
    /// Cancelled by Stop: steps in flight give up at once.
    cancel: Cancel,
    go_live_at: Instant,
    machine: Machine,
    prepared: Option<Prepared>,
    members: Vec<Member>,
    roster: Roster,
    running: Option<Running>,
    /// The timeline, for members closing their sinks.
    timeline: Arc<OnceLock<Arc<Timeline>>>,
    /// Everything members report, in order.
    reports_tx: Sender<(usize, SinkReport)>,
    reports: Receiver<(usize, SinkReport)>,
    /// The back-edge to the video encoder, a port per destination.
    control: Arc<EncoderControl>,
    summary: SessionSummary,
    failure: Option<OnairError>,
    meter: StatsMeter,
    /// What the destinations' platforms ask for (preset.rs).
    keyframe_seconds: u32,
}

impl Runner {
    fn new(
        mut request: SessionRequest,
        capture: Arc<Capture>,
        events: Arc<dyn EventSink>,
        stop_rx: Receiver<()>,
        cancel: Cancel,
    ) -> Self {
        let (reports_tx, reports) = unbounded();
        let events = Arc::new(MaskingSink::new(events));
        let presets = request.destinations.iter().filter_map(|d| d.config.preset);
        if let Some(cap) = crate::preset::video_cap(presets, request.video_kbps) {
            request.video_kbps = cap.kbps;
            events.emit(Event::health(HealthCode::PresetLimit, cap.sentence()));
        }
        let keyframe_seconds =
            crate::preset::keyframe_seconds(request.destinations.iter().map(|d| d.config.preset));
        let control = Arc::new(EncoderControl::new(request.video_kbps));
        for destination in &request.destinations {
            destination
                .config
                .secrets()
                .into_iter()
                .for_each(|s| events.add(s));
        }
        Runner {
            request,
            capture,
            events,
            stop_rx,
            cancel,
            go_live_at: Instant::now(),
            machine: Machine::new(),
            prepared: None,
            members: Vec::new(),
            roster: Roster::new([]),
            running: None,
            timeline: Arc::default(),
            reports_tx,
            reports,
            control,
            summary: SessionSummary::default(),
            failure: None,
            meter: StatsMeter::default(),
            keyframe_seconds,
        }
    }

    fn run(mut self) -> Result<SessionSummary, OnairError> {
        let mut inputs = vec![Input::GoLive];
        while !self.machine.state().is_terminal() {
            let step = std::panic::catch_unwind(AssertUnwindSafe(|| {
                let input = match inputs.pop() {
                    Some(input) => input,
                    None => self.wait(),
                };
                for action in self.machine.handle(input) {
                    if let Some(next) = self.perform(action) {
                        inputs.push(next);
                    }
                }
            }));
            if let Err(panic) = step {
                // Fail cleanly: unwinding runs (or counts as done when it
                // was unwinding that panicked), the end hooks included.
                inputs.clear();
                if self.machine.state() == SessionState::Stopping {
                    inputs.push(Input::Unwound);
                }
                inputs.push(Input::Failed(panicked("the session", &*panic)));
            }
        }
        match self.machine.state() {
            SessionState::Ended => Ok(self.summary),
            _ => Err(self
                .failure
                .take()
                .unwrap_or_else(|| OnairError::internal("the session failed"))),
        }
    }

    fn at_ms(&self) -> u32 {
        self.go_live_at.elapsed().as_millis() as u32
    }

    fn emit_state(&self, state: SessionState, error: Option<OnairError>) {
        self.events.emit(Event::State {
            state,
            at_ms: self.at_ms(),
            error,
        });
    }

    /// Performs one action; returns what happened as the machine's next input.
    fn perform(&mut self, action: Action) -> Option<Input> {
        match action {
            Action::Enter(SessionState::Failed) => None, // reported with its error by Fail
            Action::Enter(state) => {
                self.emit_state(state, None);
                None
            }
            Action::Fail(error) => {
                self.emit_state(SessionState::Failed, Some(error.clone()));
                self.failure = Some(error);
                None
            }
            Action::Prepare => Some(self.stop_requested().unwrap_or_else(
                || match self.prepare() {
                    Ok(prepared) => {
                        self.prepared = Some(prepared);
                        Input::Prepared
                    }
                    Err(e) => Input::Failed(e),
                },
            )),
            // Each destination connects on its own thread; the roster says
            // when the session is live.
            Action::Connect => {
                self.connect();
                None
            }
            Action::StartMedia => {
                self.start_media();
                None
            }
            Action::Unwind => Some(match self.unwind() {
                Ok(()) => Input::Unwound,
                Err(e) => {
                    // Report the failure, then the machine still hears that unwinding finished.
                    self.machine.handle(Input::Failed(e));
                    Input::Unwound
                }
            }),
        }
    }

    fn stop_requested(&self) -> Option<Input> {
        let asked = self.stop_rx.try_recv().is_ok() || self.cancel.is_cancelled();
        asked.then_some(Input::Stop)
    }

    /// The plan and its encoders; nothing connects yet.
    fn prepare(&mut self) -> Result<Prepared, OnairError> {
        let spec = self.capture.spec();
        let plan = plan(&PlanRequest {
            destinations: self
                .request
                .destinations
                .iter()
                .map(|d| Carrier::of(&d.config.destination))
                .collect(),
            record: self.request.record.is_some(),
            simulcast: self.request.simulcast,
            width: spec.width,
            height: spec.height,
            video_kbps: self.request.video_kbps,
            aac_kbps: self.request.audio_kbps,
            opus_kbps: crate::encode::opus::STREAM_KBPS,
            audio: self.capture.has_audio(),
        })?;
        let video: Box<dyn VideoEncoder> = if plan.layers.len() > 1 {
            Box::new(SimulcastEncoder::new(
                &plan.layers,
                spec.fps,
                self.keyframe_seconds,
            )?)
        } else {
            let settings = H264Settings {
                fps: spec.fps,
                bitrate_kbps: self.request.video_kbps,
                colour: Colour::for_size(spec.width, spec.height),
            };
            Box::new(H264Encoder::with_params(
                settings
                    .params()
                    .with_entropy(plan.entropy)
                    .with_keyframe_seconds(self.keyframe_seconds),
            )?)
        };
        let audio = plan
            .audio
            .iter()
            .map(|a| {
                let encoder: Box<dyn AudioEncoder> = match a.codec {
                    AudioCodec::Opus => Box::new(OpusEncoder::new(2, a.kbps)?),
                    AudioCodec::Aac => Box::new(AacEncoder::new(48_000, 2, a.kbps)?),
                };
                Ok(AudioBranch {
                    encoder,
                    codec: a.codec,
                    kbps: a.kbps,
                    takers: a.takers.clone(),
                    counted: a.counted,
                })
            })
            .collect::<Result<Vec<_>, OnairError>>()?;
        let full = &plan.layers[0];
        let infos = (0..plan.members.len())
            .map(|i| StreamInfo {
                width: full.width,
                height: full.height,
                fps: spec.fps,
                video_kbps: self.request.video_kbps,
                audio: audio
                    .iter()
                    .find(|b| b.takers.contains(&i))
                    .map(AudioBranch::info),
            })
            .collect();
        if plan.keep_full_size {
            // A room with nobody watching the full size pauses it; a file
            // must not lose those frames.
            self.control.keep_layers(1);
        }
        Ok(Prepared {
            plan,
            infos,
            video,
            audio,
            video_ports: Vec::new(),
            audio_ports: Vec::new(),
        })
    }

    /// Starts every member's thread: each runs its platform's Go Live and
    /// connects, and joins the media at a keyframe once connected.
    fn connect(&mut self) {
        let prepared = self.prepared.as_mut().expect("prepared before connect");
        let mut configs: Vec<NamedDestination> = self.request.destinations.clone();
        if let Some(path) = &self.request.record {
            configs.push(NamedDestination {
                name: RECORDING.into(),
                config: LiveConfig::new(Destination::File(path.clone())),
            });
        }
        let names: Vec<String> = configs.iter().map(|d| d.name.clone()).collect();
        let tagged = DestinationEvents::for_each(&names, self.events.clone());
        self.roster = Roster::new(
            prepared
                .plan
                .members
                .iter()
                .map(|m| (m.carrier == Carrier::Recording, m.recording)),
        );
        let layers = describe_layers(&prepared.plan.layers);
        for (index, (named, events)) in configs.into_iter().zip(tagged).enumerate() {
            let member_plan = prepared.plan.members[index];
            let local = member_plan.carrier == Carrier::Recording;
            let (tx, rx) = bounded(SINK_QUEUE);
            let depth = Arc::new(QueueGauge::new(SINK_QUEUE));
            let dropped = Arc::new(AtomicU32::new(0));
            let ready = Arc::new(AtomicBool::new(false));
            let sent_bytes = Arc::new(AtomicU64::new(0));
            let platform = Arc::new(Mutex::new(PlatformSide::new()));
            let video_port =
                SinkPort::new(tx.clone(), dropped.clone(), depth.clone()).when_ready(ready.clone());
            prepared.video_ports.push(match member_plan.all_layers {
                true => video_port,
                false => video_port.full_size_only(),
            });
            prepared.audio_ports.push(Some(
                SinkPort::new(tx, dropped.clone(), depth.clone()).when_ready(ready.clone()),
            ));
            // A file never steers the encoder: it takes whatever is made.
            let control = match (local, member_plan.all_layers) {
                (true, _) => ControlPort::alone(self.request.video_kbps),
                (false, true) => self.control.port(u32::MAX),
                (false, false) => self.control.port(1),
            };
            let vote = control.clone();
            let setup = Setup {
                info: prepared.infos[index].clone(),
                layers: match member_plan.all_layers {
                    true => layers.clone(),
                    false => layers[..1].to_vec(),
                },
                video_kbps: self.request.video_kbps,
                config: named.config.clone(),
            };
            if !member_plan.recording {
                self.events.emit(Event::Destination {
                    destination: named.name.clone(),
                    state: DestinationState::Connecting,
                    at_ms: self.go_live_at.elapsed().as_millis() as u32,
                    error: None,
                });
            }
            let wiring = Wiring {
                events: events.clone(),
                masking: self.events.clone(),
                links: SinkLinks {
                    notices: NoticeSender::new(index, self.reports_tx.clone()),
                    control,
                    dropped: dropped.clone(),
                },
                packets: rx,
                depth: depth.clone(),
                ready,
                sent_bytes: sent_bytes.clone(),
                timeline: self.timeline.clone(),
                cancel: self.cancel.clone(),
                platform: platform.clone(),
            };
            self.members.push(Member {
                name: named.name,
                events,
                local,
                recording: member_plan.recording,
                recording_path: match &named.config.destination {
                    Destination::File(path) => Some(path.clone()),
                    _ => None,
                },
                thread: Some(member::spawn(setup, wiring)),
                platform,
                plan: named.config.platform,
                depth,
                dropped,
                sent_bytes,
                last_bytes: 0,
                last_dropped: 0,
                behind_told_at: None,
                vote,
                grader: Grader::default(),
                rtt: None,
            });
        }
    }

    fn start_media(&mut self) {
        let Prepared {
            video,
            audio,
            video_ports,
            mut audio_ports,
            ..
        } = self.prepared.take().expect("prepared before start");
        let clock = self.capture.clock();
        let timeline = Arc::new(Timeline::new(clock, clock.now_us(), self.request.duration));
        let _ = self.timeline.set(timeline.clone());
        let counters = Arc::new(PipelineCounters::default());
        self.meter.sample(&counters, 0, 0);

        let video_input = self.capture.subscribe_video(CAPTURE_QUEUE);
        let video_queue = video_input.depth();
        let mut audio_queue = None;
        let mut encoder_threads = vec![encoders::spawn_video(
            video_input,
            video,
            Fanout::new(video_ports),
            self.control.clone(),
            timeline.clone(),
            counters.clone(),
            self.events.clone(),
        )];
        for branch in audio {
            let Some(input) = self.capture.subscribe_audio(CAPTURE_QUEUE * 4) else {
                break;
            };
            if branch.counted {
                audio_queue = Some(input.depth());
            }
            let ports = branch
                .takers
                .iter()
                .filter_map(|&i| audio_ports[i].take())
                .collect();
            encoder_threads.push(encoders::spawn_audio(
                input,
                branch.encoder,
                Fanout::new(ports),
                timeline.clone(),
                branch.counted.then(|| counters.clone()),
            ));
        }
        self.running = Some(Running {
            timeline,
            counters,
            video_queue,
            audio_queue,
            encoders: encoder_threads,
        });
    }

    /// Blocks until something changes the session: Stop, a member's report
    /// that matters to the whole session, an encoder that died. Emits stats
    /// every second while media runs.
    fn wait(&mut self) -> Input {
        let mut next_stats = Instant::now() + STATS_INTERVAL;
        loop {
            let timeout = next_stats.saturating_duration_since(Instant::now());
            select! {
                recv(self.stop_rx) -> _ => return Input::Stop,
                recv(self.reports) -> report => {
                    if let Ok((index, report)) = report {
                        if let Some(input) = self.on_report(index, report) {
                            return input;
                        }
                    }
                }
                default(timeout) => {
                    if let Some(failed) = self.encoder_failure() {
                        return Input::Failed(failed);
                    }
                    self.emit_stats();
                    next_stats += STATS_INTERVAL;
                }
            }
        }
    }

    /// An encoder that stopped before the end of the stream (an error or a
    /// panic) fails the session: without it nothing new reaches anyone.
    fn encoder_failure(&mut self) -> Option<OnairError> {
        let running = self.running.as_mut()?;
        if running.timeline.past_end() {
            return None;
        }
        let index = running.encoders.iter().position(|t| t.is_finished())?;
        let result = running
            .encoders
            .swap_remove(index)
            .join()
            .unwrap_or_else(|panic| Err(panicked("an encoder", &*panic)));
        Some(
            result.err().unwrap_or_else(|| {
                OnairError::internal("An encoder stopped before the stream did.")
            }),
        )
    }

    /// A member's report as events, and as the machine's input when it
    /// changes the whole session.
    fn on_report(&mut self, index: usize, report: SinkReport) -> Option<Input> {
        let member = &self.members[index];
        let at_ms = self.at_ms();
        let heard = match report {
            SinkReport::Opened => {
                if let (true, Some(path)) = (member.local, &member.recording_path) {
                    let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                    self.events.emit(Event::Recording {
                        path: path.display().to_string(),
                    });
                    self.summary.recording = Some(path);
                }
                Report::Opened
            }
            SinkReport::Finished(result) => Report::Finished(result),
            SinkReport::Notice(SinkNotice::Reconnecting {
                attempt,
                retry_in,
                reason,
            }) => {
                member.events.emit(Event::Reconnect {
                    at_ms,
                    attempt,
                    retry_in_ms: retry_in.as_millis() as u32,
                    reason,
                    destination: None,
                });
                Report::Reconnecting
            }
            SinkReport::Notice(SinkNotice::Restored) => Report::Restored,
            SinkReport::Notice(SinkNotice::Viewers(count)) => {
                member.events.emit(Event::Viewers {
                    count,
                    destination: None,
                    total: None,
                });
                return None;
            }
            SinkReport::Notice(SinkNotice::Bitrate {
                kbps,
                backlog_ms,
                congested,
            }) => {
                member.events.emit(Event::Bitrate {
                    at_ms,
                    kbps,
                    backlog_ms: backlog_ms.min(u32::MAX as u64) as u32,
                    congested,
                    destination: None,
                });
                return None;
            }
            SinkReport::Notice(SinkNotice::RoundTrip(rtt)) => {
                self.members[index].rtt = Some(rtt);
                return None;
            }
        };
        let mut session = None;
        for outcome in self.roster.on(index, heard) {
            match outcome {
                Outcome::Destination {
                    index,
                    state,
                    error,
                } => self.events.emit(Event::Destination {
                    destination: self.members[index].name.clone(),
                    state,
                    at_ms,
                    error,
                }),
                Outcome::RecordingFailed(e) => self.events.emit(Event::health(
                    HealthCode::RecordingStopped,
                    format!(
                        "The local recording stopped: {} The stream goes on.",
                        e.message
                    ),
                )),
                Outcome::Session(input) => session = Some(input),
            }
        }
        session
    }

    fn emit_stats(&mut self) {
        let Some(running) = &self.running else { return };
        let sink_dropped = self
            .members
            .iter()
            .map(|m| m.dropped.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        let (mut video, mut audio) =
            self.meter
                .sample(&running.counters, sink_dropped, running.timeline.now_us());
        video.capture_queue = running.video_queue.take();
        let audio = running.audio_queue.as_ref().map(|queue| {
            audio.capture_queue = queue.take();
            audio
        });
        let encoder_load = video.encode_ms * f64::from(self.capture.spec().fps) / 1000.0;
        let mut destinations = Vec::new();
        let mut deepest = crate::events::QueueDepth::default();
        for (index, member) in self.members.iter_mut().enumerate() {
            let queue = member.depth.take();
            if queue.peak >= deepest.peak {
                deepest = queue.clone();
            }
            if member.recording {
                continue;
            }
            let bytes = member.sent_bytes.load(Ordering::Relaxed);
            let dropped = member.dropped.load(Ordering::Relaxed);
            let kbps =
                (bytes - member.last_bytes) as f64 * 8.0 / 1000.0 / STATS_INTERVAL.as_secs_f64();
            member.last_bytes = bytes;
            let behind = dropped > member.last_dropped
                && member
                    .behind_told_at
                    .is_none_or(|at| at.elapsed() >= BEHIND_NOTICE_EVERY);
            if behind {
                member.behind_told_at = Some(Instant::now());
                member.events.emit(Event::health(
                    HealthCode::DestinationBehind,
                    format!(
                        "{} could not keep up and skipped ahead to the next keyframe ({} frames so far); the other destinations lost nothing. Its connection is slower than the stream.",
                        member.name, dropped
                    ),
                ));
            }
            let state = self.roster.state(index);
            let reading = Reading {
                state,
                vote_kbps: member.vote.target_kbps(),
                target_kbps: self.request.video_kbps,
                sent_kbps: kbps,
                skipped: dropped - member.last_dropped,
                encoder_load,
                rtt_ms: member.rtt.map(|rtt| rtt.as_secs_f64() * 1000.0),
            };
            member.last_dropped = dropped;
            if let Some((grade, message)) = member.grader.feed(&member.name, &reading) {
                self.events.emit(Event::DestinationHealth {
                    destination: member.name.clone(),
                    grade,
                    message,
                    at_ms: self.go_live_at.elapsed().as_millis() as u32,
                });
            }
            destinations.push(DestinationStats {
                destination: member.name.clone(),
                state,
                kbps,
                dropped,
                queue,
                grade: member.grader.grade(),
                rtt_ms: member.rtt.map(|rtt| rtt.as_millis() as u32),
            });
        }
        self.events.emit(Event::Stats {
            at_ms: self.at_ms(),
            video,
            audio,
            sink_queue: deepest,
            destinations,
        });
    }

    /// Stops what was started, newest first: encoders finish at the end of the
    /// timeline, members drain their queues and close, each platform hears
    /// the end once. Idempotent.
    fn unwind(&mut self) -> Result<(), OnairError> {
        let mut first_error = None;
        // Members still connecting give up; their end hooks still run.
        self.cancel.cancel();
        if let Some(mut running) = self.running.take() {
            running.timeline.stop_now();
            for thread in std::mem::take(&mut running.encoders) {
                let result = thread
                    .join()
                    .unwrap_or_else(|panic| Err(panicked("an encoder", &*panic)));
                if let Err(e) = result {
                    first_error.get_or_insert(e);
                }
            }
            let c = &running.counters;
            self.summary.duration_ms =
                (running.timeline.end_us().min(running.timeline.now_us()) / 1000) as u32;
            self.summary.frames_encoded = c.video_encoded.load(Ordering::Relaxed);
            self.summary.frames_dropped = c.dropped_total()
                + self
                    .members
                    .iter()
                    .map(|m| m.dropped.load(Ordering::Relaxed))
                    .max()
                    .unwrap_or(0);
        }
        // Media never started: closing the queues ends the members.
        self.prepared = None;
        let goodbye = Instant::now() + NETWORK_SINK_GOODBYE;
        for member in &mut self.members {
            let Some(thread) = member.thread.take() else {
                continue;
            };
            while !member.local && !thread.is_finished() && Instant::now() < goodbye {
                std::thread::sleep(Duration::from_millis(10));
            }
            if member.local || thread.is_finished() {
                let _ = thread.join();
            }
        }
        // The platforms hear the end after the media has stopped: a viewer
        // never sees a platform say "ended" while frames still arrive. A
        // member that ended already ended its platform; this runs it for
        // the ones still saying goodbye (once: the flow owes one end).
        for member in &self.members {
            if let Some(plan) = &member.plan {
                member.platform.lock().unwrap().end(plan, &member.events);
            }
        }
        while let Ok((index, report)) = self.reports.try_recv() {
            if matches!(report, SinkReport::Finished(_) | SinkReport::Opened) {
                self.on_report(index, report);
            }
        }
        let at_ms = self.at_ms();
        for (index, member) in self.members.iter().enumerate() {
            let state = self.roster.state(index);
            if !state.is_terminal() && !member.recording {
                self.events.emit(Event::Destination {
                    destination: member.name.clone(),
                    state: DestinationState::Ended,
                    at_ms,
                    error: None,
                });
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Simulcast layers as WebRTC names them: f(ull), h(alf), q(uarter).
fn describe_layers(layers: &[LayerSpec]) -> Vec<LayerDesc> {
    let rids = ["f", "h", "q"];
    layers
        .iter()
        .enumerate()
        .map(|(i, layer)| LayerDesc {
            rid: (layers.len() > 1).then(|| rids[i.min(2)].to_string()),
            width: layer.width,
            height: layer.height,
            kbps: layer.kbps,
        })
        .collect()
}
