//! The link check over LiveKit: join the room publishing nothing and
//! subscribing to nothing, fill the ordered data channel with packets
//! addressed to no one (the server reads and drops them), and read how fast
//! SCTP's congestion control gets them acknowledged. The round trip is the
//! signal connection's ping, empty and then with the load queued.

use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::estimate::Sample;
use super::{Measured, LOAD, SAMPLE_EVERY};
use crate::cancel::Cancel;
use crate::livekit::client::Unpublished;
use crate::livekit::data::filler_packet;
use crate::livekit::error::LiveKitError;
use crate::peer::publisher::wait_until_open;
use crate::peer::PeerError;
use crate::secret::Secret;

/// LiveKit's advice for reliable data: messages of at most 15 KiB.
const FILLER_BYTES: usize = 15_000;
/// At most this much waits unacknowledged: enough to fill any path.
const OUTSTANDING_AT_MOST: usize = 256 * 1024;
/// The data channel opens right after ICE; this is generous.
const OPEN_BUDGET: Duration = Duration::from_secs(10);
/// The empty path's round trip is the least of a few pings.
const IDLE_PINGS: usize = 3;
/// The loaded ping goes once the queue has had time to fill.
const LOADED_PING_AFTER: Duration = Duration::from_millis(2500);

pub enum Failure {
    LiveKit(LiveKitError),
    Cancelled,
}

impl From<LiveKitError> for Failure {
    fn from(e: LiveKitError) -> Self {
        Failure::LiveKit(e)
    }
}

impl From<PeerError> for Failure {
    fn from(e: PeerError) -> Self {
        Failure::LiveKit(e.into())
    }
}

pub async fn measure(
    url: &str,
    token: &Secret,
    ceiling_kbps: u32,
    cancel: &Cancel,
) -> Result<Measured, Failure> {
    let mut joined = Unpublished::join(url, token).await?;
    let result = measure_joined(&mut joined, ceiling_kbps, cancel).await;
    joined.leave().await;
    result
}

async fn measure_joined(
    joined: &mut Unpublished,
    ceiling_kbps: u32,
    cancel: &Cancel,
) -> Result<Measured, Failure> {
    let channel = joined.channel().ok_or(LiveKitError::Interrupted(
        "the server negotiated no data channel".into(),
    ))?;
    wait_until_open(channel.as_ref(), tokio::time::Instant::now() + OPEN_BUDGET).await?;
    let mut idle_rtt = Duration::MAX;
    for _ in 0..IDLE_PINGS {
        idle_rtt = idle_rtt.min(joined.round_trip().await?);
    }
    let fill = fill(channel.as_ref(), ceiling_kbps, cancel);
    let loaded_ping = async {
        tokio::time::sleep(LOADED_PING_AFTER).await;
        joined.round_trip().await
    };
    let (samples, loaded_rtt) = tokio::join!(fill, loaded_ping);
    Ok(Measured {
        samples: samples?,
        idle_rtt,
        loaded_rtt: loaded_rtt?,
    })
}

/// Sends for `LOAD`, never faster than `ceiling_kbps`, sampling what SCTP
/// has had acknowledged.
async fn fill(
    channel: &dyn webrtc::data_channel::DataChannel,
    ceiling_kbps: u32,
    cancel: &Cancel,
) -> Result<Vec<Sample>, Failure> {
    let packet = BytesMut::from(filler_packet(FILLER_BYTES).as_slice());
    let bytes_per_s = f64::from(ceiling_kbps) * 1000.0 / 8.0;
    let start = Instant::now();
    let mut samples = vec![Sample {
        at: Duration::ZERO,
        acked: 0,
    }];
    let mut next_sample = SAMPLE_EVERY;
    let mut sent = 0usize;
    loop {
        if cancel.is_cancelled() {
            return Err(Failure::Cancelled);
        }
        let outstanding = channel.outstanding_bytes().await.map_err(PeerError::from)?;
        let at = start.elapsed();
        if at >= next_sample {
            samples.push(Sample {
                at,
                acked: sent.saturating_sub(outstanding) as u64,
            });
            next_sample += SAMPLE_EVERY;
        }
        if at >= LOAD {
            return Ok(samples);
        }
        let allowed = bytes_per_s * at.as_secs_f64() + packet.len() as f64;
        if sent as f64 > allowed || outstanding > OUTSTANDING_AT_MOST {
            tokio::time::sleep(Duration::from_millis(2)).await;
            continue;
        }
        channel
            .send(packet.clone())
            .await
            .map_err(PeerError::from)?;
        sent += packet.len();
    }
}
