//! Sound and picture leave for a WebRTC peer with the same delay after
//! capture. A 20 ms Opus packet can only be sent once its last sample is
//! captured, a picture as soon as it is encoded: sent as they come, every
//! picture left about 30 ms earlier after its capture than the sound
//! captured with it. webrtc-rs's sender reports tie each RTP timestamp to the
//! instant it was sent, and receivers line the tracks up by those reports
//! (Janus's recordings by the first packets' arrival): the sound came out 27
//! to 33 ms late over WHIP and 40 ms late at LiveKit's subscriber. Each
//! picture now waits until the sound's own delay has passed since its
//! capture: WHIP +0.6 and -0.4 ms, LiveKit's subscriber +3 to +14 ms. The
//! picture's capture-to-decode grows by as much (about 30 ms; a receiver
//! keeping them in step would have held it back as long). Pure: the caller
//! passes the time in and sleeps until `next_due`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::peer::link::Media;

/// The longest a picture waits for sound that does not come (a stalled
/// microphone must not freeze the picture).
const MAX_HOLD: Duration = Duration::from_millis(60);
/// Smoothing of the sound's delay: an eighth of each new packet's.
const SMOOTHING: i64 = 8;

pub struct Interleaver {
    audio: bool,
    /// Any fixed instant: delays are kept relative to it.
    origin: Instant,
    /// When pts 0 would have been sent at the sound's delay, in microseconds
    /// after `origin` (smoothed over packets).
    sound_zero_us: Option<i64>,
    held: VecDeque<(Instant, Media)>,
}

fn pts_of(media: &Media) -> i64 {
    match media {
        Media::Video { pts_us, .. } | Media::Audio { pts_us, .. } => *pts_us,
    }
}

impl Interleaver {
    /// `audio`: whether the stream has sound at all (without, nothing waits).
    pub fn new(audio: bool, now: Instant) -> Self {
        Interleaver {
            audio,
            origin: now,
            sound_zero_us: None,
            held: VecDeque::new(),
        }
    }

    /// Takes one packet; returns those to send now, in order.
    pub fn push(&mut self, media: Media, now: Instant) -> Vec<Media> {
        let mut out = Vec::new();
        match media {
            Media::Audio { .. } if self.audio => {
                let zero = now.duration_since(self.origin).as_micros() as i64 - pts_of(&media);
                self.sound_zero_us = Some(match self.sound_zero_us {
                    Some(z) => z + (zero - z) / SMOOTHING,
                    None => zero,
                });
                out.push(media);
            }
            video if self.audio => self.held.push_back((now, video)),
            other => out.push(other),
        }
        self.release(now, &mut out);
        out
    }

    /// What has come due by `now`.
    pub fn poll(&mut self, now: Instant) -> Vec<Media> {
        let mut out = Vec::new();
        self.release(now, &mut out);
        out
    }

    /// When the next held picture is due, if one is held.
    pub fn next_due(&self) -> Option<Instant> {
        self.held
            .front()
            .map(|(arrived, video)| self.due(video, *arrived))
    }

    /// Worked out afresh each time: a picture that came before any sound
    /// learns the sound's delay when the first packet of it comes.
    fn due(&self, video: &Media, arrived: Instant) -> Instant {
        let cap = arrived + MAX_HOLD;
        match self.sound_zero_us {
            Some(zero) => {
                let at = zero + pts_of(video);
                let due = if at <= 0 {
                    self.origin
                } else {
                    self.origin + Duration::from_micros(at as u64)
                };
                due.min(cap)
            }
            None => cap,
        }
    }

    fn release(&mut self, now: Instant, out: &mut Vec<Media>) {
        // In order: a picture never overtakes an earlier one.
        while self.next_due().is_some_and(|due| due <= now) {
            out.push(self.held.pop_front().expect("a front").1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn video(pts_ms: i64) -> Media {
        Media::Video {
            layer: 0,
            data: Arc::new(vec![0]),
            pts_us: pts_ms * 1000,
        }
    }

    fn audio(pts_ms: i64) -> Media {
        Media::Audio {
            data: Arc::new(vec![1]),
            pts_us: pts_ms * 1000,
        }
    }

    fn names(packets: &[Media]) -> Vec<(char, i64)> {
        packets
            .iter()
            .map(|m| match m {
                Media::Video { pts_us, .. } => ('v', pts_us / 1000),
                Media::Audio { pts_us, .. } => ('a', pts_us / 1000),
            })
            .collect()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_picture_leaves_as_long_after_its_capture_as_the_sound_does() {
        let t = Instant::now();
        let mut il = Interleaver::new(true, t);
        // Sound leaves 25 ms after its pts.
        assert_eq!(names(&il.push(audio(0), t + ms(25))), [('a', 0)]);
        // The picture from 33 ms, encoded at 38 ms, is due at 58 ms.
        assert!(il.push(video(33), t + ms(38)).is_empty());
        assert_eq!(il.next_due(), Some(t + ms(58)));
        assert!(il.poll(t + ms(57)).is_empty());
        assert_eq!(names(&il.poll(t + ms(58))), [('v', 33)]);
        // A picture already late goes at once, behind the sound.
        assert_eq!(names(&il.push(video(0), t + ms(60))), [('v', 0)]);
    }

    #[test]
    fn a_picture_before_any_sound_waits_for_the_sounds_delay_once_known() {
        let t = Instant::now();
        let mut il = Interleaver::new(true, t);
        assert!(il.push(video(0), t + ms(5)).is_empty());
        assert_eq!(il.next_due(), Some(t + ms(5) + MAX_HOLD));
        // The first sound leaves 26 ms after its pts: the picture from 0 ms is due.
        assert_eq!(names(&il.push(audio(0), t + ms(26))), [('a', 0), ('v', 0)]);
    }

    #[test]
    fn the_sounds_delay_is_smoothed() {
        let t = Instant::now();
        let mut il = Interleaver::new(true, t);
        il.push(audio(0), t + ms(20));
        // One packet 16 ms later than usual moves the estimate by 2 ms.
        il.push(audio(20), t + ms(56));
        il.push(video(100), t + ms(101));
        assert_eq!(il.next_due(), Some(t + ms(122)));
    }

    #[test]
    fn without_sound_nothing_waits_and_stalled_sound_holds_no_longer_than_the_cap() {
        let t = Instant::now();
        let mut silent = Interleaver::new(false, t);
        assert_eq!(names(&silent.push(video(0), t)), [('v', 0)]);

        let mut il = Interleaver::new(true, t);
        assert!(il.push(video(0), t).is_empty());
        assert_eq!(il.next_due(), Some(t + MAX_HOLD));
        assert_eq!(names(&il.poll(t + MAX_HOLD)), [('v', 0)]);
    }
}
