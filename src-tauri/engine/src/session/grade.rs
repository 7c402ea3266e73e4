//! One destination's health at a glance: good, struggling or failing, from
//! what the session measures each second anyway, with a sentence saying what
//! to do when it is not good. Pure: one reading a second in, a grade out.
//!
//! Quick to warn, slow to clear: two bad seconds make it struggling, five
//! good ones make it good again, so the chip does not flicker.

use serde::{Deserialize, Serialize};

use crate::events::DestinationState;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    #[default]
    Good,
    Struggling,
    Failing,
}

/// What one second showed of one destination.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub state: DestinationState,
    /// Its congestion control's bitrate, and the bitrate asked for.
    pub vote_kbps: u32,
    pub target_kbps: u32,
    /// What it was handed to send this second, sound included.
    pub sent_kbps: f64,
    /// Frames it skipped this second because its link fell behind.
    pub skipped: u32,
    /// The encoder's share of the frame interval (the whole session's).
    pub encoder_load: f64,
    /// The connection's latest round trip, where the protocol tells it.
    pub rtt_ms: Option<f64>,
}

const STRUGGLING_AFTER: u32 = 2;
const GOOD_AFTER: u32 = 5;
/// Under this share of the asked bitrate, the link is not carrying the stream.
const LOW_SHARE: f64 = 0.85;
/// The stream sends at least this share of the vote: the vote is what limits it.
const BINDING_SHARE: f64 = 0.8;
/// Over this share of the frame interval, frames are about to be lost.
const BUSY_LOAD: f64 = 0.9;
/// A round trip this much over the best seen is a queue on the link: the
/// stream's packets wait behind others (or behind themselves), and loss
/// comes next. Well over any path's jitter, well under what viewers feel.
const QUEUED_MS: f64 = 400.0;

#[derive(Debug, Default)]
pub struct Grader {
    grade: Grade,
    bad: u32,
    good: u32,
    /// The least round trip seen: the path without queues.
    best_rtt_ms: Option<f64>,
}

impl Grader {
    pub fn grade(&self) -> Grade {
        self.grade
    }

    /// Takes one second's reading; the new grade and its sentence when it
    /// changed.
    pub fn feed(&mut self, name: &str, r: &Reading) -> Option<(Grade, String)> {
        if let Some(rtt) = r.rtt_ms.filter(|_| r.state == DestinationState::Live) {
            self.best_rtt_ms = Some(self.best_rtt_ms.map_or(rtt, |best| best.min(rtt)));
        }
        let best_rtt = self.best_rtt_ms;
        let next = match r.state {
            DestinationState::Reconnecting | DestinationState::Failed => Some(Grade::Failing),
            // Not sending yet, or done: nothing to judge.
            DestinationState::Connecting | DestinationState::Ended => None,
            DestinationState::Live => {
                let bad = trouble(r, best_rtt).is_some();
                if bad {
                    (self.bad, self.good) = (self.bad + 1, 0);
                } else {
                    (self.bad, self.good) = (0, self.good + 1);
                }
                if self.grade == Grade::Failing {
                    // Back, but not yet proven.
                    Some(Grade::Struggling)
                } else if bad && self.bad >= STRUGGLING_AFTER {
                    Some(Grade::Struggling)
                } else if !bad && self.good >= GOOD_AFTER {
                    Some(Grade::Good)
                } else {
                    None
                }
            }
        };
        if matches!(next, Some(Grade::Failing)) {
            (self.bad, self.good) = (0, 0);
        }
        let next = next.filter(|&g| g != self.grade)?;
        self.grade = next;
        Some((next, advice(name, next, r, trouble(r, best_rtt))))
    }
}

enum Trouble {
    Link,
    /// The round trip and the best seen, in ms.
    Queue(f64, f64),
    Encoder,
}

fn trouble(r: &Reading, best_rtt_ms: Option<f64>) -> Option<Trouble> {
    // A lowered vote matters only while it holds the stream down: a simple
    // picture that needs less than the vote anyway loses nothing by it.
    let vote = f64::from(r.vote_kbps);
    let low = vote < LOW_SHARE * f64::from(r.target_kbps) && r.sent_kbps >= BINDING_SHARE * vote;
    if r.skipped > 0 || low {
        return Some(Trouble::Link);
    }
    if let (Some(rtt), Some(best)) = (r.rtt_ms, best_rtt_ms) {
        if rtt > best + QUEUED_MS {
            return Some(Trouble::Queue(rtt, best));
        }
    }
    (r.encoder_load > BUSY_LOAD).then_some(Trouble::Encoder)
}

