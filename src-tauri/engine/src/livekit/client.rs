//! A LiveKit publisher session: join, publish, stay live, resume or rejoin
//! after a loss, leave. One task owns the socket, the signal machine and the
//! peer connection; the sink thread only hands it media.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use livekit_protocol::{
    AddTrackRequest, IceServer, SimulcastCodec, TrackPublishedResponse, TrackSource, TrackType,
    VideoLayer, VideoQuality,
};
use rtc::peer_connection::transport::RTCIceServer;
use tokio::sync::{mpsc, oneshot};
use webrtc::peer_connection::{RTCIceConnectionState, RTCPeerConnectionState};

use super::data::{session_packet, SessionNotice};
use super::error::LiveKitError;
use super::signal::{self, LeaveAction, Output, SignalMachine};
use super::socket::{JoinMode, SignalSocket};
use crate::error::OnairError;
use crate::net::reconnect::{Input, Mode};
pub use crate::peer::link::Media;
use crate::peer::link::{self, sleep_until_held, Next, Steering, FEEDBACK_TICK};
use crate::peer::publisher::{
    LayerDesc, PcEvent, Publisher, PublisherConfig, AUDIO_TRACK_ID, VIDEO_TRACK_ID,
};
use crate::peer::subscriber::SubscriberPc;
use crate::secret::Secret;
use crate::sink::{SinkLinks, SinkNotice};

/// Joining, publishing and ICE must all be done within this.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(20);
/// The data channels open right after ICE; a notice waits this long for them.
const NOTICE_BUDGET: Duration = Duration::from_secs(5);
/// Saying goodbye must not hold up Stop.
const GOODBYE_BUDGET: Duration = Duration::from_millis(300);

#[derive(Debug, Clone)]
pub struct LiveKitOptions {
    pub url: String,
    pub token: Secret,
    /// Layers top first; one unless simulcasting.
    pub layers: Vec<LayerDesc>,
    pub audio: bool,
    pub reconnect_attempts: u32,
}

/// Track ids double as LiveKit's client ids (`cid`): the server matches
/// media to `add_track` by msid.
const VIDEO_CID: &str = VIDEO_TRACK_ID;
const AUDIO_CID: &str = AUDIO_TRACK_ID;

/// A live connection: everything that must be rebuilt on a full rejoin.
struct Connection {
    socket: SignalSocket,
    machine: SignalMachine,
    publisher: Publisher,
    pc_events: mpsc::UnboundedReceiver<PcEvent>,
    participant_sid: String,
    published: Vec<TrackPublishedResponse>,
    video_sid: String,
    subscriber: SubscriberSide,
}

impl Connection {
    async fn close(&self) {
        self.publisher.close().await;
        self.subscriber.close().await;
    }
}

/// The subscriber connection, created when the server offers one.
struct SubscriberSide {
    ice_servers: Vec<RTCIceServer>,
    pc: Option<SubscriberPc>,
    events_tx: mpsc::UnboundedSender<PcEvent>,
    events: mpsc::UnboundedReceiver<PcEvent>,
    early_candidates: Vec<String>,
}

impl SubscriberSide {
    fn new(ice_servers: Vec<RTCIceServer>) -> Self {
        let (events_tx, events) = mpsc::unbounded_channel();
        SubscriberSide {
            ice_servers,
            pc: None,
            events_tx,
            events,
            early_candidates: Vec::new(),
        }
    }

    async fn on_offer(
        &mut self,
        sdp: String,
        socket: &mut SignalSocket,
    ) -> Result<(), LiveKitError> {
        let answer = match &self.pc {
            Some(pc) => pc.renegotiate(sdp).await?,
            None => {
                let (pc, answer) =
                    SubscriberPc::answer(sdp, self.ice_servers.clone(), self.events_tx.clone())
                        .await?;
                for candidate in self.early_candidates.drain(..) {
                    let _ = pc.add_remote_candidate(&candidate).await;
                }
                self.pc = Some(pc);
                answer
            }
        };
        socket.send(&signal::subscriber_answer(answer)).await
    }

    async fn on_candidate(&mut self, json: String) {
        match &self.pc {
            Some(pc) => {
                let _ = pc.add_remote_candidate(&json).await;
            }
            None => self.early_candidates.push(json),
        }
    }

