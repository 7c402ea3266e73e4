//! Calls a platform hook over HTTP: network errors and 5xx are tried again
//! with backoff (a platform restarting for a second should not cost a Go
//! Live); 4xx are answers and are not. Blocking, for the session thread and
//! the status poller, on a small runtime of its own. A hook that carries the
//! secret goes only over TLS or to this computer (`net::policy`); no
//! redirect is followed and no answer is read past `net::http::BODY_LIMIT`.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::Method;
use serde_json::Value;

use super::flow::CallFailure;
use super::hooks::{Context, Hook, PlatformHooks, Request, SECRET_VAR};
use crate::cancel::Cancel;
use crate::error::{ErrorCode, OnairError};
use crate::net::http::{self as net_http, BODY_LIMIT};
use crate::net::policy;
use crate::redact::redact_url;
use crate::secret::Secret;

/// Waits between tries after a network error or a 5xx.
const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The platform's own words are quoted up to this long.
const DETAIL_CHARS: usize = 200;

pub struct HookClient {
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
    retry_delays: Vec<Duration>,
    /// Stop: a call in flight or a wait between tries ends at once.
    cancel: Cancel,
}

impl HookClient {
    pub fn new() -> Result<HookClient, OnairError> {
        let http = net_http::client(REQUEST_TIMEOUT, REQUEST_TIMEOUT)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| OnairError::internal(format!("a runtime for platform calls: {e}")))?;
        Ok(HookClient {
            runtime,
            http,
            retry_delays: RETRY_DELAYS.to_vec(),
            cancel: Cancel::new(),
        })
    }

    /// Calls give up as soon as `cancel` is (the session's Stop).
    pub fn cancelled_by(mut self, cancel: Cancel) -> Self {
        self.cancel = cancel;
        self
    }

    /// One try only: the status poller has its own, slower backoff.
    pub fn without_retries(mut self) -> Self {
        self.retry_delays.clear();
        self
    }

    /// Calls the hook and reads its declared fields from the answer.
    pub fn call(&self, hook: &Hook, ctx: &Context) -> Result<BTreeMap<String, Value>, CallFailure> {
        let request = hook.render(ctx).map_err(|e| CallFailure {
            status: None,
            detail: format!("the destination's hook is malformed: {e}"),
        })?;
        // The last guard (the preflight, `check_secret_transport`, names the
        // fix earlier): a rendered URL is checked before anything is sent.
        if uses_secret(hook) {
            policy::secret_may_go_to(&request.url).map_err(|e| CallFailure {
                status: None,
                detail: format!("Onair will not send your platform token there: {e}"),
            })?;
        }
        let answer = self.send_with_retries(&request, ctx)?;
        hook.read(&answer).map_err(|e| CallFailure {
            status: Some(200),
            detail: e.to_string(),
        })
    }

    fn send_with_retries(&self, request: &Request, ctx: &Context) -> Result<Value, CallFailure> {
        let stopped = || CallFailure {
            status: None,
            detail: "stopped before the platform answered".into(),
        };
        let mut delays = self.retry_delays.iter();
        loop {
            let failure = match self
                .runtime
                .block_on(self.cancel.run(self.send(request, ctx)))
            {
                Some(Ok(value)) => return Ok(value),
                Some(Err(f)) => f,
                None => return Err(stopped()),
            };
            let transient = failure.status.is_none_or(|s| s >= 500);
            match delays.next() {
                Some(delay) if transient => {
                    if self.cancel.sleep(*delay) {
                        return Err(stopped());
                    }
                }
                _ => return Err(failure),
            }
        }
    }

    async fn send(&self, request: &Request, ctx: &Context) -> Result<Value, CallFailure> {
        let shown = redact_url(&request.url);
        let method = Method::from_bytes(request.method.as_bytes()).map_err(|_| CallFailure {
            status: None,
            detail: format!("{:?} is not an HTTP method", request.method),
        })?;
        let mut headers = HeaderMap::new();
        for (name, value, secret) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes());
            let value = HeaderValue::from_str(value);
            let (Ok(name), Ok(mut value)) = (name, value) else {
                return Err(CallFailure {
                    status: None,
                    detail: "a header of the hook cannot be sent (check the platform token for stray characters)".into(),
                });
            };
            value.set_sensitive(*secret);
            headers.insert(name, value);
        }
        let mut builder = self.http.request(method, &request.url).headers(headers);
        if let Some(body) = &request.body {
            builder = builder
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = builder.send().await.map_err(|e| CallFailure {
            status: None,
            detail: format!("{shown}: {}", network_reason(&e)),
        })?;
        let status = response.status().as_u16();
        if let Some(target) = net_http::redirect_of(&response) {
            return Err(CallFailure {
                status: Some(status),
                detail: format!("{shown} redirected to {target}; Onair follows no redirect with your token. If the platform moved, change the hook's URL"),
            });
        }
        let text = net_http::read_capped(response, BODY_LIMIT)
            .await
            .map_err(|e| CallFailure {
                status: Some(status),
                detail: format!("{shown}: {e}"),
            })?;
        interpret_answer(status, &text, &shown, ctx)
    }
}

