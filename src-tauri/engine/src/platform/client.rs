//! Calls a platform hook over HTTP: network errors and 5xx are tried again
//! with backoff (a platform restarting for a second should not cost a Go
//! Live); 4xx are answers and are not. Blocking, for the session thread and
//! the status poller, on a small runtime of its own.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::Method;
use serde_json::Value;

use super::flow::CallFailure;
use super::hooks::{Context, Hook, Request};
use crate::cancel::Cancel;
use crate::error::OnairError;
use crate::redact::redact_url;

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
        let tls = crate::rtmp::transport::tls_config()
            .map_err(|e| OnairError::new(crate::error::ErrorCode::Tls, e.to_string()))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls).clone())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| OnairError::internal(format!("an HTTP client: {e}")))?;
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
        let text = response.text().await.unwrap_or_default();
        interpret_answer(status, &text, &shown, ctx)
    }
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
}
