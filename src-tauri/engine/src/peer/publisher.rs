//! One send-only peer connection carrying our H.264 (one or several simulcast
//! layers) and Opus. Signalling is someone else's job (LiveKit, WHIP): this
//! makes offers, takes answers and candidates, and turns encoded access units
//! into RTP with timestamps from their presentation times.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::data_channel::{RTCDataChannelInit, RTCDataChannelState};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{CongestionControlBuilder, PacerBuilder, Registry, Slot, TwccSenderBuilder};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{
    MediaEngine, MIME_TYPE_H264, MIME_TYPE_OPUS,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::{RTCIceCandidateInit, RTCIceServer};
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtp::codec::h264::H264Payloader;
use rtc::rtp::packetizer::Payloader;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::{mpsc, watch};
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceConnectionState,
    RTCIceGatheringState, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
};

use super::bandwidth::{DelayLossEstimate, PACING_FACTOR};
use super::feedback::{Feedback, VIDEO_SHARE_OF_ESTIMATE};
use super::link::Media;
use super::link::MIN_VIDEO_KBPS;
use super::lipsync::LipSync;
use super::PeerError as WebRtcError;
use crate::encode::opus::STREAM_KBPS;
use crate::flv::avc::{nal_type, split_annexb, NAL_SLICE_IDR};

/// LiveKit's data channel labels.
const RELIABLE_LABEL: &str = "_reliable";
const LOSSY_LABEL: &str = "_lossy";
/// Payloads fit a 1200-byte packet with room for header extensions.
const MTU: usize = 1200;
const H264_PT: u8 = 102;
const OPUS_PT: u8 = 111;
/// Constrained Baseline 3.1, what either encoder emits for a session with a
/// WebRTC destination (session/plan.rs says why), packetization mode 1.
const H264_FMTP: &str = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";

/// One video layer as the remote sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDesc {
    /// Simulcast stream id (f, h, q); None when not simulcasting.
    pub rid: Option<String>,
    pub width: u32,
    pub height: u32,
    pub kbps: u32,
}

/// The msid stream and track ids. LiveKit matches the track ids with the
/// `cid`s of its add_track requests.
pub const STREAM_ID: &str = "onair";
pub const VIDEO_TRACK_ID: &str = "onair-camera";
pub const AUDIO_TRACK_ID: &str = "onair-microphone";

#[derive(Debug, Clone)]
pub struct PublisherConfig {
    pub ice_servers: Vec<RTCIceServer>,
    pub audio: bool,
    pub layers: Vec<LayerDesc>,
    /// LiveKit's `_reliable` and `_lossy` data channels (WHIP has none).
    pub data_channels: bool,
}

/// What the connection reports while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum PcEvent {
    /// A local candidate, as the JSON init object signalling carries.
    Candidate(String),
    State(RTCPeerConnectionState),
    /// ICE's own state: after an ICE restart the connection's state may
    /// not change at all, but ICE checks and connects again.
    Ice(RTCIceConnectionState),
}

/// Forwards a connection's candidates and state changes to its owner.
pub(crate) struct Handler {
    events: mpsc::UnboundedSender<PcEvent>,
    gathering: Arc<watch::Sender<RTCIceGatheringState>>,
}

impl Handler {
    pub(crate) fn new(
        events: mpsc::UnboundedSender<PcEvent>,
        gathering: Arc<watch::Sender<RTCIceGatheringState>>,
    ) -> Self {
        Handler { events, gathering }
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            if let Ok(json) = serde_json::to_string(&init) {
                let _ = self.events.send(PcEvent::Candidate(json));
            }
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.events.send(PcEvent::State(state));
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        let _ = self.events.send(PcEvent::Ice(state));
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        self.gathering.send_replace(state);
    }
}

/// RTP state for one outgoing stream (a video layer or the audio).
struct Stream {
    ssrc: u32,
    /// Kept as bytes: it is written into every packet of a simulcast layer.
    rid: Option<Bytes>,
    sequence: u16,
    /// Random start, as RFC 3550 asks.
    timestamp_base: u32,
    /// After a gap, pictures wait for a keyframe: one that refers to a
    /// picture the receiver never got leaves its decoder stuck.
    awaiting_keyframe: bool,
}

