//! A saved destination's non-secret settings, typed: what LiveKit needs to
//! get a token and where a status endpoint's answer says "live" and how
//! many watch. Parsed when the config file is read and checked once, when a
//! destination is saved; everything else reads the fields. The file keeps
//! them as the flat `"options": {"room": "show"}` object older Onair wrote,
//! so files load both ways.

use serde::{Deserialize, Serialize};

use super::DestinationKind;

/// Where a plain status endpoint's answer says "live" and the viewer count,
/// unless the destination names other JSON pointers.
pub const DEFAULT_LIVE_POINTER: &str = "/isLive";
pub const DEFAULT_VIEWERS_POINTER: &str = "/viewerCount";
/// Where a token URL's answer has the token and the server URL.
pub const DEFAULT_TOKEN_POINTER: &str = "/token";
pub const DEFAULT_URL_POINTER: &str = "/url";
/// Who minted tokens say is publishing.
pub const DEFAULT_IDENTITY: &str = "onair";

/// Every setting of a destination besides its URLs and its secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DestinationOptions {
    #[serde(flatten)]
    pub livekit: LiveKitOptions,
    #[serde(flatten)]
    pub status: StatusOptions,
    /// The platform preset it was made from (`onair presets`): its limits
    /// apply when a session is planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
}

/// How a LiveKit destination gets its token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct LiveKitOptions {
    /// The room this destination streams to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Self-hosted: the API key. The keychain then holds its secret and
    /// Onair mints its own tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// The identity minted tokens carry (default `onair`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// The JSON pointer to the token in the token URL's answer (default `/token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_pointer: Option<String>,
    /// The JSON pointer to the server URL in the token URL's answer (default `/url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_pointer: Option<String>,
}

/// How a status endpoint's answer is read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct StatusOptions {
    /// The JSON pointer to "is live" (default `/isLive`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_pointer: Option<String>,
    /// The JSON pointer to the viewer count (default `/viewerCount`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub viewers_pointer: Option<String>,
}

impl LiveKitOptions {
    pub fn identity(&self) -> &str {
        self.identity.as_deref().unwrap_or(DEFAULT_IDENTITY)
    }

    pub fn token_pointer(&self) -> &str {
        self.token_pointer
            .as_deref()
            .unwrap_or(DEFAULT_TOKEN_POINTER)
    }

    pub fn url_pointer(&self) -> &str {
        self.url_pointer.as_deref().unwrap_or(DEFAULT_URL_POINTER)
    }
}

impl StatusOptions {
    pub fn live_pointer(&self) -> &str {
        self.live_pointer.as_deref().unwrap_or(DEFAULT_LIVE_POINTER)
    }

    pub fn viewers_pointer(&self) -> &str {
        self.viewers_pointer
            .as_deref()
            .unwrap_or(DEFAULT_VIEWERS_POINTER)
    }
}

