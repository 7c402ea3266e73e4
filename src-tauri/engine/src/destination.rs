//! What a creator types as DEST: a local file or a URL whose scheme picks the
//! protocol (from the one table in `scheme`). Parsing is strict so a typo
//! fails before anything starts.

pub mod scheme;

use std::path::PathBuf;

use crate::error::{ErrorCode, OnairError};

pub use scheme::{scheme_of, DestinationKind, Scheme, UrlError, SCHEMES};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    File(PathBuf),
    Rtmp(String),
    LiveKit(String),
    Whip(String),
}

impl From<UrlError> for OnairError {
    fn from(e: UrlError) -> OnairError {
        OnairError::new(ErrorCode::InvalidDestination, e.to_string())
    }
}

impl Destination {
    pub fn parse(input: &str) -> Result<Destination, OnairError> {
        Ok(Destination::from_url(input)?)
    }

    /// `parse` with the layer's own error, for callers that add their own words.
    pub fn from_url(input: &str) -> Result<Destination, UrlError> {
        let input = input.trim();
        Ok(match scheme_of(input)?.kind {
            DestinationKind::File => {
                Destination::File(PathBuf::from(input.strip_prefix("file:").unwrap_or(input)))
            }
            DestinationKind::Rtmp => Destination::Rtmp(input.to_string()),
            DestinationKind::Livekit => Destination::LiveKit(input.to_string()),
            DestinationKind::Whip => Destination::Whip(input.to_string()),
        })
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
        let same_kind = parsed.destination_kind() == self.destination_kind();
        if same_kind && !matches!(self, Destination::File(_)) {
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

    fn schemes(&self) -> String {
        self.destination_kind().prefixes()
    }

    /// The row of the scheme table's kinds this destination is.
    pub fn destination_kind(&self) -> DestinationKind {
        match self {
            Destination::File(_) => DestinationKind::File,
            Destination::Rtmp(_) => DestinationKind::Rtmp,
            Destination::LiveKit(_) => DestinationKind::Livekit,
            Destination::Whip(_) => DestinationKind::Whip,
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
