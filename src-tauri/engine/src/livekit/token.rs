//! LiveKit access tokens: read before connecting, minted for self-hosters.
//!
//! A token's claims are readable without the secret, so every problem a
//! creator can fix (expired, another room, no right to publish) is named
//! before a socket opens, instead of surfacing as a bare refusal later.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use livekit_api::access_token::{AccessToken, Claims, VideoGrants};

use crate::error::{ErrorCode, OnairError};
use crate::secret::Secret;

/// The server accepts a token up to a minute past `exp` or before `nbf`.
const SERVER_SKEW_S: u64 = 60;

/// Track sources Onair publishes, spelled as LiveKit's grants spell them.
const CAMERA: &str = "camera";
const MICROPHONE: &str = "microphone";

/// What a checked token says about the session it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFacts {
    pub room: String,
    pub identity: String,
    /// Unix seconds.
    pub expires_at: u64,
}

/// Checks `token` for a session that publishes video (and audio when
/// `with_audio`), in `expected_room` when the destination names one.
pub fn check(
    token: &Secret,
    expected_room: Option<&str>,
    with_audio: bool,
    now: SystemTime,
) -> Result<TokenFacts, OnairError> {
    let claims = Claims::from_unverified(token.expose()).map_err(|_| {
        OnairError::new(
            ErrorCode::AuthFailed,
            "The LiveKit token is not a valid access token (a JWT). Ask your platform for a new one.",
        )
    })?;
    let now_s = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let exp = claims.exp as u64;
    if exp != 0 && exp.saturating_add(SERVER_SKEW_S) <= now_s {
        let ago = now_s - exp;
        return Err(OnairError::new(
            ErrorCode::AuthFailed,
            format!(
                "The LiveKit token expired {} ago. Fetch a fresh token and go live again.",
                human_duration(ago)
            ),
        ));
    }
    let nbf = claims.nbf as u64;
    if nbf > now_s + SERVER_SKEW_S {
        return Err(OnairError::new(
            ErrorCode::AuthFailed,
            format!(
                "The LiveKit token is not valid for another {}. Check this computer's clock.",
                human_duration(nbf - now_s)
            ),
        ));
    }
    let grants = &claims.video;
    if !grants.room_join || grants.room.is_empty() {
        return Err(OnairError::new(
            ErrorCode::PermissionDenied,
            "The LiveKit token does not allow joining a room. Ask your platform for a broadcaster token.",
        ));
    }
    if let Some(room) = expected_room.filter(|r| *r != grants.room) {
        return Err(OnairError::new(
            ErrorCode::PermissionDenied,
            format!(
                "The LiveKit token is for room \"{}\", but this destination streams to \"{room}\". Fetch a token for \"{room}\".",
                grants.room
            ),
        ));
    }
    let missing = missing_sources(grants, with_audio);
    if !missing.is_empty() {
        return Err(OnairError::new(
            ErrorCode::PermissionDenied,
            format!(
                "The LiveKit token does not allow publishing {} in room \"{}\". Ask your platform for a broadcaster (publisher) token.",
                missing.join(" or "),
                grants.room
            ),
        ));
    }
    Ok(TokenFacts {
        room: grants.room.clone(),
        identity: claims.sub.clone(),
        expires_at: exp,
    })
}

fn missing_sources(grants: &VideoGrants, with_audio: bool) -> Vec<&'static str> {
    let wanted: &[&'static str] = if with_audio {
        &[CAMERA, MICROPHONE]
    } else {
        &[CAMERA]
    };
    if !grants.can_publish() {
        return wanted.to_vec();
    }
    if grants.can_publish_sources.is_empty() {
        return Vec::new();
    }
    wanted
        .iter()
        .copied()
        .filter(|source| !grants.can_publish_sources.iter().any(|s| s == source))
        .collect()
}

fn human_duration(seconds: u64) -> String {
    match seconds {
        0..=119 => format!("{seconds} s"),
        120..=7199 => format!("{} min", seconds / 60),
        _ => format!("{} h", seconds / 3600),
    }
}

/// Mints a publisher token for a self-hosted server whose API secret the
/// creator holds (in the keychain). Subscribing is off: a broadcaster needs
/// no subscriber connection.
pub fn mint(
    api_key: &str,
    api_secret: &Secret,
    room: &str,
    identity: &str,
    ttl: Duration,
) -> Result<Secret, OnairError> {
    mint_as(api_key, api_secret, room, identity, ttl, false)
}