/// Whether the hook's headers or body name `{secret}`.
pub fn uses_secret(hook: &Hook) -> bool {
    fn names_secret(value: &Value) -> bool {
        match value {
            Value::String(s) => s.contains(&format!("{{{SECRET_VAR}}}")),
            Value::Array(items) => items.iter().any(names_secret),
            Value::Object(fields) => fields.values().any(names_secret),
            _ => false,
        }
    }
    hook.headers
        .values()
        .any(|v| v.contains(&format!("{{{SECRET_VAR}}}")))
        || hook.body.as_ref().is_some_and(names_secret)
}

/// Before any call (at Go Live and when a destination is saved): every hook
/// that carries the secret goes to a URL allowed to receive it, and its
/// server does not come from a platform's answer (an answer could otherwise
/// send the token anywhere).
pub fn check_secret_transport(hooks: &PlatformHooks, destination: &str) -> Result<(), OnairError> {
    let answers: Vec<&String> = hooks.declared().flat_map(|h| h.read.keys()).collect();
    let probe = |fill: &str| {
        let mut vars = hooks.vars.clone();
        for name in &answers {
            vars.insert((*name).clone(), fill.into());
        }
        Context {
            vars,
            secret: Some(Secret::new("probe")),
        }
    };
    let (a, b) = (probe("onair-probe-a"), probe("onair-probe-b"));
    let refuse = |why: String| {
        OnairError::new(
            ErrorCode::InvalidDestination,
            format!("{destination}'s platform hooks would send your platform token where it is not safe: {why}. Fix the hooks file and add the destination again."),
        )
    };
    for hook in hooks.declared().filter(|h| uses_secret(h)) {
        // A hook that cannot be filled in is reported by the template check.
        let (Ok(one), Ok(other)) = (hook.render(&a), hook.render(&b)) else {
            continue;
        };
        policy::secret_may_go_to(&one.url).map_err(|e| refuse(e.to_string()))?;
        let origin = |url: &str| {
            reqwest::Url::parse(url).ok().map(|u| {
                (
                    u.scheme().to_string(),
                    u.host_str().map(str::to_string),
                    u.port_or_known_default(),
                )
            })
        };
        if origin(&one.url) != origin(&other.url) {
            return Err(refuse(format!(
                "the server of {} comes from a platform's answer; write the host into the URL",
                redact_url(&hook.url)
            )));
        }
    }
    Ok(())
}

/// A hook's HTTP answer as JSON, or the failure a creator sees (the
/// platform's own words, without the secret). Pure: the fuzzer drives it.
pub fn interpret_answer(
    status: u16,
    text: &str,
    shown: &str,
    ctx: &Context,
) -> Result<Value, CallFailure> {
    let json: Option<Value> = serde_json::from_str(text).ok();
    if !(200..300).contains(&status) {
        return Err(CallFailure {
            status: Some(status),
            detail: platform_words(json.as_ref(), text, ctx),
        });
    }
    match json {
        Some(value) => Ok(value),
        None if text.trim().is_empty() => Ok(Value::Null),
        None => Err(CallFailure {
            status: Some(status),
            detail: format!("{shown} did not answer with JSON"),
        }),
    }
}

/// The platform's error text: its JSON `error` or `message`, else the body,
/// cut short. A platform that echoes the bearer back must not put it in our
/// message: it is masked before the cut, so no part of it survives.
fn platform_words(json: Option<&Value>, text: &str, ctx: &Context) -> String {
    let said = json
        .and_then(|j| {
            ["/error", "/message", "/error/message"]
                .iter()
                .find_map(|p| j.pointer(p).and_then(Value::as_str))
        })
        .unwrap_or(text)
        .trim();
    let masked = match &ctx.secret {
        Some(secret) => secret.mask_in(said),
        None => said.to_string(),
    };
    let words: String = masked.chars().take(DETAIL_CHARS).collect();
    if words.is_empty() {
        "no reason given".into()
    } else {
        words
    }
}

