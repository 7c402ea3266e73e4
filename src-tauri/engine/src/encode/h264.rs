//! H.264 with openh264: bitrate rate control, a keyframe every two seconds and
//! on request, the colour space in the VUI. One whole access unit per frame.

use std::sync::Arc;

use openh264::encoder::{
    BitRate, EncoderConfig, FrameRate, IntraFramePeriod, RateControlMode, UsageType,
};

use super::openh264_raw::{Complexity, Entropy, Params, Picture, RawEncoder};
#[cfg(feature = "x264")]
use super::x264::X264Encoder;
use super::{EncodeError, VideoEncoder};
use crate::colour::Colour;
use crate::media::{EncodedVideo, VideoFrame};

pub const KEYFRAME_INTERVAL_S: u32 = 2;

#[derive(Debug, Clone, Copy)]
pub struct H264Settings {
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// The colour space the pictures were made in, signalled in the VUI.
    pub colour: Colour,
}

impl H264Settings {
    /// What a session's encoder is set to.
    pub fn params(&self) -> Params {
        Params {
            fps: self.fps,
            bitrate_kbps: self.bitrate_kbps,
            colour: self.colour,
            keyframe_interval_frames: self.fps * KEYFRAME_INTERVAL_S,
            complexity: Complexity::Medium,
            entropy: Entropy::Cavlc,
            ref_frames: None,
            adaptive_quant: true,
            background_detection: true,
            long_term_reference: false,
        }
    }

    /// The nearest the `openh264` crate's own encoder comes to `params()`
    /// (benchmarks compare the engine's path with it).
    pub fn encoder_config(&self) -> EncoderConfig {
        EncoderConfig::new()
            .bitrate(BitRate::from_bps(self.bitrate_kbps * 1000))
            .max_frame_rate(FrameRate::from_hz(self.fps as f32))
            .rate_control_mode(RateControlMode::Bitrate)
            .usage_type(UsageType::CameraVideoRealTime)
            // Never skip: a skipped frame is a lost frame for the viewer.
            .skip_frames(false)
            // Keyframes on the 2 s cadence ingest servers and HLS packagers
            // expect, not at every cut or flash (the test pattern's once a
            // second doubled them); a keyframe on request still comes at once.
            .scene_change_detect(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(
                self.fps * KEYFRAME_INTERVAL_S,
            ))
            // Players guess the matrix of an untagged stream (and guess
            // differently): say which one the pictures are in.
            .vui(self.colour.vui())
    }
}

/// Which library makes the H.264: openh264 (BSD) always; x264 (GPL) only in
/// a build with the `x264` feature, and then for every session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implementation {
    OpenH264,
    #[cfg(feature = "x264")]
    X264,
}

impl Implementation {
    #[cfg(feature = "x264")]
    pub const BUILT_IN: Implementation = Implementation::X264;
    #[cfg(not(feature = "x264"))]
    pub const BUILT_IN: Implementation = Implementation::OpenH264;

    /// What `--version` says of the encoder: the licence matters to
    /// whoever passes the binary on.
    pub fn version_note(self) -> &'static str {
        match self {
            Implementation::OpenH264 => "H.264: openh264",
            #[cfg(feature = "x264")]
            Implementation::X264 => "H.264: x264; this build is under the GPL",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Implementation::OpenH264 => "openh264",
            #[cfg(feature = "x264")]
            Implementation::X264 => "x264",
        }
    }

    /// By name, if this build has it.
    pub fn named(name: &str) -> Option<Implementation> {
        [
            Implementation::OpenH264,
            #[cfg(feature = "x264")]
            Implementation::X264,
        ]
        .into_iter()
        .find(|i| i.name() == name)
    }
}

enum Backend {
    OpenH264(RawEncoder),
    #[cfg(feature = "x264")]
    X264(X264Encoder),
}

pub struct H264Encoder {
    encoder: Backend,
    keyframe_requested: bool,
}

impl H264Encoder {
    pub fn new(settings: H264Settings) -> Result<Self, EncodeError> {
        Self::with_params(settings.params())
    }

    pub fn with_params(params: Params) -> Result<Self, EncodeError> {
        Self::with_implementation(params, Implementation::BUILT_IN)
    }