impl Stream {
    fn new(rid: Option<String>) -> Self {
        Stream {
            ssrc: rand_u32(),
            rid: rid.map(Bytes::from),
            sequence: rand_u32() as u16,
            timestamp_base: rand_u32(),
            // A new stream starts at a keyframe too.
            awaiting_keyframe: true,
        }
    }

    fn next_sequence(&mut self) -> u16 {
        let s = self.sequence;
        self.sequence = self.sequence.wrapping_add(1);
        s
    }
}

/// The pacer refuses packets beyond this many (about 120 KB; over a second
/// at the lowest rates). A refused packet can be asked for again; a queue
/// without end is latency the viewer never gets back.
const PACER_QUEUE_PACKETS: usize = 100;

/// A bandwidth estimate over the receiver's transport-wide feedback (delay
/// and loss), and a pacer that every packet crosses, retransmissions
/// included. Without the pacer a frame leaves in one burst. Under a
/// bottleneck, the retransmissions of what a full queue dropped would then
/// overflow it again.
fn with_congestion_control(registry: Registry, layers: &[LayerDesc], audio_kbps: u32) -> Registry {
    let encoders_kbps = layers.iter().map(|l| l.kbps).sum::<u32>() + audio_kbps;
    // At the top of the estimate the encoders get all they were set to.
    let ceiling = f64::from(encoders_kbps) * 1000.0 / VIDEO_SHARE_OF_ESTIMATE;
    // At the bottom, no less than they make at their lowest.
    let floor = f64::from(MIN_VIDEO_KBPS + audio_kbps) * 1000.0 / VIDEO_SHARE_OF_ESTIMATE;
    registry
        .with(Slot::TwccSender, TwccSenderBuilder::new().build())
        .with(
            Slot::Pacer,
            PacerBuilder::new()
                .with_target_bitrate(ceiling * PACING_FACTOR)
                .with_queue_limit(PACER_QUEUE_PACKETS)
                .build(),
        )
        .with(
            Slot::CongestionControl,
            CongestionControlBuilder::new(DelayLossEstimate::new(floor.min(ceiling), ceiling))
                .build(),
        )
}

pub struct Publisher {
    pc: Arc<dyn PeerConnection>,
    video: Arc<TrackLocalStaticRTP>,
    layers: Vec<Stream>,
    audio: Option<(Arc<TrackLocalStaticRTP>, Stream)>,
    payloader: H264Payloader,
    /// Negotiated header extension ids (0 = not negotiated).
    mid_ext: u8,
    rid_ext: u8,
    mid: Bytes,
    feedback: Arc<Feedback>,
    /// Signalling without trickle (WHIP) waits for this before sending the offer.
    gathering: Arc<watch::Sender<RTCIceGatheringState>>,
    reliable: Option<Arc<dyn DataChannel>>,
    /// Held open for the room (LiveKit expects both); Onair sends nothing
    /// unordered yet.
    _lossy: Option<Arc<dyn DataChannel>>,
    /// Set by `close`: background sends end with the connection.
    closed: watch::Sender<bool>,
    /// Holds the picture so it leaves in step with the sound.
    lipsync: LipSync,
}

