//! Platform presets: where each platform takes a stream, where a creator
//! finds the key, and what the platform accepts. Onair's own data file,
//! `presets/platforms.json`, written from the platforms' public help pages
//! and read here into types that refuse an unknown field, so the file and
//! this module are one schema.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::destination::{scheme_of, Destination, DestinationKind};
use crate::encode::h264::KEYFRAME_INTERVAL_S;
use crate::error::{ErrorCode, OnairError};
use crate::keys::options::DestinationOptions;

const FILE: &str = include_str!("../../../presets/platforms.json");
/// What an ingest URL template leaves to the creator: a server's host (self-
/// hosted or per account) or, for "custom", the whole URL.
const HOST: &str = "{host}";
const URL: &str = "{url}";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetFile {
    version: u32,
    presets: Vec<Preset>,
}

/// One platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub id: String,
    pub name: String,
    /// None for "custom": the URL decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<DestinationKind>,
    /// The first is the default.
    pub ingests: Vec<Ingest>,
    /// Where the creator finds the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_page: Option<String>,
    pub video: VideoLimits,
    pub audio: AudioLimits,
    /// Where the platform says whether the stream is live, and to how many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusPreset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What a destination made from it is called unless the creator says
    /// otherwise: the name without its parenthesis ("YouTube"), which is a
    /// valid destination name. Derived, never in the file.
    #[serde(skip_deserializing, default)]
    pub destination_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(deny_unknown_fields)]
pub struct Ingest {
    pub region: String,
    /// May hold `{host}` (or, for "custom", be `{url}`).
    pub url: String,
    /// What `{host}` or `{url}` looks like, for help and for the tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(deny_unknown_fields)]
pub struct VideoLimits {
    pub max_kbps: u32,
    pub keyframe_seconds: u32,
    pub max_width: u32,
    pub max_height: u32,
    pub max_fps: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum AudioCodecName {
    Aac,
    Opus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(deny_unknown_fields)]
pub struct AudioLimits {
    pub codec: AudioCodecName,
    pub rate: u32,
    pub max_kbps: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(deny_unknown_fields)]
pub struct StatusPreset {
    /// May hold `{host}`.
    pub url: String,
    pub live_pointer: String,
    pub viewers_pointer: String,
}

/// Every preset, in the file's order.
pub fn all() -> &'static [Preset] {
    static PRESETS: OnceLock<Vec<Preset>> = OnceLock::new();
    PRESETS.get_or_init(|| {
        let file: PresetFile =
            serde_json::from_str(FILE).expect("presets/platforms.json is checked by the tests");
        debug_assert_eq!(file.version, 1);
        let mut presets = file.presets;
        for preset in &mut presets {
            preset.destination_name = match preset.name.split_once(" (") {
                Some((short, _)) => short.trim().to_string(),
                None => preset.name.clone(),
            };
        }
        presets
    })
}

/// The preset named `id`, or what exists.
pub fn find(id: &str) -> Result<&'static Preset, OnairError> {
    all().iter().find(|p| p.id == id).ok_or_else(|| {
        let ids: Vec<&str> = all().iter().map(|p| p.id.as_str()).collect();
        OnairError::new(
            ErrorCode::InvalidDestination,
            format!(
                "There is no preset {id:?}: choose one of {} (onair presets lists them).",
                ids.join(", ")
            ),
        )
    })
}

/// A destination made from a preset, before its name and key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PresetDestination {
    pub url: String,
    pub status_url: Option<String>,
    /// What was given, plus the preset's id and its status pointers.
    pub options: DestinationOptions,
    /// Where the creator finds the key, its host filled in.
    pub key_page: Option<String>,
    /// The limits a session holds to, in a sentence.
    pub limits: String,
}

impl Preset {
    /// The destination for `region` with `fill` in the URL (see
    /// `ingest_url`). A status URL or pointer given wins over the preset's.
    pub fn destination(
        &self,
        region: Option<usize>,
        fill: Option<&str>,
        mut options: DestinationOptions,
        status_url: Option<String>,
    ) -> Result<PresetDestination, OnairError> {
        let url = self.ingest_url(region, fill)?;
        let filled = |text: &str| text.replace(HOST, fill.unwrap_or_default().trim());
        let status_url = match (status_url, &self.status) {
            (Some(given), _) => Some(given),
            (None, Some(status)) => {
                options
                    .status
                    .live_pointer
                    .get_or_insert(status.live_pointer.clone());
                options
                    .status
                    .viewers_pointer
                    .get_or_insert(status.viewers_pointer.clone());
                Some(filled(&status.url))
            }
            (None, None) => None,
        };
        options.preset = Some(self.id.clone());
        Ok(PresetDestination {
            url,
            status_url,
            options,
            key_page: self.key_page.as_deref().map(filled),
            limits: format!(
                "{} takes at most {} kbit/s of video, a keyframe every {} s: Onair holds to that.",
                self.name, self.video.max_kbps, self.video.keyframe_seconds
            ),
        })
    }

