//! Opus for WebRTC: 48 kHz stereo, 20 ms frames, in-band FEC armed for when
//! loss is expected.

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
/// The loss rate the encoder plans for on a link nobody has reported on.
/// Zero: libopus then writes no in-band FEC (LBRR), and ffmpeg's own Opus
/// decoder, which restreamers and recording services use, misreads packets
/// that carry it (it played back 10 ms slices of the previous frame; a
/// capture of Onair's WHIP stream differed from libopus's decoding by 85 %
/// RMS; a stream ffmpeg's libopus encoder made with `-fec 1 -packet_loss 10`
/// too, and without FEC the two decoders agree to 1e-5). A loss rate above zero also pushes libopus from CELT
/// to SILK, a speech coder, for music. libwebrtc likewise codes FEC only
/// once receivers report loss; `set_expected_loss` is for that.
const EXPECTED_LOSS_PERCENT: i32 = 0;
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

impl OpusEncoder {
    /// The loss rate receivers report, in percent: above zero, libopus
    /// adds in-band FEC so a lost packet can be rebuilt from the next one.
    pub fn set_expected_loss(&mut self, percent: u8) -> Result<(), EncodeError> {
        self.encoder
            .set_packet_loss_perc(percent.min(100) as i32)
            .map_err(|e| EncodeError::Opus(e.to_string()))
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

    /// The TOC byte's configuration number (RFC 6716 3.1): 0-11 SILK,
    /// 12-15 hybrid (both carry LBRR when FEC is on), 16-31 CELT.
    fn config(packet: &[u8]) -> u8 {
        packet[0] >> 3
    }

    #[test]
    fn a_clean_link_gets_celt_without_fec() {
        let mut enc = OpusEncoder::new(2, 64).unwrap();
        for n in 0..25 {
            let packet = enc
                .encode(&tone(FRAME_SAMPLES, 440.0, n * FRAME_SAMPLES), 0)
                .unwrap()
                .unwrap();
            assert!(
                config(&packet.data) >= 16,
                "frame {n}: config {}",
                config(&packet.data)
            );
        }
    }

    #[test]
    fn a_lost_packet_is_recovered_from_the_next_ones_fec_once_loss_is_expected() {
        let mut enc = OpusEncoder::new(2, 64).unwrap();
        enc.set_expected_loss(10).unwrap();
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
        assert!(
            packets.iter().all(|p| config(&p.data) < 16),
            "FEC needs SILK"
        );
        // Packet 10 is lost: rebuild it from packet 11's redundancy.
        let got = dec.decode_float(&packets[11].data, &mut out, true).unwrap();
        assert_eq!(got, FRAME_SAMPLES);
        let energy: f32 = out.iter().map(|s| s * s).sum::<f32>() / out.len() as f32;
        assert!(energy > 0.01, "FEC rebuilt silence ({energy})");
    }
}
