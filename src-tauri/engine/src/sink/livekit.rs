//! The LiveKit sink: the session's sink thread on one side, the async
//! LiveKit client on a small runtime of its own on the other.

use super::bridge::AsyncBridge;
use super::{Sink, SinkLinks};
use crate::error::{ErrorCode, OnairError};
use crate::livekit::client::{self, LiveKitOptions};
use crate::livekit::credentials::{ready_to_join, TokenSource};
use crate::media::{Packet, StreamInfo};
use crate::peer::publisher::LayerDesc;

pub struct LiveKitSink {
    url: String,
    source: Option<TokenSource>,
    room: Option<String>,
    layers: Vec<LayerDesc>,
    reconnect_attempts: u32,
    links: Option<SinkLinks>,
    bridge: Option<AsyncBridge>,
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
            bridge: None,
        }
    }
}

impl Sink for LiveKitSink {
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
        // A token URL is one HTTP request: a runtime of its own for it.
        let (url, token) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| OnairError::internal(format!("starting the network runtime: {e}")))?
            .block_on(ready_to_join(
                &self.url,
                &source,
                self.room.as_deref(),
                info.audio.is_some(),
            ))?;
        let links = self.links.clone().expect("attached before open");
        let options = LiveKitOptions {
            url,
            token,
            layers: self.layers.clone(),
            audio: info.audio.is_some(),
            reconnect_attempts: self.reconnect_attempts,
        };
        let task_links = links.clone();
        self.bridge = Some(AsyncBridge::start("LiveKit", links, move |ends| {
            client::run(options, task_links, ends.media, ends.stop, ends.ready)
        })?);
        Ok(())
    }

    fn write(&mut self, packet: &Packet) -> Result<(), OnairError> {
        match self.bridge.as_mut() {
            Some(bridge) => bridge.write(packet),
            None => Ok(()),
        }
    }

    fn close(&mut self, _duration_us: u64) -> Result<(), OnairError> {
        match self.bridge.take() {
            Some(mut bridge) => bridge.close(),
            None => Ok(()),
        }
    }
}
