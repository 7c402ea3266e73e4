//! The one way the engine makes an HTTP client and reads an answer. Every
//! client (platform hooks, the status poller, token endpoints, WHIP) follows
//! no redirect: a 3xx would carry a custom secret header or a resent body
//! to wherever it points, so it is an answer, named to the creator. And no
//! answer is read past `BODY_LIMIT`: a platform is not allowed to make
//! Onair run out of memory mid-show.

use std::time::Duration;

use reqwest::header::LOCATION;
use reqwest::{Response, Url};

use super::tls;
use crate::error::OnairError;
use crate::redact::redact_url;

/// Every answer Onair reads is small: tokens, SDP, a few JSON fields.
pub const BODY_LIMIT: usize = 1 << 20;

/// A client with the shared TLS configuration, no redirects, and these bounds.
pub fn client(
    request_timeout: Duration,
    connect_timeout: Duration,
) -> Result<reqwest::Client, OnairError> {
    let tls = tls::client_config()?;
    reqwest::Client::builder()
        .tls_backend_preconfigured((*tls).clone())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(request_timeout)
        .connect_timeout(connect_timeout)
        .user_agent(concat!("Onair/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| OnairError::internal(format!("setting up HTTP: {e}")))
}

/// Where a redirect answer pointed, resolved against the request and
/// redacted; None when `status` is not a redirect.
pub fn redirect_target(status: u16, location: Option<&str>, request: &Url) -> Option<String> {
    if !(300..400).contains(&status) {
        return None;
    }
    Some(match location.map(str::trim).filter(|l| !l.is_empty()) {
        Some(location) => match request.join(location) {
            Ok(url) => redact_url(url.as_str()),
            Err(_) => "an address that is not a URL".into(),
        },
        None => "nowhere (no Location)".into(),
    })
}

/// `redirect_target` of a response.
pub fn redirect_of(response: &Response) -> Option<String> {
    let location = response
        .headers()
        .get(LOCATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    redirect_target(
        response.status().as_u16(),
        location.as_deref(),
        response.url(),
    )
}

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the answer is larger than {} MiB", .limit >> 20)]
    TooLarge { limit: usize },
    #[error("the answer broke off ({0})")]
    Network(#[from] reqwest::Error),
}

/// The body as text (invalid UTF-8 replaced), or `TooLarge` as soon as it
/// passes `limit` bytes: a declared length is refused before reading, an
/// undeclared one stops at the first chunk over.
pub async fn read_capped(mut response: Response, limit: usize) -> Result<String, BodyError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if !fits(body.len(), chunk.len(), limit) {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn fits(have: usize, more: usize, limit: usize) -> bool {
    have.saturating_add(more) <= limit
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[test]
    fn redirects_name_where_they_point_without_secrets() {
        let request = Url::parse("http://127.0.0.1:8080/hooks/start").unwrap();
        assert_eq!(redirect_target(200, Some("/x"), &request), None);
        assert_eq!(
            redirect_target(307, Some("http://127.0.0.2:9/steal"), &request).as_deref(),
            Some("http://127.0.0.2:9/steal")
        );
        assert_eq!(
            redirect_target(302, Some("/moved?token=abc"), &request).as_deref(),
            Some("http://127.0.0.1:8080/moved?token=••••")
        );
        assert_eq!(
            redirect_target(308, None, &request).as_deref(),
            Some("nowhere (no Location)")
        );
    }

    #[test]
    fn the_cap_counts_every_chunk() {
        assert!(fits(0, BODY_LIMIT, BODY_LIMIT));
        assert!(!fits(BODY_LIMIT, 1, BODY_LIMIT));
        assert!(!fits(usize::MAX, 1, BODY_LIMIT));
    }

    /// A one-shot HTTP server on 127.0.0.1 that answers `head` and then
    /// streams `body_bytes` of filler.
    fn serve_once(head: String, body_bytes: usize) -> (String, std::thread::JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/big", listener.local_addr().unwrap());
        let thread = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = conn.read(&mut request);
            let _ = conn.write_all(head.as_bytes());
            let block = vec![b' '; 64 * 1024];
            let mut sent = 0;
            while sent < body_bytes {
                match conn.write(&block[..block.len().min(body_bytes - sent)]) {
                    Ok(n) => sent += n,
                    Err(_) => break,
                }
            }
            sent
        });
        (url, thread)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn an_endless_body_stops_at_the_cap() {
        // No Content-Length: the reader must stop by itself, not read 256 MiB.
        let total = 256 << 20;
        let (url, server) = serve_once(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n".into(),
            total,
        );
        let client = client(Duration::from_secs(10), Duration::from_secs(5)).unwrap();
        let result = runtime().block_on(async {
            let response = client.get(&url).send().await.unwrap();
            read_capped(response, BODY_LIMIT).await
        });
        let e = result.unwrap_err();
        assert!(matches!(e, BodyError::TooLarge { .. }), "{e}");
        assert_eq!(e.to_string(), "the answer is larger than 1 MiB");
        let sent = server.join().unwrap();
        assert!(sent < total / 4, "the server got rid of {sent} bytes");
    }

    #[test]
    fn a_declared_length_over_the_cap_is_refused_unread() {
        let (url, _server) = serve_once(
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", 64 << 20),
            0,
        );
        let client = client(Duration::from_secs(10), Duration::from_secs(5)).unwrap();
        let result = runtime().block_on(async {
            let response = client.get(&url).send().await.unwrap();
            read_capped(response, BODY_LIMIT).await
        });
        assert!(matches!(result, Err(BodyError::TooLarge { .. })));
    }

    #[test]
    fn a_small_body_is_read_whole() {
        let (url, _server) = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".into(), 5);
        let client = client(Duration::from_secs(10), Duration::from_secs(5)).unwrap();
        let body = runtime().block_on(async {
            let response = client.get(&url).send().await.unwrap();
            read_capped(response, BODY_LIMIT).await
        });
        assert_eq!(body.unwrap(), "     ");
    }

    #[test]
    fn a_redirect_is_not_followed() {
        // The second host must see nothing: it is never even listened on.
        let (url, _server) = serve_once(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.2:9/steal\r\nContent-Length: 0\r\n\r\n".into(),
            0,
        );
        let client = client(Duration::from_secs(10), Duration::from_secs(5)).unwrap();
        let response = runtime()
            .block_on(async {
                client
                    .post(&url)
                    .header("X-Api-Key", "k")
                    .body("{}")
                    .send()
                    .await
            })
            .unwrap();
        assert_eq!(response.status().as_u16(), 307);
        assert_eq!(
            redirect_of(&response).as_deref(),
            Some("http://127.0.0.2:9/steal")
        );
    }
}
