//! A platform's HTTP hooks as a destination declares them, and the pure work
//! around them: filling the templates in, reading the answers. No I/O here.
//!
//! A template names values in braces: `{eventId}` from the destination's
//! vars or from an earlier answer, `{secret}` for the destination's bearer
//! from the keychain. The secret may go in headers and bodies, never in a URL
//! (URLs end up in messages and logs).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::secret::Secret;

/// The template name of the destination's keychain secret.
pub const SECRET_VAR: &str = "secret";

/// Answer fields with a meaning to Onair; every other name read from an
/// answer becomes a value later templates (and the end hook) can use.
pub const READ_TOKEN: &str = "token";
pub const READ_URL: &str = "url";
pub const READ_KEY: &str = "key";
pub const READ_LIVE: &str = "live";
pub const READ_VIEWERS: &str = "viewers";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformHooks {
    /// Non-secret values for the templates, e.g. `{"eventId": "42"}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
    /// Opens the platform's session before anything is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Hook>,
    /// Gives a LiveKit token (`read.token`) and maybe the server (`read.url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Hook>,
    /// Gives an RTMP ingest URL (`read.url`) and stream key (`read.key`);
    /// asked once, the key is kept in the keychain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Hook>,
    /// Says whether the platform shows the stream live (`read.live`) and to
    /// how many (`read.viewers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Hook>,
    /// Closes the platform's session; called once whenever start succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Hook>,
}

impl PlatformHooks {
    /// Every hook the platform declared, in the order of a Go Live.
    pub fn declared(&self) -> impl Iterator<Item = &Hook> {
        [
            &self.start,
            &self.token,
            &self.ingress,
            &self.status,
            &self.end,
        ]
        .into_iter()
        .flatten()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    #[serde(default = "default_method")]
    pub method: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A JSON template: every string in it is filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Name → JSON pointer (RFC 6901) into the answer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub read: BTreeMap<String, String>,
    /// When `read.live` is not a boolean: the value that means live
    /// (e.g. `"LIVE"`); anything else means not live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_when: Option<Value>,
}

fn default_method() -> String {
    "POST".into()
}

/// What a template can be filled with.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub vars: BTreeMap<String, String>,
    pub secret: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the template names {{{0}}}, which no var or earlier answer gives")]
    Unknown(String),
    #[error("the secret may not go in a URL; put it in a header")]
    SecretInUrl,
    #[error("{{{0}}} is used but the destination has no secret in the keychain")]
    NoSecret(String),
    #[error("an opening brace is not closed")]
    Unclosed,
}

/// A filled-in request, ready to send. Headers that carried the secret are
/// flagged so the HTTP layer marks them sensitive.
#[derive(Clone)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String, bool)>,
    pub body: Option<Value>,
}

impl std::fmt::Debug for Request {
    // Filled-in headers and bodies may hold the secret: names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<&str> = self.headers.iter().map(|(n, _, _)| n.as_str()).collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &crate::redact::redact_url(&self.url))
            .field("headers", &headers)
            .field("body", &self.body.is_some())
            .finish()
    }
}

impl Hook {
    pub fn render(&self, ctx: &Context) -> Result<Request, TemplateError> {
        let url = fill(&self.url, ctx, Place::Url)?.0;
        let headers = self
            .headers
            .iter()
            .map(|(name, value)| {
                let (value, secret) = fill(value, ctx, Place::Header)?;
                Ok((name.clone(), value, secret))
            })
            .collect::<Result<_, TemplateError>>()?;
        let body = self.body.as_ref().map(|b| fill_json(b, ctx)).transpose()?;
        Ok(Request {
            method: self.method.to_ascii_uppercase(),
            url,
            headers,
            body,
        })
    }

    /// Reads every declared field from an answer; a missing one is an
    /// error naming its pointer (the platform changed its answer).
    pub fn read(&self, answer: &Value) -> Result<BTreeMap<String, Value>, ReadError> {
        self.read
            .iter()
            .map(|(name, pointer)| match answer.pointer(pointer) {
                Some(value) if !value.is_null() => Ok((name.clone(), value.clone())),
                _ => Err(ReadError {
                    name: name.clone(),
                    pointer: pointer.clone(),
                }),
            })
            .collect()
    }

