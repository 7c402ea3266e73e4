//! The typed event stream of a session. The UI and `onair live --json` are two
//! views of exactly these values (one JSON object per line).

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::error::OnairError;
use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Idle,
    Preparing,
    Connecting,
    Live,
    Reconnecting,
    Stopping,
    Ended,
    Failed,
}

impl SessionState {
    /// True once the session can change no more.
    pub fn is_terminal(self) -> bool {
        matches!(self, SessionState::Ended | SessionState::Failed)
    }
}

/// Where one destination of the session stands. The session is live while
/// any destination is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum DestinationState {
    Connecting,
    Live,
    Reconnecting,
    Failed,
    Ended,
}

impl DestinationState {
    pub fn is_terminal(self) -> bool {
        matches!(self, DestinationState::Failed | DestinationState::Ended)
    }
}

/// One destination's share of a stats event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DestinationStats {
    pub destination: String,
    pub state: DestinationState,
    /// What this destination was handed to send over the last interval.
    pub kbps: f64,
    /// Video frames this destination lost since Go Live (its queue overflowed
    /// and it waited for the next keyframe).
    pub dropped: u32,
    /// Packets waiting for this destination.
    pub queue: QueueDepth,
    /// Its health at a glance (session/grade.rs).
    #[serde(default)]
    pub grade: crate::session::grade::Grade,
    /// Its connection's latest round trip: RTMP's from TCP, LiveKit's from
    /// its signal pings; none for WHIP and recordings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct VideoStats {
    /// Frames encoded per second over the last interval.
    pub fps: f64,
    pub kbps: f64,
    /// Frames encoded since Go Live.
    pub encoded: u32,
    /// Frames lost since Go Live, whatever the cause (capture, encoder, sink).
    pub dropped: u32,
    /// Mean encode time per frame over the last interval.
    pub encode_ms: f64,
    /// `dropped`, by cause.
    pub dropped_by: DropCauses,
    /// Captured frames waiting for the video encoder.
    pub capture_queue: QueueDepth,
}

/// Where lost frames were lost, since Go Live.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DropCauses {
    /// The capture queue overflowed: encoding fell behind.
    pub capture: u32,
    /// The encoder produced nothing for the frame.
    pub encoder: u32,
    /// Skipped on purpose by an overload step-down.
    pub overload: u32,
    /// A sink's queue overflowed (a slow network).
    pub sink: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AudioStats {
    pub kbps: f64,
    /// Captured audio buffers waiting for the audio encoder.
    pub capture_queue: QueueDepth,
}

/// How full one bounded queue between the pipeline's threads is: a queue
/// that fills means the stage reading it is falling behind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct QueueDepth {
    /// Items waiting at the latest push or pop.
    pub now: u32,
    /// The most that waited at once during the last interval.
    pub peak: u32,
    /// Items it holds before it drops.
    pub capacity: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    State {
        state: SessionState,
        /// Milliseconds since Go Live was pressed.
        at_ms: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<OnairError>,
    },
    Stats {
        at_ms: u32,
        video: VideoStats,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audio: Option<AudioStats>,
        /// Encoded packets waiting for the slowest sink.
        sink_queue: QueueDepth,
        /// Each destination's bitrate, losses and queue.
        #[serde(default)]
        destinations: Vec<DestinationStats>,
    },
    /// One destination changed state; `error` says why it failed.
    Destination {
        destination: String,
        state: DestinationState,
        at_ms: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<OnairError>,
    },
    /// A destination's health at a glance changed; `message` says what to do.
    DestinationHealth {
        destination: String,
        grade: crate::session::grade::Grade,
        message: String,
        at_ms: u32,
    },
    /// How many watch one destination, and all of them together.
    Viewers {
        count: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        destination: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total: Option<u32>,
    },
    /// What the creator's platform says (its status hook): whether it shows
    /// the stream live, and to how many. `stale` when it could not be asked;
    /// the values are then the last ones known.
    Platform {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        live: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        viewers: Option<u32>,
        stale: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        destination: Option<String>,
    },
    /// The connection was lost; the next attempt comes in `retry_in_ms`.
    Reconnect {
        at_ms: u32,
        attempt: u32,
        retry_in_ms: u32,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        destination: Option<String>,
    },
    /// A sink moved the encoder's target bitrate: down when the link could
    /// not keep up (`congested`), back up once it recovered.
    Bitrate {
        at_ms: u32,
        kbps: u32,
        /// Media waiting to be sent when the decision was made.
        backlog_ms: u32,
        congested: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        destination: Option<String>,
    },
    /// A local recording was opened; where to find it once the session ends.
    Recording { path: String },
    /// Something changed that a creator should see while live: a device
    /// went away or came back, the encoder stepped down or up.
    Health {
        code: HealthCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        destination: Option<String>,
    },
    /// Audio meter, about 20 times a second: the loudest channel's peak and
    /// RMS over the last 50 ms, in dBFS (-100 for silence), after the
    /// voice chain; `limiter_db` is the most its limiter took off in that
    /// time (0 when it did not act, or with the voice chain off).
    Levels {
        peak_dbfs: f32,
        rms_dbfs: f32,
        limiter_db: f32,
    },
}

