//! The WHIP sink: the session's sink thread on one side, the async WHIP
//! client on its own small runtime on the other (see bridge.rs).

use super::bridge::AsyncBridge;
use super::{Sink, SinkLinks};
use crate::error::OnairError;
use crate::media::{Packet, StreamInfo};
use crate::peer::publisher::LayerDesc;
use crate::secret::Secret;
use crate::whip::client::{self, WhipOptions};

pub struct WhipSink {
    url: String,
    token: Option<Secret>,
    layers: Vec<LayerDesc>,
    reconnect_attempts: u32,
    links: Option<SinkLinks>,
    bridge: Option<AsyncBridge>,
}

impl WhipSink {
    /// `token` is the bearer token, when the server wants one; `layers` is
    /// one layer, or three for simulcast.
    pub fn new(
        url: &str,
        token: Option<Secret>,
        layers: Vec<LayerDesc>,
        reconnect_attempts: u32,
    ) -> Self {
        WhipSink {
            url: url.to_string(),
            token: token.filter(|t| !t.is_empty()),
            layers,
            reconnect_attempts,
            links: None,
            bridge: None,
        }
    }
}

impl Sink for WhipSink {
    fn attach(&mut self, links: SinkLinks) {
        self.links = Some(links);
    }

    fn open(&mut self, info: &StreamInfo) -> Result<(), OnairError> {
        let links = self.links.clone().expect("attached before open");
        let options = WhipOptions {
            url: self.url.clone(),
            token: self.token.clone(),
            layers: self.layers.clone(),
            audio: info.audio.is_some(),
            reconnect_attempts: self.reconnect_attempts,
        };
        let task_links = links.clone();
        self.bridge = Some(AsyncBridge::start("WHIP", links, move |ends| {
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
