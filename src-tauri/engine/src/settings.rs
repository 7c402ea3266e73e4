//! The creator's preferences: picture, encoding, devices, recording while
//! live, the status endpoint, start on login, and what the window last
//! looked like. Kept as `settings.json` beside `destinations.json` in the
//! same private folder, written the same atomic way. Never a secret here.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, OnairError};
use crate::keys::config::{parse_failure, write_private_file, ConfigStore};
use crate::keys::url::check_no_credentials;
use crate::pipeline::capture::CaptureSpec;
use crate::source::{AudioChoice, VideoChoice};
use crate::voice::VoiceMode;

const FILE_NAME: &str = "settings.json";

/// What is filmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VideoInput {
    TestPattern,
    /// A camera by its index in the device list.
    Camera {
        index: u32,
    },
}

/// What is heard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AudioInput {
    TestTone,
    /// A microphone by name; None is the system's default.
    Microphone {
        name: Option<String>,
    },
    None,
}

/// Where and how big the window was, in physical pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct WindowGeometry {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    pub maximized: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(default)]
pub struct Settings {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Video bitrate in kbit/s.
    pub video_kbps: u32,
    /// Three picture sizes for WebRTC destinations.
    pub simulcast: bool,
    /// Also keep a local recording while live (RTMP destinations).
    pub record_while_live: bool,
    /// A status endpoint polled while live when the destination names none.
    pub status_url: Option<String>,
    pub start_on_login: bool,
    pub video: VideoInput,
    pub audio: AudioInput,
    /// The voice chain on the microphone; None is the default for the
    /// audio input (clean for a microphone, off for the test tone).
    pub voice: Option<VoiceMode>,
    /// The destination picked last; Go Live uses it again.
    pub last_destination: Option<String>,
    pub window: Option<WindowGeometry>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            width: 1280,
            height: 720,
            fps: 30,
            video_kbps: 2500,
            simulcast: false,
            record_while_live: false,
            status_url: None,
            start_on_login: false,
            video: VideoInput::TestPattern,
            audio: AudioInput::TestTone,
            voice: None,
            last_destination: None,
            window: None,
        }
    }
}

impl Settings {
    /// The first thing out of range, as a sentence saying what fits.
    pub fn check(&self) -> Result<(), OnairError> {
        let bad = |message: String| Err(OnairError::new(ErrorCode::InvalidSettings, message));
        if !(160..=3840).contains(&self.width) || !(90..=2160).contains(&self.height) {
            return bad(format!(
                "{}x{} is not a picture size Onair can send: use 160x90 up to 3840x2160.",
                self.width, self.height
            ));
        }
        if !(1..=60).contains(&self.fps) {
            return bad(format!(
                "{} frames a second is out of range: use 1 to 60.",
                self.fps
            ));
        }
        if !(100..=50_000).contains(&self.video_kbps) {
            return bad(format!(
                "{} kbit/s is out of range: use 100 to 50000 (2500 suits 720p).",
                self.video_kbps
            ));
        }
        if let Some(url) = &self.status_url {
            let lower = url.to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                return bad(
                    "The status URL must start with http:// or https:// (your platform's status JSON)."
                        .into(),
                );
            }
            check_no_credentials(url)
                .map_err(|e| OnairError::new(ErrorCode::InvalidSettings, e.to_string()))?;
        }
        Ok(())
    }

    pub fn capture_spec(&self) -> CaptureSpec {
        let audio = match &self.audio {
            AudioInput::TestTone => AudioChoice::TestTone,
            AudioInput::Microphone { name } => AudioChoice::Microphone(name.clone()),
            AudioInput::None => AudioChoice::None,
        };
        CaptureSpec {
            video: match self.video {
                VideoInput::TestPattern => VideoChoice::TestPattern,
                VideoInput::Camera { index } => VideoChoice::Camera(Some(index)),
            },
            voice: self.voice.unwrap_or_else(|| VoiceMode::default_for(&audio)),
            audio,
            width: self.width,
            height: self.height,
            fps: self.fps,
        }
    }
}

