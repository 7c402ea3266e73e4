//! Where encoded media goes. A sink runs on its own thread (or, for network
//! sinks, its own task) and reads its queue from the fan-out.

pub mod bridge;
pub mod file;
pub mod livekit;
pub mod rtmp;
pub mod whip;

use std::sync::atomic::AtomicU32;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::error::OnairError;
use crate::media::{Packet, StreamInfo};
use crate::pipeline::control::EncoderControl;

/// What a sink needs from the encoders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkNeeds {
    pub aac: bool,
    /// WebRTC sinks take Opus instead.
    pub opus: bool,
}

/// What a live sink tells the session while it runs; the runner turns these
/// into state changes and events.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkNotice {
    /// The connection was lost; the next attempt is in `retry_in`.
    Reconnecting {
        attempt: u32,
        retry_in: Duration,
        reason: String,
    },
    /// Connected and publishing again.
    Restored,
    /// How many people watch (LiveKit presence).
    Viewers(u32),
    /// The sink moved the encoder's target bitrate.
    Bitrate {
        kbps: u32,
        backlog_ms: u64,
        congested: bool,
    },
}

/// The session's side of a sink: where to report, how to reach the encoder
/// (the pipeline's one back-edge), and where to count what the sink drops.
#[derive(Clone)]
pub struct SinkLinks {
    pub notices: Sender<SinkNotice>,
    pub control: Arc<EncoderControl>,
    pub dropped: Arc<AtomicU32>,
}

pub trait Sink: Send {
    fn needs(&self) -> SinkNeeds;
    /// Called once before `open` by sinks that report back or steer the encoder.
    fn attach(&mut self, _links: SinkLinks) {}
    /// Opens the destination (create the file, connect, publish).
    fn open(&mut self, info: &StreamInfo) -> Result<(), OnairError>;
    fn write(&mut self, packet: &Packet) -> Result<(), OnairError>;
    /// Finishes cleanly; `duration_us` is the session's final length.
    fn close(&mut self, duration_us: u64) -> Result<(), OnairError>;
    /// A recording on this computer: Stop always waits for it to finish.
    fn is_local(&self) -> bool {
        false
    }
}