    /// The live flag as the platform states it: a boolean, or a value
    /// compared with `live_when`.
    pub fn live_flag(&self, value: &Value) -> Option<bool> {
        match (&self.live_when, value) {
            (Some(expected), _) => Some(value == expected),
            (None, Value::Bool(live)) => Some(*live),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the answer has no {name} at {pointer}")]
pub struct ReadError {
    pub name: String,
    pub pointer: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Place {
    Url,
    Header,
    Body,
}

/// Fills `{name}` in; returns the text and whether the secret went in.
fn fill(template: &str, ctx: &Context, place: Place) -> Result<(String, bool), TemplateError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    let mut used_secret = false;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or(TemplateError::Unclosed)?;
        let name = &after[..close];
        let value = if name == SECRET_VAR {
            if place == Place::Url {
                return Err(TemplateError::SecretInUrl);
            }
            used_secret = true;
            ctx.secret
                .as_ref()
                .ok_or_else(|| TemplateError::NoSecret(name.into()))?
                .expose()
                .to_string()
        } else {
            ctx.vars
                .get(name)
                .cloned()
                .ok_or_else(|| TemplateError::Unknown(name.into()))?
        };
        if place == Place::Url {
            out.push_str(&encode_path_value(&value));
        } else {
            out.push_str(&value);
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok((out, used_secret))
}

fn fill_json(template: &Value, ctx: &Context) -> Result<Value, TemplateError> {
    Ok(match template {
        Value::String(s) => Value::String(fill(s, ctx, Place::Body)?.0),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| fill_json(v, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| Ok((k.clone(), fill_json(v, ctx)?)))
                .collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

/// A value placed in a URL keeps to one path segment or query value.
fn encode_path_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An answer value as template text (strings without their quotes).
pub fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Context {
        Context {
            vars: BTreeMap::from([
                ("eventId".to_string(), "ev 1/2".to_string()),
                ("session".to_string(), "ses_9".to_string()),
            ]),
            secret: Some(Secret::new("BEARER")),
        }
    }

    fn hook(json: Value) -> Hook {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn templates_fill_urls_headers_and_bodies() {
        let h = hook(json!({
            "url": "http://p/api/streaming/{eventId}/token?s={session}",
            "headers": {"Authorization": "Bearer {secret}", "X-Event": "{eventId}"},
            "body": {"role": "BROADCASTER", "event": "{eventId}", "n": 3, "tags": ["{session}"]},
        }));
        let r = h.render(&ctx()).unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.url, "http://p/api/streaming/ev%201%2F2/token?s=ses_9");
        assert!(r
            .headers
            .contains(&("Authorization".into(), "Bearer BEARER".into(), true)));
        assert!(r
            .headers
            .contains(&("X-Event".into(), "ev 1/2".into(), false)));
        assert_eq!(
            r.body.unwrap(),
            json!({"role": "BROADCASTER", "event": "ev 1/2", "n": 3, "tags": ["ses_9"]})
        );
    }

    #[test]
    fn a_filled_request_never_debug_prints_the_secret() {
        let h = hook(
            json!({"url": "http://p", "headers": {"A": "Bearer {secret}"},
                            "body": {"key": "{secret}"}}),
        );
        let shown = format!("{:?}", h.render(&ctx()).unwrap());
        assert!(!shown.contains("BEARER"), "{shown}");
    }

    #[test]
    fn the_secret_never_goes_in_a_url_and_unknown_names_are_errors() {
        let in_url = hook(json!({"url": "http://p/{secret}"}));
        assert_eq!(
            in_url.render(&ctx()).unwrap_err(),
            TemplateError::SecretInUrl
        );
        let unknown = hook(json!({"url": "http://p/{roomId}"}));
        assert_eq!(
            unknown.render(&ctx()).unwrap_err(),
            TemplateError::Unknown("roomId".into())
        );
        let unclosed = hook(json!({"url": "http://p/{roomId"}));
        assert_eq!(
            unclosed.render(&ctx()).unwrap_err(),
            TemplateError::Unclosed
        );
        let no_secret = Context {
            secret: None,
            ..ctx()
        };
        let header = hook(json!({"url": "http://p", "headers": {"A": "Bearer {secret}"}}));
        assert!(matches!(
            header.render(&no_secret),
            Err(TemplateError::NoSecret(_))
        ));
    }

    #[test]
    fn answers_are_read_by_pointer_and_a_missing_field_is_named() {
        let h =
            hook(json!({"url": "http://p", "read": {"token": "/token", "session": "/session/id"}}));
        let read = h
            .read(&json!({"token": "jwt", "session": {"id": "ses_1"}}))
            .unwrap();
        assert_eq!(read["session"], json!("ses_1"));
        let missing = h.read(&json!({"token": "jwt"})).unwrap_err();
        assert_eq!(missing.pointer, "/session/id");
        assert!(h
            .read(&json!({"token": null, "session": {"id": 1}}))
            .is_err());
    }

    #[test]
    fn the_live_flag_is_a_boolean_or_an_enum_value() {
        let plain = hook(json!({"url": "http://p"}));
        assert_eq!(plain.live_flag(&json!(true)), Some(true));
        assert_eq!(plain.live_flag(&json!("LIVE")), None);
        let phase = hook(json!({"url": "http://p", "live_when": "LIVE"}));
        assert_eq!(phase.live_flag(&json!("LIVE")), Some(true));
        // The seeds' enum mismatch: a near miss is not live.
        assert_eq!(phase.live_flag(&json!("PRE_LIVE")), Some(false));
        assert_eq!(phase.live_flag(&json!("live")), Some(false));
    }

    #[test]
    fn unknown_fields_in_a_declaration_are_refused() {
        let typo = serde_json::from_value::<Hook>(json!({"url": "http://p", "raed": {}}));
        assert!(typo.is_err());
        let hooks: PlatformHooks = serde_json::from_value(json!({
            "vars": {"eventId": "1"},
            "start": {"url": "http://p/s/{eventId}"},
            "status": {"method": "GET", "url": "http://p/st", "read": {"live": "/isLive"}},
        }))
        .unwrap();
        assert_eq!(hooks.status.unwrap().method, "GET");
        assert!(hooks.end.is_none());
    }
}
