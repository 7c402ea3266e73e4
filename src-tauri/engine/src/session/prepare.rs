//! From a resolved DEST to a `LiveConfig`: what a destination's secret is
//! for (a stream key, a LiveKit token source, a platform's API token) and
//! which status endpoint is polled. The CLI and the desktop app both go
//! live through here, so the two cannot treat a destination differently.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::error::{ErrorCode, OnairError};
use crate::keys::options::{DEFAULT_TOKEN_POINTER, DEFAULT_URL_POINTER};
use crate::keys::{
    DestinationKind, Keychain, OsKeychain, Resolved, SavedDestination, StatusOptions,
};
use crate::livekit::credentials::TokenSource;
use crate::platform::hooks::{Hook, PlatformHooks, READ_LIVE, READ_VIEWERS};
use crate::platform::journal::Journal;
use crate::platform::PlatformPlan;
use crate::secret::Secret;

use super::LiveConfig;

pub use crate::keys::options::{DEFAULT_LIVE_POINTER, DEFAULT_VIEWERS_POINTER};

/// What the person going live typed besides DEST.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// The LiveKit room this stream must go to.
    pub room: Option<String>,
    /// An ad-hoc LiveKit URL's token endpoint (the secret is its bearer).
    pub token_url: Option<String>,
    /// A status endpoint to poll when the destination names none.
    pub status_url: Option<String>,
}

/// The keychain and the folder a platform session's journal is kept in.
pub struct Stores {
    pub keychain: Arc<dyn Keychain>,
    /// The destinations' config folder.
    pub config_dir: std::path::PathBuf,
}

impl Stores {
    pub fn os(config_dir: &Path) -> Stores {
        Stores {
            keychain: Arc::new(OsKeychain::new()),
            config_dir: config_dir.to_path_buf(),
        }
    }
}

/// Builds the session's configuration; encoding settings keep their defaults.
pub fn live_config(
    resolved: Resolved,
    overrides: Overrides,
    stores: &Stores,
) -> Result<LiveConfig, OnairError> {
    let mut config = LiveConfig::new(resolved.destination);
    let secret = resolved.secret;
    config.room = overrides.room.clone();
    let Some(saved) = resolved.saved else {
        config.secret = secret;
        if let Some(token_url) = overrides.token_url {
            config.token_source = Some(TokenSource::Fetch {
                token_url,
                bearer: config.secret.take().unwrap_or_else(|| Secret::new("")),
                token_pointer: DEFAULT_TOKEN_POINTER.into(),
                url_pointer: Some(DEFAULT_URL_POINTER.into()),
            });
        }
        if let Some(status_url) = overrides.status_url {
            config.platform = Some(status_plan(
                "this stream",
                &status_url,
                &StatusOptions::default(),
                stores,
            ));
        }
        return Ok(config);
    };
    config.preset = saved
        .options
        .preset
        .as_deref()
        .and_then(|id| crate::preset::find(id).ok());
    if saved.platform.is_some() {
        // The platform hands out the token or key; the keychain's secret is its API token.
        config.platform = Some(PlatformPlan {
            destination: saved.name.clone(),
            hooks: saved.platform.clone().unwrap_or_default(),
            bearer: secret,
            journal: Journal::in_config_dir(&stores.config_dir),
            keychain: stores.keychain.clone(),
        });
        return Ok(config);
    }
    if saved.kind == DestinationKind::Livekit {
        config.room = overrides
            .room
            .or_else(|| saved.options.livekit.room.clone());
        config.token_source = Some(livekit_source(&saved, secret)?);
    } else {
        config.secret = secret;
    }
    if let Some(status_url) = saved.status_url.as_ref().or(overrides.status_url.as_ref()) {
        config.platform = Some(status_plan(
            &saved.name,
            status_url,
            &saved.options.status,
            stores,
        ));
    }
    Ok(config)
}

/// A platform that only tells whether the stream is live and to how many:
/// one status hook, read with the destination's pointers.
fn status_plan(
    name: &str,
    status_url: &str,
    options: &StatusOptions,
    stores: &Stores,
) -> PlatformPlan {
    let read = BTreeMap::from([
        (READ_LIVE.to_string(), options.live_pointer().to_string()),
        (
            READ_VIEWERS.to_string(),
            options.viewers_pointer().to_string(),
        ),
    ]);
    PlatformPlan {
        destination: name.to_string(),
        hooks: PlatformHooks {
            status: Some(Hook {
                method: "GET".into(),
                url: status_url.to_string(),
                headers: BTreeMap::new(),
                body: None,
                read,
                live_when: None,
            }),
            ..Default::default()
        },
        bearer: None,
        journal: Journal::in_config_dir(&stores.config_dir),
        keychain: stores.keychain.clone(),
    }
}

