//! The LiveKit sink: the session's sink thread on one side, the async
//! LiveKit client on a small runtime of its own on the other.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};

use super::{Sink, SinkLinks, SinkNeeds};
use crate::error::{ErrorCode, OnairError};
use crate::livekit::client::{self, LiveKitOptions, Media};
use crate::livekit::credentials::TokenSource;
use crate::livekit::token;
use crate::media::{Packet, StreamInfo};
use crate::peer::publisher::LayerDesc;

/// About a second of media: beyond that the network is not keeping up and
/// dropping to the next keyframe beats growing latency.
const MEDIA_QUEUE: usize = 96;

pub struct LiveKitSink {
    url: String,
    source: Option<TokenSource>,
    room: Option<String>,
    layers: Vec<LayerDesc>,
    reconnect_attempts: u32,
    links: Option<SinkLinks>,
    runtime: Option<tokio::runtime::Runtime>,
    media: Option<mpsc::Sender<Media>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), OnairError>>>,
}

impl LiveKitSink {
    /// `source` gives the access token; `room`, when the destination names
    /// one, must match the token's. `layers` is one layer, or three for simulcast.
    pub fn new(
        url: &str,
        source: Option<TokenSource>,
        room: Option<String>,
        layers: Vec<LayerDesc>,
        reconnect_attempts: u32,
    ) -> Self {
        LiveKitSink {
            url: url.to_string(),
            source,
            room,
            layers,
            reconnect_attempts,
            links: None,
            runtime: None,
            media: None,
            stop: None,
            task: None,
        }
    }

    fn send(&self, media: Media) {
        let Some(tx) = &self.media else { return };
        if tx.try_send(media).is_err() {
            if let Some(links) = &self.links {
                links.dropped.fetch_add(1, Ordering::Relaxed);
                links.control.request_keyframe();
            }
        }
    }
}

impl Sink for LiveKitSink {
    fn needs(&self) -> SinkNeeds {
        SinkNeeds {
            aac: false,
            opus: true,
        }
    }

    fn attach(&mut self, links: SinkLinks) {
        self.links = Some(links);
    }

    fn open(&mut self, info: &StreamInfo) -> Result<(), OnairError> {
        let source = self.source.clone().ok_or_else(|| {
            OnairError::new(
                ErrorCode::KeyMissing,
                "Publishing to LiveKit needs an access token: pass it with --key-stdin, save it with `onair keys add`, or set a token URL.",
            )
        })?;
        let links = self.links.clone().expect("attached before open");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("onair-livekit")
            .enable_all()
            .build()
            .map_err(|e| OnairError::internal(format!("starting the network runtime: {e}")))?;
        let credentials = runtime.block_on(source.obtain())?;
        if credentials.token.is_empty() {
            return Err(OnairError::new(
                ErrorCode::KeyMissing,
                "The LiveKit token is empty. Pass it with --key-stdin or save it with `onair keys add`.",
            ));
        }
        // Everything the token says is checked before a socket opens.
        token::check(
            &credentials.token,
            self.room.as_deref(),
            info.audio.is_some(),
            SystemTime::now(),
        )?;
        let url = credentials.url.unwrap_or_else(|| self.url.clone());
        let token = credentials.token;
        let (media_tx, media_rx) = mpsc::channel(MEDIA_QUEUE);
        let (stop_tx, stop_rx) = oneshot::channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let options = LiveKitOptions {
            url,
            token,
            layers: self.layers.clone(),
            audio: info.audio.is_some(),
            reconnect_attempts: self.reconnect_attempts,
        };
        let task = runtime.spawn(client::run(options, links, media_rx, stop_rx, ready_tx));
        let ready = runtime.block_on(ready_rx).unwrap_or_else(|_| {
            Err(OnairError::internal(
                "the LiveKit task ended while connecting",
            ))
        });
        if let Err(e) = ready {
            runtime.shutdown_timeout(Duration::from_secs(1));
            return Err(e);
        }
        self.runtime = Some(runtime);
        self.media = Some(media_tx);
        self.stop = Some(stop_tx);
        self.task = Some(task);
        Ok(())
    }

    fn write(&mut self, packet: &Packet) -> Result<(), OnairError> {
        if self.task.as_ref().is_some_and(|t| t.is_finished()) {
            return self.finish();
        }
        match packet {
            Packet::Video(video) => self.send(Media::Video {
                layer: video.layer as usize,
                data: video.data.clone(),
                pts_us: video.pts_us,
            }),
            Packet::Audio(audio) => self.send(Media::Audio {
                data: audio.data.clone(),
                pts_us: audio.pts_us,
            }),
        }
        Ok(())
    }

    fn close(&mut self, _duration_us: u64) -> Result<(), OnairError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.finish()
    }
}

impl LiveKitSink {
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
                "the LiveKit task failed: {join}"
            ))),
            Err(_) => Ok(()),
        }
    }
}

impl Drop for LiveKitSink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.finish();
    }
}
