//! FLV tag bodies for H.264 and AAC, shared by the file writer and RTMP.

use super::amf0::Amf0;
use super::avc;
use crate::media::StreamInfo;

pub const TAG_AUDIO: u8 = 8;
pub const TAG_VIDEO: u8 = 9;
pub const TAG_SCRIPT: u8 = 18;

const VIDEO_KEY_AVC: u8 = 0x17;
const VIDEO_INTER_AVC: u8 = 0x27;
const AVC_SEQUENCE_HEADER: u8 = 0;
const AVC_NALU: u8 = 1;
/// AAC, 44 kHz flag (always set for AAC), 16-bit, stereo.
const AUDIO_AAC: u8 = 0xaf;
const AAC_SEQUENCE_HEADER: u8 = 0;
const AAC_RAW: u8 = 1;

pub fn video_sequence_header(sps: &[u8], pps: &[u8]) -> Vec<u8> {
    let mut body = vec![VIDEO_KEY_AVC, AVC_SEQUENCE_HEADER, 0, 0, 0];
    body.extend(avc::decoder_configuration(sps, pps));
    body
}

/// A tag's timestamp for session time `time_us`, moved later by `lead_us`
/// (the audio encoder's priming) so nothing is negative; rounded, not
/// truncated: 33.3 ms frames land on the nearest millisecond.
pub fn timestamp_ms(time_us: i64, lead_us: i64) -> u32 {
    (((time_us + lead_us).max(0) + 500) / 1000) as u32
}

/// One access unit: its tag goes at `dts_ms` (tags are in decode order) and
/// says it is shown at `pts_ms` (the same without B-frames).
pub fn video_frame(annexb: &[u8], keyframe: bool, dts_ms: u32, pts_ms: u32) -> Vec<u8> {
    let kind = if keyframe {
        VIDEO_KEY_AVC
    } else {
        VIDEO_INTER_AVC
    };
    let cts = pts_ms.saturating_sub(dts_ms).min(0x7f_ffff).to_be_bytes();
    let mut body = vec![kind, AVC_NALU, cts[1], cts[2], cts[3]];
    body.extend(avc::to_avcc(annexb));
    body
}

pub fn audio_sequence_header(audio_specific_config: &[u8]) -> Vec<u8> {
    let mut body = vec![AUDIO_AAC, AAC_SEQUENCE_HEADER];
    body.extend_from_slice(audio_specific_config);
    body
}

pub fn audio_frame(raw_aac: &[u8]) -> Vec<u8> {
    let mut body = vec![AUDIO_AAC, AAC_RAW];
    body.extend_from_slice(raw_aac);
    body
}

/// The properties of `onMetaData`. `duration` is 0 while live.
pub fn metadata_properties(info: &StreamInfo, duration_s: f64) -> Vec<(String, Amf0)> {
    let mut props = vec![
        ("duration".to_string(), Amf0::Number(duration_s)),
        ("width".into(), Amf0::Number(info.width as f64)),
        ("height".into(), Amf0::Number(info.height as f64)),
        ("framerate".into(), Amf0::Number(info.fps as f64)),
        ("videocodecid".into(), Amf0::Number(7.0)),
        ("videodatarate".into(), Amf0::Number(info.video_kbps as f64)),
    ];
    if let Some(audio) = &info.audio {
        props.extend([
            ("audiocodecid".to_string(), Amf0::Number(10.0)),
            ("audiodatarate".into(), Amf0::Number(audio.kbps as f64)),
            ("audiosamplerate".into(), Amf0::Number(audio.rate as f64)),
            ("audiosamplesize".into(), Amf0::Number(16.0)),
            ("stereo".into(), Amf0::Boolean(audio.channels == 2)),
        ]);
    }
    props.push((
        "encoder".into(),
        Amf0::String(format!("Onair {}", env!("CARGO_PKG_VERSION"))),
    ));
    props
}

/// The script tag body of a file: `onMetaData` followed by its properties.
pub fn metadata(info: &StreamInfo, duration_s: f64) -> Vec<u8> {
    let mut body = Vec::new();
    Amf0::String("onMetaData".into()).encode(&mut body);
    Amf0::EcmaArray(metadata_properties(info, duration_s)).encode(&mut body);
    body
}
