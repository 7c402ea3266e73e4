//! What a session encodes and who takes what, decided before anything runs:
//! one capture, one set of encoders, every destination fed from them. Pure,
//! so every combination of destinations is a table row in the tests.

use crate::destination::Destination;
use crate::encode::openh264_raw::Entropy;
use crate::encode::simulcast::{standard_layers, LayerSpec};
use crate::error::{ErrorCode, OnairError};
use crate::media::AudioCodec;

/// The most destinations one session feeds.
pub const MAX_DESTINATIONS: usize = 8;

/// How a destination carries media, which decides what it is fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// RTMP(S): one picture size, AAC.
    Rtmp,
    /// LiveKit or WHIP: simulcast layers when asked for, Opus.
    WebRtc,
    /// A file on this computer: the full size, AAC.
    Recording,
}

impl Carrier {
    pub fn of(destination: &Destination) -> Carrier {
        match destination {
            Destination::Rtmp(_) => Carrier::Rtmp,
            Destination::LiveKit(_) | Destination::Whip(_) => Carrier::WebRtc,
            Destination::File(_) => Carrier::Recording,
        }
    }

    fn audio(self) -> AudioCodec {
        match self {
            Carrier::WebRtc => AudioCodec::Opus,
            Carrier::Rtmp | Carrier::Recording => AudioCodec::Aac,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanRequest {
    /// The destinations, in the creator's order.
    pub destinations: Vec<Carrier>,
    /// A local recording beside them.
    pub record: bool,
    /// Three sizes for the WebRTC destinations, when there are any.
    pub simulcast: bool,
    pub width: u32,
    pub height: u32,
    pub video_kbps: u32,
    pub aac_kbps: u32,
    pub opus_kbps: u32,
    /// The capture has sound.
    pub audio: bool,
}

/// One encoder of sound and who takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioPlan {
    pub codec: AudioCodec,
    pub kbps: u32,
    /// Indices into `SessionPlan::members`.
    pub takers: Vec<usize>,
    /// Counted in the session's audio bitrate (the first destination's codec).
    pub counted: bool,
}

/// What one member (a destination, or the recording after them) is fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberPlan {
    pub carrier: Carrier,
    /// Takes every simulcast layer; otherwise the full size only.
    pub all_layers: bool,
    pub audio: Option<AudioCodec>,
    /// The local recording, which is not a destination.
    pub recording: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionPlan {
    /// The video encoder's layers, full size first.
    pub layers: Vec<LayerSpec>,
    pub audio: Vec<AudioPlan>,
    /// The destinations in order, then the recording.
    pub members: Vec<MemberPlan>,
    /// The full size is encoded whoever watches the room: a file takes it.
    pub keep_full_size: bool,
    /// CABAC (High profile) when every taker accepts it: RTMP ingests and
    /// files do. A session with a WebRTC destination stays CAVLC, as Onair's
    /// offer says (Constrained Baseline, 42e01f). Checked: Janus answers a
    /// High offer with High, but LiveKit's server offers its viewers no High
    /// profile (livekit-server 1.13 filters it from its own offers), so a
    /// High picture would reach viewers told it is Baseline; and the one
    /// encoder of a session serves every destination it has.
    pub entropy: Entropy,
}

pub fn plan(request: &PlanRequest) -> Result<SessionPlan, OnairError> {
    let invalid = |message: &str| Err(OnairError::new(ErrorCode::InvalidDestination, message));
    if request.destinations.is_empty() {
        return invalid("Choose at least one destination to go live to.");
    }
    if request.destinations.len() > MAX_DESTINATIONS {
        return invalid(&format!(
            "One session can go live to at most {MAX_DESTINATIONS} destinations; choose fewer."
        ));
    }
    // Layers only a WebRTC destination can use; RTMP and files carry one size.
    let webrtc = request.destinations.contains(&Carrier::WebRtc);
    let (width, height) = (request.width & !1, request.height & !1);
    let layers = if request.simulcast && webrtc {
        standard_layers(width, height, request.video_kbps)
    } else {
        vec![LayerSpec {
            width,
            height,
            kbps: request.video_kbps,
        }]
    };
    let mut members: Vec<MemberPlan> = request
        .destinations
        .iter()
        .map(|&carrier| MemberPlan {
            carrier,
            all_layers: carrier == Carrier::WebRtc,
            audio: request.audio.then(|| carrier.audio()),
            recording: false,
        })
        .collect();
    if request.record {
        members.push(MemberPlan {
            carrier: Carrier::Recording,
            all_layers: false,
            audio: request.audio.then_some(AudioCodec::Aac),
            recording: true,
        });
    }
    let counted = request.destinations[0].audio();
    let audio = [
        (AudioCodec::Opus, request.opus_kbps),
        (AudioCodec::Aac, request.aac_kbps),
    ]
    .into_iter()
    .filter_map(|(codec, kbps)| {
        let takers: Vec<usize> = (0..members.len())
            .filter(|&i| members[i].audio == Some(codec))
            .collect();
        (!takers.is_empty()).then_some(AudioPlan {
            codec,
            kbps,
            takers,
            counted: codec == counted,
        })
    })
    .collect();
    let keep_full_size = members.iter().any(|m| m.carrier == Carrier::Recording);
    Ok(SessionPlan {
        layers,
        audio,
        members,
        keep_full_size,
        entropy: if webrtc {
            Entropy::Cavlc
        } else {
            Entropy::Cabac
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Carrier::*;

    fn request(destinations: &[Carrier], record: bool, simulcast: bool) -> PlanRequest {
        PlanRequest {
            destinations: destinations.to_vec(),
            record,
            simulcast,
            width: 1280,
            height: 720,
            video_kbps: 2500,
            aac_kbps: 128,
            opus_kbps: 64,
            audio: true,
        }
    }

    #[test]
    fn cabac_only_where_no_webrtc_destination_takes_the_picture() {
        for (destinations, record, entropy) in [
            (&[Rtmp][..], false, Entropy::Cabac),
            (&[Rtmp, Rtmp][..], true, Entropy::Cabac),
            (&[Recording][..], false, Entropy::Cabac),
            (&[WebRtc][..], false, Entropy::Cavlc),
            (&[Rtmp, WebRtc][..], true, Entropy::Cavlc),
        ] {
            let plan = plan(&request(destinations, record, false)).unwrap();
            assert_eq!(plan.entropy, entropy, "{destinations:?} record {record}");
        }
    }

    /// (codec, takers, counted)
    type Branch = (AudioCodec, Vec<usize>, bool);
    /// (destinations, record, simulcast) → (layers, branches, keep full size)
    type Row = (&'static [Carrier], bool, bool, usize, Vec<Branch>, bool);

    #[test]
    fn each_combination_encodes_each_thing_once() {
        use AudioCodec::{Aac, Opus};
        let table: Vec<Row> = vec![
            (&[Rtmp], false, false, 1, vec![(Aac, vec![0], true)], false),
            (&[Rtmp], true, false, 1, vec![(Aac, vec![0, 1], true)], true),
            (
                &[WebRtc],
                false,
                true,
                3,
                vec![(Opus, vec![0], true)],
                false,
            ),
            (
                &[WebRtc],
                true,
                true,
                3,
                vec![(Opus, vec![0], true), (Aac, vec![1], false)],
                true,
            ),
            (
                &[Recording],
                false,
                false,
                1,
                vec![(Aac, vec![0], true)],
                true,
            ),
            // LiveKit, two RTMP platforms and a recording: one video
            // encoder, one Opus for the room, one AAC for everyone else.
            (
                &[WebRtc, Rtmp, Rtmp],
                true,
                true,
                3,
                vec![(Opus, vec![0], true), (Aac, vec![1, 2, 3], false)],
                true,
            ),
            (
                &[Rtmp, WebRtc],
                false,
                false,
                1,
                vec![(Opus, vec![1], false), (Aac, vec![0], true)],
                false,
            ),
            (
                &[WebRtc, WebRtc],
                false,
                true,
                3,
                vec![(Opus, vec![0, 1], true)],
                false,
            ),
            // Nobody could take the small sizes: none are encoded.
            (&[Rtmp], true, true, 1, vec![(Aac, vec![0, 1], true)], true),
        ];
        for (destinations, record, simulcast, layers, audio, keep) in table {
            let plan = plan(&request(destinations, record, simulcast)).unwrap();
            let row = format!("{destinations:?} record={record} simulcast={simulcast}");
            assert_eq!(plan.layers.len(), layers, "{row}");
            let got: Vec<_> = plan
                .audio
                .iter()
                .map(|a| (a.codec, a.takers.clone(), a.counted))
                .collect();
            assert_eq!(got, audio, "{row}");
            assert_eq!(plan.keep_full_size, keep, "{row}");
            for (member, carrier) in plan.members.iter().zip(destinations) {
                assert_eq!(member.all_layers, *carrier == WebRtc, "{row}");
            }
            assert_eq!(plan.members.last().unwrap().recording, record, "{row}");
        }
    }

    #[test]
    fn rates_follow_the_request() {
        let plan = plan(&request(&[WebRtc, Rtmp], false, true)).unwrap();
        assert_eq!(plan.layers[0].kbps, 2500);
        assert_eq!((plan.layers[0].width, plan.layers[0].height), (1280, 720));
        assert_eq!((plan.layers[1].width, plan.layers[1].height), (640, 360));
        let kbps: Vec<u32> = plan.audio.iter().map(|a| a.kbps).collect();
        assert_eq!(kbps, vec![64, 128]);
    }

    #[test]
    fn silence_needs_no_audio_encoder() {
        let mut silent = request(&[WebRtc, Rtmp], true, false);
        silent.audio = false;
        let plan = plan(&silent).unwrap();
        assert!(plan.audio.is_empty());
        assert!(plan.members.iter().all(|m| m.audio.is_none()));
    }

    #[test]
    fn impossible_requests_are_refused_with_a_sentence() {
        for destinations in [vec![], vec![Rtmp; MAX_DESTINATIONS + 1]] {
            let error = plan(&request(&destinations, false, false)).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidDestination);
            assert!(error.message.ends_with('.'), "{}", error.message);
        }
    }
}
