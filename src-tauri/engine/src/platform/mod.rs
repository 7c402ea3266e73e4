//! The creator's platform: the HTTP hooks a destination declares (start a
//! session, get a token or an ingest key, read the status, end the session),
//! the Go Live flow over them, the status poller and the crash journal.

pub mod client;
pub mod flow;
pub mod hooks;
pub mod journal;
pub mod status;

use std::sync::Arc;

use crate::keys::keychain::Keychain;
use crate::secret::Secret;
use hooks::PlatformHooks;
use journal::Journal;

/// Everything a session needs to run a destination's platform hooks.
#[derive(Clone)]
pub struct PlatformPlan {
    /// The saved destination's name: the journal's and the keychain's key.
    pub destination: String,
    pub hooks: PlatformHooks,
    /// The platform's API token, from the keychain.
    pub bearer: Option<Secret>,
    pub journal: Journal,
    /// Where an ingest key the platform hands out is kept.
    pub keychain: Arc<dyn Keychain>,
}

impl std::fmt::Debug for PlatformPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformPlan")
            .field("destination", &self.destination)
            .field("hooks", &self.hooks)
            .field("bearer", &self.bearer)
            .finish()
    }
}

/// The keychain account of the ingest key a platform handed out for a
/// destination ('#' never appears in a destination's name).
pub fn ingest_key_account(destination: &str) -> String {
    format!("{destination}#ingest-key")
}

/// An ingest a platform handed out: the server and its key, kept together
/// in the keychain so the key is only ever sent to the server it was issued
/// for (a platform that moves its ingest is asked again, see `Kept::parse`).
#[derive(Clone, PartialEq, Eq)]
pub struct KeptIngest {
    pub url: String,
    pub key: Secret,
}

impl KeptIngest {
    /// The keychain's form: JSON with both, so neither goes without the other.
    pub fn to_secret(&self) -> Secret {
        Secret::new(serde_json::json!({"url": self.url, "key": self.key.expose()}).to_string())
    }

    /// A kept entry, or None for one Onair cannot trust to say where its key
    /// belongs (an older bare key): the platform is then asked again.
    pub fn from_secret(stored: &Secret) -> Option<KeptIngest> {
        let value: serde_json::Value = serde_json::from_str(stored.expose()).ok()?;
        let url = value.get("url")?.as_str()?.to_string();
        let key = value.get("key")?.as_str()?;
        (!url.is_empty() && !key.is_empty()).then(|| KeptIngest {
            url,
            key: Secret::new(key),
        })
    }
}

impl std::fmt::Debug for KeptIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptIngest")
            .field("url", &crate::redact::redact_url(&self.url))
            .field("key", &self.key)
            .finish()
    }
}

/// Before a platform session is opened: can the media server be reached at
/// all? (A session opened towards a dead ingest only has to be ended again.)
pub fn check_reachable(url: &str) -> Result<(), crate::error::OnairError> {
    use std::net::TcpStream;
    let shown = crate::redact::redact_url(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok(());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let default_port = crate::destination::Scheme::named(scheme)
        .and_then(|s| s.default_port)
        .unwrap_or(443);
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.chars().all(|c| c.is_ascii_digit()) && !authority.ends_with(']'));
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if has_port => (host, port.parse().unwrap_or(default_port)),
        _ => (authority, default_port),
    };
    let unreachable = |why: String| {
        crate::error::OnairError::new(
            crate::error::ErrorCode::Unreachable,
            format!("Onair could not reach {shown} ({why}), so nothing was started on your platform. Is the server running, and is the URL right?"),
        )
    };
    // Bounded: a resolver that never answers must not hold Go Live.
    let addrs = crate::net::resolve::lookup(host, port, crate::net::resolve::LOOKUP_TIMEOUT)
        .map_err(|e| unreachable(e.to_string()))?;
    let mut last = String::from("no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(3)) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(unreachable(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_ingest_keeps_its_server_with_its_key() {
        let kept = KeptIngest {
            url: "rtmp://ingest.example/live".into(),
            key: Secret::new("sk_0123456789abc"),
        };
        assert_eq!(
            KeptIngest::from_secret(&kept.to_secret()),
            Some(kept.clone())
        );
        assert!(!format!("{kept:?}").contains("sk_0123456789abc"));
        // A bare key from before is not trusted to know its server.
        assert_eq!(
            KeptIngest::from_secret(&Secret::new("sk_0123456789abc")),
            None
        );
        assert_eq!(
            KeptIngest::from_secret(&Secret::new(r#"{"key":"k"}"#)),
            None
        );
    }

    #[test]
    fn reachability_takes_addresses_names_and_ports() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        check_reachable(&format!("rtmp://127.0.0.1:{port}/app")).unwrap();
        check_reachable(&format!("ws://localhost:{port}")).unwrap();
        drop(listener);
        let e = check_reachable(&format!("http://127.0.0.1:{port}/whip")).unwrap_err();
        assert_eq!(e.code, crate::error::ErrorCode::Unreachable);
        let e = check_reachable("rtmp://no-such-host.invalid/app").unwrap_err();
        assert!(e.message.contains("does not resolve"), "{e}");
    }
}
