//! The link check: before Go Live, what the path to a destination's ingest
//! carries and how long a round trip takes, measured without going public,
//! and the size and bitrate that fit it with headroom.
//!
//! What each protocol allows without publishing: RTMP connects to the
//! application and stops before a stream exists (the key never leaves this
//! computer), then fills the connection with a command servers ignore.
//! LiveKit joins the room publishing nothing and subscribing to nothing,
//! and fills its data channel with packets addressed to no one: hidden when
//! Onair mints the token, otherwise a participant without tracks for those
//! seconds. WHIP has no such step: its one request starts the stream, so
//! the check refuses it and says why.

pub mod estimate;
mod livekit;
mod rtmp;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cancel::Cancel;
use crate::destination::Destination;
use crate::error::{ErrorCode, OnairError};
use crate::keys::Resolved;
use crate::livekit::credentials::{ready_to_join, TokenSource};
use crate::preset::Preset;
use crate::redact::redact_url;
use crate::rtmp::url::RtmpUrl;
use estimate::{carried_kbps, propose, Proposal, Sample, Wanted, HEADROOM, TOO_SLOW_KBPS};

/// The check offers at most this much more than the stream wants (and at
/// least `FLOOR_KBPS`): enough to see the headroom, never a flood.
const OFFER_FACTOR: u32 = 2;
const FLOOR_KBPS: u32 = 8000;
/// How long the link is kept busy, and how often what arrived is read.
const LOAD: Duration = Duration::from_secs(4);
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// Readings before these are the transport finding its pace: TCP's slow
/// start; SCTP's, whose first loss on a full link costs it a retransmission
/// timer of at least a second (seen here from 0.8 to 1.7 s, every time).
const SETTLE_TCP: Duration = Duration::from_secs(1);
const SETTLE_SCTP: Duration = Duration::from_secs(2);
/// Joining, the load and leaving, with room for a slow server.
const LIVEKIT_BUDGET: Duration = Duration::from_secs(30);

