//! What every WebRTC client task shares with the sink thread that feeds it:
//! the media it is handed, waiting out a reconnect delay, and steering the
//! encoder from the receiver's loss reports.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::feedback::Feedback;
use super::loss_control::{LossControl, Step};
use crate::error::{ErrorCode, OnairError};
use crate::rtmp::backoff::Backoff;
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

/// What comes before the next reconnect attempt.
pub enum Retry {
    /// Try now.
    Go,
    /// The creator pressed Stop while waiting.
    Stopped,
    /// The attempts are spent: the session fails with this.
    GaveUp(OnairError),
}

/// Announces the next attempt (a `Reconnecting` notice) and waits for it,
/// unless the backoff is spent or Stop comes first. `server` names the
/// kind of server in the sentence a creator reads ("LiveKit", "WHIP").
pub async fn before_retry(
    server: &str,
    backoff: &mut Backoff,
    reason: &str,
    media: &mut mpsc::Receiver<Media>,
    stop: &mut oneshot::Receiver<()>,
    links: &SinkLinks,
) -> Retry {
    let Some(wait) = backoff.next_delay() else {
        return Retry::GaveUp(OnairError::new(
            ErrorCode::Unreachable,
            format!(
                "The {server} server could not be reached again after {} attempts ({reason}). Check your connection and go live again.",
                backoff.max_attempts()
            ),
        ));
    };
    let _ = links.notices.send(SinkNotice::Reconnecting {
        attempt: backoff.attempt(),
        retry_in: wait,
        reason: reason.to_string(),
    });
    if wait_or_stop(wait, media, stop, links).await {
        Retry::Stopped
    } else {
        Retry::Go
    }
}

/// Waits `wait` or until Stop (true). Media that arrives while
/// disconnected is dropped, and counted.
pub async fn wait_or_stop(
    wait: Duration,
    media: &mut mpsc::Receiver<Media>,
    stop: &mut oneshot::Receiver<()>,
    links: &SinkLinks,
) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
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

/// Acts on receiver feedback every tick: keyframe requests at once, loss
/// once a second (the loss controller's pace).
pub struct Steering {
    loss: LossControl,
    ticks: u32,
}

impl Steering {
    pub fn new(links: &SinkLinks) -> Self {
        Steering {
            loss: LossControl::new(links.control.target_kbps(), MIN_VIDEO_KBPS),
            ticks: 0,
        }
    }

    pub fn on_tick(&mut self, feedback: &Feedback, links: &SinkLinks) {
        if feedback.take_keyframes() != 0 {
            links.control.request_keyframe();
        }
        self.ticks += 1;
        if self.ticks.is_multiple_of(10) {
            steer_bitrate(&mut self.loss, feedback.take_loss(), links);
        }
    }
}

/// Moves the encoder with the receiver's loss reports: down under heavy
/// loss, back up to what the creator chose once the path is clean.
fn steer_bitrate(control: &mut LossControl, loss: Option<f64>, links: &SinkLinks) {
    match control.on_second(loss) {
        Step::Hold => {}
        Step::Down(kbps) | Step::Up(kbps) => {
            links.control.set_target_kbps(kbps);
            let _ = links.notices.send(SinkNotice::Bitrate {
                kbps,
                backlog_ms: 0,
                congested: control.congested(),
            });
        }
    }
}

/// A seed for reconnect jitter.
pub fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64
}