fn advice(name: &str, grade: Grade, r: &Reading, trouble: Option<Trouble>) -> String {
    match (grade, r.state, trouble) {
        (Grade::Failing, DestinationState::Failed, _) => {
            format!("{name} has failed; its row says why. The other destinations go on.")
        }
        (Grade::Failing, _, _) => {
            format!("{name} lost its connection; Onair is reconnecting.")
        }
        (Grade::Struggling, _, Some(Trouble::Encoder)) => {
            "This computer cannot encode the stream fast enough: lower the resolution or the frame rate in Settings.".into()
        }
        (Grade::Struggling, _, Some(Trouble::Queue(rtt, best))) => format!(
            "{name}'s connection is queueing: a round trip of {rtt:.0} ms, against {best:.0} ms at its best. Something else may be using your upload, or the link is slower than the stream: lower the bitrate (Check link measures what fits).",
        ),
        (Grade::Struggling, _, _) => format!(
            "{name}'s connection carries less than the stream: sending {} of the {} kbit/s asked. Lower the bitrate (Check link measures what fits), or free up your upload.",
            r.vote_kbps, r.target_kbps
        ),
        (Grade::Good, _, _) => format!("{name} is sending the stream as asked."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(vote_kbps: u32) -> Reading {
        Reading {
            state: DestinationState::Live,
            vote_kbps,
            target_kbps: 2500,
            sent_kbps: f64::from(vote_kbps) + 128.0,
            skipped: 0,
            encoder_load: 0.3,
            rtt_ms: Some(40.0),
        }
    }

    #[test]
    fn a_round_trip_far_over_the_best_seen_is_a_queue_on_the_link() {
        let queued = Reading {
            rtt_ms: Some(600.0),
            ..live(2500)
        };
        let mut grader = Grader::default();
        assert_eq!(grader.feed("main", &live(2500)), None);
        assert_eq!(grader.feed("main", &queued), None);
        let (grade, advice) = grader.feed("main", &queued).unwrap();
        assert_eq!(grade, Grade::Struggling);
        assert!(advice.contains("600 ms, against 40 ms"), "{advice}");
        // A path that is long, not queued, is no trouble: the best seen is
        // its own.
        let far = Reading {
            rtt_ms: Some(300.0),
            ..live(2500)
        };
        assert_eq!(grades(&[far; 4]), [None; 4]);
    }

    fn grades(readings: &[Reading]) -> Vec<Option<Grade>> {
        let mut grader = Grader::default();
        readings
            .iter()
            .map(|r| grader.feed("main", r).map(|(g, _)| g))
            .collect()
    }

    #[test]
    fn a_link_under_the_stream_turns_struggling_after_two_seconds_and_clears_after_five() {
        let mut seconds = vec![live(2500), live(1200), live(1200), live(1200)];
        seconds.extend(std::iter::repeat_n(live(2500), 6));
        let got = grades(&seconds);
        assert_eq!(got[..4], [None, None, Some(Grade::Struggling), None]);
        assert_eq!(got[4..], [None, None, None, None, Some(Grade::Good), None]);
    }

    #[test]
    fn a_lowered_vote_that_a_simple_picture_never_reaches_is_no_trouble() {
        let simple = Reading {
            sent_kbps: 400.0,
            ..live(1200)
        };
        assert_eq!(grades(&[simple; 4]), [None; 4]);
    }

    #[test]
    fn a_skipped_frame_counts_as_a_bad_second_even_at_full_bitrate() {
        let skipping = Reading {
            skipped: 3,
            ..live(2500)
        };
        assert_eq!(grades(&[skipping, skipping])[1], Some(Grade::Struggling));
    }

    #[test]
    fn a_busy_encoder_struggles_with_its_own_advice() {
        let busy = Reading {
            encoder_load: 0.95,
            ..live(2500)
        };
        let mut grader = Grader::default();
        grader.feed("main", &busy);
        let (grade, sentence) = grader.feed("main", &busy).unwrap();
        assert_eq!(grade, Grade::Struggling);
        assert!(
            sentence.contains("resolution or the frame rate"),
            "{sentence}"
        );
    }

    #[test]
    fn reconnecting_is_failing_at_once_and_live_again_starts_from_struggling() {
        let reconnecting = Reading {
            state: DestinationState::Reconnecting,
            ..live(2500)
        };
        let got = grades(&[live(2500), reconnecting, live(2500), live(2500)]);
        assert_eq!(
            got,
            [None, Some(Grade::Failing), Some(Grade::Struggling), None]
        );
    }

    #[test]
    fn the_sentence_says_what_the_link_carries_and_what_to_do() {
        let mut grader = Grader::default();
        grader.feed("twitch", &live(1200));
        let (_, sentence) = grader.feed("twitch", &live(1200)).unwrap();
        assert!(
            sentence.contains("sending 1200 of the 2500 kbit/s"),
            "{sentence}"
        );
        assert!(sentence.contains("Lower the bitrate"), "{sentence}");
    }

    #[test]
    fn nothing_is_judged_while_connecting() {
        let connecting = Reading {
            state: DestinationState::Connecting,
            ..live(100)
        };
        assert_eq!(grades(&[connecting; 4]), [None; 4]);
    }
}