impl Publisher {
    pub async fn new(
        config: &PublisherConfig,
        events: mpsc::UnboundedSender<PcEvent>,
    ) -> Result<Publisher, WebRtcError> {
        let mut media = MediaEngine::default();
        let nack = vec![
            RTCPFeedback {
                typ: "nack".into(),
                parameter: String::new(),
            },
            RTCPFeedback {
                typ: "nack".into(),
                parameter: "pli".into(),
            },
            RTCPFeedback {
                typ: "ccm".into(),
                parameter: "fir".into(),
            },
        ];
        media.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: h264_codec(nack),
                payload_type: H264_PT,
            },
            RtpCodecKind::Video,
        )?;
        media.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: opus_codec(),
                payload_type: OPUS_PT,
            },
            RtpCodecKind::Audio,
        )?;
        // NACK responder, RTCP sender reports, MID/RID and transport-wide
        // sequence number extensions; then sender-side congestion control;
        // then, last, the forwarder that lets keyframe requests, loss and
        // the bandwidth estimate reach us.
        let registry = register_default_interceptors(Registry::new(), &mut media)?;
        let audio_kbps = if config.audio { STREAM_KBPS } else { 0 };
        let feedback = Arc::new(Feedback::new(audio_kbps));
        let registry = with_congestion_control(registry, &config.layers, audio_kbps).with(
            Slot::from(14_000),
            super::feedback::forwarder(feedback.clone()),
        );

        let gathering = Arc::new(watch::Sender::new(RTCIceGatheringState::New));
        let rtc_config = RTCConfigurationBuilder::new()
            .with_ice_servers(config.ice_servers.clone())
            .build();
        let pc: Arc<dyn PeerConnection> = Arc::new(
            PeerConnectionBuilder::new()
                .with_configuration(rtc_config)
                .with_media_engine(media)
                // Servers never send .local candidates, and the mDNS socket's
                // multicast join fails (ENODEV) on a host without a multicast route.
                .with_setting_engine(
                    SettingEngineBuilder::new()
                        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
                        .build(),
                )
                .with_interceptor_registry(registry)
                .with_handler(Arc::new(Handler::new(events, gathering.clone())))
                .with_udp_addrs(vec!["0.0.0.0:0"])
                .build()
                .await?,
        );

        let layers: Vec<Stream> = config
            .layers
            .iter()
            .map(|layer| Stream::new(layer.rid.clone()))
            .collect();
        let encodings = layers
            .iter()
            .zip(&config.layers)
            .map(|(stream, desc)| RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(stream.ssrc),
                    rid: stream
                        .rid
                        .as_ref()
                        .map(|r| String::from_utf8_lossy(r).into_owned())
                        .unwrap_or_default(),
                    ..Default::default()
                },
                codec: h264_codec(Vec::new()),
                max_bitrate: desc.kbps * 1000,
                ..Default::default()
            })
            .collect();
        let video = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            STREAM_ID.into(),
            VIDEO_TRACK_ID.into(),
            "camera".into(),
            RtpCodecKind::Video,
            encodings,
        )));
        // No layers: a connection that sends no media (the link check).
        if !config.layers.is_empty() {
            pc.add_transceiver_from_track(
                video.clone() as Arc<dyn TrackLocal>,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Sendonly,
                    ..Default::default()
                }),
            )
            .await?;
        }

        let audio = if config.audio {
            let stream = Stream::new(None);
            let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
                STREAM_ID.into(),
                AUDIO_TRACK_ID.into(),
                "microphone".into(),
                RtpCodecKind::Audio,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(stream.ssrc),
                        ..Default::default()
                    },
                    codec: opus_codec(),
                    ..Default::default()
                }],
            )));
            pc.add_transceiver_from_track(
                track.clone() as Arc<dyn TrackLocal>,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Sendonly,
                    ..Default::default()
                }),
            )
            .await?;
            Some((track, stream))
        } else {
            None
        };

        // Opened before the first offer, so it carries the SCTP section.
        let (reliable, lossy) = if config.data_channels {
            let reliable = pc
                .create_data_channel(
                    RELIABLE_LABEL,
                    Some(RTCDataChannelInit {
                        ordered: true,
                        ..Default::default()
                    }),
                )
                .await?;
            let lossy = pc
                .create_data_channel(
                    LOSSY_LABEL,
                    Some(RTCDataChannelInit {
                        ordered: false,
                        max_retransmits: Some(0),
                        ..Default::default()
                    }),
                )
                .await?;
            (Some(reliable), Some(lossy))
        } else {
            (None, None)
        };

        let publisher = Publisher {
            pc,
            video,
            layers,
            audio,
            payloader: H264Payloader::default(),
            mid_ext: 0,
            rid_ext: 0,
            mid: Bytes::new(),
            feedback,
            gathering,
            reliable,
            _lossy: lossy,
            closed: watch::Sender::new(false),
            lipsync: LipSync::new(config.audio),
        };
        if !config.layers.is_empty() {
            publisher.watch_feedback();
        }
        Ok(publisher)
    }

    /// Receiver feedback arrives as events on the video track. A keyframe
    /// request names the SSRC, and so the layer, that needs one; a receiver
    /// report says how much of each layer was lost.
    fn watch_feedback(&self) {
        let track = self.video.clone();
        let feedback = self.feedback.clone();
        let ssrcs: Vec<u32> = self.layers.iter().map(|s| s.ssrc).collect();
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                let TrackLocalEvent::OnRtcpPacket(packets) = event else {
                    continue;
                };
                for packet in packets {
                    if let Some(report) = packet.as_any().downcast_ref::<ReceiverReport>() {
                        for block in report.reports.iter().filter(|b| ssrcs.contains(&b.ssrc)) {
                            feedback.report_loss(block.fraction_lost);
                        }
                        continue;
                    }
                    for ssrc in packet.destination_ssrc() {
                        if let Some(layer) = ssrcs.iter().position(|s| *s == ssrc) {
                            feedback.request_keyframe(layer);
                        }
                    }
                }
            }
        });
    }

    pub fn feedback(&self) -> Arc<Feedback> {
        self.feedback.clone()
    }

    pub async fn create_offer(&self, ice_restart: bool) -> Result<String, WebRtcError> {
        if ice_restart {
            self.pc.restart_ice().await?;
        }
        let offer = self.pc.create_offer(None).await?;
        // A fresh generation: gathering for this offer starts now.
        self.gathering.send_replace(RTCIceGatheringState::Gathering);
        self.pc.set_local_description(offer.clone()).await?;
        Ok(offer.sdp)
    }

    /// The local description with the candidates gathered for the last
    /// offer, once gathering is complete or `budget` has passed: for
    /// signalling that sends the offer whole (WHIP) rather than trickling.
    pub async fn gathered_offer(&self, budget: Duration) -> Result<String, WebRtcError> {
        let mut state = self.gathering.subscribe();
        let _ = tokio::time::timeout(
            budget,
            state.wait_for(|s| *s == RTCIceGatheringState::Complete),
        )
        .await;
        self.pc
            .local_description()
            .await
            .map(|d| d.sdp)
            .ok_or_else(|| WebRtcError::Protocol("no local description to send".into()))
    }

    /// Applies the remote answer and learns what it negotiated: header
    /// extension ids, and whether it kept simulcast.
    pub async fn accept_answer(&mut self, sdp: String) -> Result<(), WebRtcError> {
        let answer = RTCSessionDescription::answer(sdp)?;
        self.pc.set_remote_description(answer).await?;
        for transceiver in self.pc.get_transceivers().await {
            let Some(sender) = transceiver.sender().await? else {
                continue;
            };
            if !Arc::ptr_eq(sender.track(), &(self.video.clone() as Arc<dyn TrackLocal>)) {
                continue;
            }
            self.mid = Bytes::from(transceiver.mid().await?.unwrap_or_default());
            let params = sender.get_parameters().await?;
            for ext in &params.rtp_parameters.header_extensions {
                if ext.uri == sdp_extmap::SDES_MID_URI {
                    self.mid_ext = ext.id as u8;
                } else if ext.uri == sdp_extmap::SDES_RTP_STREAM_ID_URI {
                    self.rid_ext = ext.id as u8;
                }
            }
            let kept: Vec<String> = params
                .encodings
                .iter()
                .map(|e| e.rtp_coding_parameters.rid.clone())
                .collect();
            if self.layers.len() > 1 && (self.rid_ext == 0 || kept.iter().all(|r| r.is_empty())) {
                // The answer dropped simulcast: send the top layer only.
                self.layers.truncate(1);
                self.layers[0].rid = None;
            }
        }
        Ok(())
    }

    /// Layers the remote accepted (one if it dropped simulcast).
    pub fn layer_count(&self) -> usize {
        self.layers.len()
    }

    pub async fn add_remote_candidate(&self, json: &str) -> Result<(), WebRtcError> {
        let init: RTCIceCandidateInit = serde_json::from_str(json)
            .map_err(|e| WebRtcError::Protocol(format!("a remote ICE candidate: {e}")))?;
        self.pc.add_ice_candidate(init).await?;
        Ok(())
    }

    /// Sends a packet handed over `now`, or holds it until its turn (see
    /// `lipsync`); held packets now due go first.
    pub async fn send(&mut self, media: Media, now: Instant) -> Result<(), WebRtcError> {
        for due in self.lipsync.push(media, now) {
            self.write(due).await?;
        }
        Ok(())
    }

    /// After a gap in what reached the server (a resume, a reconnect):
    /// each layer sends nothing until its next keyframe, which the caller
    /// asks the encoder for.
    pub fn restart_at_keyframes(&mut self) {
        for stream in &mut self.layers {
            stream.awaiting_keyframe = true;
        }
    }

    /// When a held packet is next due, if one is held.
    pub fn next_release(&self) -> Option<Instant> {
        self.lipsync.next_release()
    }

    /// Sends the held packets due by `now`.
    pub async fn send_due(&mut self, now: Instant) -> Result<(), WebRtcError> {
        for due in self.lipsync.due(now) {
            self.write(due).await?;
        }
        Ok(())
    }

    async fn write(&mut self, media: Media) -> Result<(), WebRtcError> {
        match media {
            Media::Video {
                layer,
                data,
                pts_us,
            } => self.write_video(layer, &data, pts_us).await,
            Media::Audio { data, pts_us } => self.write_audio(&data, pts_us).await,
        }
    }

    /// Sends one H.264 access unit (Annex B) on `layer`, now.
    pub async fn write_video(
        &mut self,
        layer: usize,
        access_unit: &[u8],
        pts_us: i64,
    ) -> Result<(), WebRtcError> {
        let Some(stream) = self.layers.get_mut(layer) else {
            return Ok(());
        };
        if stream.awaiting_keyframe {
            if !is_keyframe(access_unit) {
                return Ok(());
            }
            stream.awaiting_keyframe = false;
        }
        let payloads = self
            .payloader
            .payload(MTU, &Bytes::copy_from_slice(access_unit))?;
        let timestamp = stream
            .timestamp_base
            .wrapping_add(media_ticks(pts_us, 90_000));
        let count = payloads.len();
        for (i, payload) in payloads.into_iter().enumerate() {
            let mut packet = rtc::rtp::Packet {
                header: rtc::rtp::Header {
                    version: 2,
                    marker: i + 1 == count,
                    payload_type: H264_PT,
                    sequence_number: stream.next_sequence(),
                    timestamp,
                    ssrc: stream.ssrc,
                    ..Default::default()
                },
                payload,
            };
            // Simulcast layers are told apart by MID and RID on every packet.
            if let Some(rid) = &stream.rid {
                if self.mid_ext != 0 {
                    packet
                        .header
                        .set_extension(self.mid_ext, self.mid.clone())?;
                }
                if self.rid_ext != 0 {
                    packet.header.set_extension(self.rid_ext, rid.clone())?;
                }
            }
            self.video.write_rtp(packet).await?;
        }
        Ok(())
    }

    /// Sends one Opus packet, now.
    pub async fn write_audio(&mut self, opus: &[u8], pts_us: i64) -> Result<(), WebRtcError> {
        let Some((track, stream)) = self.audio.as_mut() else {
            return Ok(());
        };
        let packet = rtc::rtp::Packet {
            header: rtc::rtp::Header {
                version: 2,
                marker: false,
                payload_type: OPUS_PT,
                sequence_number: stream.next_sequence(),
                timestamp: stream
                    .timestamp_base
                    .wrapping_add(media_ticks(pts_us, 48_000)),
                ssrc: stream.ssrc,
                ..Default::default()
            },
            payload: Bytes::copy_from_slice(opus),
        };
        track.write_rtp(packet).await?;
        Ok(())
    }

    /// The ordered data channel, when negotiated.
    pub fn reliable_channel(&self) -> Option<Arc<dyn DataChannel>> {
        self.reliable.clone()
    }

    /// Sends on the ordered channel once it is open (waits at most `budget`).
    pub async fn send_reliable(&self, data: &[u8], budget: Duration) -> Result<(), WebRtcError> {
        send_when_open(self.reliable.clone(), data, budget).await
    }

    /// Sends on the ordered channel in the background: the media must not
    /// wait for the channel to open.
    /// It ends when the connection closes: a channel that never opened
    /// (the server died first) would otherwise keep the closed connection's
    /// whole state alive for the budget. Reconnecting every second, that
    /// was several connections at once, and memory that crept up (issue 20).
    pub fn send_reliable_soon(&self, data: Vec<u8>, budget: Duration) {
        let channel = self.reliable.clone();
        let mut closed = self.closed.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                _ = send_when_open(channel, &data, budget) => {}
                _ = closed.wait_for(|closed| *closed) => {}
            }
        });
    }

    pub async fn close(&self) {
        self.closed.send_replace(true);
        let _ = self.pc.close().await;
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        super::close_when_dropped(&self.pc, *self.closed.borrow());
    }
}