/// Stable names for health events, like error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum HealthCode {
    DeviceLost,
    DeviceRestored,
    /// Encoding fell behind; the stream stepped down (frame rate, then size).
    EncoderOverload,
    /// Load fell again; the stream stepped back up.
    EncoderRecovered,
    /// Onair is sending, but the platform says the stream is not live.
    PlatformNotLive,
    /// The platform shows the stream live again.
    PlatformLive,
    /// Onair cleaned up after the platform: a stale or stuck session was
    /// ended, or the end of this one could not be reported yet.
    PlatformSession,
    /// One destination could not keep up and skipped to the next keyframe;
    /// the others lost nothing.
    DestinationBehind,
    /// The local recording stopped on an error; the stream goes on.
    RecordingStopped,
    /// A destination's platform takes less than the bitrate asked for: the
    /// stream is sent at its maximum (one encode serves every destination).
    PresetLimit,
}

impl Event {
    /// A note for the whole session (a device, the encoder).
    pub fn health(code: HealthCode, message: impl Into<String>) -> Event {
        Event::Health {
            code,
            message: message.into(),
            destination: None,
        }
    }

    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("events always serialize")
    }
}

/// Where a session sends its events. Must not block for long: it is called
/// from the session's own thread.
pub trait EventSink: Send + Sync + 'static {
    fn emit(&self, event: Event);
}

impl<F: Fn(Event) + Send + Sync + 'static> EventSink for F {
    fn emit(&self, event: Event) {
        self(event)
    }
}

/// Passes a session's events on with its secrets masked in every sentence.
/// Each layer already masks what it knows; this is the last line for words
/// that come from outside (a server's refusal, a platform's error) and echo
/// a key or token back.
pub struct MaskingSink {
    inner: Arc<dyn EventSink>,
    secrets: Mutex<Vec<Secret>>,
}

impl MaskingSink {
    pub fn new(inner: Arc<dyn EventSink>) -> Self {
        MaskingSink {
            inner,
            secrets: Mutex::new(Vec::new()),
        }
    }

    /// A secret the session learned (given, from the keychain, from the platform).
    pub fn add(&self, secret: &Secret) {
        let mut secrets = self.secrets.lock().unwrap();
        if !secret.is_empty() && !secrets.contains(secret) {
            secrets.push(secret.clone());
        }
    }

    fn mask(&self, text: &mut String) {
        for secret in self.secrets.lock().unwrap().iter() {
            *text = secret.mask_in(text);
        }
        // Secrets this session never heard of (a token the server refreshed,
        // one fetched from a token URL) are still masked.
        *text = crate::secret::mask_known(text);
    }
}

