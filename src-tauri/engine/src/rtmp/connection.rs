//! The thin I/O layer: drives the handshake and the publisher state machine
//! over a real socket, then hands the socket to an I/O thread that writes
//! queued media, keeps reading the server (pings, acks, status) and measures
//! the backlog of bytes not yet written.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};

use super::chunk::ChunkWriter;
use super::error::RtmpError;
use super::handshake::Handshake;
use super::message::Message;
use super::publish::{PublishError, Publisher, Stage, CHUNK_SIZE};
use super::transport::{set_timeout, Transport, DEAD_LINK};
use super::url::RtmpUrl;
use crate::net::tcp_info::tcp_stats;
use crate::secret::Secret;

/// Connect, handshake and publish must all be done within this.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// A write that makes no progress for this long means the link is dead.
const STALLED_WRITE: Duration = Duration::from_secs(8);
/// How often the I/O thread looks for server messages while busy writing.
const READ_EVERY: Duration = Duration::from_millis(20);

/// Connects and publishes; returns once the server said NetStream.Publish.Start.
pub fn open(url: &RtmpUrl, key: &Secret) -> Result<LiveConnection, RtmpError> {
    let (transport, publisher, writer) = converse(url, key.clone(), Until::Published)?;
    Ok(LiveConnection::spawn(transport, publisher, writer))
}

/// Connects to the application and stops there: no stream is created and no
/// key is sent, so nothing can go public. The link check's way in.
pub fn open_unpublished(url: &RtmpUrl) -> Result<(Transport, ChunkWriter), RtmpError> {
    let (transport, _, writer) = converse(url, Secret::new(""), Until::Connected)?;
    Ok((transport, writer))
}

#[derive(PartialEq)]
enum Until {
    /// connect answered.
    Connected,
    /// NetStream.Publish.Start.
    Published,
}

fn converse(
    url: &RtmpUrl,
    key: Secret,
    until: Until,
) -> Result<(Transport, Publisher, ChunkWriter), RtmpError> {
    let deadline = Instant::now() + OPEN_TIMEOUT;
    let mut transport = Transport::connect(url, deadline)?;
    let leftover = handshake(&mut transport, deadline)?;

    let mut publisher = Publisher::new(&url.app, &url.tc_url, key);
    let mut writer = ChunkWriter::new();
    let mut out = Vec::new();
    for message in publisher.start() {
        writer.write(&message, &mut out);
    }
    let mut reaction = publisher.receive(&leftover)?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // Stop before createStream and the key go out.
        if until == Until::Connected && publisher.stage() != Stage::Connecting {
            break;
        }
        for message in reaction.send.drain(..) {
            writer.write(&message, &mut out);
        }
        if !out.is_empty() {
            set_timeout(transport.tcp(), deadline)?;
            transport
                .write_all(&out)
                .map_err(|e| io_error(e, &publisher))?;
            out.clear();
            continue;
        }
        if reaction.published {
            break;
        }
        set_timeout(transport.tcp(), deadline)?;
        let n = transport
            .read(&mut buf)
            .map_err(|e| io_error(e, &publisher))?;
        if n == 0 {
            return Err(publisher.closed().into());
        }
        reaction = publisher.receive(&buf[..n])?;
    }
    Ok((transport, publisher, writer))
}

fn handshake(transport: &mut Transport, deadline: Instant) -> Result<Vec<u8>, RtmpError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut seed = now.as_nanos() as u32 | 1;
    let (mut hs, c0c1) = Handshake::start(0, &mut || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    });
    let lost = |e: io::Error| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => RtmpError::TimedOut {
            seconds: OPEN_TIMEOUT.as_secs(),
        },
        _ => RtmpError::Lost(format!("during the handshake: {}", e.kind())),
    };
    set_timeout(transport.tcp(), deadline)?;
    transport.write_all(&c0c1).map_err(lost)?;
    let mut buf = vec![0u8; 4096];
    loop {
        set_timeout(transport.tcp(), deadline)?;
        let n = transport.read(&mut buf).map_err(lost)?;
        if n == 0 {
            return Err(RtmpError::Lost(
                "the server hung up during the handshake".into(),
            ));
        }
        if let Some(done) = hs.feed(&buf[..n])? {
            transport.write_all(&done.c2).map_err(lost)?;
            return Ok(done.leftover);
        }
    }
}