    /// The ingest URL for `region` (its number in the list, the first when
    /// None), with `{host}` (or `{url}`) filled from `fill`, parsed as a
    /// destination of the preset's protocol.
    pub fn ingest_url(
        &self,
        region: Option<usize>,
        fill: Option<&str>,
    ) -> Result<String, OnairError> {
        let invalid =
            |message: String| Err(OnairError::new(ErrorCode::InvalidDestination, message));
        let index = region.unwrap_or(0);
        let Some(ingest) = self.ingests.get(index) else {
            return invalid(format!(
                "{} has {} ingest(s): choose a region from 0 to {}.",
                self.name,
                self.ingests.len(),
                self.ingests.len().saturating_sub(1)
            ));
        };
        let url = match (ingest.placeholder(), fill.map(str::trim)) {
            (None, _) => ingest.url.clone(),
            (Some(placeholder), Some(value))
                if !value.is_empty() && !value.contains(char::is_whitespace) =>
            {
                ingest.url.replace(placeholder, value)
            }
            (Some(placeholder), _) => {
                let example = ingest.example.as_deref().unwrap_or("...");
                return invalid(format!(
                    "{} needs {placeholder} (for example {example}){}",
                    self.name,
                    self.note
                        .as_deref()
                        .map(|n| format!(": {n}"))
                        .unwrap_or_else(|| ".".into())
                ));
            }
        };
        Destination::from_url(&url)
            .map_err(|e| OnairError::new(ErrorCode::InvalidDestination, e.to_string()))?;
        if let Some(protocol) = self.protocol {
            let kind = scheme_of(&url).map(|s| s.kind).ok();
            if kind != Some(protocol) {
                return invalid(format!(
                    "{} takes {} URLs ({}).",
                    self.name,
                    protocol.as_str(),
                    protocol.prefixes()
                ));
            }
        }
        Ok(url)
    }
}

/// The video bitrate a session is held to by its destinations' platforms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoCap {
    pub kbps: u32,
    pub asked: u32,
    pub platform: String,
}

impl VideoCap {
    pub fn sentence(&self) -> String {
        format!(
            "{} takes at most {} kbit/s of video: sending {} instead of the {} asked for.",
            self.platform, self.kbps, self.kbps, self.asked
        )
    }
}

/// The strictest platform's maximum, when it is under `asked`: every
/// destination gets the one encode, so the smallest maximum holds for all.
pub fn video_cap<'a>(
    presets: impl IntoIterator<Item = &'a Preset>,
    asked: u32,
) -> Option<VideoCap> {
    let strictest = presets.into_iter().min_by_key(|p| p.video.max_kbps)?;
    (strictest.video.max_kbps < asked).then(|| VideoCap {
        kbps: strictest.video.max_kbps,
        asked,
        platform: strictest.name.clone(),
    })
}

/// The keyframe interval of the one encode: the shortest any destination
/// asks for, since a shorter interval is accepted everywhere and a longer
/// one is not. A destination without a preset asks for the engine's 2 s.
pub fn keyframe_seconds<'a>(destinations: impl IntoIterator<Item = Option<&'a Preset>>) -> u32 {
    destinations
        .into_iter()
        .map(|p| p.map_or(KEYFRAME_INTERVAL_S, |p| p.video.keyframe_seconds))
        .min()
        .unwrap_or(KEYFRAME_INTERVAL_S)
}

