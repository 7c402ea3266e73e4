//! What a destination URL says and hides: its kind (from the scheme), and a
//! stream key pasted inside it (`rtmp://host/app/KEY`), which is split off so
//! that only `rtmp://host/app` is ever written to the config file.

use serde::{Deserialize, Serialize};

use crate::redact::redact_url;
use crate::secret::Secret;

/// The protocol a destination speaks, named as the config file and `--json`
/// spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum DestinationKind {
    Rtmp,
    Livekit,
    Whip,
    File,
}

impl DestinationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationKind::Rtmp => "rtmp",
            DestinationKind::Livekit => "livekit",
            DestinationKind::Whip => "whip",
            DestinationKind::File => "file",
        }
    }

    /// Whether going live to this kind needs a secret from the keychain.
    pub fn needs_secret(self) -> bool {
        self != DestinationKind::File
    }
}

/// Why a URL cannot be saved as a destination. Messages only ever show the
/// URL through `redact_url`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    // The text is not echoed: what is not a URL might be a key pasted in the wrong place.
    #[error("That is neither a file: path nor a URL. Use rtmp(s)://host/app, ws(s)://host, http(s)://host/whip or file:PATH.")]
    NotAUrl,
    #[error("Onair cannot publish to {0}:// URLs. Use rtmp(s)://, ws(s)://, http(s):// or file:.")]
    UnsupportedScheme(String),
    #[error("The URL {0} has no host.")]
    NoHost(String),
    #[error("The URL {0} carries a password or token. Remove it from the URL: Onair keeps secrets in the keychain and reads them from stdin.")]
    CarriesCredentials(String),
}

/// The kind a URL's scheme selects.
pub fn infer_kind(url: &str) -> Result<DestinationKind, UrlError> {
    let url = url.trim();
    if url.starts_with("file:") {
        return Ok(DestinationKind::File);
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(UrlError::NotAUrl);
    };
    let kind = match scheme.to_ascii_lowercase().as_str() {
        "rtmp" | "rtmps" => DestinationKind::Rtmp,
        "ws" | "wss" => DestinationKind::Livekit,
        "http" | "https" => DestinationKind::Whip,
        _ => return Err(UrlError::UnsupportedScheme(scheme.to_string())),
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(UrlError::NoHost(redact_url(url)));
    }
    Ok(kind)
}

/// A URL with any stream key taken out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitUrl {
    pub url: String,
    pub key: Option<Secret>,
}

/// Splits a key pasted inside an RTMP URL: everything after the application
/// name (more path segments, and a query that belongs to them) is the key.
/// Other URLs come back unchanged; they are checked by `check_no_credentials`.
pub fn split_key(url: &str) -> SplitUrl {
    let url = url.trim();
    let unchanged = || SplitUrl {
        url: url.to_string(),
        key: None,
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return unchanged();
    };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "rtmp" | "rtmps") {
        return unchanged();
    }
    // rest = authority "/" app "/" key...
    let Some((authority, path)) = rest.split_once('/') else {
        return unchanged();
    };
    let Some((app, key)) = path.split_once('/') else {
        return unchanged();
    };
    if key.is_empty() || app.is_empty() || app.contains('?') {
        return SplitUrl {
            url: format!("{scheme}://{authority}/{app}"),
            key: None,
        };
    }
    SplitUrl {
        url: format!("{scheme}://{authority}/{app}"),
        key: Some(Secret::new(key)),
    }
}

/// Refuses URLs that would put a secret in the config file: userinfo, or a
/// query parameter that the redactor treats as secret.
pub fn check_no_credentials(url: &str) -> Result<(), UrlError> {
    if redact_url(url) != url {
        return Err(UrlError::CarriesCredentials(redact_url(url)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_pick_the_kind() {
        for (url, kind) in [
            ("rtmp://a/app", DestinationKind::Rtmp),
            ("RTMPS://a:443/app", DestinationKind::Rtmp),
            ("ws://127.0.0.1:7880", DestinationKind::Livekit),
            ("wss://lk.example", DestinationKind::Livekit),
            ("http://x/whip", DestinationKind::Whip),
            ("https://x/whip", DestinationKind::Whip),
            ("file:/tmp/out.flv", DestinationKind::File),
        ] {
            assert_eq!(infer_kind(url).unwrap(), kind, "{url}");
        }
    }

    #[test]
    fn unknown_or_hostless_urls_are_refused() {
        assert!(matches!(
            infer_kind("ftp://x"),
            Err(UrlError::UnsupportedScheme(_))
        ));
        assert!(matches!(
            infer_kind("rtmp:///app"),
            Err(UrlError::NoHost(_))
        ));
        assert!(matches!(infer_kind("twitch"), Err(UrlError::NotAUrl)));
    }

    #[test]
    fn a_key_inside_an_rtmp_url_is_split_off() {
        let split = split_key("rtmp://live.example.com/app/live_1234567890_secretXYZ");
        assert_eq!(split.url, "rtmp://live.example.com/app");
        assert_eq!(split.key.unwrap().expose(), "live_1234567890_secretXYZ");

        let split = split_key("rtmps://a.rtmps.youtube.com:443/live2/abcd-efgh-ijkl?x=1");
        assert_eq!(split.url, "rtmps://a.rtmps.youtube.com:443/live2");
        assert_eq!(split.key.unwrap().expose(), "abcd-efgh-ijkl?x=1");

        let split = split_key("rtmp://host/app/multi/part");
        assert_eq!(split.key.unwrap().expose(), "multi/part");
    }

    #[test]
    fn urls_without_a_key_are_left_alone() {
        for url in [
            "rtmp://host/app",
            "wss://lk.example/rtc",
            "https://x/whip/a/b",
            "file:out.flv",
        ] {
            let split = split_key(url);
            assert_eq!(split.url, url);
            assert!(split.key.is_none());
        }
        // A trailing slash is not a key.
        assert_eq!(split_key("rtmp://host/app/").url, "rtmp://host/app");
        assert!(split_key("rtmp://host/app/").key.is_none());
    }

    #[test]
    fn credentials_in_other_urls_are_refused() {
        assert!(check_no_credentials("wss://lk.example?access_token=abc").is_err());
        assert!(check_no_credentials("https://user:pw@x/whip").is_err());
        assert!(check_no_credentials("https://x/whip?room=a").is_ok());
        assert!(check_no_credentials("rtmp://host/app").is_ok());
        let err = check_no_credentials("https://user:hunter2@x/whip").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }
}
