//! The creator's preferences: picture, encoding, devices, recording while
//! live, the status endpoint, start on login, and what the window last
//! looked like. Kept as `settings.json` beside `destinations.json` in the
//! same private folder, written the same atomic way. Never a secret here.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::compose::Layout;
use crate::error::{ErrorCode, OnairError};
use crate::keys::config::{keep_aside, parse_failure, write_private_file, ConfigStore};
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
    /// The screen (one monitor by its index, or all of them), with the
    /// camera (the test pattern where there is none) placed by `layout`.
    Screen {
        monitor: Option<u32>,
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
    /// Keep a local recording (the studio's "Local recording" tick): alone,
    /// Go Live records to a file; beside destinations, it records while live.
    pub record: bool,
    /// A status endpoint polled while live when the destination names none.
    pub status_url: Option<String>,
    pub start_on_login: bool,
    pub video: VideoInput,
    pub audio: AudioInput,
    /// The voice chain on the microphone; None is the default for the
    /// audio input (clean for a microphone, off for the test tone).
    pub voice: Option<VoiceMode>,
    /// The destinations ticked last; Go Live uses them again.
    pub destinations: Vec<String>,
    /// How the screen and the camera share the picture.
    pub layout: Layout,
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
            record: true,
            status_url: None,
            start_on_login: false,
            video: VideoInput::TestPattern,
            audio: AudioInput::TestTone,
            voice: None,
            destinations: Vec::new(),
            layout: Layout::default(),
            window: None,
        }
    }
}

/// Reads a settings file, older ones included: before several destinations
/// went live at once, the file kept one `last_destination` (or none) and
/// `record_while_live`.
fn parse(text: &[u8]) -> Result<Settings, serde_json::Error> {
    let mut value: serde_json::Value = serde_json::from_slice(text)?;
    if let Some(file) = value.as_object_mut() {
        if let Some(last) = file.remove("last_destination") {
            let names = last.as_str().map(|name| vec![name.to_string()]);
            file.entry("destinations")
                .or_insert(serde_json::json!(names.unwrap_or_default()));
        }
        if let Some(record) = file.remove("record_while_live") {
            file.entry("record").or_insert(record);
        }
    }
    serde_json::from_value(value)
}

/// The values `check` looks at, each reset on its own when out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Size,
    Fps,
    VideoKbps,
    StatusUrl,
}

impl Settings {
    /// The first thing out of range, as a sentence saying what fits.
    pub fn check(&self) -> Result<(), OnairError> {
        match self.problems().into_iter().next() {
            Some((_, message)) => Err(OnairError::new(ErrorCode::InvalidSettings, message)),
            None => Ok(()),
        }
    }

