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

use crossbeam_channel::{Receiver, SendError, Sender};

use crate::error::OnairError;
use crate::media::{Packet, StreamInfo};
use crate::pipeline::control::ControlPort;

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
    /// The connection's latest round trip (where the protocol tells it).
    RoundTrip(Duration),
}

/// The session's side of a sink: where to report, how to reach the encoder
/// (the pipeline's one back-edge), and where to count what the sink drops.
#[derive(Clone)]
pub struct SinkLinks {
    pub notices: NoticeSender,
    pub control: ControlPort,
    pub dropped: Arc<AtomicU32>,
}

impl SinkLinks {
    /// Links for a sink on its own (tests): its notices arrive on the receiver.
    pub fn alone(target_kbps: u32) -> (SinkLinks, Receiver<(usize, SinkReport)>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        let links = SinkLinks {
            notices: NoticeSender::new(0, tx),
            control: ControlPort::alone(target_kbps),
            dropped: Arc::default(),
        };
        (links, rx)
    }
}

/// Everything a destination tells the session, on one channel so the
/// session hears it in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkReport {
    Notice(SinkNotice),
    /// Connected and publishing.
    Opened,
    /// Done: media ended or Stop (Ok), or it gave up (Err).
    Finished(Result<(), OnairError>),
}

/// Reports for the session, labelled with the destination they come from.
#[derive(Clone)]
pub struct NoticeSender {
    destination: usize,
    tx: Sender<(usize, SinkReport)>,
}

type Sent = Result<(), SendError<(usize, SinkReport)>>;

impl NoticeSender {
    pub fn new(destination: usize, tx: Sender<(usize, SinkReport)>) -> Self {
        NoticeSender { destination, tx }
    }

    pub fn send(&self, notice: SinkNotice) -> Sent {
        self.report(SinkReport::Notice(notice))
    }

    pub fn report(&self, report: SinkReport) -> Sent {
        self.tx.send((self.destination, report))
    }
}

pub trait Sink: Send {
    /// Called once before `open` by sinks that report back or steer the encoder.
    fn attach(&mut self, _links: SinkLinks) {}
    /// Opens the destination (create the file, connect, publish).
    fn open(&mut self, info: &StreamInfo) -> Result<(), OnairError>;
    fn write(&mut self, packet: &Packet) -> Result<(), OnairError>;
    /// Finishes cleanly; `duration_us` is the session's final length.
    fn close(&mut self, duration_us: u64) -> Result<(), OnairError>;
}
