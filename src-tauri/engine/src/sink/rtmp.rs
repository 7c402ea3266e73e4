//! Publishing to an RTMP(S) ingest: H.264 + AAC in FLV tag bodies, the same
//! units the local recording gets. The sink keeps the stream up through a
//! lost connection (net::reconnect's policy, restarting on a keyframe with
//! fresh headers) and through a slow link (dropping to the next keyframe and
//! lowering the encoder's bitrate rather than queueing without bound).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Sink, SinkLinks, SinkNotice};
use crate::error::{ErrorCode, OnairError};
use crate::flv::amf0::Amf0;
use crate::flv::{avc, tags};
use crate::media::{Packet, StreamInfo};
use crate::net::reconnect::{self, GiveUp, Policy, Reconnect, Why, XorShift};
use crate::redact::redact_url;
use crate::rtmp::congestion::{BitrateStep, Congestion};
use crate::rtmp::connection::{self, LiveConnection};
use crate::rtmp::error::RtmpError;
use crate::rtmp::gate::{MediaGate, VideoVerdict};
use crate::rtmp::message::{AUDIO, DATA_AMF0, VIDEO};
use crate::rtmp::url::RtmpUrl;
use crate::secret::Secret;

/// Reconnect attempts before the session fails (about a minute of trying).
pub const DEFAULT_RECONNECT_ATTEMPTS: u32 = 10;
const CONGESTION_CHECK: Duration = Duration::from_millis(250);
const RTT_EVERY: Duration = Duration::from_secs(1);

pub struct RtmpSink {
    shown_url: String,
    url: RtmpUrl,
    key: Secret,
    info: Option<StreamInfo>,
    links: Option<SinkLinks>,
    conn: Option<LiveConnection>,
    /// Set while reconnecting: when to try next.
    retry_at: Option<Instant>,
    reconnect: Reconnect,
    congestion: Congestion,
    next_check: Instant,
    started: Instant,
    lead_us: i64,
    gate: MediaGate,
    /// The SPS and PPS this connection's last video sequence header carried.
    parameter_sets: Option<(Vec<u8>, Vec<u8>)>,
    /// (when, bytes sent) at the last congestion check, for the delivered rate.
    last_sent: Option<(Instant, u64)>,
    /// Smoothed media bitrate the link delivered lately.
    delivered_kbps: f64,
    /// When the session was last told the round trip.
    rtt_told_at: Option<Instant>,
}

impl RtmpSink {
    /// `secret` is the stream key; without one, the URL's last path segment is.
    pub fn new(url: &str, secret: Option<Secret>, video_kbps: u32) -> Result<Self, OnairError> {
        let shown_url = redact_url(url);
        let secret = secret.filter(|s| !s.is_empty());
        let parsed = RtmpUrl::parse(url, secret.is_some()).map_err(|e| {
            OnairError::new(
                ErrorCode::InvalidDestination,
                format!("The RTMP URL {shown_url} cannot be used: {e}. It should look like rtmp://host/app."),
            )
        })?;
        let key = secret.or_else(|| parsed.key_in_url.clone()).ok_or_else(|| {
            OnairError::new(
                ErrorCode::KeyMissing,
                format!("No stream key for {shown_url}. Pass it with --key-stdin, save it with the destination, or add it to the URL (rtmp://host/app/KEY)."),
            )
        })?;
        Ok(RtmpSink {
            shown_url,
            url: parsed,
            key,
            info: None,
            links: None,
            conn: None,
            retry_at: None,
            reconnect: reconnect_policy(DEFAULT_RECONNECT_ATTEMPTS),
            congestion: Congestion::new(video_kbps),
            next_check: Instant::now(),
            started: Instant::now(),
            lead_us: 0,
            gate: MediaGate::new(),
            parameter_sets: None,
            last_sent: None,
            delivered_kbps: 0.0,
            rtt_told_at: None,
        })
    }

    /// How many reconnect attempts before giving up.
    pub fn with_reconnect_attempts(mut self, attempts: u32) -> Self {
        self.reconnect = reconnect_policy(attempts);
        self
    }

    fn notify(&self, notice: SinkNotice) {
        if let Some(links) = &self.links {
            let _ = links.notices.send(notice);
        }
    }

