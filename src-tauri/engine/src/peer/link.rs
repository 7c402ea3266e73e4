//! What every WebRTC client task shares with the sink thread that feeds it:
//! the media it is handed, carrying out the reconnect policy's waits and
//! notices, and steering the encoder from the receiver's loss reports.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::feedback::Feedback;
use super::loss_control::LossControl;
use crate::error::{ErrorCode, OnairError};
use crate::net::reconnect::{self, Failure, Input, Mode, Output, Reconnect, Why};
use crate::sink::{SinkLinks, SinkNotice};

/// Encoded media for the connection.
#[derive(Debug)]
pub enum Media {
    Video {
        layer: usize,
        data: Arc<Vec<u8>>,
        pts_us: i64,
    },
    Audio {
        data: Arc<Vec<u8>>,
        pts_us: i64,
    },
}

/// The lowest video bitrate loss control steps down to.
pub const MIN_VIDEO_KBPS: u32 = 150;

/// What the reconnect policy asks for next.
pub enum Next {
    /// Try now, this way.
    Attempt(Mode),
    /// The creator pressed Stop while waiting.
    Stopped,
    /// Reconnecting is over: the session fails with this.
    GaveUp(OnairError),
}

/// Carries out the policy's `outputs` (notices, waits) until it asks for an
/// attempt or gives up, or Stop comes. `server` names the kind of server
/// in the sentence a creator reads ("LiveKit", "WHIP").
pub async fn next_step<E: Failure + Into<OnairError>>(
    server: &str,
    policy: &mut Reconnect,
    outputs: Vec<Output<E>>,
    media: &mut mpsc::Receiver<Media>,
    stop: &mut oneshot::Receiver<()>,
    links: &SinkLinks,
) -> Next {
    let mut queue = VecDeque::from(outputs);
    while let Some(output) = queue.pop_front() {
        match output {
            Output::Notice(notice) => {
                let _ = links.notices.send(notice.into());
            }
            Output::WaitUntil(at) => {
                if wait_or_stop(at, media, stop, links).await {
                    return Next::Stopped;
                }
                queue.extend(policy.handle(Input::Tick, Instant::now()));
            }
            Output::Attempt(mode) => return Next::Attempt(mode),
            Output::GiveUp(gave_up) => {
                return Next::GaveUp(match gave_up.why {
                    Why::Final => gave_up.error.into(),
                    Why::Exhausted => OnairError::new(
                        ErrorCode::Unreachable,
                        format!(
                            "The {server} server could not be reached again after {} attempts ({}). Check your connection and go live again.",
                            gave_up.attempts, gave_up.reason
                        ),
                    ),
                })
            }
        }
    }
    Next::GaveUp(OnairError::internal(
        "the reconnect policy stopped without a decision",
    ))
}

/// Sends the policy's notices (Restored, after `Connected`).
pub fn tell<E>(outputs: Vec<Output<E>>, links: &SinkLinks) {
    for output in outputs {
        if let Output::Notice(notice) = output {
            let _ = links.notices.send(notice.into());
        }
    }
}

/// The policy for a WebRTC client: resume (an ICE restart) before a fresh publish.
pub fn reconnect_policy(attempts: u32) -> Reconnect {
    Reconnect::new(
        reconnect::Policy::new(attempts).resuming(),
        reconnect::XorShift::from_clock(),
    )
}

