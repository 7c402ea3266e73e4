//! Runs one session: performs the machine's actions with real encoders, sink
//! threads and the capture, and reports every step as an event.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, unbounded, Receiver, Sender};

use super::machine::{Action, Input, Machine};
use super::platform::PlatformSide;
use crate::cancel::Cancel;
use crate::destination::Destination;
use crate::encode::aac::AacEncoder;
use crate::encode::h264::{H264Encoder, H264Settings};
use crate::encode::opus::OpusEncoder;
use crate::encode::simulcast::{standard_layers, LayerSpec, SimulcastEncoder};
use crate::encode::{AudioEncoder, VideoEncoder};
use crate::error::{ErrorCode, OnairError};
use crate::events::{Event, EventSink, MaskingSink, SessionState};
use crate::livekit::credentials::TokenSource;
use crate::media::{AudioCodec, AudioInfo, Packet, StreamInfo};
use crate::peer::publisher::LayerDesc;
use crate::pipeline::capture::Capture;
use crate::pipeline::control::EncoderControl;
use crate::pipeline::encoders::{self, Timeline};
use crate::pipeline::fanout::{Fanout, SinkPort};
use crate::pipeline::stats::{PipelineCounters, QueueGauge, StatsMeter};
use crate::platform::flow::Obtained;
use crate::platform::PlatformPlan;
use crate::secret::Secret;
use crate::sink::file::FileSink;
use crate::sink::livekit::LiveKitSink;
use crate::sink::rtmp::RtmpSink;
use crate::sink::whip::WhipSink;
use crate::sink::{Sink, SinkLinks, SinkNotice};

#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub destination: Destination,
    /// The stream key or bearer token, from the keychain or `--key-stdin`.
    pub secret: Option<Secret>,
    pub video_kbps: u32,
    pub audio_kbps: u32,
    /// Stop by itself after this much media.
    pub duration: Option<Duration>,
    /// How often a network sink tries to reconnect before the session fails.
    pub reconnect_attempts: u32,
    /// Three layers (full, half, quarter size) for WebRTC destinations.
    pub simulcast: bool,
    /// The LiveKit room this destination streams to, when it names one.
    pub room: Option<String>,
    /// How a LiveKit token is obtained, when not given as `secret`.
    pub token_source: Option<TokenSource>,
    /// The creator's platform hooks, when the destination declares them.
    pub platform: Option<PlatformPlan>,
    /// Also record locally while live (the same encoded media, no second encode).
    pub record: Option<PathBuf>,
}