/// A token for a participant that, when `hidden`, the room does not list
/// to anyone (the link check's).
pub fn mint_as(
    api_key: &str,
    api_secret: &Secret,
    room: &str,
    identity: &str,
    ttl: Duration,
    hidden: bool,
) -> Result<Secret, OnairError> {
    let grants = VideoGrants {
        room_join: true,
        room: room.to_string(),
        can_publish: Some(true),
        can_subscribe: Some(false),
        can_publish_data: Some(true),
        hidden,
        ..Default::default()
    };
    AccessToken::with_api_key(api_key, api_secret.expose())
        .with_identity(identity)
        .with_name(identity)
        .with_ttl(ttl)
        .with_grants(grants)
        .to_jwt()
        .map(Secret::new)
        .map_err(|e| OnairError::internal(format!("minting a LiveKit token failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "devkey";

    fn secret() -> Secret {
        Secret::new("a-secret-long-enough-for-hs256".to_string())
    }

    fn token_with(grants: VideoGrants, ttl: Duration) -> Secret {
        let jwt = AccessToken::with_api_key(KEY, secret().expose())
            .with_identity("onair")
            .with_ttl(ttl)
            .with_grants(grants)
            .to_jwt()
            .unwrap();
        Secret::new(jwt)
    }

    fn publisher(room: &str) -> VideoGrants {
        VideoGrants {
            room_join: true,
            room: room.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_minted_token_passes_its_own_check() {
        let token = mint(KEY, &secret(), "show", "studio", Duration::from_secs(600)).unwrap();
        let facts = check(&token, Some("show"), true, SystemTime::now()).unwrap();
        assert_eq!(facts.room, "show");
        assert_eq!(facts.identity, "studio");
    }

    #[test]
    fn expired_tokens_fail_with_auth_failed_and_say_how_long_ago() {
        let token = token_with(publisher("show"), Duration::from_secs(60));
        let later = SystemTime::now() + Duration::from_secs(60 + 3 * 60);
        let e = check(&token, None, true, later).unwrap_err();
        assert_eq!(e.code, ErrorCode::AuthFailed);
        assert!(e.message.contains("expired 3 min ago"), "{}", e.message);
    }

    #[test]
    fn the_servers_skew_is_allowed() {
        let token = token_with(publisher("show"), Duration::from_secs(60));
        let just_past = SystemTime::now() + Duration::from_secs(90);
        assert!(check(&token, None, true, just_past).is_ok());
    }

    #[test]
    fn another_room_is_named() {
        let token = token_with(publisher("rehearsal"), Duration::from_secs(600));
        let e = check(&token, Some("show"), true, SystemTime::now()).unwrap_err();
        assert_eq!(e.code, ErrorCode::PermissionDenied);
        assert!(e.message.contains("\"rehearsal\""), "{}", e.message);
        assert!(e.message.contains("\"show\""), "{}", e.message);
    }

    #[test]
    fn publish_rights_are_checked_per_source() {
        let viewer = VideoGrants {
            can_publish: Some(false),
            ..publisher("show")
        };
        let e = check(
            &token_with(viewer, Duration::from_secs(600)),
            None,
            true,
            SystemTime::now(),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::PermissionDenied);
        assert!(e.message.contains("camera or microphone"), "{}", e.message);

        let screen_only = VideoGrants {
            can_publish_sources: vec!["screen_share".into(), MICROPHONE.into()],
            ..publisher("show")
        };
        let token = token_with(screen_only, Duration::from_secs(600));
        let e = check(&token, None, true, SystemTime::now()).unwrap_err();
        assert!(e.message.contains("publishing camera in"), "{}", e.message);
        let camera_and_mic = VideoGrants {
            can_publish_sources: vec![CAMERA.into(), MICROPHONE.into()],
            ..publisher("show")
        };
        let token = token_with(camera_and_mic, Duration::from_secs(600));
        assert!(check(&token, None, true, SystemTime::now()).is_ok());
    }

    /// A JWT with hand-written claims (unsigned: `check` reads, never verifies).
    fn unsigned_token(claims: &str) -> Secret {
        fn b64url(bytes: &[u8]) -> String {
            const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut out = String::new();
            for chunk in bytes.chunks(3) {
                let n =
                    chunk.iter().fold(0u32, |n, b| n << 8 | *b as u32) << (8 * (3 - chunk.len()));
                for i in 0..=chunk.len() {
                    out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
                }
            }
            out
        }
        let header = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
        Secret::new(format!("{header}.{}.c2ln", b64url(claims.as_bytes())))
    }

    #[test]
    fn outside_numbers_at_their_limits_do_not_overflow() {
        // Found in review: exp + skew overflowed and panicked the session.
        let far = format!(
            r#"{{"iss":"k","sub":"s","nbf":0,"exp":{},"video":{{"roomJoin":true,"room":"show"}}}}"#,
            u64::MAX
        );
        let facts = check(&unsigned_token(&far), None, true, SystemTime::now()).unwrap();
        assert_eq!(facts.expires_at, u64::MAX);
        let future_nbf = format!(
            r#"{{"iss":"k","sub":"s","nbf":{},"exp":0,"video":{{"roomJoin":true,"room":"show"}}}}"#,
            u64::MAX
        );
        let e = check(&unsigned_token(&future_nbf), None, true, SystemTime::now()).unwrap_err();
        assert_eq!(e.code, ErrorCode::AuthFailed);
    }

    #[test]
    fn garbage_and_room_less_tokens_are_refused() {
        let e = check(&Secret::new("not-a-jwt"), None, true, SystemTime::now()).unwrap_err();
        assert_eq!(e.code, ErrorCode::AuthFailed);
        let no_join = token_with(VideoGrants::default(), Duration::from_secs(600));
        let e = check(&no_join, None, true, SystemTime::now()).unwrap_err();
        assert_eq!(e.code, ErrorCode::PermissionDenied);
    }
}