/// What a protocol's check read off the link.
struct Measured {
    samples: Vec<Sample>,
    /// The round trip of the empty path.
    idle_rtt: Duration,
    /// The round trip with the check's load queued on the path.
    loaded_rtt: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LinkReport {
    /// The ingest, as shown (never a key).
    pub destination: String,
    /// What the path carried, in kbit/s.
    pub carried_kbps: u32,
    /// The path took all the check offered: it can carry at least that.
    pub at_least: bool,
    /// Round trip of the empty path, and with the check's load queued on it.
    pub rtt_ms: f64,
    pub loaded_rtt_ms: f64,
    pub proposal: Proposal,
    /// The proposal is too thin for a stream worth watching.
    pub too_slow: bool,
    /// How long the check took, Go to answer.
    pub seconds: f64,
    pub sentence: String,
}

/// Where the check goes, and what it needs to get in.
enum Ingest {
    Rtmp(RtmpUrl),
    LiveKit {
        url: String,
        source: TokenSource,
        room: Option<String>,
    },
}

/// Checks DEST, a saved destination or a URL, for a stream of `width` x
/// `height` at `fps` and `video_kbps` (with the session's usual sound). An
/// RTMP check reads only where it goes: the keychain is not asked, and no
/// key is sent. A LiveKit check joins the room, so it takes the saved
/// destination's token as Go Live would.
pub fn check_destination(
    dest: &str,
    (width, height): (u32, u32),
    fps: u32,
    video_kbps: u32,
    cancel: &Cancel,
) -> Result<LinkReport, OnairError> {
    let started = Instant::now();
    let located = crate::keys::locate(dest)?;
    let preset = located
        .saved
        .as_ref()
        .and_then(|s| s.options.preset.as_deref())
        .and_then(|id| crate::preset::find(id).ok());
    let wanted = Wanted {
        width,
        height,
        fps,
        video_kbps,
        audio_kbps: crate::session::SessionRequest::new(Vec::new()).audio_kbps,
    };
    let shown = redact_url(located.destination.url());
    let ingest = ingest(dest, located, &shown)?;
    let offered = ((wanted.video_kbps + wanted.audio_kbps) * OFFER_FACTOR).max(FLOOR_KBPS);
    let (host, settle, measured) = match ingest {
        Ingest::Rtmp(url) => (
            url.host.clone(),
            SETTLE_TCP,
            measure_rtmp(&url, offered, &shown, cancel)?,
        ),
        Ingest::LiveKit { url, source, room } => {
            let host = reqwest::Url::parse(&url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| shown.clone());
            let measured = measure_livekit(&url, &source, room.as_deref(), offered, cancel)?;
            (host, SETTLE_SCTP, measured)
        }
    };
    let carried = carried_kbps(&measured.samples, settle).ok_or_else(|| {
        OnairError::new(
            ErrorCode::Internal,
            "The link check ended before it could measure.",
        )
    })?;
    let at_least = carried >= 0.9 * f64::from(offered);
    let proposal = propose(carried, &wanted, preset.map(|p| &p.video));
    let report = LinkReport {
        destination: shown,
        carried_kbps: carried.round() as u32,
        at_least,
        rtt_ms: tenths_of_ms(measured.idle_rtt),
        loaded_rtt_ms: tenths_of_ms(measured.loaded_rtt),
        proposal,
        too_slow: proposal.video_kbps < TOO_SLOW_KBPS,
        seconds: started.elapsed().as_secs_f64(),
        sentence: String::new(),
    };
    Ok(LinkReport {
        sentence: sentence(&report, &host, preset),
        ..report
    })
}

/// What the check connects to; a LiveKit destination's token source comes
/// from the keychain, as Go Live's does.
fn ingest(dest: &str, located: Resolved, shown: &str) -> Result<Ingest, OnairError> {
    match located.destination {
        Destination::Rtmp(url) => RtmpUrl::parse(&url, true).map(Ingest::Rtmp).map_err(|e| {
            OnairError::new(
                ErrorCode::InvalidDestination,
                format!(
                    "The RTMP URL {shown} cannot be used: {e}. It should look like rtmp://host/app."
                ),
            )
        }),
        Destination::LiveKit(url) => {
            let Some(saved) = located.saved else {
                return Err(OnairError::new(
                    ErrorCode::KeyMissing,
                    "Checking a LiveKit link joins the room, which takes the destination's token: save it once (onair keys add NAME --url URL) and check it by name.",
                ));
            };
            if saved.platform.is_some() {
                return Err(OnairError::new(
                    ErrorCode::InvalidDestination,
                    format!("{}'s platform hands out its token only when you go live, so its link cannot be checked before; Go Live shows that link's health instead.", saved.name),
                ));
            }
            let resolved = crate::keys::resolve(dest)?;
            let room = saved.options.livekit.room.clone();
            let source =
                crate::session::prepare::livekit_source(&saved, resolved.secret)?.for_link_check();
            Ok(Ingest::LiveKit { url, source, room })
        }
        Destination::Whip(_) => Err(OnairError::new(
            ErrorCode::InvalidDestination,
            "A WHIP link cannot be checked without going public: WHIP's one request starts the stream. Go Live shows that link's health instead.",
        )),
        Destination::File(_) => Err(OnairError::new(
            ErrorCode::InvalidDestination,
            "A recording has no link to check.",
        )),
    }
}

fn measure_rtmp(
    url: &RtmpUrl,
    offered: u32,
    shown: &str,
    cancel: &Cancel,
) -> Result<Measured, OnairError> {
    rtmp::measure(url, offered, cancel).map_err(|failure| match failure {
        rtmp::Failure::Rtmp(e) => e.to_onair(shown),
        rtmp::Failure::NoTcpInfo => OnairError::new(
            ErrorCode::Internal,
            "This system does not report what a connection delivered, so the link check cannot measure here.",
        ),
        rtmp::Failure::Cancelled => stopped(),
    })
}

fn measure_livekit(
    url: &str,
    source: &TokenSource,
    room: Option<&str>,
    offered: u32,
    cancel: &Cancel,
) -> Result<Measured, OnairError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("onair-check")
        .enable_all()
        .build()
        .map_err(|e| OnairError::internal(format!("starting the network runtime: {e}")))?;
    runtime.block_on(async {
        let (url, token) = ready_to_join(url, source, room, false).await?;
        let measured = tokio::time::timeout(
            LIVEKIT_BUDGET,
            livekit::measure(&url, &token, offered, cancel),
        )
        .await
        .map_err(|_| {
            OnairError::new(
                ErrorCode::Unreachable,
                format!(
                    "The LiveKit server stopped answering: the link check could not finish within {} s.",
                    LIVEKIT_BUDGET.as_secs()
                ),
            )
        })?;
        measured.map_err(|failure| match failure {
            livekit::Failure::LiveKit(e) => e.to_onair(),
            livekit::Failure::Cancelled => stopped(),
        })
    })
}

fn stopped() -> OnairError {
    OnairError::new(ErrorCode::Internal, "The link check was stopped.")
}

fn tenths_of_ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

fn sentence(report: &LinkReport, host: &str, preset: Option<&Preset>) -> String {
    let mbit = |kbps: u32| format!("{:.1} Mbit/s", f64::from(kbps) / 1000.0);
    let carried = if report.at_least {
        format!(
            "at least {} (all the check offered)",
            mbit(report.carried_kbps)
        )
    } else {
        mbit(report.carried_kbps)
    };
    let p = &report.proposal;
    let ms = |v: f64| {
        if v < 1.0 {
            "under 1 ms".to_string()
        } else {
            format!("{v:.0} ms")
        }
    };
    let mut text = format!(
        "The path to {host} carried {carried}, with a round trip of {} ({} while full). ",
        ms(report.rtt_ms),
        ms(report.loaded_rtt_ms)
    );
    if report.too_slow {
        text += &format!(
            "That is too slow for a stream worth watching: at most {} kbit/s of video would fit. A wired connection, or pausing uploads on this network, helps.",
            p.video_kbps
        );
        return text;
    }
    let why = match preset {
        Some(preset) if p.video_kbps == preset.video.max_kbps => {
            format!("{}'s maximum", preset.name)
        }
        _ if !report.at_least
            && p.total_kbps() as f64 >= report.carried_kbps as f64 * HEADROOM - 1.0 =>
        {
            format!("{:.0} % of what it carried", HEADROOM * 100.0)
        }
        _ => "what you asked for, with room to spare".to_string(),
    };
    text += &format!(
        "Send {} kbit/s of video at {}x{}, {} frames a second, and {} kbit/s of sound: {why}.",
        p.video_kbps, p.width, p.height, p.fps, p.audio_kbps
    );
    text
}