impl LiveConfig {
    pub fn new(destination: Destination) -> Self {
        LiveConfig {
            destination,
            secret: None,
            video_kbps: 2500,
            audio_kbps: 128,
            duration: None,
            reconnect_attempts: crate::sink::rtmp::DEFAULT_RECONNECT_ATTEMPTS,
            simulcast: false,
            room: None,
            token_source: None,
            platform: None,
            record: None,
        }
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
    config: LiveConfig,
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
fn panicked(part: &str, panic: &(dyn std::any::Any + Send)) -> OnairError {
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

type SinkResult = Result<(), OnairError>;

const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// How long Stop waits for a network sink to say goodbye (drain, leave,
/// DELETE) before leaving it to finish alone. A recording is always waited
/// for: its file must be complete.
const NETWORK_SINK_GOODBYE: Duration = Duration::from_secs(1);
/// About four seconds of packets: a sink slower than that drops to a keyframe.
const SINK_QUEUE: usize = 256;
const CAPTURE_QUEUE: usize = 8;

struct Prepared {
    sinks: Vec<Box<dyn Sink>>,
    /// Per sink: what it is sent (its audio codec may differ from the others').
    infos: Vec<StreamInfo>,
    /// Per sink: video it could not deliver.
    sink_drops: Vec<Arc<AtomicU32>>,
    video: Box<dyn VideoEncoder>,
    audio: Vec<AudioBranch>,
}

/// One audio encoder and the sinks that take its codec: a WebRTC stream
/// carries Opus while its local recording holds AAC.
struct AudioBranch {
    encoder: Box<dyn AudioEncoder>,
    codec: AudioCodec,
    kbps: u32,
    sinks: Vec<usize>,
    /// Whether its bytes count in the stream's bitrate (the recording's do not).
    counted: bool,
}

impl AudioBranch {
    fn new(codec: AudioCodec, kbps: u32, sink: usize, counted: bool) -> Result<Self, OnairError> {
        let encoder: Box<dyn AudioEncoder> = match codec {
            AudioCodec::Opus => Box::new(OpusEncoder::new(2, kbps)?),
            AudioCodec::Aac => Box::new(AacEncoder::new(48_000, 2, kbps)?),
        };
        Ok(AudioBranch {
            encoder,
            codec,
            kbps,
            sinks: vec![sink],
            counted,
        })
    }

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

struct Running {
    timeline: Arc<Timeline>,
    counters: Arc<PipelineCounters>,
    sink_drops: Vec<Arc<AtomicU32>>,
    video_queue: Arc<QueueGauge>,
    audio_queue: Option<Arc<QueueGauge>>,
    sink_queues: Vec<Arc<QueueGauge>>,
    encoders: Vec<JoinHandle<Result<(), OnairError>>>,
    sinks: Vec<SinkThread>,
    sinks_left: usize,
}

struct SinkThread {
    thread: JoinHandle<()>,
    /// A recording: Stop waits for it to finish its file.
    local: bool,
}

impl Drop for Running {
    /// However the session ends (a panic included), the encoders reach the
    /// end of the timeline and the sinks' queues close behind them.
    fn drop(&mut self) {
        self.timeline.stop_now();
    }
}

struct Runner {
    config: LiveConfig,
    capture: Arc<Capture>,
    events: Arc<MaskingSink>,
    stop_rx: Receiver<()>,
    /// Cancelled by Stop: steps in flight give up at once.
    cancel: Cancel,
    go_live_at: Instant,
    machine: Machine,
    prepared: Option<Prepared>,
    running: Option<Running>,
    /// Each sink thread reports here once, when it has finished.
    sink_done_tx: Sender<SinkResult>,
    sink_done: Receiver<SinkResult>,
    /// What live sinks report (reconnects, bitrate changes).
    notice_tx: Sender<SinkNotice>,
    notices: Receiver<SinkNotice>,
    /// The back-edge to the video encoder, shared by every sink.
    control: Arc<EncoderControl>,
    summary: SessionSummary,
    failure: Option<OnairError>,
    meter: StatsMeter,
    platform: PlatformSide,
}

impl Runner {
    fn new(
        config: LiveConfig,
        capture: Arc<Capture>,
        events: Arc<dyn EventSink>,
        stop_rx: Receiver<()>,
        cancel: Cancel,
    ) -> Self {
        let (sink_done_tx, sink_done) = unbounded();
        let (notice_tx, notices) = unbounded();
        let control = Arc::new(EncoderControl::new(config.video_kbps));
        let events = Arc::new(MaskingSink::new(events));
        if let Some(secret) = &config.secret {
            events.add(secret);
        }
        if let Some(bearer) = config.platform.as_ref().and_then(|p| p.bearer.as_ref()) {
            events.add(bearer);
        }
        match &config.token_source {
            Some(TokenSource::Given(token)) => events.add(token),
            Some(TokenSource::Mint { api_secret, .. }) => events.add(api_secret),
            Some(TokenSource::Fetch { bearer, .. }) => events.add(bearer),
            None => {}
        }
        Runner {
            config,
            capture,
            events,
            stop_rx,
            cancel,
            go_live_at: Instant::now(),
            machine: Machine::new(),
            prepared: None,
            running: None,
            sink_done_tx,
            sink_done,
            notice_tx,
            notices,
            control,
            summary: SessionSummary::default(),
            failure: None,
            meter: StatsMeter::default(),
            platform: PlatformSide::new(),
        }
    }

    fn run(mut self) -> Result<SessionSummary, OnairError> {
        let mut inputs = vec![Input::GoLive];
        while !self.machine.state().is_terminal() {
            let step = std::panic::catch_unwind(AssertUnwindSafe(|| {
                let input = match inputs.pop() {
                    Some(input) => input,
                    None => self.wait_while_live(),
                };
                for action in self.machine.handle(input) {
                    if let Some(next) = self.perform(action) {
                        inputs.push(next);
                    }
                }
            }));
            if let Err(panic) = step {
                // Fail cleanly: unwinding runs (or counts as done when it
                // was unwinding that panicked), the end hook included.
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
                if let Some(plan) = &self.config.platform {
                    self.platform.on_failure(plan, &error);
                }
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
                    Err(e) => self.failed_unless_stopped(e),
                },
            )),
            Action::Connect => Some(self.stop_requested().unwrap_or_else(
                || match self.connect() {
                    Ok(()) => Input::Connected,
                    Err(e) => self.failed_unless_stopped(e),
                },
            )),
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

    /// A step that Stop interrupted fails on the way out; that is a Stop.
    fn failed_unless_stopped(&self, error: OnairError) -> Input {
        if self.cancel.is_cancelled() {
            Input::Stop
        } else {
            Input::Failed(error)
        }
    }

    fn prepare(&mut self) -> Result<Prepared, OnairError> {
        if let Some(plan) = self.config.platform.clone() {
            let obtained = self.platform.go_live(
                &plan,
                &self.config.destination,
                &*self.events,
                &self.cancel,
            )?;
            self.apply_platform(obtained)?;
        }
        let spec = self.capture.spec();
        let (width, height) = (spec.width & !1, spec.height & !1);
        let layers = if self.config.simulcast {
            standard_layers(width, height, self.config.video_kbps)
        } else {
            vec![LayerSpec {
                width,
                height,
                kbps: self.config.video_kbps,
            }]
        };
        let mut sink: Box<dyn Sink> = match &self.config.destination {
            Destination::File(_) | Destination::Rtmp(_) if self.config.simulcast => {
                return Err(OnairError::new(
                    ErrorCode::InvalidDestination,
                    "Simulcast needs a WebRTC destination (LiveKit or WHIP); RTMP and recordings carry one picture size.",
                ))
            }
            Destination::File(path) => Box::new(FileSink::new(path.clone())),
            Destination::Rtmp(url) => Box::new(
                RtmpSink::new(url, self.config.secret.clone(), self.config.video_kbps)?
                    .with_reconnect_attempts(self.config.reconnect_attempts),
            ),
            Destination::LiveKit(url) => Box::new(LiveKitSink::new(
                url,
                self.config
                    .token_source
                    .clone()
                    .or_else(|| self.config.secret.clone().map(TokenSource::Given)),
                self.config.room.clone(),
                describe_layers(&layers),
                self.config.reconnect_attempts,
            )),
            Destination::Whip(url) => Box::new(WhipSink::new(
                url,
                self.config.secret.clone(),
                describe_layers(&layers),
                self.config.reconnect_attempts,
            )),
        };
        let dropped = Arc::new(AtomicU32::new(0));
        sink.attach(SinkLinks {
            notices: self.notice_tx.clone(),
            control: self.control.clone(),
            dropped: dropped.clone(),
        });
        let video: Box<dyn VideoEncoder> = if layers.len() > 1 {
            Box::new(SimulcastEncoder::new(&layers, spec.fps)?)
        } else {
            Box::new(H264Encoder::new(H264Settings {
                fps: spec.fps,
                bitrate_kbps: self.config.video_kbps,
            })?)
        };
        let needs = sink.needs();
        let mut audio = Vec::new();
        if self.capture.subscribe_audio(0).is_some() && (needs.aac || needs.opus) {
            let (codec, kbps) = if needs.opus {
                (AudioCodec::Opus, crate::encode::opus::STREAM_KBPS)
            } else {
                (AudioCodec::Aac, self.config.audio_kbps)
            };
            audio.push(AudioBranch::new(codec, kbps, 0, true)?);
        }
        let picture = |audio: Option<AudioInfo>| StreamInfo {
            width,
            height,
            fps: spec.fps,
            video_kbps: self.config.video_kbps,
            audio,
        };
        let mut infos = vec![picture(audio.first().map(AudioBranch::info))];
        let mut sinks = vec![sink];
        let mut sink_drops = vec![dropped];
        if let Some(path) = &self.config.record {
            // The recording holds the full-size picture and AAC: it shares the
            // stream's AAC, or has its own encoder beside the stream's Opus.
            let index = sinks.len();
            match audio.first_mut() {
                Some(stream) if stream.codec == AudioCodec::Aac => stream.sinks.push(index),
                Some(_) => audio.push(AudioBranch::new(
                    AudioCodec::Aac,
                    self.config.audio_kbps,
                    index,
                    false,
                )?),
                None => {}
            }
            infos.push(picture(audio.last().map(AudioBranch::info)));
            sinks.push(Box::new(FileSink::new(path.clone())));
            // A room with nobody watching the full size pauses it; the
            // recording must not lose those frames.
            self.control.keep_layers(1);
            sink_drops.push(Arc::new(AtomicU32::new(0)));
        }
        Ok(Prepared {
            sinks,
            infos,
            sink_drops,
            video,
            audio,
        })
    }

    /// Takes what the platform handed out: the server, the token, the key.
    fn apply_platform(&mut self, got: Obtained) -> Result<(), OnairError> {
        if let Some(url) = got.url {
            self.config.destination = self.config.destination.from_platform(&url)?;
        }
        if let Some(token) = got.token {
            self.events.add(&token);
            self.config.token_source = Some(TokenSource::Given(token));
        }
        if let Some(key) = got.key {
            self.events.add(&key);
            self.config.secret = Some(key);
        }
        Ok(())
    }

    fn connect(&mut self) -> Result<(), OnairError> {
        let prepared = self.prepared.as_mut().expect("prepared before connect");
        let closed = std::mem::take(&mut prepared.sinks);
        for (sink, info) in closed.into_iter().zip(prepared.infos.clone()) {
            // On a thread of its own, so Stop need not wait out a connect or
            // a token fetch; one that completes after Stop is closed at once.
            let opened = self.cancel.run_blocking(
                "onair-open",
                move || {
                    let mut sink = sink;
                    let result = sink.open(&info);
                    (sink, result)
                },
                |(mut late, result)| {
                    if result.is_ok() {
                        let _ = late.close(0);
                    }
                },
            );
            let Some((sink, result)) = opened else {
                return Err(OnairError::internal(
                    "Opening the destination stopped unexpectedly.",
                ));
            };
            prepared.sinks.push(sink);
            result?;
        }
        let recording = match &self.config.destination {
            Destination::File(path) => Some(path),
            _ => self.config.record.as_ref(),
        };
        if let Some(path) = recording {
            let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            self.events.emit(Event::Recording {
                path: path.display().to_string(),
            });
            self.summary.recording = Some(path);
        }
        Ok(())
    }

    fn start_media(&mut self) {
        let Prepared {
            sinks,
            sink_drops,
            video,
            audio,
            ..
        } = self.prepared.take().expect("prepared before start");
        let clock = self.capture.clock();
        let timeline = Arc::new(Timeline::new(clock, clock.now_us(), self.config.duration));
        let counters = Arc::new(PipelineCounters::default());
        self.meter.sample(&counters, 0, 0);

        let mut video_ports = Vec::new();
        let mut audio_ports = Vec::new();
        let mut sink_threads = Vec::new();
        let mut sink_queues = Vec::new();
        for (index, (sink, dropped)) in sinks.into_iter().zip(&sink_drops).enumerate() {
            let local = sink.is_local();
            let (tx, rx) = bounded(SINK_QUEUE);
            let depth = Arc::new(QueueGauge::new(SINK_QUEUE));
            let video_port = SinkPort::new(tx.clone(), dropped.clone(), depth.clone());
            // The first sink is the stream; the others are recordings of it.
            video_ports.push(if index == 0 {
                video_port
            } else {
                video_port.full_size_only()
            });
            audio_ports.push(Some(SinkPort::new(tx, dropped.clone(), depth.clone())));
            sink_threads.push(SinkThread {
                thread: spawn_sink(
                    sink,
                    rx,
                    depth.clone(),
                    timeline.clone(),
                    self.sink_done_tx.clone(),
                ),
                local,
            });
            sink_queues.push(depth);
        }
        let sinks_left = sink_threads.len();

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
                .sinks
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
            sink_drops,
            video_queue,
            audio_queue,
            sink_queues,
            encoders: encoder_threads,
            sinks: sink_threads,
            sinks_left,
        });
        if let Some(plan) = &self.config.platform {
            let presence = matches!(self.config.destination, Destination::LiveKit(_));
            self.platform.watch_status(plan, presence, &*self.events);
        }
    }

    /// Blocks while live until Stop, the end of the requested duration or a
    /// sink failure, emitting stats every second.
    fn wait_while_live(&mut self) -> Input {
        let mut next_stats = Instant::now() + STATS_INTERVAL;
        loop {
            let timeout = next_stats.saturating_duration_since(Instant::now());
            if self.running.is_none() {
                return Input::Stop;
            }
            select! {
                recv(self.stop_rx) -> _ => return Input::Stop,
                recv(self.platform.readings) -> reading => {
                    if let Ok(reading) = reading {
                        self.platform.on_reading(reading, &*self.events);
                    }
                }
                recv(self.notices) -> notice => {
                    if let Ok(notice) = notice {
                        if let Some(input) = self.on_notice(notice) {
                            return input;
                        }
                    }
                }
                recv(self.sink_done) -> done => match done {
                    Ok(Err(e)) => return Input::Failed(e),
                    _ => {
                        let running = self.running.as_mut().expect("checked above");
                        running.sinks_left -= 1;
                        if running.sinks_left == 0 {
                            return Input::MediaEnded;
                        }
                    }
                },
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
    /// panic) fails the session: without it nothing new reaches the sinks.
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

    /// A sink's report as an event, and as the machine's input when it
    /// changes the session's state.
    fn on_notice(&self, notice: SinkNotice) -> Option<Input> {
        match notice {
            SinkNotice::Reconnecting {
                attempt,
                retry_in,
                reason,
            } => {
                self.events.emit(Event::Reconnect {
                    at_ms: self.at_ms(),
                    attempt,
                    retry_in_ms: retry_in.as_millis() as u32,
                    reason,
                });
                Some(Input::Reconnecting)
            }
            SinkNotice::Restored => Some(Input::Restored),
            SinkNotice::Viewers(count) => {
                self.events.emit(Event::Viewers { count });
                None
            }
            SinkNotice::Bitrate {
                kbps,
                backlog_ms,
                congested,
            } => {
                self.events.emit(Event::Bitrate {
                    at_ms: self.at_ms(),
                    kbps,
                    backlog_ms: backlog_ms.min(u32::MAX as u64) as u32,
                    congested,
                });
                None
            }
        }
    }

    fn emit_stats(&mut self) {
        let Some(running) = &self.running else { return };
        let sink_dropped = running
            .sink_drops
            .iter()
            .map(|d| d.load(Ordering::Relaxed))
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
        self.events.emit(Event::Stats {
            at_ms: self.at_ms(),
            video,
            audio,
            sink_queue: QueueGauge::take_deepest(running.sink_queues.iter().map(|q| q.as_ref())),
        });
    }

    /// Stops what was started, newest first: encoders finish at the end of the
    /// timeline, sinks drain their queues and close. Idempotent.
    fn unwind(&mut self) -> Result<(), OnairError> {
        let mut first_error = None;
        // The platform hears the end after the media has stopped: a viewer
        // never sees the platform say "ended" while frames still arrive.
        let platform = self.config.platform.clone();
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
            let goodbye = Instant::now() + NETWORK_SINK_GOODBYE;
            for sink in std::mem::take(&mut running.sinks) {
                while !sink.local && !sink.thread.is_finished() && Instant::now() < goodbye {
                    std::thread::sleep(Duration::from_millis(10));
                }
                if sink.local || sink.thread.is_finished() {
                    let _ = sink.thread.join();
                }
            }
            while let Ok(done) = self.sink_done.try_recv() {
                if let Err(e) = done {
                    first_error.get_or_insert(e);
                }
            }
            let c = &running.counters;
            self.summary.duration_ms =
                (running.timeline.end_us().min(running.timeline.now_us()) / 1000) as u32;
            self.summary.frames_encoded = c.video_encoded.load(Ordering::Relaxed);
            self.summary.frames_dropped = c.dropped_total()
                + running
                    .sink_drops
                    .iter()
                    .map(|d| d.load(Ordering::Relaxed))
                    .max()
                    .unwrap_or(0);
        }
        if let Some(mut prepared) = self.prepared.take() {
            for sink in &mut prepared.sinks {
                if let Err(e) = sink.close(0) {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(plan) = platform {
            self.platform.end(&plan, &*self.events);
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn spawn_sink(
    mut sink: Box<dyn Sink>,
    rx: Receiver<Packet>,
    depth: Arc<QueueGauge>,
    timeline: Arc<Timeline>,
    done: Sender<SinkResult>,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("onair-sink".into())
        .spawn(move || {
            // A panicking sink still reports: the session fails with
            // `internal` instead of waiting for it forever.
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                let mut written = 0u64;
                let mut result = rx.iter().try_for_each(|packet| {
                    depth.observe(rx.len());
                    written += 1;
                    fault_injection::sink_write(written);
                    sink.write(&packet)
                });
                let duration = timeline.end_us().min(timeline.now_us());
                let closed = sink.close(duration);
                if result.is_ok() {
                    result = closed;
                }
                result
            }))
            .unwrap_or_else(|panic| Err(panicked("a destination", &*panic)));
            let _ = done.send(result);
        })
        .expect("spawn sink thread")
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

/// Faults the end-to-end suites inject into a debug build, to prove a
/// panic fails the session cleanly. Release builds carry none of it.
mod fault_injection {
    /// `ONAIR_TEST_PANIC_SINK_AFTER=N`: a sink panics on its Nth packet.
    pub fn sink_write(written: u64) {
        #[cfg(debug_assertions)]
        {
            static AFTER: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
            let after = AFTER.get_or_init(|| {
                std::env::var("ONAIR_TEST_PANIC_SINK_AFTER")
                    .ok()
                    .and_then(|n| n.parse().ok())
            });
            if *after == Some(written) {
                panic!("injected sink panic (ONAIR_TEST_PANIC_SINK_AFTER)");
            }
        }
        #[cfg(not(debug_assertions))]
        let _ = written;
    }
}
