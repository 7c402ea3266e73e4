//! Import from OBS Studio: a profile's `service.json` holds the ingest server
//! and the stream key in plaintext. This module only reads and understands it;
//! `keys::Keys::import_obs` moves the key into the keychain.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::url::split_key;
use crate::redact::redact_url;
use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum ObsError {
    #[error("No OBS Studio settings found at {}. Pass the profile folder: onair keys import-obs DIR.", .0.display())]
    NoObsConfig(PathBuf),
    #[error("OBS has several profiles ({}); pass the one to import: onair keys import-obs {}/NAME.", names.join(", "), dir.display())]
    WhichProfile { dir: PathBuf, names: Vec<String> },
    #[error("Could not read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a valid OBS service.json ({reason}).", path.display())]
    NotServiceJson { path: PathBuf, reason: String },
    #[error("The OBS profile streams with {0:?}, which Onair cannot import; add it with onair keys add.")]
    UnsupportedType(String),
    #[error("OBS picks the {0} server automatically and Onair does not know its ingest URL. Look it up on {0}'s site and use: onair keys add NAME --url URL.")]
    UnknownAutoServer(String),
    #[error("The OBS profile has no {0}.")]
    Missing(&'static str),
    #[error("The OBS profile logs in to {0} with a username and password, which Onair does not support yet.")]
    UsesAuth(String),
}

/// What an OBS profile streams to, with its key split off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObsService {
    /// "Twitch", "YouTube - RTMPS", or "Custom" for a custom server.
    pub service: String,
    pub url: String,
    pub key: Secret,
}

impl ObsService {
    /// A destination name for it: the service's name, or `obs` for a custom server.
    pub fn suggested_name(&self) -> String {
        let name: String = self
            .service
            .split(|c: char| !c.is_ascii_alphanumeric())
            .find(|word| !word.is_empty())
            .unwrap_or("obs")
            .to_ascii_lowercase();
        if name == "custom" {
            "obs".into()
        } else {
            name
        }
    }
}

/// Ingest URLs for listed services whose OBS setting is "auto".
fn auto_server(service: &str) -> Option<&'static str> {
    let service = service.to_ascii_lowercase();
    if service == "twitch" {
        // Twitch routes this name to the nearest ingest, as OBS's "auto" does.
        Some("rtmp://live.twitch.tv/app")
    } else if service.starts_with("youtube") && !service.contains("hls") {
        Some("rtmps://a.rtmps.youtube.com:443/live2")
    } else {
        None
    }
}

/// Reads a `service.json` (given directly, or inside a profile folder).
pub fn read_service(path: &Path) -> Result<ObsService, ObsError> {
    let file = if path.is_dir() {
        path.join("service.json")
    } else {
        path.to_path_buf()
    };
    let text = fs::read_to_string(&file).map_err(|source| ObsError::Unreadable {
        path: file.clone(),
        source,
    })?;
    parse_service(&text).map_err(|e| match e {
        ObsError::NotServiceJson { reason, .. } => ObsError::NotServiceJson { path: file, reason },
        other => other,
    })
}

/// Understands the text of a `service.json`.
pub fn parse_service(text: &str) -> Result<ObsService, ObsError> {
    let not_service = |reason: String| ObsError::NotServiceJson {
        path: PathBuf::from("service.json"),
        reason,
    };
    let json: Value =
        serde_json::from_str(text).map_err(|e| not_service(super::config::parse_failure(&e)))?;
    let kind = json
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| not_service("no \"type\"".into()))?;
    let settings = json
        .get("settings")
        .ok_or_else(|| not_service("no \"settings\"".into()))?;
    let field = |name: &str| {
        settings
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let uses_auth = settings.get("use_auth").and_then(Value::as_bool) == Some(true);

    let (service, server, key) = match kind {
        "rtmp_custom" => ("Custom".to_string(), field("server"), field("key")),
        "rtmp_common" => {
            let service = field("service").ok_or(ObsError::Missing("service name"))?;
            let server = match field("server") {
                Some("auto") | None => Some(
                    auto_server(service)
                        .ok_or_else(|| ObsError::UnknownAutoServer(service.to_string()))?,
                ),
                Some(url) => Some(url),
            };
            (service.to_string(), server, field("key"))
        }
        "whip_custom" => ("WHIP".to_string(), field("server"), field("bearer_token")),
        other => return Err(ObsError::UnsupportedType(other.to_string())),
    };
    let server = server.ok_or(ObsError::Missing("server URL"))?;
    if uses_auth {
        return Err(ObsError::UsesAuth(redact_url(server)));
    }
    // Some creators paste the whole URL, key included, into OBS's server box.
    let split = split_key(server);
    let key = match (key, split.key) {
        (Some(key), _) => Secret::new(key),
        (None, Some(from_url)) => from_url,
        (None, None) => return Err(ObsError::Missing("stream key")),
    };
    Ok(ObsService {
        service,
        url: split.url,
        key,
    })
}

/// OBS's own settings folder on this platform.
pub fn obs_config_dir() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("obs-studio"))
}

