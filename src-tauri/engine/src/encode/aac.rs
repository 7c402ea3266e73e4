//! AAC-LC with the Fraunhofer FDK encoder, raw frames (no ADTS) for FLV/RTMP.

use std::sync::Arc;

use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};

use super::{AudioEncoder, EncodeError};
use crate::media::EncodedAudio;

pub struct AacEncoder {
    encoder: Encoder,
    channels: u16,
    frame_samples: usize,
    delay_samples: usize,
    config: Vec<u8>,
    pcm: Vec<i16>,
    out: Vec<u8>,
}

impl AacEncoder {
    pub fn new(rate: u32, channels: u16, kbps: u32) -> Result<Self, EncodeError> {
        let encoder = Encoder::new(EncoderParams {
            bit_rate: BitRate::Cbr(kbps * 1000),
            sample_rate: rate,
            transport: Transport::Raw,
            channels: match channels {
                1 => ChannelMode::Mono,
                _ => ChannelMode::Stereo,
            },
            audio_object_type: AudioObjectType::Mpeg4LowComplexity,
        })
        .map_err(|e| EncodeError::Aac(e.to_string()))?;
        let info = encoder
            .info()
            .map_err(|e| EncodeError::Aac(e.to_string()))?;
        Ok(AacEncoder {
            channels,
            frame_samples: info.frameLength as usize,
            delay_samples: info.nDelay as usize,
            config: info.confBuf[..info.confSize as usize].to_vec(),
            pcm: Vec::new(),
            out: vec![0; 8192],
            encoder,
        })
    }
}

impl AudioEncoder for AacEncoder {
    fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    fn delay_samples(&self) -> usize {
        self.delay_samples
    }

    fn config(&self) -> Vec<u8> {
        self.config.clone()
    }

    fn encode(&mut self, pcm: &[f32], pts_us: i64) -> Result<Option<EncodedAudio>, EncodeError> {
        debug_assert_eq!(pcm.len(), self.frame_samples * self.channels as usize);
        self.pcm.clear();
        self.pcm.extend(
            pcm.iter()
                .map(|s| (s.clamp(-1.0, 1.0) * i16::MAX as f32) as i16),
        );
        let info = self
            .encoder
            .encode(&self.pcm, &mut self.out)
            .map_err(|e| EncodeError::Aac(e.to_string()))?;
        if info.output_size == 0 {
            return Ok(None);
        }
        Ok(Some(EncodedAudio {
            data: Arc::new(self.out[..info.output_size].to_vec()),
            pts_us,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produces_lc_config_and_one_frame_per_1024_samples() {
        let mut enc = AacEncoder::new(48_000, 2, 128).unwrap();
        assert_eq!(enc.frame_samples(), 1024);
        // AudioSpecificConfig: object type 2 (LC), frequency index 3 (48 kHz), 2 channels.
        assert_eq!(enc.config(), vec![0x11, 0x90]);
        let pcm = vec![0.1f32; 2048];
        let produced = (0..10).filter_map(|i| enc.encode(&pcm, i).unwrap()).count();
        assert!(produced >= 8, "{produced} frames out of 10");
    }
}
