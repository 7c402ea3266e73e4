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
    fn malformed_input_is_invalid_destination() {
        for bad in ["", "file:", "out.flv", "ftp://x", "rtmp://", "rtmp:///app"] {
            let err = Destination::parse(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidDestination, "{bad:?}");
        }
    }
}
