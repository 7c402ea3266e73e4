//! The one table of what a destination URL's scheme means: which protocol,
//! which port when none is written, whether a stream key may be pasted into
//! it, and whether it is encrypted. The engine, the keys store and (through
//! the generated bindings) the UI's form all read it, so they cannot
//! disagree on what `rtmps://` or `file:` is.

use serde::{Deserialize, Serialize};

use crate::redact::redact_url;

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

    /// The prefixes a URL of this kind starts with, for messages.
    pub fn prefixes(self) -> String {
        let prefixes: Vec<&str> = SCHEMES
            .iter()
            .filter(|s| s.kind == self)
            .map(|s| s.prefix)
            .collect();
        prefixes.join(" or ")
    }
}

/// What one URL scheme means to Onair (a row of `SCHEMES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Scheme {
    /// Lowercase, without `://` or `:`.
    pub name: &'static str,
    /// How a URL of this scheme starts: `rtmps://`, `file:`.
    pub prefix: &'static str,
    pub kind: DestinationKind,
    /// The port used when the URL names none; None for local files.
    pub default_port: Option<u16>,
    /// Whether creators paste the stream key into the URL itself
    /// (`rtmp://host/app/KEY`), so everything after the application is a
    /// secret (see `rtmp::url::split_pasted_key`).
    pub key_in_path: bool,
    /// Whether the connection is encrypted.
    pub tls: bool,
}

/// Every scheme Onair publishes to.
pub const SCHEMES: &[Scheme] = &[
    network("rtmp", "rtmp://", DestinationKind::Rtmp, 1935, true, false),
    network("rtmps", "rtmps://", DestinationKind::Rtmp, 443, true, true),
    network("ws", "ws://", DestinationKind::Livekit, 80, false, false),
    network("wss", "wss://", DestinationKind::Livekit, 443, false, true),
    network("http", "http://", DestinationKind::Whip, 80, false, false),
    network("https", "https://", DestinationKind::Whip, 443, false, true),
    Scheme {
        name: "file",
        prefix: "file:",
        kind: DestinationKind::File,
        default_port: None,
        key_in_path: false,
        tls: false,
    },
];

const fn network(
    name: &'static str,
    prefix: &'static str,
    kind: DestinationKind,
    port: u16,
    key_in_path: bool,
    tls: bool,
) -> Scheme {
    Scheme {
        name,
        prefix,
        kind,
        default_port: Some(port),
        key_in_path,
        tls,
    }
}

impl Scheme {
    /// The row for a scheme name, any case (`RTMPS`).
    pub fn named(name: &str) -> Option<&'static Scheme> {
        SCHEMES
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name.trim()))
    }
}

/// Why a text is not a destination URL. Messages only ever show the URL
/// through `redact_url`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    // The text is not echoed: what is not a URL might be a key pasted in the wrong place.
    #[error("That is neither a file: path nor a URL. Use rtmp(s)://host/app, ws(s)://host, http(s)://host/whip or file:PATH.")]
    NotAUrl,
    #[error("Onair cannot publish to {0}:// URLs. Use rtmp(s)://, ws(s)://, http(s):// or file:.")]
    UnsupportedScheme(String),
    #[error("The URL {0} has no host.")]
    NoHost(String),
    #[error("The recording path is empty. Use file:PATH.")]
    EmptyPath,
    #[error("The URL {0} carries a password or token. Remove it from the URL: Onair keeps secrets in the keychain and reads them from stdin.")]
    CarriesCredentials(String),
}

/// The row a destination URL's scheme selects, once the URL has what that
/// scheme needs (a host, or a path for a file). Leading and trailing
/// whitespace is ignored, as pasted text often has it.
pub fn scheme_of(url: &str) -> Result<&'static Scheme, UrlError> {
    let url = url.trim();
    if let Some(path) = url.strip_prefix("file:") {
        if path.is_empty() {
            return Err(UrlError::EmptyPath);
        }
        return Ok(Scheme::named("file").expect("file is in the table"));
    }
    let Some((name, rest)) = url.split_once("://") else {
        return Err(UrlError::NotAUrl);
    };
    let scheme = match Scheme::named(name) {
        Some(s) if s.default_port.is_some() => s,
        _ => return Err(UrlError::UnsupportedScheme(name.to_string())),
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(UrlError::NoHost(redact_url(url)));
    }
    Ok(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_each_scheme_once_and_lowercase() {
        for (i, s) in SCHEMES.iter().enumerate() {
            assert_eq!(s.name, s.name.to_ascii_lowercase());
            assert!(s.prefix.starts_with(s.name), "{s:?}");
            assert!(SCHEMES[i + 1..].iter().all(|o| o.name != s.name), "{s:?}");
        }
        // Every kind can be reached.
        for kind in [
            DestinationKind::Rtmp,
            DestinationKind::Livekit,
            DestinationKind::Whip,
            DestinationKind::File,
        ] {
            assert!(SCHEMES.iter().any(|s| s.kind == kind), "{kind:?}");
        }
    }

    #[test]
    fn ports_tls_and_keys_follow_the_scheme() {
        let row = |name| Scheme::named(name).unwrap();
        assert_eq!(
            (row("rtmp").default_port, row("rtmp").tls),
            (Some(1935), false)
        );
        assert_eq!(
            (row("RTMPS").default_port, row("rtmps").tls),
            (Some(443), true)
        );
        assert_eq!((row("wss").default_port, row("wss").tls), (Some(443), true));
        assert_eq!(
            (row("http").default_port, row("http").tls),
            (Some(80), false)
        );
        assert_eq!(row("file").default_port, None);
        let with_keys: Vec<&str> = SCHEMES
            .iter()
            .filter(|s| s.key_in_path)
            .map(|s| s.name)
            .collect();
        assert_eq!(with_keys, ["rtmp", "rtmps"]);
        assert_eq!(DestinationKind::Whip.prefixes(), "http:// or https://");
    }

    #[test]
    fn urls_are_classified_by_their_scheme() {
        for (url, kind) in [
            ("rtmp://a/app", DestinationKind::Rtmp),
            (" RTMPS://a:443/app\n", DestinationKind::Rtmp),
            ("ws://127.0.0.1:7880", DestinationKind::Livekit),
            ("wss://lk.example", DestinationKind::Livekit),
            ("http://x/whip", DestinationKind::Whip),
            ("https://x/whip", DestinationKind::Whip),
            ("file:/tmp/out.flv", DestinationKind::File),
        ] {
            assert_eq!(scheme_of(url).unwrap().kind, kind, "{url}");
        }
        assert_eq!(
            scheme_of("ftp://x"),
            Err(UrlError::UnsupportedScheme("ftp".into()))
        );
        // "file://" is not a network scheme, whatever the table's name says.
        assert!(matches!(scheme_of("file://x"), Ok(s) if s.kind == DestinationKind::File));
        assert!(matches!(scheme_of("rtmp:///app"), Err(UrlError::NoHost(_))));
        assert!(matches!(scheme_of("rtmp://"), Err(UrlError::NoHost(_))));
        assert_eq!(scheme_of("file:"), Err(UrlError::EmptyPath));
        assert_eq!(scheme_of("twitch"), Err(UrlError::NotAUrl));
    }
}
