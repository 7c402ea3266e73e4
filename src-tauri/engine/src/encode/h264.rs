//! H.264 with openh264: Constrained Baseline, bitrate rate control, a keyframe
//! every two seconds and on request. One whole access unit per frame.

use std::sync::Arc;

use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, RateControlMode,
    UsageType,
};
use openh264::OpenH264API;
use openh264_sys2::{SBitrateInfo, ENCODER_OPTION_BITRATE, SPATIAL_LAYER_ALL};
use std::os::raw::c_int;

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

pub struct H264Encoder {
    encoder: Encoder,
    keyframe_requested: bool,
}

impl H264Encoder {
    pub fn new(settings: H264Settings) -> Result<Self, EncodeError> {
        Self::with_config(settings.encoder_config())
    }

    pub fn with_config(config: EncoderConfig) -> Result<Self, EncodeError> {
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| EncodeError::H264(e.to_string()))?;
        Ok(H264Encoder {
            encoder,
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
        Ok(self.encode_one(frame, pts_us)?.into_iter().collect())
    }

    fn request_keyframe(&mut self) {
        self.keyframe_requested = true;
    }

    fn set_bitrate(&mut self, kbps: u32) -> Result<(), EncodeError> {
        self.set_target(kbps)
    }
}

impl H264Encoder {
    pub fn encode_one(
        &mut self,
        frame: &VideoFrame,
        pts_us: i64,
    ) -> Result<Option<EncodedVideo>, EncodeError> {
        if std::mem::take(&mut self.keyframe_requested) {
            self.encoder.force_intra_frame();
        }
        let bitstream = self
            .encoder
            .encode(frame)
            .map_err(|e| EncodeError::H264(e.to_string()))?;
        let keyframe = match bitstream.frame_type() {
            FrameType::IDR | FrameType::I => true,
            FrameType::P | FrameType::IPMixed => false,
            FrameType::Skip | FrameType::Invalid => return Ok(None),
        };
        let data = bitstream.to_vec();
        if data.is_empty() {
            return Ok(None);
        }
        Ok(Some(EncodedVideo {
            layer: 0,
            data: Arc::new(data),
            keyframe,
            pts_us,
        }))
    }

    pub fn set_target(&mut self, kbps: u32) -> Result<(), EncodeError> {
        let mut info = SBitrateInfo {
            iLayer: SPATIAL_LAYER_ALL,
            iBitrate: (kbps * 1000) as c_int,
        };
        // SAFETY: the option id and the struct it points to match openh264's
        // ISVCEncoder::SetOption contract; `info` outlives the call.
        let status = unsafe {
            self.encoder.raw_api().set_option(
                ENCODER_OPTION_BITRATE,
                (&raw mut info).cast::<std::ffi::c_void>(),
            )
        };
        if status != 0 {
            return Err(EncodeError::H264(format!(
                "setting the bitrate to {kbps} kbps failed ({status})"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MediaClock;
    use crate::source::test_pattern::TestPattern;
    use crate::source::VideoSource;

    #[test]
    fn keyframes_come_every_two_seconds_even_when_the_picture_flashes() {
        let mut encoder = H264Encoder::new(H264Settings {
            fps: 30,
            bitrate_kbps: 500,
            colour: Colour::Bt601,
        })
        .unwrap();
        // The pattern flashes white once a second: a cut, to an encoder.
        let mut pattern = TestPattern::new(320, 180, 30, MediaClock::start());
        let mut keyframes = Vec::new();
        for n in 0..130 {
            let frame = pattern.next_frame().unwrap();
            for out in encoder.encode(&frame, n * 33_333).unwrap() {
                if out.keyframe {
                    keyframes.push(n);
                }
            }
        }
        assert_eq!(keyframes, vec![0, 60, 120]);
    }
}
