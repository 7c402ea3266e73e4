//! From what a link carried to what to send over it. Pure: the readings
//! come in as numbers, so tests drive every case without a socket.

use std::time::Duration;

use serde::Serialize;

use crate::preset::VideoLimits;

/// The share of what was measured a stream may use: the rest is room for
/// the link's own ups and downs and for whatever else shares it.
pub const HEADROOM: f64 = 0.8;

/// One reading of the connection while the check sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at: Duration,
    /// Bytes the server has acknowledged so far.
    pub acked: u64,
}

/// What the link carried once `settle` had passed (TCP's slow start and a
/// shaper's burst allowance are behind it by then): the slope of the
/// acknowledged bytes over the rest, in kbit/s. None when too little of the
/// check was left to judge.
pub fn carried_kbps(samples: &[Sample], settle: Duration) -> Option<f64> {
    let mut steady = samples.iter().filter(|s| s.at >= settle);
    let first = steady.next()?;
    let last = steady.next_back()?;
    let span = (last.at - first.at).as_secs_f64();
    (span >= 0.5).then(|| last.acked.saturating_sub(first.acked) as f64 * 8.0 / span / 1000.0)
}

/// What the creator asked for (or the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub video_kbps: u32,
    pub audio_kbps: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Proposal {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub video_kbps: u32,
    pub audio_kbps: u32,
}

impl Proposal {
    pub fn total_kbps(&self) -> u32 {
        self.video_kbps + self.audio_kbps
    }
}

/// Picture heights and the video bitrate each needs at 30 frames a second to
/// look clean with openh264 (at 60, half as much again).
const LADDER: [(u32, u32); 6] = [
    (1080, 4000),
    (720, 1800),
    (540, 1100),
    (480, 800),
    (360, 450),
    (240, 0),
];

/// Under this, a small picture still moves but will look poor.
pub const TOO_SLOW_KBPS: u32 = 300;

/// The size and bitrate that fit `carried_kbps` with headroom, within what
/// was asked for and what the platform takes.
pub fn propose(carried_kbps: f64, wanted: &Wanted, limits: Option<&VideoLimits>) -> Proposal {
    let budget = (carried_kbps * HEADROOM).floor().max(0.0) as u32;
    // Sound is the last thing to squeeze: only a very thin link takes it down.
    let audio_kbps = if budget >= 1000 {
        wanted.audio_kbps
    } else {
        wanted.audio_kbps.min(64)
    };
    let platform_kbps = limits.map_or(u32::MAX, |l| l.max_kbps);
    let video_kbps = budget
        .saturating_sub(audio_kbps)
        .min(wanted.video_kbps)
        .min(platform_kbps);
    let fps = wanted.fps.min(limits.map_or(u32::MAX, |l| l.max_fps));
    let tallest = wanted.height.min(limits.map_or(u32::MAX, |l| l.max_height));
    let needs = |kbps: u32| if fps > 30 { kbps * 3 / 2 } else { kbps };
    let height = LADDER
        .iter()
        .find(|&&(h, kbps)| h <= tallest && needs(kbps) <= video_kbps)
        .map_or(tallest.min(240), |&(h, _)| h);
    // The creator's shape, not the ladder's: a 4:3 camera stays 4:3.
    let width = ((u64::from(height) * u64::from(wanted.width) / u64::from(wanted.height.max(1)))
        as u32)
        & !1;
    Proposal {
        width,
        height,
        fps,
        video_kbps,
        audio_kbps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HD: Wanted = Wanted {
        width: 1280,
        height: 720,
        fps: 30,
        video_kbps: 2500,
        audio_kbps: 128,
    };

    fn ramp(kbps: f64, burst_bytes: u64) -> Vec<Sample> {
        (0..=40)
            .map(|i| {
                let at = Duration::from_millis(i * 100);
                Sample {
                    at,
                    acked: burst_bytes.min(i * 50_000) + (kbps * 125.0 * at.as_secs_f64()) as u64,
                }
            })
            .collect()
    }

    #[test]
    fn the_rate_is_read_after_the_start_so_a_burst_does_not_inflate_it() {
        // 200 kB of burst in the first 0.4 s, then 3000 kbit/s.
        let samples = ramp(3000.0, 200_000);
        let whole = samples.last().unwrap().acked as f64 * 8.0 / 4.0 / 1000.0;
        assert!(
            whole > 3300.0,
            "the burst shows over the whole check: {whole}"
        );
        let steady = carried_kbps(&samples, Duration::from_secs(1)).unwrap();
        assert!((steady - 3000.0).abs() < 1.0, "{steady}");
    }

    #[test]
    fn too_short_a_check_gives_no_rate() {
        let samples = ramp(3000.0, 0);
        assert_eq!(carried_kbps(&samples[..14], Duration::from_secs(1)), None);
        assert_eq!(carried_kbps(&[], Duration::ZERO), None);
    }

    #[test]
    fn the_proposal_keeps_a_fifth_spare_and_picks_the_size_that_fits() {
        for (carried, total, height) in [
            (3000.0, 2400, 720),
            (2880.0, 2304, 720),
            (1000.0, 800, 360),
            (600.0, 480, 240),
            (100_000.0, 2628, 720),
        ] {
            let p = propose(carried, &HD, None);
            assert_eq!(
                (p.total_kbps(), p.height),
                (total, height),
                "{carried}: {p:?}"
            );
            assert!(f64::from(p.total_kbps()) <= carried * HEADROOM, "{p:?}");
            let shape = f64::from(p.width) / f64::from(p.height);
            assert!((shape - 16.0 / 9.0).abs() < 0.02, "16:9 kept: {p:?}");
            assert_eq!(p.width % 2, 0);
        }
    }

    #[test]
    fn the_platform_and_the_request_bound_the_proposal() {
        let limits = VideoLimits {
            max_kbps: 6000,
            keyframe_seconds: 2,
            max_width: 1920,
            max_height: 1080,
            max_fps: 60,
        };
        let wanted = Wanted {
            width: 1920,
            height: 1080,
            fps: 60,
            video_kbps: 9000,
            audio_kbps: 160,
        };
        let p = propose(50_000.0, &wanted, Some(&limits));
        assert_eq!((p.video_kbps, p.height, p.fps), (6000, 1080, 60));
        // 60 frames a second need more bits for the same size.
        let p = propose(4000.0, &wanted, Some(&limits));
        assert_eq!((p.video_kbps, p.height), (3040, 720), "{p:?}");
        let four_three = Wanted {
            width: 640,
            height: 480,
            ..HD
        };
        let p = propose(50_000.0, &four_three, None);
        assert_eq!((p.width, p.height, p.video_kbps), (640, 480, 2500));
    }
}
