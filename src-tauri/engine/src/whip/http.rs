//! The few HTTP requests WHIP makes, with the bearer token, turned into
//! plain `Reply` values or the error a creator sees. The engine's one HTTP
//! client (`net::http`): no redirect is followed, no answer read past 1 MiB.

use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Url};

use super::error::WhipError;
use super::protocol::{self, Reply};
use crate::net::http::{self as net_http, BodyError, BODY_LIMIT};
use crate::secret::Secret;

/// A WHIP server answers an offer once its media server has one too.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Http {
    client: reqwest::Client,
    token: Option<Secret>,
}

impl Http {
    pub fn new(token: Option<Secret>) -> Result<Http, WhipError> {
        // The same roots and provider as RTMPS: SSL_CERT_FILE works for both.
        let client =
            net_http::client(REQUEST_TIMEOUT, CONNECT_TIMEOUT).map_err(WhipError::Setup)?;
        Ok(Http { client, token })
    }

    pub async fn post_offer(&self, endpoint: &Url, sdp: &str) -> Result<Reply, WhipError> {
        self.send(
            Method::POST,
            endpoint,
            Some((protocol::SDP, protocol::crlf(sdp))),
            None,
        )
        .await
    }

    pub async fn patch(
        &self,
        resource: &Url,
        fragment: String,
        if_match: Option<&str>,
    ) -> Result<Reply, WhipError> {
        self.send(
            Method::PATCH,
            resource,
            Some((protocol::SDPFRAG, fragment)),
            if_match,
        )
        .await
    }

    pub async fn delete(&self, resource: &Url) -> Result<Reply, WhipError> {
        self.send(Method::DELETE, resource, None, None).await
    }

    async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<(&'static str, String)>,
        if_match: Option<&str>,
    ) -> Result<Reply, WhipError> {
        let mut headers = HeaderMap::new();
        if let Some(token) = &self.token {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                .map_err(|_| WhipError::TokenUnusable)?;
            // Kept out of any debug output of the request.
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
        if let Some(tag) = if_match.and_then(|t| HeaderValue::from_str(t).ok()) {
            headers.insert(header::IF_MATCH, tag);
        }
        let mut request = self.client.request(method, url.clone()).headers(headers);
        if let Some((content_type, body)) = body {
            // Exactly the media type: Janus's WHIP server refuses parameters.
            request = request
                .header(header::CONTENT_TYPE, content_type)
                .body(body);
        }
        let response = request.send().await.map_err(|e| network_error(&e, url))?;
        let text = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let status = response.status();
        let mut reply = Reply {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_string(),
            location: text(header::LOCATION),
            content_type: text(header::CONTENT_TYPE),
            accept_patch: text(header::HeaderName::from_static("accept-patch")),
            etag: text(header::ETAG),
            links: response
                .headers()
                .get_all(header::LINK)
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_string))
                .collect(),
            body: String::new(),
        };
        reply.body = net_http::read_capped(response, BODY_LIMIT)
            .await
            .map_err(|e| match e {
                BodyError::Network(e) => network_error(&e, url),
                too_large => WhipError::TooLarge {
                    host: url.host_str().unwrap_or("the server").to_string(),
                    what: too_large.to_string(),
                },
            })?;
        Ok(reply)
    }
}

/// A request that got no HTTP answer: refused, timed out, or TLS.
fn network_error(e: &reqwest::Error, url: &Url) -> WhipError {
    let host = match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => "the WHIP server".into(),
    };
    let mut cause = String::new();
    let mut tls = None;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            tls = Some(t.to_string());
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(t) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                tls = Some(t.to_string());
            }
        }
        cause = err.to_string();
        source = err.source();
    }
    if let Some(reason) = tls {
        return WhipError::Tls { host, reason };
    }
    if e.is_timeout() {
        return WhipError::TimedOut { host };
    }
    WhipError::Unreachable { host, cause }
}
