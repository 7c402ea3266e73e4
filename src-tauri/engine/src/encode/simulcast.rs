//! Simulcast: one source frame, several H.264 layers at different sizes and
//! bitrates, each from the real scaler. A WebRTC receiver picks the layer
//! that fits its window and link.

use super::h264::{H264Encoder, H264Settings};
use super::openh264_raw::Complexity;
use super::{EncodeError, VideoEncoder};
use crate::colour::Colour;
use crate::media::{EncodedVideo, VideoFrame};
use crate::source::convert;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerSpec {
    pub width: u32,
    pub height: u32,
    pub kbps: u32,
}

/// Full, half and quarter size (even dimensions), with the bitrate split the
/// way the pixel counts suggest, leaning to the top layer viewers watch most.
pub fn standard_layers(width: u32, height: u32, top_kbps: u32) -> Vec<LayerSpec> {
    [(1, 1), (2, 4), (4, 12)]
        .into_iter()
        .map(|(divisor, rate_divisor)| LayerSpec {
            width: (width / divisor) & !1,
            height: (height / divisor) & !1,
            kbps: (top_kbps / rate_divisor).max(100),
        })
        .collect()
}

pub struct SimulcastEncoder {
    layers: Vec<Layer>,
    /// The configured total, which `set_bitrate` scales every layer against.
    configured_kbps: u32,
    active: u32,
}

struct Layer {
    spec: LayerSpec,
    /// How much smaller than the top layer: sizes follow the incoming frame,
    /// so an overload step-down shrinks every layer alike.
    divisor: u32,
    encoder: H264Encoder,
}

