//! Where a LiveKit token comes from: given as is, minted here for a
//! self-hosted server whose API secret sits in the keychain, or fetched from
//! the creator's platform (a token URL with its own bearer secret, sent only
//! over TLS or to this computer; the answer's server URL follows the same
//! rule, since the token goes there).

use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::token;
use crate::destination::Destination;
use crate::error::{ErrorCode, OnairError};
use crate::net::http::{self as net_http, BODY_LIMIT};
use crate::net::policy;
use crate::redact::redact_url;
use crate::secret::Secret;

/// Self-minted tokens last a long show; the server refreshes them anyway.
const MINTED_TTL: Duration = Duration::from_secs(6 * 3600);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub enum TokenSource {
    Given(Secret),
    Mint {
        api_key: String,
        api_secret: Secret,
        room: String,
        identity: String,
        /// The room lists the participant to no one (the link check).
        hidden: bool,
    },
    Fetch {
        token_url: String,
        bearer: Secret,
        /// JSON pointers into the answer (RFC 6901).
        token_pointer: String,
        url_pointer: Option<String>,
    },
}

/// A token, and the server URL when the platform named one.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub token: Secret,
    pub url: Option<String>,
}

impl TokenSource {
    /// The source for a link check. A token Onair mints itself is minted
    /// hidden, under an identity of its own: the room shows no one, and a
    /// session live under the creator's identity is not sent away as a
    /// duplicate. A given or fetched token is what it is.
    pub fn for_link_check(self) -> TokenSource {
        match self {
            TokenSource::Mint {
                api_key,
                api_secret,
                room,
                identity,
                ..
            } => TokenSource::Mint {
                api_key,
                api_secret,
                room,
                identity: format!("{identity}.link-check"),
                hidden: true,
            },
            other => other,
        }
    }

    pub async fn obtain(&self) -> Result<Credentials, OnairError> {
        match self {
            TokenSource::Given(token) => Ok(Credentials {
                token: token.clone(),
                url: None,
            }),
            TokenSource::Mint {
                api_key,
                api_secret,
                room,
                identity,
                hidden,
            } => Ok(Credentials {
                token: token::mint_as(api_key, api_secret, room, identity, MINTED_TTL, *hidden)?,
                url: None,
            }),
            TokenSource::Fetch {
                token_url,
                bearer,
                token_pointer,
                url_pointer,
            } => fetch(token_url, bearer, token_pointer, url_pointer.as_deref()).await,
        }
    }
}

/// What a LiveKit join needs, ready before any socket opens: the token,
/// obtained and checked (room, lifetime, grants), and the server URL, the
/// platform's when it named one (only a LiveKit one: the token goes there).
pub async fn ready_to_join(
    url: &str,
    source: &TokenSource,
    room: Option<&str>,
    with_audio: bool,
) -> Result<(String, Secret), OnairError> {
    let credentials = source.obtain().await?;
    if credentials.token.is_empty() {
        return Err(OnairError::new(
            ErrorCode::KeyMissing,
            "The LiveKit token is empty. Pass it with --key-stdin or save it with `onair keys add`.",
        ));
    }
    token::check(&credentials.token, room, with_audio, SystemTime::now())?;
    let url = match credentials.url {
        Some(named) => Destination::LiveKit(url.to_string())
            .from_platform(&named)?
            .url()
            .to_string(),
        None => url.to_string(),
    };
    Ok((url, credentials.token))
}

async fn fetch(
    token_url: &str,
    bearer: &Secret,
    token_pointer: &str,
    url_pointer: Option<&str>,
) -> Result<Credentials, OnairError> {
    let shown = redact_url(token_url);
    // Before any lookup or connection: the bearer never leaves in clear.
    check_token_url(token_url)?;
    let client = net_http::client(FETCH_TIMEOUT, FETCH_TIMEOUT)?;
    let response = client
        .post(token_url)
        .bearer_auth(bearer.expose())
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .map_err(|e| {
            OnairError::new(
                ErrorCode::Unreachable,
                format!("Onair could not reach your platform's token endpoint {shown} ({}). Is the platform up?", e.without_url()),
            )
        })?;
    let status = response.status();
    if let Some(target) = net_http::redirect_of(&response) {
        return Err(OnairError::new(
            ErrorCode::PlatformError,
            format!("Your platform's token endpoint {shown} answered {} and pointed to {target}. Onair follows no redirect with your key: if the endpoint moved, save its new URL.", status.as_u16()),
        ));
    }
    let body = net_http::read_capped(response, BODY_LIMIT)
        .await
        .map_err(|e| {
            OnairError::new(
                ErrorCode::PlatformError,
                format!("Your platform's token endpoint {shown} could not be read: {e}. A token answer is a few hundred bytes; ask your platform."),
            )
        })?;
    interpret(
        &shown,
        status.as_u16(),
        &body,
        bearer,
        token_pointer,
        url_pointer,
    )
}

/// The token URL may receive the bearer: TLS, or this computer.
pub fn check_token_url(token_url: &str) -> Result<(), OnairError> {
    policy::secret_may_go_to(token_url).map_err(|e| {
        OnairError::new(
            ErrorCode::InvalidDestination,
            format!(
                "Onair will not send your key to the token endpoint: {e}. Change the token URL."
            ),
        )
    })
}