async fn send_when_open(
    channel: Option<Arc<dyn DataChannel>>,
    data: &[u8],
    budget: Duration,
) -> Result<(), WebRtcError> {
    let Some(channel) = channel else {
        return Err(WebRtcError::DataChannel("not negotiated"));
    };
    let deadline = tokio::time::Instant::now() + budget;
    wait_until_open(channel.as_ref(), deadline).await?;
    channel.send(BytesMut::from(data)).await?;
    // Sent means acknowledged: a goodbye followed by a close must not be lost.
    while channel.outstanding_bytes().await? > 0 {
        if tokio::time::Instant::now() >= deadline {
            return Err(WebRtcError::DataChannel("was not acknowledged in time"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Opening takes the DTLS and SCTP handshakes after ICE; the channel
/// reports no open event we could await without taking its event stream.
pub async fn wait_until_open(
    channel: &dyn DataChannel,
    deadline: tokio::time::Instant,
) -> Result<(), WebRtcError> {
    loop {
        match channel.ready_state().await? {
            RTCDataChannelState::Open => break,
            RTCDataChannelState::Closing | RTCDataChannelState::Closed => {
                return Err(WebRtcError::DataChannel("closed before it opened"))
            }
            _ => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(WebRtcError::DataChannel("did not open in time"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

use rtc::sdp::extmap as sdp_extmap;

fn h264_codec(rtcp_feedback: Vec<RTCPFeedback>) -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.into(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: H264_FMTP.into(),
        rtcp_feedback,
    }
}

fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.into(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
        rtcp_feedback: Vec::new(),
    }
}

/// Presentation time in a codec's clock, wrapping like RTP timestamps do.
/// Negative times (audio priming) wrap below the random base, as they should.
fn media_ticks(pts_us: i64, clock_rate: i64) -> u32 {
    (pts_us * clock_rate).div_euclid(1_000_000) as u32
}

fn is_keyframe(access_unit: &[u8]) -> bool {
    split_annexb(access_unit)
        .iter()
        .any(|nal| nal_type(nal) == NAL_SLICE_IDR)
}

fn rand_u32() -> u32 {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).expect("the OS random source");
    u32::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keyframe_is_an_access_unit_with_an_idr_slice() {
        let idr = [0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 1, 0x65, 3];
        let delta = [0, 0, 0, 1, 0x41, 9, 9];
        assert!(is_keyframe(&idr));
        assert!(!is_keyframe(&delta));
    }

    #[test]
    fn rtp_time_follows_the_presentation_time() {
        assert_eq!(media_ticks(0, 90_000), 0);
        assert_eq!(media_ticks(33_333, 90_000), 2999);
        assert_eq!(media_ticks(1_000_000, 48_000), 48_000);
        assert_eq!(media_ticks(-20_000, 48_000), (-960i64) as u32);
        // Wraps after about 13 h 15 min at 90 kHz, like any RTP clock.
        let fourteen_hours = 14 * 3600 * 1_000_000i64;
        let ticks = 14 * 3600 * 90_000i64;
        assert_eq!(
            media_ticks(fourteen_hours, 90_000),
            (ticks - (1i64 << 32)) as u32
        );
    }
}