/// `settings.json` in the destinations' folder.
#[derive(Debug, Clone)]
pub struct SettingsStore {
    dir: PathBuf,
}

impl SettingsStore {
    pub fn beside(destinations: &ConfigStore) -> SettingsStore {
        SettingsStore {
            dir: destinations.dir().to_path_buf(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// The saved settings; defaults when there are none. A file that does
    /// not parse is an error naming it (it is left in place to be fixed).
    pub fn load(&self) -> Result<Settings, OnairError> {
        let path = self.path();
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(e) => return Err(unreadable(&path, &e.to_string())),
        };
        serde_json::from_slice(&text).map_err(|e| unreadable(&path, &parse_failure(&e)))
    }

    /// Checks, then saves. Nothing is written when a value is out of range.
    pub fn save(&self, settings: &Settings) -> Result<(), OnairError> {
        settings.check()?;
        let mut text = serde_json::to_vec_pretty(settings).expect("settings serialize");
        text.push(b'\n');
        write_private_file(&self.dir, FILE_NAME, &text)
            .map_err(|e| OnairError::new(ErrorCode::Internal, e.to_string()))
    }
}

fn unreadable(path: &Path, why: &str) -> OnairError {
    OnairError::new(
        ErrorCode::InvalidSettings,
        format!(
            "The settings file {} could not be read ({why}). Fix or delete it; Onair then starts from its defaults.",
            path.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_saved_and_read_back_and_start_on_login_is_off() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::beside(&ConfigStore::in_dir(dir.path()));
        assert_eq!(store.load().unwrap(), Settings::default());
        assert!(!Settings::default().start_on_login);
        let changed = Settings {
            fps: 25,
            last_destination: Some("main".into()),
            audio: AudioInput::Microphone { name: None },
            ..Settings::default()
        };
        store.save(&changed).unwrap();
        assert_eq!(store.load().unwrap(), changed);
    }

    #[test]
    fn a_file_missing_new_fields_takes_their_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), br#"{"fps": 24}"#).unwrap();
        let store = SettingsStore::beside(&ConfigStore::in_dir(dir.path()));
        let loaded = store.load().unwrap();
        assert_eq!((loaded.fps, loaded.width), (24, 1280));
    }

    #[test]
    fn out_of_range_values_are_refused_with_what_fits_and_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::beside(&ConfigStore::in_dir(dir.path()));
        for bad in [
            Settings {
                fps: 0,
                ..Settings::default()
            },
            Settings {
                video_kbps: 10,
                ..Settings::default()
            },
            Settings {
                width: 10,
                ..Settings::default()
            },
            Settings {
                status_url: Some("ftp://x".into()),
                ..Settings::default()
            },
            Settings {
                status_url: Some("https://u:pw@x/status".into()),
                ..Settings::default()
            },
        ] {
            let e = store.save(&bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidSettings, "{}", e.message);
            assert!(!e.message.contains("pw"), "{}", e.message);
        }
        assert!(!store.path().exists());
    }

    #[test]
    fn the_voice_chain_defaults_to_clean_for_a_microphone_and_off_for_the_tone() {
        let tone = Settings::default();
        assert_eq!(tone.capture_spec().voice, VoiceMode::Off);
        let mic = Settings {
            audio: AudioInput::Microphone { name: None },
            ..Settings::default()
        };
        assert_eq!(mic.capture_spec().voice, VoiceMode::Clean);
        let chosen = Settings {
            voice: Some(VoiceMode::Light),
            ..mic
        };
        assert_eq!(chosen.capture_spec().voice, VoiceMode::Light);
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::beside(&ConfigStore::in_dir(dir.path()));
        store.save(&chosen).unwrap();
        assert_eq!(store.load().unwrap().voice, Some(VoiceMode::Light));
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(text.contains(r#""voice": "light""#), "{text}");
    }
}