    /// Everything out of range, each with a sentence saying what fits.
    fn problems(&self) -> Vec<(Field, String)> {
        let mut found = Vec::new();
        if !(160..=3840).contains(&self.width) || !(90..=2160).contains(&self.height) {
            found.push((
                Field::Size,
                format!(
                    "{}x{} is not a picture size Onair can send: use 160x90 up to 3840x2160.",
                    self.width, self.height
                ),
            ));
        }
        if !(1..=60).contains(&self.fps) {
            found.push((
                Field::Fps,
                format!("{} frames a second is out of range: use 1 to 60.", self.fps),
            ));
        }
        if !(100..=50_000).contains(&self.video_kbps) {
            found.push((
                Field::VideoKbps,
                format!(
                    "{} kbit/s is out of range: use 100 to 50000 (2500 suits 720p).",
                    self.video_kbps
                ),
            ));
        }
        if let Some(url) = &self.status_url {
            let lower = url.to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                found.push((
                    Field::StatusUrl,
                    "The status URL must start with http:// or https:// (your platform's status JSON)."
                        .into(),
                ));
            } else if let Err(e) = check_no_credentials(url) {
                found.push((Field::StatusUrl, e.to_string()));
            }
        }
        found
    }

    /// These settings with every value out of range replaced by its
    /// default, and what was replaced, in sentences a creator can act on.
    fn repaired(mut self) -> (Settings, Vec<String>) {
        let defaults = Settings::default();
        let mut notes = Vec::new();
        for (field, problem) in self.problems() {
            let used = match field {
                Field::Size => {
                    (self.width, self.height) = (defaults.width, defaults.height);
                    format!("{}x{}", self.width, self.height)
                }
                Field::Fps => {
                    self.fps = defaults.fps;
                    format!("{} frames a second", self.fps)
                }
                Field::VideoKbps => {
                    self.video_kbps = defaults.video_kbps;
                    format!("{} kbit/s", self.video_kbps)
                }
                Field::StatusUrl => {
                    self.status_url = None;
                    "no status URL".into()
                }
            };
            notes.push(format!("{problem} Onair uses {used} instead."));
        }
        (self, notes)
    }

    pub fn capture_spec(&self) -> CaptureSpec {
        let audio = match &self.audio {
            AudioInput::TestTone => AudioChoice::TestTone,
            AudioInput::Microphone { name } => AudioChoice::Microphone(name.clone()),
            AudioInput::None => AudioChoice::None,
        };
        let (video, overlay) = match self.video {
            VideoInput::TestPattern => (VideoChoice::TestPattern, None),
            VideoInput::Camera { index } => (VideoChoice::Camera(Some(index)), None),
            VideoInput::Screen { monitor } => {
                let face = if crate::source::camera_count() > 0 {
                    VideoChoice::Camera(None)
                } else {
                    VideoChoice::TestPattern
                };
                (
                    VideoChoice::Screen(monitor.map(|m| m.to_string())),
                    Some(face),
                )
            }
        };
        CaptureSpec {
            video,
            voice: self.voice.unwrap_or_else(|| VoiceMode::default_for(&audio)),
            audio,
            overlay,
            layout: self.layout,
            pip_percent: crate::compose::DEFAULT_PIP_PERCENT,
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

    /// The saved settings, and what the creator must hear about them. Never
    /// fails, so the window always opens: no file gives the defaults; a
    /// file that does not parse is kept aside (`settings.json.corrupt-<unix
    /// time>`, as the destinations file is) and the defaults are used; a
    /// value out of range (a hand-edited `fps: 0`) takes its default and the
    /// rest are kept. Either way the note says what happened.
    pub fn load(&self) -> (Settings, Option<OnairError>) {
        let path = self.path();
        let parsed = match std::fs::read(&path) {
            Ok(text) => parse(&text).map_err(|e| parse_failure(&e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (Settings::default(), None)
            }
            Err(e) => Err(e.to_string()),
        };
        match parsed {
            Ok(settings) => {
                let (settings, notes) = settings.repaired();
                let note = (!notes.is_empty()).then(|| {
                    OnairError::new(
                        ErrorCode::InvalidSettings,
                        format!(
                            "The settings file {} has values Onair cannot use. {}",
                            path.display(),
                            notes.join(" ")
                        ),
                    )
                });
                (settings, note)
            }
            Err(why) => (Settings::default(), Some(set_aside(&path, &why))),
        }
    }

    /// Checks, then saves. Nothing is written when a value is out of range,
    /// and a file on disk that does not parse (hand-edited while Onair ran)
    /// is kept aside first, never replaced.
    pub fn save(&self, settings: &Settings) -> Result<(), OnairError> {
        settings.check()?;
        let path = self.path();
        match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Ok(text) if parse(&text).is_ok() => {}
            Ok(_) | Err(_) => {
                keep_aside(&path)
                    .map_err(|e| OnairError::new(ErrorCode::Internal, e.to_string()))?;
            }
        }
        let mut text = serde_json::to_vec_pretty(settings).expect("settings serialize");
        text.push(b'\n');
        write_private_file(&self.dir, FILE_NAME, &text)
            .map_err(|e| OnairError::new(ErrorCode::Internal, e.to_string()))
    }
}

/// A settings file that cannot be used: moved aside so nothing writes over
/// it, and the sentence that says where it went.
fn set_aside(path: &Path, why: &str) -> OnairError {
    let message = match keep_aside(path) {
        Ok(kept_as) => format!(
            "The settings file {} was not valid ({why}). It was kept as {} so nothing is lost; Onair uses its defaults until you save your settings.",
            path.display(),
            kept_as.display()
        ),
        // Left in place: `save` tries again before it writes.
        Err(e) => format!(
            "The settings file {} was not valid ({why}) and could not be moved aside ({e}). Onair uses its defaults and will not write over it: fix or move it.",
            path.display()
        ),
    };
    OnairError::new(ErrorCode::InvalidSettings, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_saved_and_read_back_and_start_on_login_is_off() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::beside(&ConfigStore::in_dir(dir.path()));
        assert_eq!(store.load(), (Settings::default(), None));
        assert!(!Settings::default().start_on_login);
        let changed = Settings {
            fps: 25,
            destinations: vec!["main".into(), "backup".into()],
            audio: AudioInput::Microphone { name: None },
            ..Settings::default()
        };
        store.save(&changed).unwrap();
        assert_eq!(store.load(), (changed, None));
    }

    #[test]
    fn an_older_file_with_one_destination_and_record_while_live_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::beside(&ConfigStore::in_dir(dir.path()));
        for (old, destinations, record) in [
            (
                r#"{"last_destination": "main", "record_while_live": false}"#,
                vec!["main"],
                false,
            ),
            (
                r#"{"last_destination": null, "record_while_live": true}"#,
                vec![],
                true,
            ),
            (
                r#"{"destinations": ["a", "b"], "record": false}"#,
                vec!["a", "b"],
                false,
            ),
        ] {
            std::fs::write(store.path(), old).unwrap();
            let (loaded, note) = store.load();
            assert_eq!(
                (loaded.destinations, loaded.record, note),
                (
                    destinations.iter().map(|s| s.to_string()).collect(),
                    record,
                    None
                ),
                "{old}"
            );
        }
    }

    #[test]
    fn a_file_missing_new_fields_takes_their_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), br#"{"fps": 24}"#).unwrap();
        let store = SettingsStore::beside(&ConfigStore::in_dir(dir.path()));
        let (loaded, note) = store.load();
        assert_eq!((loaded.fps, loaded.width, note), (24, 1280, None));
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

    fn kept_copies(dir: &Path) -> Vec<PathBuf> {
        let mut kept: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains("settings.json.corrupt-"))
            .collect();
        kept.sort();
        kept
    }

    #[test]
    fn a_corrupt_file_is_kept_aside_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::beside(&ConfigStore::in_dir(dir.path()));
        std::fs::write(store.path(), b"{ \"fps\": 25, oops").unwrap();
        let (settings, note) = store.load();
        assert_eq!(settings, Settings::default());
        let note = note.unwrap();
        assert_eq!(note.code, ErrorCode::InvalidSettings);
        let kept = kept_copies(dir.path());
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert!(
            note.message.contains(&kept[0].display().to_string()),
            "{}",
            note.message
        );
        // What the window saves next (geometry, the last destination) starts
        // afresh; the creator's text is still there.
        store.save(&settings).unwrap();
        assert_eq!(std::fs::read(&kept[0]).unwrap(), b"{ \"fps\": 25, oops");
        assert_eq!(store.load(), (Settings::default(), None));

        // A file broken while Onair runs is kept aside by the save itself.
        std::fs::write(store.path(), b"not json either").unwrap();
        store.save(&settings).unwrap();
        assert_eq!(kept_copies(dir.path()).len(), 2);
    }

    #[test]
    fn values_out_of_range_take_their_defaults_and_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::beside(&ConfigStore::in_dir(dir.path()));
        std::fs::write(
            store.path(),
            br#"{"fps": 0, "width": 100000, "height": 100000, "video_kbps": 4000000000,
                "simulcast": true, "last_destination": "main"}"#,
        )
        .unwrap();
        let (settings, note) = store.load();
        assert_eq!(
            (
                settings.fps,
                settings.width,
                settings.height,
                settings.video_kbps
            ),
            (30, 1280, 720, 2500)
        );
        // The values that fit are kept.
        assert!(settings.simulcast);
        assert_eq!(
            settings.destinations,
            ["main"],
            "an older single pick is read"
        );
        settings.check().unwrap();
        let note = note.unwrap();
        assert_eq!(note.code, ErrorCode::InvalidSettings);
        for said in [
            "0 frames a second",
            "30 frames a second",
            "100000x100000",
            "1280x720",
            "4000000000 kbit/s",
        ] {
            assert!(note.message.contains(said), "{said}: {}", note.message);
        }
        // Nothing was moved aside: the file was readable.
        assert!(kept_copies(dir.path()).is_empty());
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
        assert_eq!(store.load().0.voice, Some(VoiceMode::Light));
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(text.contains(r#""voice": "light""#), "{text}");
    }
}