/// Waits until `at` or until Stop (true). Media that arrives while
/// disconnected is dropped, and counted.
pub async fn wait_or_stop(
    at: Instant,
    media: &mut mpsc::Receiver<Media>,
    stop: &mut oneshot::Receiver<()>,
    links: &SinkLinks,
) -> bool {
    let deadline = tokio::time::Instant::from_std(at);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return false,
            _ = &mut *stop => return true,
            Some(m) = media.recv() => {
                if matches!(m, Media::Video { .. }) {
                    links.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// How often receiver feedback is read: a viewer waiting for a keyframe
/// should not wait long for the encoder to hear about it.
pub const FEEDBACK_TICK: Duration = Duration::from_millis(100);

/// Acts on receiver feedback every tick: keyframe requests at once, the
/// bitrate once a second (the loss controller's pace). The encoder gets the
/// lower of two targets: the loss controller's, from receiver reports, and
/// the video's share of congestion control's estimate, which sees a queue
/// building before anything is lost (and is all there is when the remote
/// sends no transport-wide feedback).
pub struct Steering {
    loss: LossControl,
    ceiling_kbps: u32,
    target_kbps: u32,
    ticks: u32,
}

impl Steering {
    pub fn new(links: &SinkLinks) -> Self {
        let ceiling_kbps = links.control.target_kbps();
        Steering {
            loss: LossControl::new(ceiling_kbps, MIN_VIDEO_KBPS),
            ceiling_kbps,
            target_kbps: ceiling_kbps,
            ticks: 0,
        }
    }

    pub fn on_tick(&mut self, feedback: &Feedback, links: &SinkLinks) {
        if feedback.take_keyframes() != 0 {
            links.control.request_keyframe();
        }
        self.ticks += 1;
        let budget = feedback.video_budget_kbps();
        let moved = if self.ticks.is_multiple_of(10) {
            self.on_second(feedback.take_loss(), budget)
        } else {
            // A falling estimate is obeyed at once: every tick the encoder
            // spends over it waits in the pacer's queue.
            self.on_budget(budget)
        };
        if let Some(kbps) = moved {
            links.control.set_target_kbps(kbps);
            let _ = links.notices.send(SinkNotice::Bitrate {
                kbps,
                backlog_ms: 0,
                congested: kbps < self.ceiling_kbps,
            });
        }
    }

    /// The new target, if one second's loss and the latest estimate move it.
    fn on_second(&mut self, loss: Option<f64>, budget_kbps: Option<u32>) -> Option<u32> {
        self.loss.on_second(loss);
        self.retarget(self.loss.target_kbps(), budget_kbps)
    }

    /// The new target, if the estimate fell under the current one.
    fn on_budget(&mut self, budget_kbps: Option<u32>) -> Option<u32> {
        self.retarget(self.target_kbps, budget_kbps)
    }

    fn retarget(&mut self, mut target: u32, budget_kbps: Option<u32>) -> Option<u32> {
        if let Some(budget) = budget_kbps {
            target = target.min(budget.max(MIN_VIDEO_KBPS));
        }
        (target != self.target_kbps).then(|| {
            self.target_kbps = target;
            target
        })
    }
}

/// Sleeps until the publisher's held media is due; with none held, never
/// wakes (a `select!` branch that stays quiet).
pub async fn sleep_until_held(held: Option<Instant>) {
    match held {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steering(ceiling_kbps: u32) -> Steering {
        let (links, _) = SinkLinks::alone(ceiling_kbps);
        Steering::new(&links)
    }

    #[test]
    fn the_lower_of_loss_control_and_the_estimate_wins() {
        let mut steering = steering(2500);
        // A clean path and no estimate yet: nothing moves.
        assert_eq!(steering.on_second(Some(0.0), None), None);
        // The estimate sees a queue before any loss.
        assert_eq!(steering.on_second(Some(0.0), Some(900)), Some(900));
        assert_eq!(steering.on_second(Some(0.0), Some(900)), None);
        // Heavy loss pulls below the estimate.
        assert_eq!(steering.on_second(Some(0.5), Some(2000)), Some(1875));
        // An estimate under the floor stops at the floor.
        assert_eq!(
            steering.on_second(Some(0.0), Some(20)),
            Some(MIN_VIDEO_KBPS)
        );
        // Room again: back to what the creator chose, as loss control climbs.
        // Between seconds, only a falling estimate moves the target.
        assert_eq!(steering.on_budget(Some(5000)), None);
        assert_eq!(steering.on_budget(Some(120)), None);
        let mut last = MIN_VIDEO_KBPS;
        for _ in 0..30 {
            if let Some(kbps) = steering.on_second(Some(0.0), Some(5000)) {
                last = kbps;
            }
        }
        assert_eq!(last, 2500);
    }
}