    pub fn with_implementation(
        params: Params,
        implementation: Implementation,
    ) -> Result<Self, EncodeError> {
        Ok(H264Encoder {
            encoder: match implementation {
                Implementation::OpenH264 => Backend::OpenH264(RawEncoder::new(params)?),
                #[cfg(feature = "x264")]
                Implementation::X264 => Backend::X264(X264Encoder::new(params)),
            },
            keyframe_requested: false,
        })
    }
}

impl VideoEncoder for H264Encoder {
    fn encode(
        &mut self,
        frame: &VideoFrame,
        pts_us: i64,
    ) -> Result<Vec<EncodedVideo>, EncodeError> {
        self.encode_all(frame, pts_us)
    }

    fn held(&self) -> usize {
        match &self.encoder {
            Backend::OpenH264(_) => 0,
            #[cfg(feature = "x264")]
            Backend::X264(encoder) => encoder.held(),
        }
    }

    fn flush(&mut self) -> Result<Vec<EncodedVideo>, EncodeError> {
        match &mut self.encoder {
            Backend::OpenH264(_) => Ok(Vec::new()),
            #[cfg(feature = "x264")]
            Backend::X264(encoder) => Ok(timed_units(encoder.flush()?)),
        }
    }

    fn request_keyframe(&mut self) {
        self.keyframe_requested = true;
    }

    fn set_bitrate(&mut self, kbps: u32) -> Result<(), EncodeError> {
        self.set_target(kbps)
    }
}

impl H264Encoder {
    /// The pictures ready after this one went in: one, except that an
    /// encoder reordering for B-frames gives none while it fills up, and
    /// all it held when the picture size changes.
    pub fn encode_all(
        &mut self,
        frame: &VideoFrame,
        pts_us: i64,
    ) -> Result<Vec<EncodedVideo>, EncodeError> {
        let force = std::mem::take(&mut self.keyframe_requested);
        match &mut self.encoder {
            Backend::OpenH264(encoder) => {
                if force {
                    encoder.force_keyframe();
                }
                Ok(encoder
                    .encode(frame)?
                    .map(|picture| unit(picture, pts_us, pts_us))
                    .into_iter()
                    .collect())
            }
            #[cfg(feature = "x264")]
            Backend::X264(encoder) => {
                if force {
                    encoder.force_keyframe();
                }
                Ok(timed_units(encoder.encode(frame, pts_us)?))
            }
        }
    }

    /// For callers that never ask for B-frames (simulcast layers are
    /// Constrained Baseline): the one picture out, if any.
    pub fn encode_one(
        &mut self,
        frame: &VideoFrame,
        pts_us: i64,
    ) -> Result<Option<EncodedVideo>, EncodeError> {
        let mut out = self.encode_all(frame, pts_us)?;
        debug_assert!(out.len() <= 1, "a reordering encoder behind encode_one");
        Ok(out.pop())
    }

    pub fn set_target(&mut self, kbps: u32) -> Result<(), EncodeError> {
        match &mut self.encoder {
            Backend::OpenH264(encoder) => encoder.set_bitrate(kbps),
            #[cfg(feature = "x264")]
            Backend::X264(encoder) => encoder.set_bitrate(kbps),
        }
    }
}

fn unit(picture: Picture, pts_us: i64, dts_us: i64) -> EncodedVideo {
    EncodedVideo {
        layer: 0,
        data: Arc::new(picture.data),
        keyframe: picture.keyframe,
        pts_us,
        dts_us,
    }
}