impl SimulcastEncoder {
    pub fn new(specs: &[LayerSpec], fps: u32, keyframe_seconds: u32) -> Result<Self, EncodeError> {
        let top_width = specs.first().map_or(1, |s| s.width.max(1));
        // Smaller layers are scaled from the top one: same colour space.
        let colour = specs
            .first()
            .map_or(Colour::Bt601, |s| Colour::for_size(s.width, s.height));
        let layers = specs
            .iter()
            .map(|spec| {
                let settings = H264Settings {
                    fps,
                    bitrate_kbps: spec.kbps,
                    colour,
                };
                let mut params = settings.params().with_keyframe_seconds(keyframe_seconds);
                if spec.width < top_width {
                    // Small layers are for small windows and weak links: the
                    // fast mode costs about 35 % less there (0.9 against 1.4
                    // ms a 360p frame), which keeps three layers near the
                    // pixel count's 1.31x of one.
                    params.complexity = Complexity::Low;
                }
                H264Encoder::with_params(params).map(|encoder| Layer {
                    spec: *spec,
                    divisor: (top_width as f64 / spec.width.max(1) as f64)
                        .round()
                        .max(1.0) as u32,
                    encoder,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SimulcastEncoder {
            configured_kbps: specs.iter().map(|s| s.kbps).sum(),
            layers,
            active: u32::MAX,
        })
    }

    pub fn layers(&self) -> impl Iterator<Item = &LayerSpec> {
        self.layers.iter().map(|layer| &layer.spec)
    }
}

impl VideoEncoder for SimulcastEncoder {
    fn encode(
        &mut self,
        frame: &VideoFrame,
        pts_us: i64,
    ) -> Result<Vec<EncodedVideo>, EncodeError> {
        let mut out = Vec::with_capacity(self.layers.len());
        // Each layer is scaled from the one above it (halving twice costs
        // less than quartering once, and filters as well), so a paused
        // layer is still scaled when one below it is on.
        let lowest_active = (0..self.layers.len())
            .rev()
            .find(|index| self.active & (1 << index) != 0);
        let mut source = frame.clone();
        for (index, layer) in self.layers.iter_mut().enumerate() {
            if lowest_active.is_none_or(|lowest| index > lowest) {
                break;
            }
            let width = (frame.width / layer.divisor) & !1;
            let height = (frame.height / layer.divisor) & !1;
            source = convert::scale_frame(&source, width, height)
                .map_err(|e| EncodeError::Scale(e.to_string()))?;
            if self.active & (1 << index) == 0 {
                continue;
            }
            if let Some(mut video) = layer.encoder.encode_one(&source, pts_us)? {
                video.layer = index as u8;
                out.push(video);
            }
        }
        Ok(out)
    }

    fn request_keyframe(&mut self) {
        for layer in &mut self.layers {
            layer.encoder.request_keyframe();
        }
    }

    /// Every layer keeps its share of the configured total.
    fn set_bitrate(&mut self, kbps: u32) -> Result<(), EncodeError> {
        let ratio = kbps as f64 / self.configured_kbps.max(1) as f64;
        for layer in &mut self.layers {
            layer
                .encoder
                .set_target(((layer.spec.kbps as f64 * ratio) as u32).max(50))?;
        }
        Ok(())
    }

    /// A layer that comes back on starts with a keyframe: its receivers
    /// have nothing to decode against.
    fn set_active_layers(&mut self, mask: u32) {
        let returning = mask & !self.active;
        for (index, layer) in self.layers.iter_mut().enumerate() {
            if returning & (1 << index) != 0 {
                layer.encoder.request_keyframe();
            }
        }
        self.active = mask;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MediaClock;
    use crate::encode::h264::KEYFRAME_INTERVAL_S;
    use crate::source::test_pattern::TestPattern;
    use crate::source::VideoSource;

    /// Width and height from an SPS, enough for Constrained Baseline.
    fn sps_size(annex_b: &[u8]) -> (u32, u32) {
        let mut decoder = openh264::decoder::Decoder::new().unwrap();
        let yuv = decoder
            .decode(annex_b)
            .unwrap()
            .expect("a keyframe decodes to a picture");
        let (w, h) = openh264::formats::YUVSource::dimensions(&yuv);
        (w as u32, h as u32)
    }

    #[test]
    fn three_layers_from_one_frame_at_their_own_sizes() {
        let specs = standard_layers(1280, 720, 2500);
        assert_eq!(
            specs
                .iter()
                .map(|s| (s.width, s.height))
                .collect::<Vec<_>>(),
            vec![(1280, 720), (640, 360), (320, 180)]
        );
        let mut encoder = SimulcastEncoder::new(&specs, 30, KEYFRAME_INTERVAL_S).unwrap();
        let mut pattern = TestPattern::new(1280, 720, 30, MediaClock::start());
        let frame = pattern.next_frame().unwrap();
        let outputs = encoder.encode(&frame, 0).unwrap();
        assert_eq!(
            outputs.len(),
            3,
            "the first frame of every layer is a keyframe"
        );
        for (index, (spec, out)) in specs.iter().zip(outputs).enumerate() {
            assert!(out.keyframe);
            assert_eq!(out.layer as usize, index);
            assert_eq!(sps_size(&out.data), (spec.width, spec.height));
        }
    }

    #[test]
    fn paused_layers_are_skipped_and_come_back_with_a_keyframe() {
        let specs = standard_layers(320, 180, 600);
        let mut encoder = SimulcastEncoder::new(&specs, 30, KEYFRAME_INTERVAL_S).unwrap();
        let mut pattern = TestPattern::new(320, 180, 30, MediaClock::start());
        let layers_of = |out: &[EncodedVideo]| out.iter().map(|v| v.layer).collect::<Vec<_>>();
        let first = encoder.encode(&pattern.next_frame().unwrap(), 0).unwrap();
        assert_eq!(layers_of(&first), vec![0, 1, 2]);
        encoder.set_active_layers(0b100);
        let only_low = encoder
            .encode(&pattern.next_frame().unwrap(), 33_333)
            .unwrap();
        assert_eq!(layers_of(&only_low), vec![2]);
        assert!(!only_low[0].keyframe);
        encoder.set_active_layers(0b111);
        let back = encoder
            .encode(&pattern.next_frame().unwrap(), 66_666)
            .unwrap();
        assert_eq!(layers_of(&back), vec![0, 1, 2]);
        assert!(back[0].keyframe && back[1].keyframe && !back[2].keyframe);
    }
}
