//! When each packet may leave, so that picture and sound reach a WebRTC
//! receiver in step.
//!
//! Receivers line the two tracks up by when their packets were sent: Janus's
//! recordings by each track's first packet, libwebrtc by the sender reports,
//! which webrtc-rs writes from the send time of the latest packet. A 20 ms
//! Opus frame leaves once its last sample is captured (and the encoder's
//! look-ahead is taken off its timestamp), about 30 ms after its timestamp;
//! a video frame leaves as soon as it is encoded, a few ms after its own.
//! Sent as they come, the sound was heard 27 ms late through Janus and 41 ms
//! late at LiveKit's own client. So the picture waits: each video packet
//! leaves at its timestamp plus the sound's delay (the smallest seen, its
//! steady part), and both tracks keep one capture-to-send delay.
//!
//! Pure: the caller passes the time, and sends what comes back.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::link::Media;

/// The longest a video packet waits: a sound path slower than this is
/// broken, and the picture must not pay for it.
pub const MAX_HOLD: Duration = Duration::from_millis(120);

pub struct LipSync {
    has_audio: bool,
    /// The instant of timestamp 0 as the sound's packets come: arrival less
    /// timestamp, the smallest seen.
    audio_origin: Option<Instant>,
    /// Video waiting, in arrival order, with when it arrived.
    held: VecDeque<(Instant, Media)>,
}

impl LipSync {
    pub fn new(has_audio: bool) -> Self {
        LipSync {
            has_audio,
            audio_origin: None,
            held: VecDeque::new(),
        }
    }

    /// Takes a packet arriving `now`; returns what may be sent now, in order.
    pub fn push(&mut self, media: Media, now: Instant) -> Vec<Media> {
        match media {
            Media::Audio { pts_us, .. } => {
                let origin = at(now, -pts_us);
                if self.audio_origin.is_none_or(|known| origin < known) {
                    self.audio_origin = Some(origin);
                }
                let mut out = self.due(now);
                out.push(media);
                out
            }
            Media::Video { .. } if !self.has_audio => vec![media],
            Media::Video { .. } => {
                self.held.push_back((now, media));
                self.due(now)
            }
        }
    }

    /// When the next held packet is due, if one is held.
    pub fn next_release(&self) -> Option<Instant> {
        self.held
            .front()
            .map(|(arrived, media)| self.release_at(*arrived, media))
    }

    /// The held packets due by `now`, in order.
    pub fn due(&mut self, now: Instant) -> Vec<Media> {
        let mut out = Vec::new();
        while let Some((arrived, media)) = self.held.front() {
            if self.release_at(*arrived, media) > now {
                break;
            }
            out.push(self.held.pop_front().expect("front exists").1);
        }
        out
    }

    /// Its timestamp on the sound's clock; before any sound has come, and
    /// never later than, the longest hold after it arrived.
    fn release_at(&self, arrived: Instant, media: &Media) -> Instant {
        let longest = arrived + MAX_HOLD;
        match (self.audio_origin, media) {
            (Some(origin), Media::Video { pts_us, .. }) => at(origin, *pts_us).min(longest),
            _ => longest,
        }
    }
}

/// `base` moved by `us` microseconds (either way).
fn at(base: Instant, us: i64) -> Instant {
    let by = Duration::from_micros(us.unsigned_abs());
    if us >= 0 {
        base + by
    } else {
        base.checked_sub(by).unwrap_or(base)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn video(pts_ms: i64) -> Media {
        Media::Video {
            layer: 0,
            data: Arc::new(vec![]),
            pts_us: pts_ms * 1000,
        }
    }

    fn audio(pts_ms: i64) -> Media {
        Media::Audio {
            data: Arc::new(vec![]),
            pts_us: pts_ms * 1000,
        }
    }

    fn pts(sent: &[Media]) -> Vec<(char, i64)> {
        sent.iter()
            .map(|m| match m {
                Media::Video { pts_us, .. } => ('v', pts_us / 1000),
                Media::Audio { pts_us, .. } => ('a', pts_us / 1000),
            })
            .collect()
    }

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn the_picture_leaves_as_late_after_its_timestamp_as_the_sound() {
        let t0 = Instant::now();
        let mut sync = LipSync::new(true);
        // Video 5 ms after its timestamp, sound 30 ms after its own.
        assert!(
            sync.push(video(0), t0 + MS(5)).is_empty(),
            "waits for the sound"
        );
        assert_eq!(pts(&sync.push(audio(0), t0 + MS(30))), [('v', 0), ('a', 0)]);
        assert!(sync.push(video(33), t0 + MS(38)).is_empty());
        assert_eq!(sync.next_release(), Some(t0 + MS(63)));
        assert!(sync.due(t0 + MS(62)).is_empty());
        assert_eq!(pts(&sync.due(t0 + MS(63))), [('v', 33)]);
        // A later, slower sound packet does not move the clock: the steady
        // delay is the smallest.
        assert_eq!(pts(&sync.push(audio(20), t0 + MS(58))), [('a', 20)]);
        assert!(sync.push(video(66), t0 + MS(71)).is_empty());
        assert_eq!(sync.next_release(), Some(t0 + MS(96)));
    }

    #[test]
    fn a_late_picture_goes_at_once_and_in_order() {
        let t0 = Instant::now();
        let mut sync = LipSync::new(true);
        sync.push(audio(0), t0 + MS(30));
        assert_eq!(pts(&sync.push(video(0), t0 + MS(31))), [('v', 0)]);
        assert!(sync.push(video(33), t0 + MS(40)).is_empty());
        // A slow encode: frame 66 comes 40 ms past its release, behind 33.
        assert_eq!(
            pts(&sync.push(video(66), t0 + MS(136))),
            [('v', 33), ('v', 66)]
        );
        assert_eq!(sync.next_release(), None);
    }

    #[test]
    fn without_sound_nothing_waits_and_a_missing_sound_holds_at_most_the_limit() {
        let t0 = Instant::now();
        let mut silent = LipSync::new(false);
        assert_eq!(pts(&silent.push(video(0), t0)), [('v', 0)]);

        let mut sync = LipSync::new(true);
        assert!(sync.push(video(0), t0).is_empty());
        assert_eq!(sync.next_release(), Some(t0 + MAX_HOLD));
        assert_eq!(pts(&sync.due(t0 + MAX_HOLD)), [('v', 0)]);
        // A sound path slower than the limit is not followed.
        sync.push(audio(0), t0 + MS(500));
        assert!(sync.push(video(600), t0 + MS(610)).is_empty());
        assert_eq!(sync.next_release(), Some(t0 + MS(610) + MAX_HOLD));
    }

    #[test]
    fn primed_sound_before_zero_sets_the_same_clock() {
        let t0 = Instant::now();
        let mut sync = LipSync::new(true);
        // The encoder's look-ahead puts the first frame 6.5 ms before 0.
        sync.push(
            Media::Audio {
                data: Arc::new(vec![]),
                pts_us: -6_500,
            },
            t0 + Duration::from_micros(23_500),
        );
        assert!(sync.push(video(0), t0 + MS(5)).is_empty());
        assert_eq!(sync.next_release(), Some(t0 + MS(30)));
    }
}