/// The endpoint's answer as credentials or a sentence; pure, for tests and
/// the fuzzer. An endpoint that echoes the bearer back does not get it into
/// the sentence.
pub fn interpret(
    shown: &str,
    status: u16,
    body: &str,
    bearer: &Secret,
    token_pointer: &str,
    url_pointer: Option<&str>,
) -> Result<Credentials, OnairError> {
    let said = || {
        let text = bearer.mask_in(body.trim());
        if text.is_empty() || text.len() > 300 {
            String::new()
        } else {
            format!(" It said: {text}")
        }
    };
    match status {
        200..=299 => {}
        401 | 403 => {
            return Err(OnairError::new(
                ErrorCode::AuthFailed,
                format!("Your platform's token endpoint {shown} refused Onair's key ({status}).{} Check the key with `onair keys rotate`.", said()),
            ))
        }
        _ => {
            return Err(OnairError::new(
                ErrorCode::PlatformError,
                format!("Your platform's token endpoint {shown} answered {status}.{}", said()),
            ))
        }
    }
    let json: Value = serde_json::from_str(body).map_err(|_| {
        OnairError::new(
            ErrorCode::PlatformError,
            format!("Your platform's token endpoint {shown} did not answer with JSON."),
        )
    })?;
    let token = json
        .pointer(token_pointer)
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            OnairError::new(
                ErrorCode::PlatformError,
                format!("Your platform's token endpoint {shown} answered without a token at {token_pointer}."),
            )
        })?;
    let url = url_pointer
        .and_then(|p| json.pointer(p))
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(url) = &url {
        // The token will go to that server.
        policy::answered_url_may_carry_secret(
            url,
            &format!("Your platform's token endpoint {shown}"),
        )?;
    }
    Ok(Credentials {
        token: Secret::new(token),
        url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer() -> Secret {
        Secret::new("onair-bearer-7f3a")
    }

    #[test]
    fn tokens_and_urls_come_from_their_pointers() {
        let body = r#"{"data":{"token":"jwt-here","serverUrl":"wss://lk.example"}}"#;
        let c = interpret(
            "x",
            200,
            body,
            &bearer(),
            "/data/token",
            Some("/data/serverUrl"),
        )
        .unwrap();
        assert_eq!(c.token.expose(), "jwt-here");
        assert_eq!(c.url.as_deref(), Some("wss://lk.example"));
        let c = interpret(
            "x",
            201,
            r#"{"token":"t"}"#,
            &bearer(),
            "/token",
            Some("/url"),
        )
        .unwrap();
        assert_eq!(c.url, None);
    }

    #[test]
    fn refusals_and_bad_answers_are_named() {
        let e = interpret("x", 403, "wrong key", &bearer(), "/token", None).unwrap_err();
        assert_eq!(e.code, ErrorCode::AuthFailed);
        assert!(e.message.contains("wrong key"));
        let e = interpret("x", 503, "", &bearer(), "/token", None).unwrap_err();
        assert_eq!(e.code, ErrorCode::PlatformError);
        let e = interpret("x", 200, "<html>", &bearer(), "/token", None).unwrap_err();
        assert!(e.message.contains("JSON"), "{}", e.message);
        let e = interpret("x", 200, r#"{"jwt":"t"}"#, &bearer(), "/token", None).unwrap_err();
        assert!(e.message.contains("/token"), "{}", e.message);
    }

    #[test]
    fn an_endpoint_echoing_the_bearer_does_not_get_it_into_the_sentence() {
        let e = interpret(
            "x",
            401,
            "bad bearer onair-bearer-7f3a",
            &bearer(),
            "/token",
            None,
        )
        .unwrap_err();
        assert!(!e.message.contains("onair-bearer-7f3a"), "{}", e.message);
        assert!(e.message.contains("bad bearer ••••••••3a"), "{}", e.message);
    }

    #[test]
    fn a_cleartext_token_url_is_refused_before_any_connection() {
        let e = check_token_url("http://token.example.invalid/t").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidDestination);
        assert!(
            e.message.contains("http://token.example.invalid/t")
                && e.message.contains("use https://"),
            "{e}"
        );
        check_token_url("https://token.example/t").unwrap();
        check_token_url("http://127.0.0.1:8080/t").unwrap();
        // The fetch itself refuses it first: nothing is looked up or sent
        // (an .invalid name could not resolve anyway; the error says why).
        let source = TokenSource::Fetch {
            token_url: "http://token.example.invalid/t".into(),
            bearer: bearer(),
            token_pointer: "/token".into(),
            url_pointer: None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = runtime.block_on(source.obtain()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidDestination, "{e}");
    }

    #[test]
    fn a_server_url_in_clear_from_the_platform_is_refused() {
        let body = r#"{"token":"t","url":"ws://lk.example:7880"}"#;
        let e = interpret("x", 200, body, &bearer(), "/token", Some("/url")).unwrap_err();
        assert_eq!(e.code, ErrorCode::PlatformError);
        assert!(
            e.message.contains("ws://lk.example:7880") && e.message.contains("wss://"),
            "{e}"
        );
        let body = r#"{"token":"t","url":"ws://127.0.0.1:7880"}"#;
        interpret("x", 200, body, &bearer(), "/token", Some("/url")).unwrap();
    }
}
