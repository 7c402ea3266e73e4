//! The link check: before Go Live, what the path to a destination's ingest
//! carries and how long a round trip takes, measured without going public,
//! and the size and bitrate that fit it with headroom.
//!
//! What each protocol allows without publishing: RTMP connects to the
//! application and stops before a stream exists (the key never leaves this
//! computer), then fills the connection with a command servers ignore.
//! LiveKit and WHIP have no such step: a WebRTC bandwidth estimate needs
//! media flowing in a joined session, which viewers and the platform see,
//! so the check refuses them and says why.

pub mod estimate;
mod rtmp;

use std::time::Instant;

use serde::Serialize;

use crate::cancel::Cancel;
use crate::destination::Destination;
use crate::error::{ErrorCode, OnairError};
use crate::preset::Preset;
use crate::redact::redact_url;
use crate::rtmp::url::RtmpUrl;
use estimate::{carried_kbps, propose, Proposal, Wanted, HEADROOM, TOO_SLOW_KBPS};

/// The check offers at most this much more than the stream wants (and at
/// least `FLOOR_KBPS`): enough to see the headroom, never a flood.
const OFFER_FACTOR: u32 = 2;
const FLOOR_KBPS: u32 = 8000;
/// Readings before this are TCP finding its pace.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(1);

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

/// Checks DEST, a saved destination or a URL, for a stream of `width` x
/// `height` at `fps` and `video_kbps` (with the session's usual sound). Only
/// where it goes is read: the keychain is not asked, and no key is sent.
pub fn check_destination(
    dest: &str,
    (width, height): (u32, u32),
    fps: u32,
    video_kbps: u32,
    cancel: &Cancel,
) -> Result<LinkReport, OnairError> {
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
    check_link(&located.destination, preset, wanted, cancel)
}

pub fn check_link(
    destination: &Destination,
    preset: Option<&Preset>,
    wanted: Wanted,
    cancel: &Cancel,
) -> Result<LinkReport, OnairError> {
    let started = Instant::now();
    let url = match destination {
        Destination::Rtmp(url) => url,
        Destination::LiveKit(_) | Destination::Whip(_) => {
            return Err(OnairError::new(
                ErrorCode::InvalidDestination,
                "The link check measures RTMP and RTMPS ingests. LiveKit and WHIP can only measure a link with media flowing in a joined session, which viewers would see; Go Live shows that link's health instead.",
            ))
        }
        Destination::File(_) => {
            return Err(OnairError::new(
                ErrorCode::InvalidDestination,
                "A recording has no link to check.",
            ))
        }
    };
    let shown = redact_url(url);
    let parsed = RtmpUrl::parse(url, true).map_err(|e| {
        OnairError::new(
            ErrorCode::InvalidDestination,
            format!(
                "The RTMP URL {shown} cannot be used: {e}. It should look like rtmp://host/app."
            ),
        )
    })?;
    let offered = ((wanted.video_kbps + wanted.audio_kbps) * OFFER_FACTOR).max(FLOOR_KBPS);
    let measured = rtmp::measure(&parsed, offered, cancel).map_err(|failure| match failure {
        rtmp::Failure::Rtmp(e) => e.to_onair(&shown),
        rtmp::Failure::NoTcpInfo => OnairError::new(
            ErrorCode::Internal,
            "This system does not report what a connection delivered, so the link check cannot measure here.",
        ),
        rtmp::Failure::Cancelled => OnairError::new(ErrorCode::Internal, "The link check was stopped."),
    })?;
    let carried = carried_kbps(&measured.samples, SETTLE).ok_or_else(|| {
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
        sentence: sentence(&report, &parsed.host, preset),
        ..report
    })
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