fn io_error(e: io::Error, publisher: &Publisher) -> RtmpError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => RtmpError::TimedOut {
            seconds: OPEN_TIMEOUT.as_secs(),
        },
        // nginx refuses a key by closing the connection, sometimes with a reset.
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => publisher.closed().into(),
        _ => RtmpError::Lost(e.kind().to_string()),
    }
}

enum Outbound {
    Bytes(Vec<u8>),
    /// Say goodbye and close.
    Close,
}

/// A published connection. Media is chunked on the caller's thread and
/// written by the I/O thread; `backlog_bytes` says how far writing is behind.
pub struct LiveConnection {
    stream_id: u32,
    media_writer: ChunkWriter,
    outbound: Sender<Outbound>,
    backlog: Arc<AtomicUsize>,
    kernel_unsent: Arc<AtomicUsize>,
    /// TCP's smoothed round trip, in µs (0 until known).
    rtt_us: Arc<AtomicU32>,
    sent: Arc<AtomicU64>,
    failure: Arc<Mutex<Option<RtmpError>>>,
    thread: Option<JoinHandle<()>>,
}

impl LiveConnection {
    fn spawn(transport: Transport, publisher: Publisher, control_writer: ChunkWriter) -> Self {
        let (tx, rx) = unbounded();
        let backlog = Arc::new(AtomicUsize::new(0));
        let sent = Arc::new(AtomicU64::new(0));
        let kernel_unsent = Arc::new(AtomicUsize::new(0));
        let rtt_us = Arc::new(AtomicU32::new(0));
        let failure = Arc::new(Mutex::new(None));
        let mut media_writer = ChunkWriter::new();
        media_writer.set_chunk_size(CHUNK_SIZE as usize);
        let stream_id = publisher.stream_id();
        let io = IoLoop {
            transport,
            publisher,
            writer: control_writer,
            outbound: rx,
            backlog: backlog.clone(),
            kernel_unsent: kernel_unsent.clone(),
            rtt_us: rtt_us.clone(),
            sent: sent.clone(),
        };
        let failure_slot = failure.clone();
        let thread = std::thread::Builder::new()
            .name("onair-rtmp-io".into())
            .spawn(move || {
                if let Err(e) = io.run() {
                    *failure_slot.lock().unwrap() = Some(e);
                }
            })
            .expect("spawn RTMP I/O thread");
        LiveConnection {
            stream_id,
            media_writer,
            outbound: tx,
            backlog,
            kernel_unsent,
            rtt_us,
            sent,
            failure,
            thread: Some(thread),
        }
    }

    /// Queues one media or data message on the published stream.
    pub fn send(&mut self, type_id: u8, timestamp_ms: u32, payload: Vec<u8>) {
        let message = Message::new(type_id, self.stream_id, timestamp_ms, payload);
        let mut bytes = Vec::with_capacity(message.payload.len() + 64);
        self.media_writer.write(&message, &mut bytes);
        self.backlog.fetch_add(bytes.len(), Ordering::Relaxed);
        let _ = self.outbound.send(Outbound::Bytes(bytes));
    }

    /// Bytes queued but not yet sent: ours, plus what waits in the kernel.
    pub fn backlog_bytes(&self) -> usize {
        self.backlog.load(Ordering::Relaxed) + self.kernel_unsent.load(Ordering::Relaxed)
    }