    async fn close(&self) {
        if let Some(pc) = &self.pc {
            pc.close().await;
        }
    }
}

/// Why serving stopped.
enum Served {
    Stopped,
    Lost(LiveKitError),
    Ended(LiveKitError),
}

pub async fn run(
    mut options: LiveKitOptions,
    links: SinkLinks,
    mut media: mpsc::Receiver<Media>,
    mut stop: oneshot::Receiver<()>,
    ready: oneshot::Sender<Result<(), OnairError>>,
) -> Result<(), OnairError> {
    let mut connection = match establish(&options, &mut None).await {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e.into()));
            return Ok(());
        }
    };
    let _ = ready.send(Ok(()));
    // Pictures wait for a keyframe (see `Publisher::restart_at_keyframes`).
    links.control.request_keyframe();
    announce_live(&connection, &links);
    let mut policy = link::reconnect_policy(options.reconnect_attempts);
    loop {
        let served = serve(&mut connection, &mut options, &links, &mut media, &mut stop).await;
        let lost = match served {
            Served::Stopped => {
                let goodbye = session_packet(SessionNotice::Ending);
                let _ = connection
                    .publisher
                    .send_reliable(&goodbye, GOODBYE_BUDGET)
                    .await;
                let _ = connection.socket.send(&signal::leave()).await;
                connection.close().await;
                connection.socket.close().await;
                return Ok(());
            }
            Served::Ended(e) => {
                connection.close().await;
                return Err(e.into());
            }
            Served::Lost(e) => e,
        };
        // Resume first: same participant, same tracks, an ICE restart.
        // `old` is the connection to resume, until a new join replaces it.
        let mut old = Some(connection);
        let mut outputs = policy.handle(Input::Lost(lost), Instant::now());
        connection = loop {
            let next = link::next_step(
                "LiveKit",
                &mut policy,
                outputs,
                &mut media,
                &mut stop,
                &links,
            )
            .await;
            let mode = match next {
                Next::Attempt(mode) => mode,
                Next::Stopped => {
                    close_if_any(old).await;
                    return Ok(());
                }
                Next::GaveUp(e) => {
                    close_if_any(old).await;
                    return Err(e);
                }
            };
            let failed = match (mode, old.as_mut()) {
                (Mode::Resume, Some(resumable)) => match resume(resumable, &options).await {
                    Ok(()) => break old.take().expect("just resumed"),
                    Err(e) => Input::AttemptFailed(e),
                },
                // A new join took its place, then failed: nothing to resume.
                (Mode::Resume, None) => Input::CannotResume,
                (Mode::Fresh, _) => match establish(&options, &mut old).await {
                    Ok(fresh) => break fresh,
                    Err(e) => Input::AttemptFailed(e),
                },
            };
            outputs = policy.handle(failed, Instant::now());
        };
        let restored = policy.handle(Input::<LiveKitError>::Connected, Instant::now());
        announce_live(&connection, &links);
        connection.publisher.restart_at_keyframes();
        links.control.request_keyframe();
        link::tell(restored, &links);
    }
}

/// A connection that publishes nothing and subscribes to nothing, with its
/// data channels up: what the link check measures over. Unless its token
/// is hidden, the room lists it as a participant without tracks while it
/// lasts.
pub struct Unpublished {
    connection: Connection,
}

impl Unpublished {
    pub async fn join(url: &str, token: &Secret) -> Result<Unpublished, LiveKitError> {
        let options = LiveKitOptions {
            url: url.to_string(),
            token: token.clone(),
            layers: Vec::new(),
            audio: false,
            reconnect_attempts: 0,
        };
        Ok(Unpublished {
            connection: establish(&options, &mut None).await?,
        })
    }

    /// The ordered data channel (it may still be opening).
    pub fn channel(&self) -> Option<std::sync::Arc<dyn webrtc::data_channel::DataChannel>> {
        self.connection.publisher.reliable_channel()
    }