/// Why a destination's options cannot be saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error("The {option} option only applies to LiveKit destinations, and this one is {}. Leave it out.", .kind.as_str())]
    NotForKind {
        option: &'static str,
        kind: DestinationKind,
    },
    #[error("The {0} option is empty. Leave it out or give it a value.")]
    Empty(&'static str),
    #[error("The {0} option has a line break or another control character in it.")]
    ControlCharacter(&'static str),
    #[error("The {option} option {value:?} is not a JSON pointer: one starts with / (for example /data/isLive).")]
    NotAPointer { option: &'static str, value: String },
    #[error("There is no preset {0:?}: onair presets lists them.")]
    UnknownPreset(String),
}

impl DestinationOptions {
    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    /// The options that are set, by their config file names, for listings.
    pub fn entries(&self) -> Vec<(&'static str, &str)> {
        let LiveKitOptions {
            room,
            api_key,
            identity,
            token_pointer,
            url_pointer,
        } = &self.livekit;
        let StatusOptions {
            live_pointer,
            viewers_pointer,
        } = &self.status;
        let preset = &self.preset;
        [
            ("room", room),
            ("api_key", api_key),
            ("identity", identity),
            ("token_pointer", token_pointer),
            ("url_pointer", url_pointer),
            ("live_pointer", live_pointer),
            ("viewers_pointer", viewers_pointer),
            ("preset", preset),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value.as_deref()?)))
        .collect()
    }

    /// The one check, run when a destination of `kind` is saved: LiveKit
    /// settings only on LiveKit destinations, no blank values, pointers that
    /// are JSON pointers. (A room is not required with an API key: `onair
    /// token --room` can name one; going live says when it is missing.)
    pub fn check(&self, kind: DestinationKind) -> Result<(), OptionsError> {
        let livekit_only = [
            "room",
            "api_key",
            "identity",
            "token_pointer",
            "url_pointer",
        ];
        let pointers = [
            "token_pointer",
            "url_pointer",
            "live_pointer",
            "viewers_pointer",
        ];
        for (option, value) in self.entries() {
            if kind != DestinationKind::Livekit && livekit_only.contains(&option) {
                return Err(OptionsError::NotForKind { option, kind });
            }
            if value.trim().is_empty() {
                return Err(OptionsError::Empty(option));
            }
            if value.chars().any(char::is_control) {
                return Err(OptionsError::ControlCharacter(option));
            }
            if option == "preset" && crate::preset::find(value).is_err() {
                return Err(OptionsError::UnknownPreset(value.to_string()));
            }
            if pointers.contains(&option) && !value.starts_with('/') {
                return Err(OptionsError::NotAPointer {
                    option,
                    value: value.to_string(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn livekit(room: &str) -> DestinationOptions {
        DestinationOptions {
            livekit: LiveKitOptions {
                room: Some(room.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn options_are_the_flat_object_older_files_hold() {
        // As Onair 0.1 wrote them, plus a key no version knows.
        let text = r#"{"api_key":"devkey","room":"show","identity":"cam","token_pointer":"/t",
            "url_pointer":"/u","live_pointer":"/on","viewers_pointer":"/n","someday":"x"}"#;
        let options: DestinationOptions = serde_json::from_str(text).unwrap();
        assert_eq!(options.livekit.room.as_deref(), Some("show"));
        assert_eq!(options.livekit.api_key.as_deref(), Some("devkey"));
        assert_eq!(options.livekit.identity(), "cam");
        assert_eq!(options.livekit.token_pointer(), "/t");
        assert_eq!(options.livekit.url_pointer(), "/u");
        assert_eq!(options.status.live_pointer(), "/on");
        assert_eq!(options.status.viewers_pointer(), "/n");
        // Written back in the same shape (older Onair reads it), unset ones left out.
        let back = serde_json::to_value(livekit("show")).unwrap();
        assert_eq!(back, serde_json::json!({ "room": "show" }));
        let empty: DestinationOptions = serde_json::from_str("{}").unwrap();
        assert!(empty.is_empty());
        assert_eq!(serde_json::to_string(&empty).unwrap(), "{}");
    }

    #[test]
    fn defaults_fill_what_is_not_set() {
        let none = DestinationOptions::default();
        assert_eq!(none.livekit.identity(), DEFAULT_IDENTITY);
        assert_eq!(none.livekit.token_pointer(), "/token");
        assert_eq!(none.livekit.url_pointer(), "/url");
        assert_eq!(none.status.live_pointer(), "/isLive");
        assert_eq!(none.status.viewers_pointer(), "/viewerCount");
    }

    #[test]
    fn bad_values_are_refused_with_what_to_fix() {
        assert_eq!(livekit("show").check(DestinationKind::Livekit), Ok(()));
        let e = livekit("show").check(DestinationKind::Rtmp).unwrap_err();
        assert!(e.to_string().contains("only applies to LiveKit"), "{e}");
        assert_eq!(
            livekit(" ").check(DestinationKind::Livekit),
            Err(OptionsError::Empty("room"))
        );
        assert_eq!(
            livekit("a\nb").check(DestinationKind::Livekit),
            Err(OptionsError::ControlCharacter("room"))
        );
        let mut status = DestinationOptions::default();
        status.status.viewers_pointer = Some("viewerCount".into());
        let e = status.check(DestinationKind::Whip).unwrap_err();
        assert!(matches!(
            e,
            OptionsError::NotAPointer {
                option: "viewers_pointer",
                ..
            }
        ));
        assert!(e.to_string().contains("starts with /"), "{e}");
        // Status pointers go with any kind.
        status.status.viewers_pointer = Some("/n".into());
        assert_eq!(status.check(DestinationKind::Rtmp), Ok(()));
    }
}
