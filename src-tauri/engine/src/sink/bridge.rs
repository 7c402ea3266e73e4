//! The bridge between a sink thread (sync, fed by the fan-out) and a WebRTC
//! client task on a small tokio runtime of its own. LiveKit and WHIP differ
//! only in the task they run.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::SinkLinks;
use crate::error::OnairError;
use crate::media::Packet;
use crate::peer::link::Media;

/// About a second of media: beyond that the network is not keeping up and
/// dropping to the next keyframe beats growing latency.
const MEDIA_QUEUE: usize = 96;

/// What the client task gets: media, Stop, and where to say it is live (or why not).
pub struct TaskEnds {
    pub media: mpsc::Receiver<Media>,
    pub stop: oneshot::Receiver<()>,
    pub ready: oneshot::Sender<Result<(), OnairError>>,
}

pub struct AsyncBridge {
    /// Names the runtime's threads and the task in messages ("LiveKit", "WHIP").
    label: &'static str,
    links: SinkLinks,
    runtime: Option<tokio::runtime::Runtime>,
    media: Option<mpsc::Sender<Media>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), OnairError>>>,
    /// Video layers (bits) that lost a picture here: the pictures after it
    /// refer to it, so they are dropped too until the layer's next keyframe.
    awaiting_keyframe: u32,
}

impl AsyncBridge {
    /// Starts the task `start` makes and waits until it is live or has failed.
    pub fn start<F, Fut>(
        label: &'static str,
        links: SinkLinks,
        start: F,
    ) -> Result<Self, OnairError>
    where
        F: FnOnce(TaskEnds) -> Fut,
        Fut: Future<Output = Result<(), OnairError>> + Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("onair-{}", label.to_ascii_lowercase()))
            .enable_all()
            .build()
            .map_err(|e| OnairError::internal(format!("starting the network runtime: {e}")))?;
        let (media_tx, media) = mpsc::channel(MEDIA_QUEUE);
        let (stop_tx, stop) = oneshot::channel();
        let (ready, ready_rx) = oneshot::channel();
        let task = runtime.spawn(start(TaskEnds { media, stop, ready }));
        let ready = runtime.block_on(ready_rx).unwrap_or_else(|_| {
            Err(OnairError::internal(format!(
                "the {label} task ended while connecting"
            )))
        });
        if let Err(e) = ready {
            runtime.shutdown_timeout(Duration::from_secs(1));
            return Err(e);
        }
        Ok(AsyncBridge {
            label,
            links,
            runtime: Some(runtime),
            media: Some(media_tx),
            stop: Some(stop_tx),
            task: Some(task),
            awaiting_keyframe: 0,
        })
    }

    /// Hands one packet to the task; a full queue drops it and asks for a
    /// keyframe. A task that has ended reports how.
    pub fn write(&mut self, packet: &Packet) -> Result<(), OnairError> {
        if self.task.as_ref().is_some_and(|t| t.is_finished()) {
            return self.finish();
        }
        let media = match packet {
            Packet::Video(video) => {
                let bit = 1u32 << video.layer.min(31);
                if self.awaiting_keyframe & bit != 0 {
                    if !video.keyframe {
                        self.links.dropped.fetch_add(1, Ordering::Relaxed);
                        return Ok(());
                    }
                    self.awaiting_keyframe &= !bit;
                }
                Media::Video {
                    layer: video.layer as usize,
                    data: video.data.clone(),
                    pts_us: video.pts_us,
                }
            }
            Packet::Audio(audio) => Media::Audio {
                data: audio.data.clone(),
                pts_us: audio.pts_us,
            },
        };
        let Some(tx) = &self.media else {
            return Ok(());
        };
        if let Err(refused) = tx.try_send(media) {
            self.links.dropped.fetch_add(1, Ordering::Relaxed);
            self.links.control.request_keyframe();
            if let Media::Video { layer, .. } = refused.into_inner() {
                self.awaiting_keyframe |= 1u32 << layer.min(31);
            }
        }
        Ok(())
    }

    /// Stop, then wait for the task to say goodbye to the server.
    pub fn close(&mut self) -> Result<(), OnairError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.finish()
    }

    /// Waits for the client task and reports how it ended.
    fn finish(&mut self) -> Result<(), OnairError> {
        self.media = None;
        let (Some(runtime), Some(task)) = (self.runtime.take(), self.task.take()) else {
            return Ok(());
        };
        let result =
            runtime.block_on(async { tokio::time::timeout(Duration::from_secs(5), task).await });
        runtime.shutdown_timeout(Duration::from_secs(1));
        match result {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(join)) => Err(OnairError::internal(format!(
                "the {} task failed: {join}",
                self.label
            ))),
            Err(_) => Ok(()),
        }
    }
}

impl Drop for AsyncBridge {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