impl EventSink for MaskingSink {
    fn emit(&self, mut event: Event) {
        match &mut event {
            Event::State {
                error: Some(error), ..
            } => self.mask(&mut error.message),
            Event::Destination {
                error: Some(error), ..
            } => self.mask(&mut error.message),
            Event::Platform {
                detail: Some(detail),
                ..
            } => self.mask(detail),
            Event::Reconnect { reason, .. } => self.mask(reason),
            Event::Health { message, .. } => self.mask(message),
            _ => {}
        }
        crate::logbook::record(&event);
        self.inner.emit(event);
    }
}

/// One destination's view of the session's events: what it emits carries its
/// name, and its viewer count joins the session's total.
#[derive(Clone)]
pub struct DestinationEvents {
    name: String,
    index: usize,
    inner: Arc<dyn EventSink>,
    /// The latest count of each destination, shared by all of them.
    viewers: Arc<Mutex<Vec<u32>>>,
}

impl DestinationEvents {
    /// One per destination, in order, over the same sink.
    pub fn for_each(names: &[String], inner: Arc<dyn EventSink>) -> Vec<DestinationEvents> {
        let viewers = Arc::new(Mutex::new(vec![0; names.len()]));
        names
            .iter()
            .enumerate()
            .map(|(index, name)| DestinationEvents {
                name: name.clone(),
                index,
                inner: inner.clone(),
                viewers: viewers.clone(),
            })
            .collect()
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl EventSink for DestinationEvents {
    fn emit(&self, mut event: Event) {
        let name = Some(self.name.clone());
        match &mut event {
            Event::Viewers {
                count,
                destination,
                total,
            } => {
                let mut viewers = self.viewers.lock().unwrap();
                viewers[self.index] = *count;
                *total = Some(viewers.iter().sum());
                *destination = name;
            }
            Event::Platform { destination, .. }
            | Event::Reconnect { destination, .. }
            | Event::Bitrate { destination, .. }
            | Event::Health { destination, .. } => *destination = name,
            _ => {}
        }
        self.inner.emit(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn state_events_match_the_cli_contract() {
        let live = Event::State {
            state: SessionState::Live,
            at_ms: 1234,
            error: None,
        };
        assert_eq!(
            live.to_json_line(),
            r#"{"type":"state","state":"live","at_ms":1234}"#
        );
        let failed = Event::State {
            state: SessionState::Failed,
            at_ms: 5,
            error: Some(OnairError::new(ErrorCode::KeyRejected, "no")),
        };
        assert_eq!(
            failed.to_json_line(),
            r#"{"type":"state","state":"failed","at_ms":5,"error":{"code":"key_rejected","message":"no"}}"#
        );
    }

    #[test]
    fn stats_and_viewers_match_the_cli_contract() {
        let stats = Event::Stats {
            at_ms: 1000,
            video: VideoStats {
                fps: 30.0,
                kbps: 2500.0,
                encoded: 30,
                dropped: 0,
                encode_ms: 4.5,
                dropped_by: DropCauses::default(),
                capture_queue: QueueDepth {
                    now: 1,
                    peak: 2,
                    capacity: 8,
                },
            },
            audio: Some(AudioStats {
                kbps: 128.0,
                capture_queue: QueueDepth::default(),
            }),
            sink_queue: QueueDepth::default(),
            destinations: vec![DestinationStats {
                destination: "twitch".into(),
                state: DestinationState::Live,
                kbps: 2600.0,
                dropped: 0,
                queue: QueueDepth::default(),
                grade: crate::session::grade::Grade::Struggling,
                rtt_ms: Some(42),
            }],
        };
        let v: serde_json::Value = serde_json::from_str(&stats.to_json_line()).unwrap();
        assert_eq!(v["type"], "stats");
        assert_eq!(v["video"]["fps"], 30.0);
        assert_eq!(v["audio"]["kbps"], 128.0);
        assert_eq!(
            v["video"]["capture_queue"],
            serde_json::json!({"now": 1, "peak": 2, "capacity": 8})
        );
        assert_eq!(v["sink_queue"]["capacity"], 0);
        assert_eq!(v["destinations"][0]["destination"], "twitch");
        assert_eq!(v["destinations"][0]["state"], "live");
        assert_eq!(v["destinations"][0]["grade"], "struggling");
        assert_eq!(v["destinations"][0]["rtt_ms"], 42);
    }

    #[test]
    fn a_destination_labels_its_events_and_viewers_add_up() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let store = seen.clone();
        let names = vec!["room".to_string(), "twitch".to_string()];
        let sinks = DestinationEvents::for_each(
            &names,
            Arc::new(move |e: Event| store.lock().unwrap().push(e.to_json_line())),
        );
        let viewers = |count| Event::Viewers {
            count,
            destination: None,
            total: None,
        };
        sinks[0].emit(viewers(3));
        sinks[1].emit(viewers(4));
        sinks[0].emit(viewers(1));
        sinks[1].emit(Event::health(HealthCode::DestinationBehind, "slow"));
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                r#"{"type":"viewers","count":3,"destination":"room","total":3}"#,
                r#"{"type":"viewers","count":4,"destination":"twitch","total":7}"#,
                r#"{"type":"viewers","count":1,"destination":"room","total":5}"#,
                r#"{"type":"health","code":"destination_behind","message":"slow","destination":"twitch"}"#,
            ]
        );
    }

    #[test]
    fn a_destination_event_matches_the_cli_contract() {
        let failed = Event::Destination {
            destination: "twitch".into(),
            state: DestinationState::Failed,
            at_ms: 900,
            error: Some(OnairError::new(ErrorCode::KeyRejected, "no")),
        };
        assert_eq!(
            failed.to_json_line(),
            r#"{"type":"destination","destination":"twitch","state":"failed","at_ms":900,"error":{"code":"key_rejected","message":"no"}}"#
        );
    }

    #[test]
    fn reconnect_and_bitrate_events_are_tagged_like_the_others() {
        let r = Event::Reconnect {
            at_ms: 10,
            attempt: 2,
            retry_in_ms: 900,
            reason: "lost".into(),
            destination: None,
        };
        assert_eq!(
            r.to_json_line(),
            r#"{"type":"reconnect","at_ms":10,"attempt":2,"retry_in_ms":900,"reason":"lost"}"#
        );
        let b = Event::Bitrate {
            at_ms: 10,
            kbps: 1750,
            backlog_ms: 600,
            congested: true,
            destination: None,
        };
        assert_eq!(
            b.to_json_line(),
            r#"{"type":"bitrate","at_ms":10,"kbps":1750,"backlog_ms":600,"congested":true}"#
        );
    }

    #[test]
    fn the_masking_sink_masks_every_sentence_it_passes_on() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let store = seen.clone();
        let sink = MaskingSink::new(Arc::new(move |e: Event| store.lock().unwrap().push(e)));
        sink.add(&Secret::new("live_sk_0123456789"));
        sink.emit(Event::State {
            state: SessionState::Failed,
            at_ms: 1,
            error: Some(OnairError::new(
                ErrorCode::AuthFailed,
                "refused live_sk_0123456789",
            )),
        });
        sink.emit(Event::Reconnect {
            at_ms: 2,
            attempt: 1,
            retry_in_ms: 500,
            reason: "server said live_sk_0123456789".into(),
            destination: None,
        });
        let lines: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(Event::to_json_line)
            .collect();
        assert_eq!(lines.len(), 2);
        for line in lines {
            assert!(!line.contains("live_sk_0123456789"), "{line}");
            assert!(line.contains("••••••••89"), "{line}");
        }
    }
}