    /// One round trip on the signal connection. What else the server says
    /// meanwhile is answered as a session would (the subscriber's offer and
    /// candidates), so the room keeps the connection healthy.
    pub async fn round_trip(&mut self) -> Result<Duration, LiveKitError> {
        let connection = &mut self.connection;
        let sent = Instant::now();
        connection
            .socket
            .send(&connection.machine.ping(sent))
            .await?;
        loop {
            let response = next_response(&mut connection.socket).await?;
            for output in connection.machine.on_response(response, Instant::now()) {
                match output {
                    Output::Pong => return Ok(sent.elapsed()),
                    Output::Leave { reason, .. } => return Err(left(&reason)),
                    Output::SubscriberOffer(sdp) => {
                        connection
                            .subscriber
                            .on_offer(sdp, &mut connection.socket)
                            .await?
                    }
                    Output::RemoteCandidate {
                        candidate_init,
                        subscriber: true,
                    } => connection.subscriber.on_candidate(candidate_init).await,
                    _ => {}
                }
            }
        }
    }

    pub async fn leave(mut self) {
        let _ = self.connection.socket.send(&signal::leave()).await;
        self.connection.close().await;
        self.connection.socket.close().await;
    }
}

async fn close_if_any(connection: Option<Connection>) {
    if let Some(connection) = connection {
        connection.close().await;
    }
}

/// Tells the room we are live, and the creator how many watch (the count
/// the join brought, which later changes build on).
fn announce_live(connection: &Connection, links: &SinkLinks) {
    connection
        .publisher
        .send_reliable_soon(session_packet(SessionNotice::Live), NOTICE_BUDGET);
    if let Some(count) = connection.machine.viewers() {
        let _ = links.notices.send(SinkNotice::Viewers(count));
    }
}

fn ice_servers(servers: Vec<IceServer>) -> Vec<RTCIceServer> {
    servers
        .into_iter()
        .map(|s| RTCIceServer {
            urls: s.urls,
            username: s.username,
            credential: s.credential,
        })
        .collect()
}

fn quality_of(index: usize, count: usize) -> VideoQuality {
    // Layers are top first; the top is HIGH, the bottom LOW.
    match count - 1 - index {
        0 => VideoQuality::Low,
        1 => VideoQuality::Medium,
        _ => VideoQuality::High,
    }
}

fn video_track_request(options: &LiveKitOptions) -> AddTrackRequest {
    let count = options.layers.len();
    let layers: Vec<VideoLayer> = options
        .layers
        .iter()
        .enumerate()
        .map(|(i, layer)| VideoLayer {
            quality: quality_of(i, count) as i32,
            width: layer.width,
            height: layer.height,
            bitrate: layer.kbps * 1000,
            rid: layer.rid.clone().unwrap_or_default(),
            ..Default::default()
        })
        .collect();
    let top = &options.layers[0];
    AddTrackRequest {
        cid: VIDEO_CID.into(),
        name: "camera".into(),
        r#type: TrackType::Video as i32,
        source: TrackSource::Camera as i32,
        width: top.width,
        height: top.height,
        simulcast_codecs: vec![SimulcastCodec {
            codec: "h264".into(),
            cid: VIDEO_CID.into(),
            layers: layers.clone(),
            ..Default::default()
        }],
        layers,
        ..Default::default()
    }
}

fn audio_track_request() -> AddTrackRequest {
    AddTrackRequest {
        cid: AUDIO_CID.into(),
        name: "microphone".into(),
        r#type: TrackType::Audio as i32,
        source: TrackSource::Microphone as i32,
        audio_features: vec![livekit_protocol::AudioTrackFeature::TfStereo as i32],
        ..Default::default()
    }
}

/// What a join publishes: nothing for a connection without layers (the
/// link check).
fn track_requests(options: &LiveKitOptions) -> Vec<AddTrackRequest> {
    let mut requests = Vec::new();
    if !options.layers.is_empty() {
        requests.push(video_track_request(options));
    }
    if options.audio {
        requests.push(audio_track_request());
    }
    requests
}

/// Joins afresh. `replacing` is the connection a failed resume leaves
/// behind: once the server accepts the new join it can never come back, so
/// it is closed and dropped there, before the new peer connections are
/// built. Their buffers then reuse its memory instead of settling around
/// its holes: built first, RSS crept up with every rejoin (issue 20).
async fn establish(
    options: &LiveKitOptions,
    replacing: &mut Option<Connection>,
) -> Result<Connection, LiveKitError> {
    // Which step ran out of time decides what the creator is told.
    let joined = AtomicBool::new(false);
    tokio::time::timeout(
        ESTABLISH_TIMEOUT,
        establish_inner(options, replacing, &joined),
    )
    .await
    .unwrap_or_else(|_| {
        Err(LiveKitError::JoinTimedOut {
            joined: joined.load(Ordering::Relaxed),
            seconds: ESTABLISH_TIMEOUT.as_secs(),
        })
    })
}