impl Ingest {
    fn placeholder(&self) -> Option<&'static str> {
        [HOST, URL].into_iter().find(|p| self.url.contains(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_suggests_a_valid_destination_name() {
        let names: Vec<&str> = all().iter().map(|p| p.destination_name.as_str()).collect();
        for name in &names {
            crate::keys::check_name(name).unwrap();
        }
        assert!(
            names.contains(&"YouTube") && names.contains(&"Owncast"),
            "{names:?}"
        );
    }

    #[test]
    fn the_file_parses_with_every_platform_the_issue_names() {
        let ids: Vec<&str> = all().iter().map(|p| p.id.as_str()).collect();
        for wanted in [
            "twitch",
            "youtube",
            "kick",
            "facebook",
            "linkedin",
            "x",
            "owncast",
            "cloudflare",
            "cloudflare-whip",
            "mux",
            "livekit-cloud",
            "livekit",
            "custom",
        ] {
            assert!(ids.contains(&wanted), "{wanted} missing from {ids:?}");
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "ids are unique");
    }

    #[test]
    fn every_ingest_url_parses_into_the_presets_destination_type() {
        for preset in all() {
            for (n, ingest) in preset.ingests.iter().enumerate() {
                let url = preset
                    .ingest_url(Some(n), ingest.example.as_deref())
                    .unwrap_or_else(|e| panic!("{} ingest {n}: {}", preset.id, e.message));
                let destination = Destination::from_url(&url).unwrap();
                if let Some(protocol) = preset.protocol {
                    assert_eq!(
                        destination.destination_kind(),
                        protocol,
                        "{}: {url}",
                        preset.id
                    );
                }
                if ingest.placeholder().is_some() {
                    assert!(
                        ingest.example.is_some(),
                        "{}: a placeholder needs an example",
                        preset.id
                    );
                }
            }
            if let Some(status) = &preset.status {
                let example = preset.ingests[0].example.as_deref().unwrap_or("x");
                let url = status.url.replace(HOST, example);
                assert!(
                    url.starts_with("https://"),
                    "{}: a status page over TLS: {url}",
                    preset.id
                );
                assert!(
                    status.live_pointer.starts_with('/') && status.viewers_pointer.starts_with('/')
                );
            }
            if let Some(page) = &preset.key_page {
                assert!(page.starts_with("https://"), "{}: {page}", preset.id);
            }
        }
    }

    #[test]
    fn limits_are_within_what_onair_can_send() {
        for preset in all() {
            let v = preset.video;
            assert!((100..=50_000).contains(&v.max_kbps), "{}: {v:?}", preset.id);
            assert!(
                (1..=10).contains(&v.keyframe_seconds),
                "{}: {v:?}",
                preset.id
            );
            assert!(
                v.max_width >= 1280 && v.max_height >= 720 && (30..=60).contains(&v.max_fps),
                "{}",
                preset.id
            );
            let a = preset.audio;
            assert!(a.rate == 48_000 || a.rate == 44_100, "{}", preset.id);
            let webrtc = matches!(
                preset.protocol,
                Some(DestinationKind::Livekit | DestinationKind::Whip)
            );
            assert_eq!(
                a.codec == AudioCodecName::Opus,
                webrtc,
                "{}: the codec follows the protocol",
                preset.id
            );
        }
    }

    #[test]
    fn the_strictest_platform_caps_the_one_encode_and_a_request_under_it_stands() {
        let (twitch, youtube) = (find("twitch").unwrap(), find("youtube").unwrap());
        let cap = video_cap([youtube, twitch], 8000).unwrap();
        assert_eq!((cap.kbps, cap.platform.as_str()), (6000, "Twitch"));
        assert!(
            cap.sentence().contains("at most 6000 kbit/s"),
            "{}",
            cap.sentence()
        );
        assert_eq!(
            video_cap([twitch], 6000),
            None,
            "6000 asked of a 6000 cap stays 6000"
        );
        assert_eq!(video_cap([twitch], 2500), None);
        assert_eq!(video_cap([], 90_000), None, "no preset, no cap");
    }

    #[test]
    fn the_keyframe_interval_is_the_shortest_any_platform_asks_for() {
        let (twitch, x) = (find("twitch").unwrap(), find("x").unwrap());
        assert_eq!(keyframe_seconds([Some(x)]), 3);
        assert_eq!(keyframe_seconds([Some(x), Some(twitch)]), 2);
        assert_eq!(keyframe_seconds([Some(x), None]), 2, "a plain URL gets 2 s");
        assert_eq!(keyframe_seconds([]), 2);
    }

    #[test]
    fn a_preset_needing_a_host_says_what_to_fill_in() {
        let kick = find("kick").unwrap();
        let e = kick.ingest_url(None, None).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidDestination);
        assert!(
            e.message.contains("{host}") && e.message.contains("global-contribute"),
            "{}",
            e.message
        );
        assert_eq!(
            kick.ingest_url(None, Some("abc.global-contribute.live-video.net"))
                .unwrap(),
            "rtmps://abc.global-contribute.live-video.net/app"
        );
        assert!(kick
            .ingest_url(Some(5), None)
            .unwrap_err()
            .message
            .contains("from 0 to 0"));
        assert!(find("nope").unwrap_err().message.contains("twitch"));
        // Custom takes any URL Onair takes, and refuses the others.
        let custom = find("custom").unwrap();
        assert!(custom.ingest_url(None, Some("ftp://x/y")).is_err());
        assert_eq!(
            custom
                .ingest_url(None, Some("wss://lk.example.org"))
                .unwrap(),
            "wss://lk.example.org"
        );
    }
}
