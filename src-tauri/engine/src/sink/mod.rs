//! Where encoded media goes. A sink runs on its own thread (or, for network
//! sinks, its own task) and reads its queue from the fan-out.

pub mod file;

use crate::error::OnairError;
use crate::media::{Packet, StreamInfo};

/// What a sink needs from the encoders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkNeeds {
    pub aac: bool,
}

pub trait Sink: Send {
    fn needs(&self) -> SinkNeeds;
    /// Opens the destination (create the file, connect, publish).
    fn open(&mut self, info: &StreamInfo) -> Result<(), OnairError>;
    fn write(&mut self, packet: &Packet) -> Result<(), OnairError>;
    /// Finishes cleanly; `duration_us` is the session's final length.
    fn close(&mut self, duration_us: u64) -> Result<(), OnairError>;
}