async fn establish_inner(
    options: &LiveKitOptions,
    replacing: &mut Option<Connection>,
    joined: &AtomicBool,
) -> Result<Connection, LiveKitError> {
    let mut socket = SignalSocket::connect(&options.url, &options.token, &JoinMode::Join).await?;
    let mut machine = SignalMachine::new(Instant::now());
    loop {
        let response = next_response(&mut socket).await?;
        for output in machine.on_response(response, Instant::now()) {
            match output {
                Output::Joined {
                    participant_sid,
                    ice_servers,
                } => {
                    joined.store(true, Ordering::Relaxed);
                    if let Some(old) = replacing.take() {
                        old.close().await;
                        drop(old);
                        crate::peer::release_freed_memory();
                    }
                    return finish_join(options, socket, machine, participant_sid, ice_servers)
                        .await;
                }
                Output::Leave { reason, .. } => return Err(left(&reason)),
                _ => {}
            }
        }
    }
}

async fn next_response(
    socket: &mut SignalSocket,
) -> Result<livekit_protocol::SignalResponse, LiveKitError> {
    match socket.next().await {
        Some(result) => result,
        None => Err(LiveKitError::Closed { during: "joining" }),
    }
}

fn left(reason: &str) -> LiveKitError {
    LiveKitError::TurnedAway(reason.to_string())
}

fn publisher_config(options: &LiveKitOptions, servers: Vec<IceServer>) -> PublisherConfig {
    PublisherConfig {
        ice_servers: ice_servers(servers),
        audio: options.audio,
        layers: options.layers.clone(),
        data_channels: true,
    }
}

async fn finish_join(
    options: &LiveKitOptions,
    mut socket: SignalSocket,
    mut machine: SignalMachine,
    participant_sid: String,
    servers: Vec<IceServer>,
) -> Result<Connection, LiveKitError> {
    let (pc_tx, mut pc_events) = mpsc::unbounded_channel();
    let config = publisher_config(options, servers);
    let mut subscriber = SubscriberSide::new(config.ice_servers.clone());
    let mut publisher = Publisher::new(&config, pc_tx).await?;
    let requests = track_requests(options);
    let wanted = requests.len();
    for request in requests {
        socket.send(&signal::add_track(request)).await?;
    }
    let mut published = Vec::new();
    let mut video_sid = String::new();
    while published.len() < wanted {
        let response = next_response(&mut socket).await?;
        for output in machine.on_response(response, Instant::now()) {
            match output {
                Output::TrackPublished { cid, sid } => {
                    if cid == VIDEO_CID {
                        video_sid = sid.clone();
                    }
                    published.push(TrackPublishedResponse {
                        cid,
                        track: Some(livekit_protocol::TrackInfo {
                            sid,
                            ..Default::default()
                        }),
                    });
                }
                Output::SubscriberOffer(sdp) => subscriber.on_offer(sdp, &mut socket).await?,
                Output::RemoteCandidate {
                    candidate_init,
                    subscriber: true,
                } => subscriber.on_candidate(candidate_init).await,
                Output::Leave { reason, .. } => return Err(left(&reason)),
                _ => {}
            }
        }
    }
    let mut sides = Sides {
        publisher: &mut publisher,
        pc_events: &mut pc_events,
        subscriber: &mut subscriber,
    };
    negotiate(&mut socket, &mut machine, &mut sides, false).await?;
    Ok(Connection {
        socket,
        machine,
        publisher,
        pc_events,
        participant_sid,
        published,
        video_sid,
        subscriber,
    })
}

/// Both peer connections, as negotiation needs them.
struct Sides<'a> {
    publisher: &'a mut Publisher,
    pc_events: &'a mut mpsc::UnboundedReceiver<PcEvent>,
    subscriber: &'a mut SubscriberSide,
}