/// The profile folder to import from: `dir` itself when it holds a
/// `service.json`, else its current (or only) profile.
pub fn find_profile(dir: &Path) -> Result<PathBuf, ObsError> {
    if dir.join("service.json").is_file() || dir.is_file() {
        return Ok(dir.to_path_buf());
    }
    let profiles_dir = if dir.join("basic/profiles").is_dir() {
        dir.join("basic/profiles")
    } else if dir.join("profiles").is_dir() {
        dir.join("profiles")
    } else if dir.is_dir() {
        dir.to_path_buf()
    } else {
        return Err(ObsError::NoObsConfig(dir.to_path_buf()));
    };
    let mut names: Vec<String> = fs::read_dir(&profiles_dir)
        .map_err(|source| ObsError::Unreadable {
            path: profiles_dir.clone(),
            source,
        })?
        .filter_map(Result::ok)
        .filter(|e| e.path().join("service.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    if let Some(current) = current_profile(dir).filter(|name| names.contains(name)) {
        return Ok(profiles_dir.join(current));
    }
    match names.as_slice() {
        [] => Err(ObsError::NoObsConfig(dir.to_path_buf())),
        [only] => Ok(profiles_dir.join(only)),
        _ => Err(ObsError::WhichProfile {
            dir: profiles_dir,
            names,
        }),
    }
}

/// The profile OBS had open last: `ProfileDir` in `[Basic]` of user.ini
/// (OBS 31+) or global.ini (older).
fn current_profile(obs_dir: &Path) -> Option<String> {
    ["user.ini", "global.ini"].iter().find_map(|file| {
        let text = fs::read_to_string(obs_dir.join(file)).ok()?;
        ini_value(&text, "Basic", "ProfileDir")
    })
}

fn ini_value(text: &str, section: &str, key: &str) -> Option<String> {
    let mut in_section = false;
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = name == section;
        } else if in_section {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == key && !v.trim().is_empty() {
                    return Some(v.trim().to_string());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_rtmp_server_and_key() {
        let s = parse_service(
            r#"{"type":"rtmp_custom","settings":{"server":"rtmp://ingest.example/live","key":"sk_live_0123456789","use_auth":false}}"#,
        )
        .unwrap();
        assert_eq!(s.url, "rtmp://ingest.example/live");
        assert_eq!(s.key.expose(), "sk_live_0123456789");
        assert_eq!(s.suggested_name(), "obs");
    }

    #[test]
    fn a_key_pasted_into_the_server_box_is_split() {
        let s = parse_service(
            r#"{"type":"rtmp_custom","settings":{"server":"rtmp://ingest.example/live/sk_in_url_123"}}"#,
        )
        .unwrap();
        assert_eq!(s.url, "rtmp://ingest.example/live");
        assert_eq!(s.key.expose(), "sk_in_url_123");
    }

    #[test]
    fn listed_services_map_auto_to_their_ingest() {
        let s = parse_service(
            r#"{"type":"rtmp_common","settings":{"service":"Twitch","server":"auto","key":"live_1_abc"}}"#,
        )
        .unwrap();
        assert_eq!(s.url, "rtmp://live.twitch.tv/app");
        assert_eq!(s.suggested_name(), "twitch");

        let s = parse_service(
            r#"{"type":"rtmp_common","settings":{"service":"YouTube - RTMPS","server":"rtmps://a.rtmps.youtube.com:443/live2","key":"abcd-efgh"}}"#,
        )
        .unwrap();
        assert_eq!(s.url, "rtmps://a.rtmps.youtube.com:443/live2");
        assert_eq!(s.suggested_name(), "youtube");
    }

    #[test]
    fn unknown_auto_servers_fail_clearly() {
        let err = parse_service(
            r#"{"type":"rtmp_common","settings":{"service":"SomeNewSite","server":"auto","key":"k_secret_1"}}"#,
        )
        .unwrap_err();
        assert!(matches!(err, ObsError::UnknownAutoServer(ref s) if s == "SomeNewSite"));
        assert!(!err.to_string().contains("k_secret_1"));
    }

    #[test]
    fn missing_keys_and_odd_files_are_errors_that_do_not_quote_the_file() {
        assert!(matches!(
            parse_service(r#"{"type":"rtmp_custom","settings":{"server":"rtmp://h/app"}}"#),
            Err(ObsError::Missing("stream key"))
        ));
        assert!(matches!(
            parse_service(r#"{"type":"ftl","settings":{}}"#),
            Err(ObsError::UnsupportedType(_))
        ));
        let err =
            parse_service(r#"{"type":"rtmp_custom","settings":{"key":"sk_leak_me" "#).unwrap_err();
        assert!(!err.to_string().contains("sk_leak_me"), "{err}");
        assert!(matches!(
            parse_service(
                r#"{"type":"rtmp_custom","settings":{"server":"rtmp://h/app","key":"k","use_auth":true,"username":"u","password":"p"}}"#
            ),
            Err(ObsError::UsesAuth(_))
        ));
    }

    #[test]
    fn whip_custom_uses_the_bearer_token() {
        let s = parse_service(
            r#"{"type":"whip_custom","settings":{"server":"https://whip.example/w","bearer_token":"tok_123"}}"#,
        )
        .unwrap();
        assert_eq!(s.url, "https://whip.example/w");
        assert_eq!(s.key.expose(), "tok_123");
    }

    #[test]
    fn the_current_profile_is_found_from_user_ini() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["Untitled", "Gaming"] {
            let profile = dir.path().join("basic/profiles").join(name);
            fs::create_dir_all(&profile).unwrap();
            fs::write(profile.join("service.json"), "{}").unwrap();
        }
        let err = find_profile(dir.path()).unwrap_err();
        assert!(matches!(err, ObsError::WhichProfile { .. }), "{err}");
        fs::write(
            dir.path().join("user.ini"),
            "[General]\nX=1\n[Basic]\nProfile=Gaming\nProfileDir=Gaming\n",
        )
        .unwrap();
        assert_eq!(
            find_profile(dir.path()).unwrap(),
            dir.path().join("basic/profiles/Gaming")
        );
        let profile = dir.path().join("basic/profiles/Untitled");
        assert_eq!(find_profile(&profile).unwrap(), profile);
    }
}
