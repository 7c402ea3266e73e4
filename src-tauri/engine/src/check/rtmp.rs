//! The link check over RTMP: connect to the application as a publisher
//! would, stop before a stream exists (no createStream, no key), then keep
//! the connection busy with a command no server acts on and read from the
//! kernel what the server acknowledged.

use std::io::Write;
use std::time::{Duration, Instant};

use super::estimate::Sample;
use super::{Measured, LOAD, SAMPLE_EVERY};
use crate::cancel::Cancel;
use crate::flv::amf0::Amf0;
use crate::net::tcp_info::tcp_stats;
use crate::rtmp::connection::open_unpublished;
use crate::rtmp::error::RtmpError;
use crate::rtmp::message::Message;
use crate::rtmp::url::RtmpUrl;

/// At most this much waits unsent in the kernel: enough to keep any path
/// busy, little enough that the check ends when it says it does.
const UNSENT_AT_MOST: usize = 128 * 1024;
/// A write that makes no progress for this long: the link died.
const STALLED_WRITE: Duration = Duration::from_secs(8);
/// The filler command's name: ignored by servers that do not know it
/// (nginx-rtmp, for one, logs it at debug level and reads on).
const FILLER_COMMAND: &str = "onairLinkCheck";
const FILLER_BYTES: usize = 60_000;

pub enum Failure {
    Rtmp(RtmpError),
    /// This system does not say what TCP acknowledged.
    NoTcpInfo,
    Cancelled,
}

impl From<RtmpError> for Failure {
    fn from(e: RtmpError) -> Self {
        Failure::Rtmp(e)
    }
}

/// Sends for `LOAD`, never faster than `ceiling_kbps`, and reads what arrived.
pub fn measure(url: &RtmpUrl, ceiling_kbps: u32, cancel: &Cancel) -> Result<Measured, Failure> {
    let (mut transport, mut writer) = open_unpublished(url)?;
    let idle = tcp_stats(transport.tcp()).ok_or(Failure::NoTcpInfo)?;
    let _ = transport.tcp().set_write_timeout(Some(STALLED_WRITE));
    let filler = Message::command(
        0,
        &[
            Amf0::String(FILLER_COMMAND.into()),
            Amf0::Number(0.0),
            Amf0::Null,
            Amf0::String("o".repeat(FILLER_BYTES)),
        ],
    );
    // The first write carries a full header; every later one is the same
    // compressed header and payload.
    let mut first = Vec::new();
    writer.write(&filler, &mut first);
    let mut again = Vec::new();
    writer.write(&filler, &mut again);

    let start = Instant::now();
    let bytes_per_s = f64::from(ceiling_kbps) * 1000.0 / 8.0;
    let mut samples = vec![Sample {
        at: Duration::ZERO,
        acked: 0,
    }];
    let mut next_sample = SAMPLE_EVERY;
    let mut written = 0usize;
    let result = loop {
        if cancel.is_cancelled() {
            break Err(Failure::Cancelled);
        }
        let at = start.elapsed();
        if at >= next_sample {
            let Some(now) = tcp_stats(transport.tcp()) else {
                break Err(Failure::NoTcpInfo);
            };
            samples.push(Sample {
                at,
                acked: now.bytes_acked.saturating_sub(idle.bytes_acked),
            });
            next_sample += SAMPLE_EVERY;
        }
        if at >= LOAD {
            break Ok(());
        }
        let allowed = bytes_per_s * at.as_secs_f64() + first.len() as f64;
        if written as f64 > allowed || transport.kernel_unsent() > UNSENT_AT_MOST {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let bytes = if written == 0 { &first } else { &again };
        if let Err(e) = transport.write_all(bytes) {
            break Err(Failure::Rtmp(RtmpError::Lost(e.kind().to_string())));
        }
        written += bytes.len();
    };
    let loaded = tcp_stats(transport.tcp());
    transport.shutdown();
    result?;
    Ok(Measured {
        samples,
        idle_rtt: idle.min_rtt,
        loaded_rtt: loaded.map_or(idle.rtt, |s| s.rtt),
    })
}