/// Offer, answer, trickle both ways, until the peer connection is up.
async fn negotiate(
    socket: &mut SignalSocket,
    machine: &mut SignalMachine,
    sides: &mut Sides<'_>,
    ice_restart: bool,
) -> Result<(), LiveKitError> {
    let Sides {
        publisher,
        pc_events,
        subscriber,
    } = sides;
    // What the connection said before this offer (a state from before a
    // loss) must not be taken for the answer to it.
    while pc_events.try_recv().is_ok() {}
    let offer = publisher.create_offer(ice_restart).await?;
    socket.send(&signal::publisher_offer(offer)).await?;
    let mut answered = false;
    let mut early_candidates: Vec<String> = Vec::new();
    loop {
        tokio::select! {
            response = socket.next() => {
                let response = match response {
                    Some(r) => r?,
                    None => return Err(LiveKitError::Closed { during: "publishing" }),
                };
                for output in machine.on_response(response, Instant::now()) {
                    match output {
                        Output::PublisherAnswer(sdp) => {
                            publisher.accept_answer(sdp).await?;
                            answered = true;
                            for candidate in early_candidates.drain(..) {
                                let _ = publisher.add_remote_candidate(&candidate).await;
                            }
                        }
                        Output::RemoteCandidate { candidate_init, subscriber: false } => {
                            if answered {
                                let _ = publisher.add_remote_candidate(&candidate_init).await;
                            } else {
                                early_candidates.push(candidate_init);
                            }
                        }
                        Output::SubscriberOffer(sdp) => subscriber.on_offer(sdp, socket).await?,
                        Output::RemoteCandidate { candidate_init, subscriber: true } => {
                            subscriber.on_candidate(candidate_init).await
                        }
                        Output::Leave { reason, .. } => return Err(left(&reason)),
                        _ => {}
                    }
                }
            }
            Some(PcEvent::Candidate(json)) = subscriber.events.recv() => {
                socket.send(&signal::trickle(json, true)).await?
            }
            Some(event) = pc_events.recv() => match event {
                PcEvent::Candidate(json) => socket.send(&signal::trickle(json, false)).await?,
                PcEvent::State(RTCPeerConnectionState::Connected) if !ice_restart || answered => return Ok(()),
                // After an ICE restart the connection may stay "connected"
                // throughout; ICE connecting again is what counts.
                PcEvent::Ice(RTCIceConnectionState::Connected | RTCIceConnectionState::Completed)
                    if ice_restart && answered => return Ok(()),
                PcEvent::State(RTCPeerConnectionState::Failed) => {
                    return Err(LiveKitError::IceFailed)
                }
                PcEvent::State(_) | PcEvent::Ice(_) => {}
            }
        }
    }
}

async fn resume(connection: &mut Connection, options: &LiveKitOptions) -> Result<(), LiveKitError> {
    let attempt = async {
        let mode = JoinMode::Resume {
            participant_sid: connection.participant_sid.clone(),
        };
        let mut socket = SignalSocket::connect(&options.url, &options.token, &mode).await?;
        let mut machine = SignalMachine::new(Instant::now());
        loop {
            let response = next_response(&mut socket).await?;
            let outputs = machine.on_response(response, Instant::now());
            if outputs.iter().any(|o| matches!(o, Output::Resumed { .. })) {
                break;
            }
            if let Some(Output::Leave { reason, .. }) =
                outputs.iter().find(|o| matches!(o, Output::Leave { .. }))
            {
                return Err(left(reason));
            }
        }
        socket
            .send(&signal::sync_state(connection.published.clone()))
            .await?;
        let mut sides = Sides {
            publisher: &mut connection.publisher,
            pc_events: &mut connection.pc_events,
            subscriber: &mut connection.subscriber,
        };
        negotiate(&mut socket, &mut machine, &mut sides, true).await?;
        connection.socket = socket;
        connection.machine = machine;
        Ok(())
    };
    tokio::time::timeout(ESTABLISH_TIMEOUT, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(LiveKitError::ResumeTimedOut {
                seconds: ESTABLISH_TIMEOUT.as_secs(),
            })
        })
}

