//! Opus for WebRTC: 48 kHz stereo, 20 ms frames, in-band FEC so a lost
//! packet can be rebuilt from the next one.

use std::sync::Arc;

use opus::{Application, Bitrate, Channels, Encoder};

use super::{AudioEncoder, EncodeError};
use crate::media::EncodedAudio;

pub const RATE: u32 = 48_000;
/// What a stream sends: 64 kbit/s stereo is transparent for speech and
/// music alike.
pub const STREAM_KBPS: u32 = 64;
/// 20 ms at 48 kHz, what WebRTC endpoints expect.
pub const FRAME_SAMPLES: usize = 960;
/// The loss rate FEC is tuned for: enough to protect speech on a Wi-Fi link.
const EXPECTED_LOSS_PERCENT: i32 = 10;
/// The largest packet libopus writes is well under this.
const MAX_PACKET: usize = 4000;

pub struct OpusEncoder {
    encoder: Encoder,
    channels: u16,
    delay_samples: usize,
}

impl OpusEncoder {
    pub fn new(channels: u16, kbps: u32) -> Result<Self, EncodeError> {
        let err = |e: opus::Error| EncodeError::Opus(e.to_string());
        let layout = match channels {
            1 => Channels::Mono,
            _ => Channels::Stereo,
        };
        let mut encoder = Encoder::new(RATE, layout, Application::Audio).map_err(err)?;
        encoder
            .set_bitrate(Bitrate::Bits((kbps * 1000) as i32))
            .map_err(err)?;
        encoder.set_inband_fec(true).map_err(err)?;
        encoder
            .set_packet_loss_perc(EXPECTED_LOSS_PERCENT)
            .map_err(err)?;
        let delay_samples = encoder.get_lookahead().map_err(err)? as usize;
        Ok(OpusEncoder {
            encoder,
            channels: channels.clamp(1, 2),
            delay_samples,
        })
    }
}

impl AudioEncoder for OpusEncoder {
    fn frame_samples(&self) -> usize {
        FRAME_SAMPLES
    }

    fn delay_samples(&self) -> usize {
        self.delay_samples
    }

    /// Opus needs no out-of-band configuration (SDP carries it).
    fn config(&self) -> Vec<u8> {
        Vec::new()
    }

    fn encode(&mut self, pcm: &[f32], pts_us: i64) -> Result<Option<EncodedAudio>, EncodeError> {
        debug_assert_eq!(pcm.len(), FRAME_SAMPLES * self.channels as usize);
        let data = self
            .encoder
            .encode_vec_float(pcm, MAX_PACKET)
            .map_err(|e| EncodeError::Opus(e.to_string()))?;
        Ok(Some(EncodedAudio {
            data: Arc::new(data),
            pts_us,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opus::Decoder;

    fn tone(frames: usize, hz: f32, offset: usize) -> Vec<f32> {
        (0..frames)
            .flat_map(|i| {
                let t = (offset + i) as f32 / RATE as f32;
                let s = 0.5 * (std::f32::consts::TAU * hz * t).sin();
                [s, s]
            })
            .collect()
    }

    #[test]
    fn encodes_20ms_frames_that_decode_back_to_the_tone() {
        let mut enc = OpusEncoder::new(2, 64).unwrap();
        let mut dec = Decoder::new(RATE, Channels::Stereo).unwrap();
        let mut decoded = Vec::new();
        for n in 0..50 {
            let pcm = tone(FRAME_SAMPLES, 440.0, n * FRAME_SAMPLES);
            let packet = enc.encode(&pcm, 0).unwrap().expect("a packet per frame");
            let mut out = vec![0.0f32; FRAME_SAMPLES * 2];
            let got = dec.decode_float(&packet.data, &mut out, false).unwrap();
            assert_eq!(got, FRAME_SAMPLES);
            decoded.extend_from_slice(&out);
        }
        // One second of 440 Hz after the decoder settles: about 440 rising crossings.
        let left: Vec<f32> = decoded.iter().step_by(2).copied().skip(4800).collect();
        let crossings = left
            .windows(2)
            .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
            .count();
        let hz = crossings as f64 * RATE as f64 / left.len() as f64;
        assert!((hz - 440.0).abs() < 3.0, "{hz} Hz");
    }

    #[test]
    fn a_lost_packet_is_recovered_from_the_next_ones_fec() {
        let mut enc = OpusEncoder::new(2, 64).unwrap();
        let mut dec = Decoder::new(RATE, Channels::Stereo).unwrap();
        let packets: Vec<_> = (0..20)
            .map(|n| {
                enc.encode(&tone(FRAME_SAMPLES, 440.0, n * FRAME_SAMPLES), 0)
                    .unwrap()
                    .unwrap()
            })
            .collect();
        let mut out = vec![0.0f32; FRAME_SAMPLES * 2];
        for p in &packets[..10] {
            dec.decode_float(&p.data, &mut out, false).unwrap();
        }
        // Packet 10 is lost: rebuild it from packet 11's redundancy.
        let got = dec.decode_float(&packets[11].data, &mut out, true).unwrap();
        assert_eq!(got, FRAME_SAMPLES);
        let energy: f32 = out.iter().map(|s| s * s).sum::<f32>() / out.len() as f32;
        assert!(energy > 0.01, "FEC rebuilt silence ({energy})");
    }
}