    fn count_drop(&self) {
        if let Some(links) = &self.links {
            links.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn request_keyframe(&self) {
        if let Some(links) = &self.links {
            links.control.request_keyframe();
        }
    }

    fn timestamp_ms(&self, time_us: i64) -> u32 {
        tags::timestamp_ms(time_us, self.lead_us)
    }

    /// Connects, publishes and sends the metadata.
    fn connect(&mut self) -> Result<(), RtmpError> {
        let mut conn = connection::open(&self.url, &self.key)?;
        let info = self.info.as_ref().expect("opened with stream info");
        let mut props = tags::metadata_properties(info, 0.0);
        for (name, value) in props.iter_mut() {
            if name == "videodatarate" {
                *value = Amf0::Number(self.congestion.current_kbps() as f64);
            }
        }
        let mut body = Vec::new();
        for value in [
            Amf0::String("@setDataFrame".into()),
            Amf0::String("onMetaData".into()),
            Amf0::EcmaArray(props),
        ] {
            value.encode(&mut body);
        }
        conn.send(DATA_AMF0, 0, body);
        self.conn = Some(conn);
        self.last_sent = None;
        self.gate.restart();
        Ok(())
    }

    /// The connection died: the policy says when to try again, or to give up.
    fn lost(&mut self, error: RtmpError) -> Result<(), OnairError> {
        if let Some(conn) = self.conn.take() {
            drop(conn);
        }
        let outputs = self
            .reconnect
            .handle(reconnect::Input::Lost(error), Instant::now());
        self.follow(outputs)
    }

    /// Does what the reconnect policy asks. RTMP has nothing to resume:
    /// every attempt is a fresh connection.
    fn follow(&mut self, outputs: Vec<reconnect::Output<RtmpError>>) -> Result<(), OnairError> {
        for output in outputs {
            match output {
                reconnect::Output::Notice(notice) => self.notify(notice.into()),
                reconnect::Output::WaitUntil(at) => self.retry_at = Some(at),
                reconnect::Output::Attempt(_) => self.try_reconnect()?,
                reconnect::Output::GiveUp(gave_up) => return Err(self.gave_up(gave_up)),
            }
        }
        Ok(())
    }

    fn try_reconnect(&mut self) -> Result<(), OnairError> {
        self.retry_at = None;
        let outputs = match self.connect() {
            Ok(()) => {
                self.request_keyframe();
                self.reconnect
                    .handle(reconnect::Input::Connected, Instant::now())
            }
            Err(e) => self
                .reconnect
                .handle(reconnect::Input::AttemptFailed(e), Instant::now()),
        };
        self.follow(outputs)
    }

    fn gave_up(&self, gave_up: GiveUp<RtmpError>) -> OnairError {
        let mut error = gave_up.error.to_onair(&self.shown_url);
        error.message = match gave_up.why {
            Why::Exhausted => format!(
                "Lost the stream and could not reconnect after {} attempts. {}",
                gave_up.attempts, error.message
            ),
            Why::Final => format!("Lost the stream and could not reconnect. {}", error.message),
        };
        error
    }

    fn check_congestion(&mut self, now: Instant) {
        if now < self.next_check {
            return;
        }
        self.next_check = now + CONGESTION_CHECK;
        self.tell_round_trip(now);
        let backlog_ms = self.backlog_ms();
        let sent = self.conn.as_ref().map_or(0, |c| c.sent_bytes());
        if let Some((then, before)) = self.last_sent {
            let secs = now.duration_since(then).as_secs_f64().max(1e-3);
            let kbps = sent.saturating_sub(before) as f64 * 8.0 / 1000.0 / secs;
            self.delivered_kbps = 0.7 * self.delivered_kbps + 0.3 * kbps;
        }
        self.last_sent = Some((now, sent));
        let delivered_video = (self.delivered_kbps as u32).saturating_sub(self.audio_kbps());
        let Some(step) = self.congestion.observe(
            now.duration_since(self.started),
            backlog_ms,
            Some(delivered_video),
        ) else {
            return;
        };
        let (kbps, congested) = match step {
            BitrateStep::Down { kbps } => (kbps, true),
            BitrateStep::Up { kbps } => (kbps, false),
        };
        if let Some(links) = &self.links {
            links.control.set_target_kbps(kbps);
        }
        self.notify(SinkNotice::Bitrate {
            kbps,
            backlog_ms,
            congested,
        });
    }

    /// Once a second, for the destination's health.
    fn tell_round_trip(&mut self, now: Instant) {
        if self.rtt_told_at.is_some_and(|at| now < at + RTT_EVERY) {
            return;
        }
        if let Some(rtt) = self.conn.as_ref().and_then(|c| c.round_trip()) {
            self.rtt_told_at = Some(now);
            self.notify(SinkNotice::RoundTrip(rtt));
        }
    }

    fn audio_kbps(&self) -> u32 {
        self.info
            .as_ref()
            .and_then(|i| i.audio.as_ref())
            .map_or(0, |a| a.kbps)
    }

    fn backlog_ms(&self) -> u64 {
        let bytes = self.conn.as_ref().map_or(0, |c| c.backlog_bytes());
        self.congestion
            .backlog_ms(bytes, self.audio_kbps(), self.delivered_kbps)
    }

    fn send_video(&mut self, data: &[u8], keyframe: bool, pts_us: i64, dts_us: i64) {
        let ts = self.timestamp_ms(dts_us);
        let shown = self.timestamp_ms(pts_us);
        let (verdict, want_keyframe) = self.gate.video(keyframe, ts, self.backlog_ms());
        if want_keyframe {
            self.request_keyframe();
        }
        let audio_header = self
            .info
            .as_ref()
            .and_then(|i| i.audio.as_ref())
            .map(|a| tags::audio_sequence_header(&a.config));
        let conn = self.conn.as_mut().expect("connected");
        match verdict {
            VideoVerdict::Drop => {
                self.count_drop();
                return;
            }
            VideoVerdict::StartWithHeaders => {
                // The keyframe carries SPS and PPS (the encoder repeats them on each IDR).
                if let Some((sps, pps)) = avc::parameter_sets(data) {
                    conn.send(VIDEO, ts, tags::video_sequence_header(&sps, &pps));
                    self.parameter_sets = Some((sps, pps));
                }
                if let Some(header) = audio_header {
                    conn.send(AUDIO, ts, header);
                }
            }
            VideoVerdict::Send if keyframe => {
                // An overload step to a smaller size changes the SPS: the
                // server needs the new sequence header before the picture.
                if let Some(sets) = avc::parameter_sets(data) {
                    if self.parameter_sets.as_ref() != Some(&sets) {
                        conn.send(VIDEO, ts, tags::video_sequence_header(&sets.0, &sets.1));
                        self.parameter_sets = Some(sets);
                    }
                }
            }
            VideoVerdict::Send => {}
        }
        conn.send(VIDEO, ts, tags::video_frame(data, keyframe, ts, shown));
    }

    fn send_audio(&mut self, data: &[u8], pts_us: i64) {
        let ts = self.timestamp_ms(pts_us);
        if self.gate.audio(ts, self.backlog_ms()) {
            let conn = self.conn.as_mut().expect("connected");
            conn.send(AUDIO, ts, tags::audio_frame(data));
        }
    }
}

impl Sink for RtmpSink {
    fn attach(&mut self, links: SinkLinks) {
        self.links = Some(links);
    }

    fn open(&mut self, info: &StreamInfo) -> Result<(), OnairError> {
        self.info = Some(info.clone());
        self.lead_us = info.audio.as_ref().map_or(0, |a| a.lead_us);
        self.started = Instant::now();
        self.connect().map_err(|e| e.to_onair(&self.shown_url))
    }

    fn write(&mut self, packet: &Packet) -> Result<(), OnairError> {
        let now = Instant::now();
        if let Some(at) = self.retry_at {
            if now < at {
                if matches!(packet, Packet::Video(_)) {
                    self.count_drop();
                }
                return Ok(());
            }
            let outputs = self.reconnect.handle(reconnect::Input::Tick, now);
            self.follow(outputs)?;
        }
        let Some(conn) = &self.conn else {
            return Ok(());
        };
        if let Some(error) = conn.failure() {
            return self.lost(error);
        }
        self.check_congestion(now);
        match packet {
            Packet::Video(v) => self.send_video(&v.data, v.keyframe, v.pts_us, v.dts_us),
            Packet::Audio(a) => self.send_audio(&a.data, a.pts_us),
        }
        Ok(())
    }

    fn close(&mut self, _duration_us: u64) -> Result<(), OnairError> {
        if let Some(conn) = self.conn.take() {
            conn.close();
        }
        Ok(())
    }
}

fn reconnect_policy(attempts: u32) -> Reconnect {
    Reconnect::new(Policy::new(attempts), XorShift::from_clock())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_anywhere_is_key_missing_and_says_what_to_do() {
        let err = RtmpSink::new("rtmp://h/live", None, 2500).err().unwrap();
        assert_eq!(err.code, ErrorCode::KeyMissing);
        assert!(err.message.contains("--key-stdin"), "{}", err.message);
    }

    #[test]
    fn a_key_in_the_url_is_used_and_never_shown() {
        let sink = RtmpSink::new("rtmp://h/live/sk_secret_1234", None, 2500).unwrap();
        assert_eq!(sink.key.expose(), "sk_secret_1234");
        assert_eq!(sink.url.app, "live");
        assert!(!sink.shown_url.contains("sk_secret"));
        let err = RtmpSink::new("rtmp://h:0/live/sk_secret_1234", None, 2500)
            .err()
            .unwrap();
        assert_eq!(err.code, ErrorCode::InvalidDestination);
        assert!(!err.message.contains("sk_secret"), "{}", err.message);
    }
}
