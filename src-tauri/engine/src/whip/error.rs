//! What can go wrong publishing over WHIP, typed, and how each case reads to
//! a creator once it leaves this module as an `OnairError`. The reconnect
//! policy reads the kind of failure (`Failure::cause`); only the edge (the
//! client task's result) turns it into words and a code.

use crate::error::{ErrorCode, OnairError};
use crate::net::reconnect::{Cause, Failure};
use crate::peer::PeerError;

/// `host` fields name the server (never a path: a key may sit there);
/// `said` is the status with the server's own words, already cleaned.
#[derive(Debug, thiserror::Error)]
pub enum WhipError {
    #[error("that WHIP endpoint is not a valid URL ({0})")]
    BadEndpoint(String),
    #[error("a WHIP endpoint is an http(s)://host/path URL")]
    NotHttp,
    /// The endpoint is one the token may not travel to.
    #[error("Onair will not send the WHIP token to {shown}: {why}")]
    NotForTheToken { shown: String, why: String },
    #[error("the WHIP bearer token has characters an HTTP header cannot carry")]
    TokenUnusable,
    /// 401 or 403 (Janus answers 403 for a wrong token).
    #[error("the WHIP server at {host} refused the bearer token while {doing} ({said})")]
    Refused {
        host: String,
        doing: String,
        said: String,
    },
    /// 404; `path` is redacted.
    #[error("the WHIP server at {host} has no endpoint at {path} ({said})")]
    NoEndpoint {
        host: String,
        path: String,
        said: String,
    },
    #[error("the WHIP server at {host} redirected to {target} while {doing} ({said})")]
    Redirected {
        host: String,
        doing: String,
        target: String,
        said: String,
    },
    /// 5xx.
    #[error("the WHIP server at {host} failed while {doing} ({said})")]
    ServerFailed {
        host: String,
        doing: String,
        said: String,
    },
    /// Any other status.
    #[error("the WHIP server at {host} did not accept the request while {doing} ({said})")]
    NotAccepted {
        host: String,
        doing: String,
        said: String,
    },
    /// A 201 without a Location; `said` is the server's words, if any.
    #[error("the WHIP server gave no Location")]
    NoLocation { said: Option<String> },
    #[error("the WHIP server's answer is not SDP")]
    NotSdp { said: Option<String> },
    #[error("the WHIP server's Location ({location}) is not a URL: {why}")]
    BadLocation { location: String, why: String },
    #[error("the WHIP server's Location points to a {scheme}: URL, not http(s)")]
    LocationNotHttp { scheme: String },
    /// The resource is somewhere the token may not follow.
    #[error("the WHIP server at {host} answered with a resource Onair will not send the token to: {why}")]
    ResourceNotForTheToken { host: String, why: String },
    #[error("the WHIP server's ICE restart answer has no credentials")]
    RestartWithoutCredentials { said: Option<String> },
    #[error("the secure connection to {host} failed ({reason})")]
    Tls { host: String, reason: String },
    #[error("the WHIP server at {host} did not answer in time")]
    TimedOut { host: String },
    #[error("could not reach the WHIP server at {host} ({cause})")]
    Unreachable { host: String, cause: String },
    #[error("the WHIP server at {host} sent an answer Onair does not read: {what}")]
    TooLarge { host: String, what: String },
    /// The HTTP client could not be built (TLS roots).
    #[error("{}", .0.message)]
    Setup(OnairError),
    /// The answer (or an ICE restart's) could not be applied.
    #[error("the WHIP server's answer could not be used ({0})")]
    AnswerUnusable(String),
    #[error("the WHIP server's ICE restart answer could not be used ({0})")]
    RestartAnswerUnusable(String),
    #[error("ICE failed")]
    IceFailed,
    #[error("the ICE restart did not connect in time")]
    RestartTimedOut,
    /// The old resource's DELETE got no answer.
    #[error("the WHIP server does not answer")]
    NoAnswer,
    /// A live publish stopped working, in words for the notice.
    #[error("{0}")]
    Interrupted(String),
    #[error(transparent)]
    Peer(#[from] PeerError),
}

impl WhipError {
    /// The creator's view.
    pub fn to_onair(&self) -> OnairError {
        use ErrorCode::*;
        let quoted = |said: &Option<String>| {
            said.as_ref()
                .map(|w| format!(" (it said: {w})"))
                .unwrap_or_default()
        };
        let (code, message) = match self {
            WhipError::BadEndpoint(why) => (
                InvalidDestination,
                format!("That WHIP endpoint is not a valid URL ({why}). Use http(s)://host/path."),
            ),
            WhipError::NotHttp => (
                InvalidDestination,
                "A WHIP endpoint is an http(s)://host/path URL.".into(),
            ),
            WhipError::NotForTheToken { shown, why } => (
                InvalidDestination,
                format!("Onair will not send your WHIP token to {shown}: {why}."),
            ),
            WhipError::TokenUnusable => (
                KeyRejected,
                "The WHIP bearer token has characters an HTTP header cannot carry. Check that it was pasted whole.".into(),
            ),
            WhipError::Refused { host, doing, said } => (
                AuthFailed,
                format!("The WHIP server at {host} refused the bearer token while {doing} ({said}). Check the token saved for this destination, or pass the right one with --key-stdin."),
            ),
            WhipError::NoEndpoint { host, path, said } => (
                InvalidDestination,
                format!("The WHIP server at {host} has no endpoint at {path} ({said}). Check the endpoint URL your platform gave you."),
            ),
            WhipError::Redirected {
                host,
                doing,
                target,
                said,
            } => (
                PlatformError,
                format!("The WHIP server at {host} redirected to {target} while {doing} ({said}). Onair follows no redirect with your token: if the endpoint moved, use the URL it points to."),
            ),
            WhipError::ServerFailed { host, doing, said } => (
                PlatformError,
                format!("The WHIP server at {host} failed while {doing} ({said}). Try again shortly; if it persists, ask your platform."),
            ),
            WhipError::NotAccepted { host, doing, said } => (
                PlatformError,
                format!("The WHIP server at {host} did not accept the request while {doing} ({said})."),
            ),
            WhipError::NoLocation { said } => (
                PlatformError,
                format!("The WHIP server accepted the offer but gave no Location to end the stream with{}. It does not follow the WHIP standard; ask your platform.", quoted(said)),
            ),
            WhipError::NotSdp { said } => (
                PlatformError,
                format!(
                    "The WHIP server's answer is not SDP{}.",
                    said.as_ref()
                        .map(|w| format!(" (it said: {w})"))
                        .unwrap_or_else(|| " (it was empty)".into())
                ),
            ),
            WhipError::BadLocation { location, why } => (
                PlatformError,
                format!("The WHIP server's Location ({location}) is not a URL: {why}."),
            ),
            WhipError::LocationNotHttp { scheme } => (
                PlatformError,
                format!("The WHIP server's Location points to a {scheme}: URL, not http(s)."),
            ),
            WhipError::ResourceNotForTheToken { host, why } => (
                PlatformError,
                format!("The WHIP server at {host} answered with a resource Onair will not send your token to: {why}. Ask your platform; Onair keeps the token on the endpoint's own https server."),
            ),
            WhipError::RestartWithoutCredentials { said } => (
                PlatformError,
                format!("The WHIP server's ICE restart answer has no credentials{}.", quoted(said)),
            ),
            WhipError::Tls { host, reason } => (
                Tls,
                format!("The secure connection to {host} failed ({reason}). Check the URL's host, or the machine's clock and certificates."),
            ),
            WhipError::TimedOut { host } => (
                Unreachable,
                format!("The WHIP server at {host} did not answer in time. Check your connection and the URL."),
            ),
            WhipError::Unreachable { host, cause } => (
                Unreachable,
                format!("Could not reach the WHIP server at {host} ({cause}). Check the URL and your connection."),
            ),
            WhipError::TooLarge { host, what } => (
                PlatformError,
                format!("The WHIP server at {host} sent an answer Onair does not read: {what}. An SDP answer is a few KiB; ask your platform."),
            ),
            WhipError::Setup(e) => return e.clone(),
            WhipError::AnswerUnusable(why) => (
                PlatformError,
                format!("The WHIP server's answer could not be used ({why})."),
            ),
            WhipError::RestartAnswerUnusable(why) => (
                PlatformError,
                format!("The WHIP server's ICE restart answer could not be used ({why})."),
            ),
            WhipError::IceFailed => (
                Unreachable,
                "The WHIP server took the offer but media could not reach it within 20 s (ICE failed). A firewall may block UDP; ask your platform for a TURN server.".into(),
            ),
            WhipError::RestartTimedOut => (
                Unreachable,
                "the ICE restart did not connect in time".into(),
            ),
            WhipError::NoAnswer => (Unreachable, "the WHIP server does not answer".into()),
            WhipError::Interrupted(why) => (Unreachable, why.clone()),
            WhipError::Peer(e) => (
                Internal,
                format!("Setting up the WebRTC connection failed: {e}"),
            ),
        };
        OnairError::new(code, message)
    }
}

impl From<WhipError> for OnairError {
    fn from(e: WhipError) -> OnairError {
        e.to_onair()
    }
}

impl Failure for WhipError {
    fn cause(&self) -> Cause {
        match self {
            WhipError::TokenUnusable | WhipError::Refused { .. } => Cause::Refused,
            WhipError::BadEndpoint(_)
            | WhipError::NotHttp
            | WhipError::NotForTheToken { .. }
            | WhipError::NoEndpoint { .. } => Cause::Unusable,
            WhipError::Tls { .. } => Cause::Certificate,
            WhipError::TimedOut { .. }
            | WhipError::Unreachable { .. }
            | WhipError::IceFailed
            | WhipError::RestartTimedOut
            | WhipError::NoAnswer
            | WhipError::Interrupted(_) => Cause::Network,
            // A server answering oddly may be mid-restart or mid-deploy:
            // retried within the limit.
            WhipError::Redirected { .. }
            | WhipError::ServerFailed { .. }
            | WhipError::NotAccepted { .. }
            | WhipError::NoLocation { .. }
            | WhipError::NotSdp { .. }
            | WhipError::BadLocation { .. }
            | WhipError::LocationNotHttp { .. }
            | WhipError::ResourceNotForTheToken { .. }
            | WhipError::RestartWithoutCredentials { .. }
            | WhipError::TooLarge { .. }
            | WhipError::AnswerUnusable(_)
            | WhipError::RestartAnswerUnusable(_) => Cause::Server,
            // Both are this computer: missing TLS roots, a peer connection that would not build.
            WhipError::Setup(_) | WhipError::Peer(_) => Cause::Local,
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
    fn a_refused_token_and_a_missing_endpoint_end_reconnecting_and_a_5xx_does_not() {
        let host = || "whip.example".to_string();
        let said = || "403: Unauthorized".to_string();
        let refused = WhipError::Refused {
            host: host(),
            doing: "publishing".into(),
            said: said(),
        };
        let missing = WhipError::NoEndpoint {
            host: host(),
            path: "/whip/••••".into(),
            said: said(),
        };
        let tls = WhipError::Tls {
            host: host(),
            reason: "expired".into(),
        };
        for e in [&refused, &missing, &tls] {
            assert!(is_final(e.cause()), "{e:?}");
        }
        let failed = WhipError::ServerFailed {
            host: host(),
            doing: "publishing".into(),
            said: "503: Service Unavailable".into(),
        };
        let down = WhipError::Unreachable {
            host: host(),
            cause: "connection refused".into(),
        };
        for e in [&failed, &down, &WhipError::IceFailed, &WhipError::NoAnswer] {
            assert!(!is_final(e.cause()), "{e:?}");
        }
    }
}
