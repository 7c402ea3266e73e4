//! Opus for WebRTC: 48 kHz mono, 20 ms frames, in-band FEC so a lost
//! packet can be rebuilt from the next one.
//!
//! Mono because what Onair sends is one voice (the voice chain works on
//! mono; the test tone is the same on both sides), and because of how
//! libopus carries FEC: it needs SILK, so with 10 % expected loss a stereo
//! stream is all hybrid packets with stereo redundancy, which ffmpeg's own
//! Opus decoder (5.1, what restreaming and recording services often use)
//! turns into noise; ffmpeg's libopus encoder makes the same packets with
//! `-fec 1 -packet_loss 10` and they garble the same way. Mono hybrid
//! packets decode alike in both decoders.

use std::sync::Arc;

use opus::{Application, Bitrate, Channels, Encoder};

use super::{AudioEncoder, EncodeError};
use crate::media::EncodedAudio;

pub const RATE: u32 = 48_000;
/// What a stream sends: 64 kbit/s mono is transparent for a voice, with
/// room for its redundancy.
pub const STREAM_KBPS: u32 = 64;
/// 20 ms at 48 kHz, what WebRTC endpoints expect.
pub const FRAME_SAMPLES: usize = 960;
/// The loss rate FEC is tuned for: enough to protect speech on a Wi-Fi link.
const EXPECTED_LOSS_PERCENT: i32 = 10;
/// The largest packet libopus writes is well under this.
const MAX_PACKET: usize = 4000;

pub struct OpusEncoder {
    encoder: Encoder,
    /// Channels of the interleaved input, mixed down to one.
    input_channels: u16,
    delay_samples: usize,
    mono: Vec<f32>,
}

impl OpusEncoder {
    /// Takes `input_channels` interleaved, sends mono.
    pub fn new(input_channels: u16, kbps: u32) -> Result<Self, EncodeError> {
        let err = |e: opus::Error| EncodeError::Opus(e.to_string());
        let mut encoder = Encoder::new(RATE, Channels::Mono, Application::Audio).map_err(err)?;
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
            input_channels: input_channels.max(1),
            delay_samples,
            mono: Vec::with_capacity(FRAME_SAMPLES),
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
        let channels = self.input_channels as usize;
        debug_assert_eq!(pcm.len(), FRAME_SAMPLES * channels);
        self.mono.clear();
        self.mono.extend(
            pcm.chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() / channels as f32),
        );
        let data = self
            .encoder
            .encode_vec_float(&self.mono, MAX_PACKET)
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
    fn stereo_input_goes_out_as_mono_packets() {
        let mut enc = OpusEncoder::new(2, 64).unwrap();
        for n in 0..10 {
            let packet = enc
                .encode(&tone(FRAME_SAMPLES, 440.0, n * FRAME_SAMPLES), 0)
                .unwrap()
                .unwrap();
            // The TOC byte's stereo flag (RFC 6716, 3.1) is clear.
            assert_eq!(
                packet.data[0] & 0b100,
                0,
                "packet {n}: {:#04x}",
                packet.data[0]
            );
        }
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