fn network_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "no answer in time".into();
    }
    let mut source: Option<&dyn std::error::Error> = Some(e);
    let mut deepest = String::new();
    while let Some(s) = source {
        deepest = s.to_string();
        source = s.source();
    }
    if deepest.contains("Connection refused") {
        "connection refused".into()
    } else {
        deepest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use serde_json::json;

    #[test]
    fn the_platforms_words_are_quoted_short_and_without_the_secret() {
        let ctx = Context {
            secret: Some(Secret::new("tok-123")),
            ..Context::default()
        };
        let json = json!({"error": "bad bearer tok-123"});
        assert_eq!(platform_words(Some(&json), "", &ctx), "bad bearer ••••••••");
        assert_eq!(platform_words(None, " gateway down ", &ctx), "gateway down");
        assert_eq!(platform_words(None, "", &ctx), "no reason given");
        let long = "x".repeat(1000);
        assert_eq!(platform_words(None, &long, &ctx).len(), DETAIL_CHARS);
        // The secret straddling the cut is masked whole, not half shown.
        let straddling = format!("{}tok-123", "x".repeat(DETAIL_CHARS - 3));
        assert!(!platform_words(None, &straddling, &ctx).contains("tok"));
    }

    fn hook(value: Value) -> Hook {
        serde_json::from_value(value).unwrap()
    }

    fn hooks(value: Value) -> PlatformHooks {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_hook_uses_the_secret_in_a_header_or_anywhere_in_its_body() {
        assert!(uses_secret(&hook(
            json!({"url": "http://p", "headers": {"X-Api-Key": "{secret}"}})
        )));
        assert!(uses_secret(&hook(
            json!({"url": "http://p", "body": {"a": ["x", {"k": "Bearer {secret}"}]}})
        )));
        assert!(!uses_secret(&hook(
            json!({"url": "http://p/{id}", "body": {"id": "{id}"}})
        )));
    }

    #[test]
    fn hooks_carrying_the_secret_need_tls_or_this_computer() {
        let ok = hooks(json!({
            "start": {"url": "https://api.example/start", "headers": {"Authorization": "Bearer {secret}"}, "read": {"sid": "/id"}},
            "end": {"url": "https://api.example/end/{sid}", "headers": {"Authorization": "Bearer {secret}"}},
            "status": {"url": "http://status.example/{sid}"},
        }));
        check_secret_transport(&ok, "show").unwrap();
        let local = hooks(
            json!({"start": {"url": "http://127.0.0.1:9/s", "headers": {"X-Api-Key": "{secret}"}}}),
        );
        check_secret_transport(&local, "show").unwrap();

        let cleartext = hooks(
            json!({"token": {"url": "http://api.example/token", "body": {"key": "{secret}"}}}),
        );
        let e = check_secret_transport(&cleartext, "show").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidDestination);
        assert!(
            e.message.contains("http://api.example/token") && e.message.contains("use https://"),
            "{e}"
        );
    }

    #[test]
    fn an_answer_may_not_choose_where_the_secret_goes() {
        let moved = hooks(json!({
            "start": {"url": "https://api.example/start", "read": {"base": "/next"}},
            "end": {"url": "https://{base}/end", "headers": {"X-Api-Key": "{secret}"}},
        }));
        let e = check_secret_transport(&moved, "show").unwrap_err();
        assert!(e.message.contains("comes from a platform's answer"), "{e}");
        // The creator's own vars are fine: they are not an answer.
        let own = hooks(json!({
            "vars": {"host": "api.example"},
            "end": {"url": "https://{host}/end", "headers": {"X-Api-Key": "{secret}"}},
        }));
        check_secret_transport(&own, "show").unwrap();
    }

    #[test]
    fn a_redirect_to_another_host_gets_nothing_and_is_named() {
        use std::io::{Read, Write};
        use std::net::TcpListener;
        // The host the platform points to; it must never see a connection.
        let elsewhere = TcpListener::bind("127.0.0.2:0").unwrap();
        elsewhere.set_nonblocking(true).unwrap();
        let target = format!("http://{}/steal", elsewhere.local_addr().unwrap());
        let platform = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/start", platform.local_addr().unwrap());
        let answer = format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n"
        );
        let server = std::thread::spawn(move || {
            let (mut conn, _) = platform.accept().unwrap();
            let mut request = vec![0u8; 8192];
            let n = conn.read(&mut request).unwrap();
            conn.write_all(answer.as_bytes()).unwrap();
            String::from_utf8_lossy(&request[..n]).into_owned()
        });
        let hook = hook(json!({
            "url": url, "headers": {"X-Api-Key": "{secret}"}, "body": {"key": "{secret}"}
        }));
        let ctx = Context {
            secret: Some(Secret::new("onair-redirect-secret")),
            ..Context::default()
        };
        let failure = HookClient::new()
            .unwrap()
            .without_retries()
            .call(&hook, &ctx)
            .unwrap_err();
        let seen = server.join().unwrap();
        assert!(
            seen.contains("onair-redirect-secret"),
            "the platform itself got the call"
        );
        assert_eq!(failure.status, Some(307));
        assert!(failure.detail.contains(&target), "{}", failure.detail);
        assert!(!failure.detail.contains("onair-redirect-secret"));
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            elsewhere.accept().is_err(),
            "the redirect target received a connection"
        );
    }
}