    /// TCP's smoothed round trip, once the kernel has measured one.
    pub fn round_trip(&self) -> Option<Duration> {
        match self.rtt_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us.into())),
        }
    }

    /// Media bytes written to the socket so far.
    pub fn sent_bytes(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Why the connection died, once it has.
    pub fn failure(&self) -> Option<RtmpError> {
        if let Some(e) = self.failure.lock().unwrap().clone() {
            return Some(e);
        }
        match &self.thread {
            Some(t) if t.is_finished() => Some(RtmpError::Publish(PublishError::Closed)),
            _ => None,
        }
    }

    /// Flushes what is queued, unpublishes and closes.
    pub fn close(mut self) {
        let _ = self.outbound.send(Outbound::Close);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for LiveConnection {
    fn drop(&mut self) {
        // Dropping the sender ends the I/O thread, which closes the socket.
        let _ = self.outbound.send(Outbound::Close);
    }
}

struct IoLoop {
    transport: Transport,
    publisher: Publisher,
    writer: ChunkWriter,
    outbound: Receiver<Outbound>,
    backlog: Arc<AtomicUsize>,
    kernel_unsent: Arc<AtomicUsize>,
    rtt_us: Arc<AtomicU32>,
    sent: Arc<AtomicU64>,
}

/// A broken connection in words: a write that stalled or a link that
/// acknowledged nothing (TCP_USER_TIMEOUT) both mean the server stopped
/// taking data, which "operation would block" does not say.
fn lost(e: io::Error) -> RtmpError {
    let silent_for = match e.kind() {
        io::ErrorKind::WouldBlock => STALLED_WRITE,
        io::ErrorKind::TimedOut => DEAD_LINK,
        kind => return RtmpError::Lost(kind.to_string()),
    };
    RtmpError::Lost(format!(
        "the server took no data for {} s",
        silent_for.as_secs()
    ))
}

/// A read that found nothing within its 1 ms timeout. On Linux that is
/// EAGAIN: ETIMEDOUT there is TCP_USER_TIMEOUT giving up on the link.
fn found_nothing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
        || (cfg!(not(target_os = "linux")) && e.kind() == io::ErrorKind::TimedOut)
}

impl IoLoop {
    fn run(mut self) -> Result<(), RtmpError> {
        let tcp = self.transport.tcp();
        let _ = tcp.set_write_timeout(Some(STALLED_WRITE));
        // Reads only look for what arrived; they must not hold up writing.
        let _ = tcp.set_read_timeout(Some(Duration::from_millis(1)));
        let mut buf = vec![0u8; 16 * 1024];
        let mut last_read = Instant::now();
        loop {
            match self.outbound.recv_timeout(READ_EVERY) {
                Ok(Outbound::Bytes(bytes)) => {
                    let result = self.transport.write_all(&bytes);
                    self.backlog.fetch_sub(bytes.len(), Ordering::Relaxed);
                    self.sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    result.map_err(lost)?;
                }
                Ok(Outbound::Close) | Err(RecvTimeoutError::Disconnected) => {
                    self.goodbye();
                    return Ok(());
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if last_read.elapsed() < READ_EVERY {
                continue;
            }
            last_read = Instant::now();
            self.kernel_unsent
                .store(self.transport.kernel_unsent(), Ordering::Relaxed);
            if let Some(stats) = tcp_stats(self.transport.tcp()) {
                let us = stats.rtt.as_micros().clamp(1, u32::MAX as u128) as u32;
                self.rtt_us.store(us, Ordering::Relaxed);
            }
            match self.transport.read(&mut buf) {
                Ok(0) => return Err(self.publisher.closed().into()),
                Ok(n) => {
                    let reaction = self.publisher.receive(&buf[..n])?;
                    let mut out = Vec::new();
                    for message in reaction.send {
                        self.writer.write(&message, &mut out);
                    }
                    self.transport.write_all(&out).map_err(lost)?;
                }
                Err(e) if found_nothing(&e) => {}
                Err(e) => return Err(lost(e)),
            }
        }
    }

    fn goodbye(&mut self) {
        // Whatever media is still queued goes out first.
        while let Ok(Outbound::Bytes(bytes)) = self.outbound.try_recv() {
            if self.transport.write_all(&bytes).is_err() {
                break;
            }
            self.backlog.fetch_sub(bytes.len(), Ordering::Relaxed);
        }
        let mut out = Vec::new();
        for message in self.publisher.unpublish() {
            self.writer.write(&message, &mut out);
        }
        let _ = self.transport.write_all(&out);
        let _ = self.transport.flush();
        self.transport.shutdown();
    }
}
