//! What can go wrong on an RTMP connection, typed, and how each case reads
//! to a creator once it leaves this module as an `OnairError`.

use super::handshake::HandshakeError;
use super::publish::PublishError;
use crate::error::{ErrorCode, OnairError};
use crate::net::reconnect::{Cause, Failure};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtmpError {
    #[error("cannot find the server {host}")]
    Dns { host: String },
    #[error("nothing answers at {host}:{port} ({reason})")]
    Unreachable {
        host: String,
        port: u16,
        reason: String,
    },
    #[error("the server did not answer within {seconds} s")]
    TimedOut { seconds: u64 },
    #[error("secure connection failed: {0}")]
    Tls(String),
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("the connection broke: {0}")]
    Lost(String),
}

impl RtmpError {
    /// The creator's view. `shown_url` must already be redacted.
    pub fn to_onair(&self, shown_url: &str) -> OnairError {
        use ErrorCode::*;
        let (code, message) = match self {
            RtmpError::Dns { host } => (
                Unreachable,
                format!("Cannot find the server {host}: its name does not resolve. Check the host in {shown_url} and your internet connection."),
            ),
            RtmpError::Unreachable { host, port, reason } => (
                Unreachable,
                format!("Nothing answers at {host}:{port} ({reason}). Check {shown_url} and that the server is running."),
            ),
            RtmpError::TimedOut { seconds } => (
                Unreachable,
                format!("{shown_url} did not answer within {seconds} s. Check the URL and your connection."),
            ),
            RtmpError::Tls(reason) => (
                Tls,
                format!("The secure connection to {shown_url} failed: {reason}. Check the rtmps:// address, or the server's certificate."),
            ),
            RtmpError::Publish(PublishError::KeyRejected(why)) => (
                KeyRejected,
                format!("The server refused the stream key ({why}). Check or regenerate it."),
            ),
            RtmpError::Publish(PublishError::StreamBusy(why)) => (
                KeyRejected,
                format!("The server says this stream key is already publishing ({why}). Stop any other encoder using it, or wait a minute and go live again."),
            ),
            RtmpError::Publish(PublishError::AppRejected(why)) => (
                InvalidDestination,
                format!("The server refused the application in {shown_url} ({why}). Check the URL your platform gave you."),
            ),
            RtmpError::Publish(PublishError::TooLarge(why)) => (
                PlatformError,
                format!("The server at {shown_url} sent more than any RTMP ingest sends ({why}), so Onair stopped reading it. Check the URL; if it is right, tell your platform."),
            ),
            other => (
                Unreachable,
                format!("The connection to {shown_url} failed: {other}. Check the URL and that the server is running."),
            ),
        };
        OnairError::new(code, message)
    }
}

impl Failure for RtmpError {
    fn cause(&self) -> Cause {
        match self {
            RtmpError::Publish(PublishError::KeyRejected(_)) => Cause::Refused,
            RtmpError::Publish(PublishError::StreamBusy(_)) => Cause::Busy,
            RtmpError::Publish(PublishError::AppRejected(_)) => Cause::Unusable,
            RtmpError::Tls(_) => Cause::Certificate,
            // A name that stops resolving mid-stream is a network or DNS outage.
            RtmpError::Dns { .. }
            | RtmpError::Unreachable { .. }
            | RtmpError::TimedOut { .. }
            | RtmpError::Lost(_)
            | RtmpError::Publish(PublishError::Closed) => Cause::Network,
            RtmpError::Handshake(_)
            | RtmpError::Publish(PublishError::Protocol(_) | PublishError::TooLarge(_)) => {
                Cause::Server
            }
        }
    }

    fn reason(&self) -> String {
        self.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::reconnect::is_final;

    #[test]
    fn a_refused_key_or_application_or_certificate_ends_reconnecting() {
        let final_ = [
            RtmpError::Publish(PublishError::KeyRejected("no".into())),
            RtmpError::Publish(PublishError::AppRejected("no".into())),
            RtmpError::Tls("unknown issuer".into()),
        ];
        assert!(final_.iter().all(|e| is_final(e.cause())));
        let retried = [
            RtmpError::Publish(PublishError::StreamBusy("Already publishing".into())),
            RtmpError::Unreachable {
                host: "h".into(),
                port: 1935,
                reason: "refused".into(),
            },
            RtmpError::TimedOut { seconds: 5 },
            RtmpError::Lost("reset".into()),
            RtmpError::Publish(PublishError::Closed),
        ];
        assert!(retried.iter().all(|e| !is_final(e.cause())));
    }

    #[test]
    fn an_oversized_message_is_the_platform_s_fault_in_words() {
        let error = RtmpError::Publish(PublishError::TooLarge(
            "the server sent a 16777215-byte message (type 20); a publisher takes at most 256 KiB"
                .into(),
        ))
        .to_onair("rtmp://ingest.example/live");
        assert_eq!(error.code, ErrorCode::PlatformError);
        assert!(
            error.message.contains("rtmp://ingest.example/live")
                && error.message.contains("16777215-byte"),
            "{}",
            error.message
        );
    }
}
