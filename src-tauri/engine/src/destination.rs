//! What a creator types as DEST: a local file or a URL whose scheme picks the
//! protocol. Parsing is strict so a typo fails before anything starts.

use std::path::PathBuf;

use crate::error::{ErrorCode, OnairError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    File(PathBuf),
    Rtmp(String),
    LiveKit(String),
    Whip(String),
}

impl Destination {
    pub fn parse(input: &str) -> Result<Destination, OnairError> {
        let input = input.trim();
        let invalid = |why: &str| {
            OnairError::new(
                ErrorCode::InvalidDestination,
                format!(
                    "{why} Use file:PATH, rtmp(s)://host/app, ws(s)://host or http(s)://host/whip."
                ),
            )
        };
        if let Some(path) = input.strip_prefix("file:") {
            if path.is_empty() {
                return Err(invalid("The recording path is empty."));
            }
            return Ok(Destination::File(PathBuf::from(path)));
        }
        let Some((scheme, rest)) = input.split_once("://") else {
            return Err(invalid("That is neither a file: path nor a URL."));
        };
        if rest.is_empty() || rest.starts_with('/') {
            return Err(invalid("The URL has no host."));
        }
        match scheme.to_ascii_lowercase().as_str() {
            "rtmp" | "rtmps" => Ok(Destination::Rtmp(input.to_string())),
            "ws" | "wss" => Ok(Destination::LiveKit(input.to_string())),
            "http" | "https" => Ok(Destination::Whip(input.to_string())),
            _ => Err(invalid(&format!(
                "Onair cannot publish to {scheme}:// URLs."
            ))),
        }
    }

    /// The server a platform's answer names for this destination. Only a
    /// network URL of the destination's own kind is taken: an answer that
    /// names a local file (or another protocol) must never make Onair write
    /// over a creator's file or send their media somewhere unplanned.
    pub fn from_platform(&self, url: &str) -> Result<Destination, OnairError> {
        let refuse = || {
            OnairError::new(
                ErrorCode::PlatformError,
                format!(
                    "Your platform answered with a server Onair will not use ({}): a {} destination only takes {} URLs. Nothing was written or sent; ask the platform to check its configuration.",
                    crate::redact::redact_url(url.trim()),
                    self.kind(),
                    self.schemes()
                ),
            )
        };
        let parsed = Destination::parse(url).map_err(|_| refuse())?;
        let same_kind = matches!(
            (self, &parsed),
            (Destination::Rtmp(_), Destination::Rtmp(_))
                | (Destination::LiveKit(_), Destination::LiveKit(_))
                | (Destination::Whip(_), Destination::Whip(_))
        );
        if same_kind {
            Ok(parsed)
        } else {
            Err(refuse())
        }
    }

    /// The URL or path as given.
    pub fn url(&self) -> &str {
        match self {
            Destination::File(path) => path.to_str().unwrap_or_default(),
            Destination::Rtmp(url) | Destination::LiveKit(url) | Destination::Whip(url) => url,
        }
    }

    fn schemes(&self) -> &'static str {
        match self {
            Destination::File(_) => "file:",
            Destination::Rtmp(_) => "rtmp:// or rtmps://",
            Destination::LiveKit(_) => "ws:// or wss://",
            Destination::Whip(_) => "http:// or https://",
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Destination::File(_) => "local recording",
            Destination::Rtmp(_) => "RTMP",
            Destination::LiveKit(_) => "LiveKit",
            Destination::Whip(_) => "WHIP",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_pick_the_protocol() {
        assert_eq!(
            Destination::parse("file:out.flv").unwrap(),
            Destination::File("out.flv".into())
        );
        assert!(matches!(
            Destination::parse("rtmps://a/live").unwrap(),
            Destination::Rtmp(_)
        ));
        assert!(matches!(
            Destination::parse("wss://lk.example").unwrap(),
            Destination::LiveKit(_)
        ));
        assert!(matches!(
            Destination::parse("https://x/whip").unwrap(),
            Destination::Whip(_)
        ));
    }

    #[test]
    fn a_platform_may_only_name_a_server_of_the_destinations_kind() {
        let rtmp = Destination::parse("rtmp://ingest.example/live").unwrap();
        assert!(matches!(
            rtmp.from_platform("rtmps://other.example/app"),
            Ok(Destination::Rtmp(_))
        ));
        let lk = Destination::parse("wss://lk.example").unwrap();
        for hostile in [
            "file:/home/u/.ssh/authorized_keys",
            "file:out.flv",
            "https://lk.example/whip",
            "rtmp://lk.example/live",
            "gopher://x",
            "",
        ] {
            let e = lk.from_platform(hostile).unwrap_err();
            assert_eq!(e.code, ErrorCode::PlatformError, "{hostile:?}");
            assert!(e.message.contains("ws:// or wss://"), "{}", e.message);
        }
        // A recording is never something a platform points at.
        let file = Destination::parse("file:show.flv").unwrap();
        assert!(file.from_platform("file:/etc/passwd").is_err());
    }

    #[test]
    fn malformed_input_is_invalid_destination() {
        for bad in ["", "file:", "out.flv", "ftp://x", "rtmp://", "rtmp:///app"] {
            let err = Destination::parse(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidDestination, "{bad:?}");
        }
    }
}
