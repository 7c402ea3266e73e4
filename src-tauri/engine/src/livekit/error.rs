//! What can go wrong talking to a LiveKit server, typed, and how each case
//! reads to a creator once it leaves this module as an `OnairError`. The
//! reconnect policy reads the kind of failure (`Failure::cause`); only the
//! edge (the client task's result) turns it into words and a code.

use crate::error::{ErrorCode, OnairError};
use crate::net::reconnect::{Cause, Failure};
use crate::net::tls::TlsSetupError;
use crate::peer::PeerError;

/// `server` fields hold the redacted server URL, ready to be shown.
#[derive(Debug, thiserror::Error)]
pub enum LiveKitError {
    /// The URL is one the token may not travel to (cleartext to another host).
    #[error("Onair will not send the LiveKit token to that server: {0}")]
    NotForTheToken(String),
    #[error("{server} is not a LiveKit URL Onair can use")]
    BadUrl { server: String },
    #[error("the LiveKit token contains characters a token cannot have")]
    TokenUnusable,
    /// 401: the server refused the token.
    #[error("the LiveKit server at {server} refused the token{body}")]
    Refused { server: String, body: String },
    /// 403: the token may not publish there.
    #[error("the LiveKit server at {server} does not let this token publish{body}")]
    Forbidden { server: String, body: String },
    /// 404: no LiveKit there.
    #[error("there is no LiveKit server at {server} (404)")]
    NoServer { server: String },
    /// Any other HTTP answer to the WebSocket upgrade.
    #[error("the LiveKit server at {server} answered {status}{body}")]
    Answered {
        server: String,
        status: String,
        body: String,
    },
    #[error("the secure connection to {server} failed: {reason}")]
    Tls { server: String, reason: String },
    #[error(transparent)]
    TlsSetup(#[from] TlsSetupError),
    #[error("Onair could not reach the LiveKit server at {server} ({reason})")]
    Unreachable { server: String, reason: String },
    #[error("the LiveKit server at {server} did not answer within {seconds} s")]
    TimedOut { server: String, seconds: u64 },
    /// The signal connection broke.
    #[error("the connection to the LiveKit server was lost ({0})")]
    Lost(String),
    /// A live session stopped working (pings unanswered, media failing,
    /// the server asking us to reconnect), in words for the notice.
    #[error("{0}")]
    Interrupted(String),
    /// A server message over the size limit (`limit_mib`).
    #[error("the LiveKit server sent more than Onair accepts in one message ({what}; the limit is {limit_mib} MiB)")]
    TooLarge { what: String, limit_mib: usize },
    #[error("the LiveKit server sent a message Onair cannot read ({0})")]
    Unreadable(String),
    /// The server closed the signal connection `during` a step.
    #[error("the LiveKit server closed the connection while {during}")]
    Closed { during: &'static str },
    /// The server sent Leave: it will not have us (a room deleted, a
    /// participant removed, a duplicate identity).
    #[error("the LiveKit server turned the session away ({0})")]
    TurnedAway(String),
    /// Joining, publishing and ICE did not finish in time; `joined` says
    /// whether the server had let us in.
    #[error("joining took longer than {seconds} s")]
    JoinTimedOut { joined: bool, seconds: u64 },
    #[error("resuming took longer than {seconds} s")]
    ResumeTimedOut { seconds: u64 },
    /// Media could not reach the server.
    #[error("ICE failed")]
    IceFailed,
    #[error(transparent)]
    Peer(#[from] PeerError),
}

impl LiveKitError {
    /// The creator's view.
    pub fn to_onair(&self) -> OnairError {
        use ErrorCode::*;
        let (code, message) = match self {
            LiveKitError::NotForTheToken(why) => (
                InvalidDestination,
                format!("Onair will not send the LiveKit token to that server: {why}."),
            ),
            LiveKitError::BadUrl { server } => (
                InvalidDestination,
                format!("{server} is not a LiveKit URL Onair can use. It looks like wss://your-project.livekit.cloud."),
            ),
            LiveKitError::TokenUnusable => (
                AuthFailed,
                "The LiveKit token contains characters a token cannot have.".into(),
            ),
            LiveKitError::Refused { server, body } => (
                AuthFailed,
                format!("The LiveKit server at {server} refused the token.{body} Fetch a fresh token from your platform."),
            ),
            LiveKitError::Forbidden { server, body } => (
                PermissionDenied,
                format!("The LiveKit server at {server} does not let this token publish.{body}"),
            ),
            LiveKitError::NoServer { server } => (
                InvalidDestination,
                format!("There is no LiveKit server at {server} (404). Check the URL."),
            ),
            LiveKitError::Answered {
                server,
                status,
                body,
            } => (
                PlatformError,
                format!("The LiveKit server at {server} answered {status}.{body}"),
            ),
            LiveKitError::Tls { server, reason } => (
                Tls,
                format!("The secure connection to {server} failed: {reason}. Check the URL and this computer's clock."),
            ),
            LiveKitError::TlsSetup(e) => return OnairError::from(e.clone()),
            LiveKitError::Unreachable { server, reason } => (
                Unreachable,
                format!("Onair could not reach the LiveKit server at {server} ({reason}). Is it running, and is the URL right?"),
            ),
            LiveKitError::TimedOut { server, seconds } => (
                Unreachable,
                format!("The LiveKit server at {server} did not answer within {seconds} s. Check your internet connection and the server address."),
            ),
            LiveKitError::Lost(why) => (
                Unreachable,
                format!("The connection to the LiveKit server was lost ({why})."),
            ),
            LiveKitError::Interrupted(why) => (Unreachable, why.clone()),
            LiveKitError::TooLarge { what, limit_mib } => (
                PlatformError,
                format!("The LiveKit server sent more than Onair accepts in one message ({what}; the limit is {limit_mib} MiB), so the connection was closed."),
            ),
            LiveKitError::Unreadable(why) => (
                PlatformError,
                format!("The LiveKit server sent a message Onair cannot read ({why})."),
            ),
            LiveKitError::Closed { during } => (
                Unreachable,
                format!("The LiveKit server closed the connection while {during}."),
            ),
            LiveKitError::TurnedAway(reason) => (
                PlatformError,
                format!("The LiveKit server turned the session away ({reason})."),
            ),
            LiveKitError::JoinTimedOut { joined: true, seconds } => (
                Unreachable,
                format!("The LiveKit server accepted the connection but media could not start within {seconds} s (ICE failed). A firewall may block UDP; ask your platform for a TURN server."),
            ),
            LiveKitError::JoinTimedOut { joined: false, seconds } => (
                Unreachable,
                format!("The LiveKit server took the connection but did not let Onair join within {seconds} s. Try again; if it keeps happening, ask your platform."),
            ),
            LiveKitError::ResumeTimedOut { seconds } => (
                Unreachable,
                format!("resuming took longer than {seconds} s"),
            ),
            LiveKitError::IceFailed => (
                Unreachable,
                "Media could not reach the LiveKit server (ICE failed). A firewall may block UDP; ask your platform for a TURN server.".into(),
            ),
            LiveKitError::Peer(e) => (
                Internal,
                format!("Setting up the WebRTC connection failed: {e}"),
            ),
        };
        OnairError::new(code, message)
    }
}

impl From<LiveKitError> for OnairError {
    fn from(e: LiveKitError) -> OnairError {
        e.to_onair()
    }
}

impl Failure for LiveKitError {
    fn cause(&self) -> Cause {
        match self {
            LiveKitError::Refused { .. } | LiveKitError::TokenUnusable => Cause::Refused,
            LiveKitError::Forbidden { .. } => Cause::Forbidden,
            LiveKitError::NotForTheToken(_)
            | LiveKitError::BadUrl { .. }
            | LiveKitError::NoServer { .. } => Cause::Unusable,
            LiveKitError::Tls { .. } | LiveKitError::TlsSetup(_) => Cause::Certificate,
            LiveKitError::Unreachable { .. }
            | LiveKitError::TimedOut { .. }
            | LiveKitError::Lost(_)
            | LiveKitError::Interrupted(_)
            | LiveKitError::Closed { .. }
            | LiveKitError::JoinTimedOut { .. }
            | LiveKitError::ResumeTimedOut { .. }
            | LiveKitError::IceFailed => Cause::Network,
            // A Leave while joining: a restarting server drains its rooms
            // this way too, so it is retried within the limit.
            LiveKitError::Answered { .. }
            | LiveKitError::TooLarge { .. }
            | LiveKitError::Unreadable(_)
            | LiveKitError::TurnedAway(_) => Cause::Server,
            LiveKitError::Peer(_) => Cause::Local,
        }
    }

    fn reason(&self) -> String {
        self.to_onair().message
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::reconnect::is_final;

    #[test]
    fn a_refused_token_and_a_missing_server_end_reconnecting_and_a_loss_does_not() {
        let server = || "ws://lk.example".to_string();
        let final_ = [
            LiveKitError::Refused {
                server: server(),
                body: String::new(),
            },
            LiveKitError::Forbidden {
                server: server(),
                body: String::new(),
            },
            LiveKitError::NoServer { server: server() },
            LiveKitError::Tls {
                server: server(),
                reason: "unknown issuer".into(),
            },
        ];
        for e in &final_ {
            assert!(is_final(e.cause()), "{e:?}");
        }
        let codes: Vec<ErrorCode> = final_.iter().map(|e| e.to_onair().code).collect();
        assert_eq!(
            codes,
            [
                ErrorCode::AuthFailed,
                ErrorCode::PermissionDenied,
                ErrorCode::InvalidDestination,
                ErrorCode::Tls
            ]
        );
        let retried = [
            LiveKitError::Lost("reset".into()),
            LiveKitError::Unreachable {
                server: server(),
                reason: "refused".into(),
            },
            LiveKitError::JoinTimedOut {
                joined: true,
                seconds: 20,
            },
            LiveKitError::Answered {
                server: server(),
                status: "503".into(),
                body: String::new(),
            },
            LiveKitError::TurnedAway("SERVER_SHUTDOWN".into()),
        ];
        for e in &retried {
            assert!(!is_final(e.cause()), "{e:?}");
        }
    }
}