/// How a saved LiveKit destination gets its token: minted with its API
/// secret, fetched from the platform with its bearer, or the saved token.
pub(crate) fn livekit_source(
    saved: &SavedDestination,
    secret: Option<Secret>,
) -> Result<TokenSource, OnairError> {
    let secret = secret.unwrap_or_else(|| Secret::new(""));
    let options = &saved.options.livekit;
    if let Some(api_key) = options.api_key.clone() {
        let room = options.room.clone().ok_or_else(|| {
            OnairError::new(
                ErrorCode::InvalidDestination,
                format!(
                    "{} mints its own tokens but names no room: add it again with a room.",
                    saved.name
                ),
            )
        })?;
        return Ok(TokenSource::Mint {
            api_key,
            api_secret: secret,
            room,
            identity: options.identity().to_string(),
            hidden: false,
        });
    }
    if let Some(token_url) = &saved.token_url {
        return Ok(TokenSource::Fetch {
            token_url: token_url.clone(),
            bearer: secret,
            token_pointer: options.token_pointer().to_string(),
            url_pointer: Some(options.url_pointer().to_string()),
        });
    }
    Ok(TokenSource::Given(secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::Destination;
    use crate::keys::MemoryKeychain;

    fn stores() -> Stores {
        Stores {
            keychain: Arc::new(MemoryKeychain::default()),
            config_dir: std::env::temp_dir(),
        }
    }

    fn saved(kind: DestinationKind, url: &str) -> SavedDestination {
        SavedDestination {
            name: "main".into(),
            kind,
            url: url.into(),
            token_url: None,
            status_url: None,
            options: Default::default(),
            platform: None,
        }
    }

    fn resolved(saved: SavedDestination, secret: &str) -> Resolved {
        Resolved {
            destination: Destination::parse(&saved.url).unwrap(),
            secret: Some(Secret::new(secret)),
            saved: Some(saved),
        }
    }

    #[test]
    fn an_rtmp_key_stays_the_stream_key_and_its_status_url_is_polled() {
        let mut dest = saved(DestinationKind::Rtmp, "rtmp://h/app");
        dest.status_url = Some("http://p/status".into());
        dest.options.status.viewers_pointer = Some("/n".into());
        let config = live_config(resolved(dest, "sk_1"), Overrides::default(), &stores()).unwrap();
        assert_eq!(config.secret.unwrap().expose(), "sk_1");
        let plan = config.platform.expect("a status plan");
        assert!(
            plan.bearer.is_none(),
            "the stream key is never sent to the status URL"
        );
        let status = plan.hooks.status.unwrap();
        assert_eq!(
            (status.method.as_str(), status.url.as_str()),
            ("GET", "http://p/status")
        );
        assert_eq!(status.read[READ_LIVE], DEFAULT_LIVE_POINTER);
        assert_eq!(status.read[READ_VIEWERS], "/n");
        assert!(plan.hooks.start.is_none() && plan.hooks.end.is_none());
    }

    #[test]
    fn the_overrides_status_url_is_only_a_fallback() {
        let mut dest = saved(DestinationKind::Rtmp, "rtmp://h/app");
        let fallback = Overrides {
            status_url: Some("http://settings/status".into()),
            ..Default::default()
        };
        let config = live_config(resolved(dest.clone(), "k"), fallback.clone(), &stores()).unwrap();
        assert_eq!(
            config.platform.unwrap().hooks.status.unwrap().url,
            "http://settings/status"
        );
        dest.status_url = Some("http://own/status".into());
        let config = live_config(resolved(dest, "k"), fallback, &stores()).unwrap();
        assert_eq!(
            config.platform.unwrap().hooks.status.unwrap().url,
            "http://own/status"
        );
    }

    #[test]
    fn a_livekit_destination_with_a_token_url_fetches_with_its_bearer() {
        let mut dest = saved(DestinationKind::Livekit, "wss://lk");
        dest.token_url = Some("https://p/token".into());
        dest.options.livekit.room = Some("show".into());
        let config =
            live_config(resolved(dest, "bearer"), Overrides::default(), &stores()).unwrap();
        assert!(config.secret.is_none());
        assert_eq!(config.room.as_deref(), Some("show"));
        match config.token_source {
            Some(TokenSource::Fetch {
                token_url, bearer, ..
            }) => {
                assert_eq!(token_url, "https://p/token");
                assert_eq!(bearer.expose(), "bearer");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn minting_without_a_room_is_refused_with_the_fix() {
        let mut dest = saved(DestinationKind::Livekit, "ws://lk");
        dest.options.livekit.api_key = Some("devkey".into());
        let e = live_config(resolved(dest, "secret"), Overrides::default(), &stores()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidDestination);
        assert!(e.message.contains("room"), "{}", e.message);
    }
}