async fn serve(
    connection: &mut Connection,
    options: &mut LiveKitOptions,
    links: &SinkLinks,
    media: &mut mpsc::Receiver<Media>,
    stop: &mut oneshot::Receiver<()>,
) -> Served {
    let mut feedback_tick = tokio::time::interval(FEEDBACK_TICK);
    let mut steering = Steering::new(links);
    loop {
        let deadline = tokio::time::Instant::from_std(connection.machine.next_deadline());
        let held = connection.publisher.next_release();
        tokio::select! {
            _ = &mut *stop => return Served::Stopped,
            Some(m) = media.recv() => {
                if let Err(e) = connection.publisher.send(m, Instant::now()).await {
                    return Served::Lost(LiveKitError::Interrupted(format!("sending media failed: {e}")));
                }
            }
            _ = sleep_until_held(held) => {
                if let Err(e) = connection.publisher.send_due(Instant::now()).await {
                    return Served::Lost(LiveKitError::Interrupted(format!("sending media failed: {e}")));
                }
            }
            response = connection.socket.next() => {
                let response = match response {
                    Some(Ok(r)) => r,
                    Some(Err(e)) => return Served::Lost(e),
                    None => return Served::Lost(LiveKitError::Interrupted("the LiveKit server closed the signal connection".into())),
                };
                for output in connection.machine.on_response(response, Instant::now()) {
                    if let Some(served) = act(output, connection, options, links).await {
                        return served;
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                for output in connection.machine.on_tick(Instant::now()) {
                    if let Some(served) = act(output, connection, options, links).await {
                        return served;
                    }
                }
            }
            Some(PcEvent::Candidate(json)) = connection.subscriber.events.recv() => {
                let _ = connection.socket.send(&signal::trickle(json, true)).await;
            }
            Some(event) = connection.pc_events.recv() => match event {
                PcEvent::Candidate(json) => {
                    let _ = connection.socket.send(&signal::trickle(json, false)).await;
                }
                PcEvent::State(RTCPeerConnectionState::Failed | RTCPeerConnectionState::Disconnected) => {
                    return Served::Lost(LiveKitError::Interrupted("media stopped reaching the LiveKit server".into()));
                }
                PcEvent::State(_) | PcEvent::Ice(_) => {}
            },
            _ = feedback_tick.tick() => {
                steering.on_tick(&connection.publisher.feedback(), links);
            }
        }
    }
}

async fn act(
    output: Output,
    connection: &mut Connection,
    options: &mut LiveKitOptions,
    links: &SinkLinks,
) -> Option<Served> {
    match output {
        Output::Send(request) => {
            if let Err(e) = connection.socket.send(&request).await {
                return Some(Served::Lost(e));
            }
        }
        Output::RemoteCandidate {
            candidate_init,
            subscriber: false,
        } => {
            let _ = connection
                .publisher
                .add_remote_candidate(&candidate_init)
                .await;
        }
        Output::RemoteCandidate {
            candidate_init,
            subscriber: true,
        } => connection.subscriber.on_candidate(candidate_init).await,
        Output::SubscriberOffer(sdp) => {
            if let Err(e) = connection
                .subscriber
                .on_offer(sdp, &mut connection.socket)
                .await
            {
                return Some(Served::Lost(e));
            }
        }
        Output::Viewers(count) => {
            let _ = links.notices.send(SinkNotice::Viewers(count));
        }
        Output::Pong => {
            let rtt = Duration::from_millis(connection.machine.rtt_ms().max(0) as u64);
            let _ = links.notices.send(SinkNotice::RoundTrip(rtt));
        }
        Output::Qualities { track_sid, wanted } if track_sid == connection.video_sid => {
            let count = connection.publisher.layer_count();
            let mask = (0..count)
                .filter(|&i| {
                    let quality = quality_of(i, count) as i32;
                    wanted.iter().any(|q| q.quality == quality && q.enabled)
                })
                .fold(0u32, |mask, i| mask | (1 << i));
            links.control.set_active_layers(mask);
        }
        Output::RefreshToken(token) => options.token = token,
        Output::Leave { action, reason } => {
            return Some(match action {
                LeaveAction::Disconnect => Served::Ended(left(&reason)),
                LeaveAction::Resume | LeaveAction::Reconnect => {
                    Served::Lost(LiveKitError::Interrupted(format!(
                        "the server asked us to reconnect ({reason})"
                    )))
                }
            })
        }
        Output::Silent => {
            return Some(Served::Lost(LiveKitError::Interrupted(
                "the LiveKit server stopped answering pings".into(),
            )))
        }
        _ => {}
    }
    None
}
