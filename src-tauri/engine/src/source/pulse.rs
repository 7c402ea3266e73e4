//! Microphones behind a PulseAudio server (or PipeWire's), read over the
//! server's own protocol instead of through cpal's PulseAudio host.
//!
//! cpal asks for a record queue exactly one fragment long, and the server
//! drops without a word any block that arrives while the one before is still
//! waiting to be sent: on an idle machine a 45 ms hole every 15 to 60 s (a
//! `parec` on the same source at the same time lost nothing). Here the queue
//! is as long as the server allows and the fragments are 10 ms.
//!
//! Capture times come from the server's accounting, not from when a block
//! arrives: each latency poll says which stream position was entering the
//! queue at that instant and how long the source had held it; every later
//! byte is counted from there.

use std::ffi::CString;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use futures::executor::block_on;
use pulseaudio::protocol;

use super::microphone::{DeviceBlock, DeviceMessage};
use crate::clock::MediaClock;

/// Fragments small enough that capture times stay sharp, large enough that
/// the server does not wake for every few samples.
const FRAGMENT: Duration = Duration::from_millis(10);
/// How often the server is asked where the stream stands.
const POLL_EVERY: Duration = Duration::from_millis(100);
const BYTES_PER_SAMPLE: usize = 4; // f32

/// One latency poll: the stream position entering the server's queue at
/// `at_us` (media clock) was captured `held_us` earlier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Anchor {
    pub at_us: u64,
    pub position: i64,
    pub held_us: u64,
}

impl Anchor {
    /// When the byte at stream position `position` was captured.
    pub fn capture_us(&self, position: i64, bytes_per_second: f64) -> f64 {
        self.at_us as f64 - self.held_us as f64
            + (position - self.position) as f64 * 1e6 / bytes_per_second
    }
}

/// Records `source` until `stop` says so, sending blocks and failures to
/// `tx`; `ready` hears once whether the stream started.
pub(super) fn record(
    source: &str,
    rate: u32,
    channels: u16,
    clock: MediaClock,
    tx: Sender<DeviceMessage>,
    ready: Sender<Result<(), String>>,
    stop: Receiver<()>,
) {
    let channels = channels.clamp(1, 2);
    let anchor = Arc::new(Mutex::new(None::<Anchor>));
    let stream = open(source, rate, channels, clock, tx.clone(), anchor.clone());
    let (_client, stream) = match stream {
        Ok(opened) => opened,
        Err(why) => {
            let _ = ready.send(Err(why));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    // Until the DeviceStream is dropped (stop disconnects), poll the server.
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(POLL_EVERY) {
        let asked_us = clock.now_us();
        let Ok(timing) = block_on(stream.timing_info()) else {
            let _ = tx.try_send(DeviceMessage::Failed);
            break;
        };
        // Half the round trip either way: the reply describes its middle.
        let at_us = asked_us + (clock.now_us() - asked_us) / 2;
        *anchor.lock().unwrap_or_else(|e| e.into_inner()) = Some(Anchor {
            at_us,
            position: timing.write_offset,
            held_us: timing.source_usec,
        });
    }
    let _ = block_on(stream.delete());
}

fn open(
    source: &str,
    rate: u32,
    channels: u16,
    clock: MediaClock,
    tx: Sender<DeviceMessage>,
    anchor: Arc<Mutex<Option<Anchor>>>,
) -> Result<(pulseaudio::Client, pulseaudio::RecordStream), String> {
    let client = pulseaudio::Client::from_env(c"Onair").map_err(|e| e.to_string())?;
    let bytes_per_second = (rate as usize * channels as usize * BYTES_PER_SAMPLE) as f64;
    let fragment = (bytes_per_second * FRAGMENT.as_secs_f64()) as u32;
    let params = protocol::RecordStreamParams {
        sample_spec: protocol::SampleSpec {
            format: protocol::SampleFormat::Float32Le,
            sample_rate: rate,
            channels: channels as u8,
        },
        channel_map: if channels == 1 {
            protocol::ChannelMap::mono()
        } else {
            protocol::ChannelMap::stereo()
        },
        source_name: Some(CString::new(source).map_err(|e| e.to_string())?),
        buffer_attr: protocol::stream::BufferAttr {
            // The server's largest queue: a late read waits, never loses.
            max_length: u32::MAX,
            fragment_size: fragment,
            ..Default::default()
        },
        flags: protocol::stream::StreamFlags {
            adjust_latency: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut received: i64 = 0;
    let on_data = move |bytes: &[u8]| {
        let arrived_us = clock.now_us();
        let samples: Vec<f32> = bytes
            .chunks_exact(BYTES_PER_SAMPLE)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let start = received;
        received += bytes.len() as i64;
        let latest = *anchor.lock().unwrap_or_else(|e| e.into_inner());
        // Until the first poll answers, arrival is the best guess.
        let captured_us = latest.map_or(arrived_us, |a| {
            a.capture_us(start, bytes_per_second).max(0.0) as u64
        });
        // A full queue means the reader is gone or stuck: drop, never block the server.
        let _ = tx.try_send(DeviceMessage::Block(DeviceBlock {
            samples,
            channels,
            arrived_us,
            captured_us,
        }));
    };
    let stream =
        block_on(client.create_record_stream(params, on_data)).map_err(|e| e.to_string())?;
    Ok((client, stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_times_count_on_from_the_latest_poll() {
        // 48 kHz stereo f32: 384 000 bytes a second.
        let anchor = Anchor {
            at_us: 10_000_000,
            position: 3_840_000,
            held_us: 20_000,
        };
        let rate = 384_000.0;
        // The position the server was queueing: captured when the source had it.
        assert_eq!(anchor.capture_us(3_840_000, rate), 9_980_000.0);
        // 10 ms of stream earlier or later: 10 ms of capture time.
        assert_eq!(anchor.capture_us(3_836_160, rate), 9_970_000.0);
        assert_eq!(anchor.capture_us(3_843_840, rate), 9_990_000.0);
    }
}
