//! Simulcast: one source frame, several H.264 layers at different sizes and
//! bitrates, each from the real scaler. A WebRTC receiver picks the layer
//! that fits its window and link.

use super::h264::{H264Encoder, H264Settings};
use super::{EncodeError, VideoEncoder};
use crate::media::{EncodedVideo, VideoFrame};
use crate::source::convert::Scaler;

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
    layers: Vec<(LayerSpec, H264Encoder)>,
    scaler: Scaler,
}

impl SimulcastEncoder {
    pub fn new(specs: &[LayerSpec], fps: u32) -> Result<Self, EncodeError> {
        let layers = specs
            .iter()
            .map(|spec| {
                let settings = H264Settings {
                    fps,
                    bitrate_kbps: spec.kbps,
                };
                H264Encoder::new(settings).map(|encoder| (*spec, encoder))
            })
            .collect::<Result<_, _>>()?;
        Ok(SimulcastEncoder {
            layers,
            scaler: Scaler::default(),
        })
    }

    pub fn layers(&self) -> impl Iterator<Item = &LayerSpec> {
        self.layers.iter().map(|(spec, _)| spec)
    }

    /// Encodes `frame` into every layer; entry `i` is layer `i`'s output.
    pub fn encode(
        &mut self,
        frame: &VideoFrame,
        pts_us: i64,
    ) -> Result<Vec<Option<EncodedVideo>>, EncodeError> {
        self.layers
            .iter_mut()
            .map(|(spec, encoder)| {
                let scaled = self
                    .scaler
                    .scale_frame(frame, spec.width, spec.height)
                    .map_err(|e| EncodeError::Scale(e.to_string()))?;
                encoder.encode(&scaled, pts_us)
            })
            .collect()
    }

    /// A receiver switching layers needs a keyframe on the one it joins.
    pub fn request_keyframe(&mut self, layer: usize) {
        if let Some((_, encoder)) = self.layers.get_mut(layer) {
            encoder.request_keyframe();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MediaClock;
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
        let mut encoder = SimulcastEncoder::new(&specs, 30).unwrap();
        let mut pattern = TestPattern::new(1280, 720, 30, MediaClock::start());
        let frame = pattern.next_frame().unwrap();
        let outputs = encoder.encode(&frame, 0).unwrap();
        assert_eq!(outputs.len(), 3);
        for (spec, out) in specs.iter().zip(outputs) {
            let out = out.expect("the first frame of every layer is a keyframe");
            assert!(out.keyframe);
            assert_eq!(sps_size(&out.data), (spec.width, spec.height));
        }
    }
}
