//! What a destination URL says and hides: its kind (from the scheme), and a
//! stream key pasted inside it (`rtmp://host/app/KEY`), which is split off so
//! that only `rtmp://host/app` is ever written to the config file.

use crate::destination::scheme::scheme_of;
use crate::redact::redact_url;
use crate::rtmp::url::split_pasted_key;
use crate::secret::Secret;

pub use crate::destination::scheme::{DestinationKind, UrlError};

/// The kind a URL's scheme selects (see `destination::scheme`).
pub fn infer_kind(url: &str) -> Result<DestinationKind, UrlError> {
    Ok(scheme_of(url)?.kind)
}

/// A URL with any stream key taken out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitUrl {
    pub url: String,
    pub key: Option<Secret>,
}

/// Splits a key pasted inside a URL whose scheme carries one (RTMP), by the
/// one rule in `rtmp::url::split_pasted_key`. Other URLs come back
/// unchanged; they are checked by `check_no_credentials`.
pub fn split_key(url: &str) -> SplitUrl {
    let url = url.trim();
    let unchanged = || SplitUrl {
        url: url.to_string(),
        key: None,
    };
    let Some((name, rest)) = url.split_once("://") else {
        return unchanged();
    };
    let carries_key = scheme_of(url).is_ok_and(|s| s.key_in_path);
    if !carries_key {
        return unchanged();
    }
    let parts = split_pasted_key(rest);
    if parts.app.is_empty() || parts.app.starts_with('?') {
        return unchanged();
    }
    SplitUrl {
        url: format!("{name}://{}/{}", parts.authority, parts.app),
        key: parts.key.map(Secret::new),
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

        let split = split_key(" rtmps://a.rtmps.youtube.com:443/live2/abcd-efgh-ijkl?x=1\n");
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