#[cfg(feature = "x264")]
fn timed_units(timed: Vec<super::x264::Timed>) -> Vec<EncodedVideo> {
    timed
        .into_iter()
        .map(|t| unit(t.picture, t.pts_us, t.dts_us))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MediaClock;
    use crate::source::test_pattern::TestPattern;
    use crate::source::VideoSource;

    fn every_implementation() -> Vec<Implementation> {
        vec![
            Implementation::OpenH264,
            #[cfg(feature = "x264")]
            Implementation::X264,
        ]
    }

    fn encoder(implementation: Implementation, entropy: Entropy, kbps: u32) -> H264Encoder {
        let settings = H264Settings {
            fps: 30,
            bitrate_kbps: kbps,
            colour: Colour::Bt601,
        };
        H264Encoder::with_implementation(settings.params().with_entropy(entropy), implementation)
            .unwrap()
    }

    /// The profile_idc of the first SPS in an Annex B access unit.
    fn sps_profile(unit: &[u8]) -> Option<u8> {
        unit.windows(5)
            .find(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 7)
            .map(|w| w[4])
    }

    #[test]
    fn keyframes_come_every_two_seconds_even_when_the_picture_flashes() {
        for implementation in every_implementation() {
            let mut encoder = encoder(implementation, Entropy::Cavlc, 500);
            // The pattern flashes white once a second: a cut, to an encoder.
            let mut pattern = TestPattern::new(320, 180, 30, MediaClock::start());
            let mut keyframes = Vec::new();
            for n in 0..130 {
                let frame = pattern.next_frame().unwrap();
                if n == 100 {
                    encoder.request_keyframe();
                }
                let out = encoder.encode(&frame, n * 33_333).unwrap();
                // One picture out for each picture in: no look-ahead delay.
                assert_eq!(out.len(), 1, "{implementation:?} frame {n}");
                if out[0].keyframe {
                    keyframes.push(n);
                }
            }
            // A keyframe asked for starts the two seconds again.
            assert_eq!(keyframes, vec![0, 60, 100], "{implementation:?}");
        }
    }

    #[test]
    fn cabac_is_high_profile_and_cavlc_constrained_baseline() {
        for implementation in every_implementation() {
            for (entropy, profile) in [(Entropy::Cavlc, 66), (Entropy::Cabac, 100)] {
                let mut encoder = encoder(implementation, entropy, 500);
                let mut pattern = TestPattern::new(320, 180, 30, MediaClock::start());
                let frame = pattern.next_frame().unwrap();
                let mut out = encoder.encode_all(&frame, 0).unwrap();
                out.extend(encoder.flush().unwrap());
                let out = &out[0];
                assert!(out.keyframe);
                assert_eq!(
                    sps_profile(&out.data),
                    Some(profile),
                    "{implementation:?} {entropy:?}"
                );
            }
        }
    }

    #[test]
    fn a_new_size_starts_with_a_keyframe_at_that_size() {
        for implementation in every_implementation() {
            let mut encoder = encoder(implementation, Entropy::Cabac, 500);
            let mut big = TestPattern::new(320, 180, 30, MediaClock::start());
            let mut small = TestPattern::new(160, 90, 30, MediaClock::start());
            let mut out = Vec::new();
            for n in 0..5 {
                out.extend(encoder.encode_all(&big.next_frame().unwrap(), n).unwrap());
            }
            out.extend(encoder.encode_all(&small.next_frame().unwrap(), 5).unwrap());
            out.extend(encoder.flush().unwrap());
            // Every picture of the old size came out, then the new size's
            // first is a keyframe.
            assert_eq!(out.len(), 6, "{implementation:?}");
            let first_small = out.iter().find(|v| v.pts_us == 5).unwrap();
            assert!(first_small.keyframe, "{implementation:?}");
        }
    }

    #[test]
    fn a_lower_bitrate_takes_effect_while_running() {
        for implementation in every_implementation() {
            let mut encoder = encoder(implementation, Entropy::Cabac, 3000);
            // Grain over grey: the more bits it is allowed, the more of it
            // the encoder keeps.
            let mut seed = 1u32;
            let mut noise = |n: u64| {
                let data: Vec<u8> = (0..320 * 180 * 3 / 2)
                    .map(|_| {
                        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        112 + (seed >> 27) as u8
                    })
                    .collect();
                VideoFrame {
                    width: 320,
                    height: 180,
                    data: Arc::new(data),
                    capture_us: n * 33_333,
                }
            };
            let mut bytes = |encoder: &mut H264Encoder, range: std::ops::Range<u64>| -> usize {
                range
                    .map(|n| {
                        let frame = noise(n);
                        let out = encoder.encode_all(&frame, n as i64).unwrap();
                        out.iter().map(|v| v.data.len()).sum::<usize>()
                    })
                    .sum()
            };
            let before = bytes(&mut encoder, 1..60);
            encoder.set_bitrate(600).unwrap();
            bytes(&mut encoder, 60..75);
            let after = bytes(&mut encoder, 75..120);
            let kbps = |bytes: usize, frames: f64| bytes as f64 * 8.0 * 30.0 / frames / 1000.0;
            let (before, after) = (kbps(before, 59.0), kbps(after, 45.0));
            assert!(
                before > 1500.0 && after < 900.0,
                "{implementation:?}: {before:.0} then {after:.0} kbit/s"
            );
        }
    }
}
