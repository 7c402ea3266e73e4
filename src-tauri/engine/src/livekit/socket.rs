//! The signal WebSocket: protobuf frames over ws(s)://HOST/rtc, the token in
//! an Authorization header (never in a URL that could be logged), and a
//! refusal turned into an error a creator can act on. The token only goes
//! over wss (or ws to this computer); messages are capped at a few MiB.

use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use livekit_protocol::{SignalRequest, SignalResponse};

use super::error::LiveKitError;
use crate::net::policy;
use crate::redact::redact_url;
use crate::secret::Secret;

/// Protocol 16: the two-peer-connection flow this client speaks.
const PROTOCOL: u32 = 16;

pub struct SignalSocket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How to open the socket: a fresh join, or a resume of `participant_sid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinMode {
    Join,
    Resume { participant_sid: String },
}

/// `base` is what the creator configured: ws(s)://host[:port][/prefix].
pub fn signal_url(base: &str, mode: &JoinMode) -> String {
    let base = base.trim_end_matches('/');
    let mut url = format!(
        "{base}/rtc?auto_subscribe=0&sdk=rust&version={}&protocol={PROTOCOL}&adaptive_stream=0",
        env!("CARGO_PKG_VERSION")
    );
    if let JoinMode::Resume { participant_sid } = mode {
        url.push_str("&reconnect=1&sid=");
        url.push_str(participant_sid);
    }
    url
}

/// The largest signal message (and frame) accepted. A join response for a
/// busy room is tens of KiB; anything near this is not LiveKit talking.
pub const MAX_MESSAGE: usize = 4 << 20;

fn limits() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// How long opening the signal connection (TCP, TLS, WebSocket) may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(8);

impl SignalSocket {
    pub async fn connect(
        base: &str,
        token: &Secret,
        mode: &JoinMode,
    ) -> Result<Self, LiveKitError> {
        // Before any lookup or connection: the token never goes in clear.
        policy::secret_may_go_to(base).map_err(|e| LiveKitError::NotForTheToken(e.to_string()))?;
        let url = signal_url(base, mode);
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|_| LiveKitError::BadUrl {
                server: redact_url(base),
            })?;
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| LiveKitError::TokenUnusable)?;
        // Kept out of any debug output of the request.
        bearer.set_sensitive(true);
        request.headers_mut().insert("Authorization", bearer);
        // A link that drops packets without an error (no route, a firewall)
        // would otherwise hang here until the kernel gives up on TCP, minutes.
        let tls = crate::net::tls::client_config()?;
        let opening = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(limits()),
            true,
            Some(Connector::Rustls(tls)),
        );
        match tokio::time::timeout(CONNECT_TIMEOUT, opening).await {
            Ok(Ok((ws, _))) => Ok(SignalSocket { ws }),
            Ok(Err(e)) => Err(refusal(base, e)),
            Err(_) => Err(LiveKitError::TimedOut {
                server: redact_url(base),
                seconds: CONNECT_TIMEOUT.as_secs(),
            }),
        }
    }

    pub async fn send(&mut self, request: &SignalRequest) -> Result<(), LiveKitError> {
        self.ws
            .send(Message::binary(request.encode_to_vec()))
            .await
            .map_err(|e| lost(&e))
    }

    /// The next server message; None when the socket closed.
    pub async fn next(&mut self) -> Option<Result<SignalResponse, LiveKitError>> {
        loop {
            let message = match self.ws.next().await? {
                Ok(m) => m,
                Err(e) => return Some(Err(lost(&e))),
            };
            match message {
                Message::Binary(bytes) => {
                    return Some(
                        SignalResponse::decode(bytes.as_ref())
                            .map_err(|e| LiveKitError::Unreadable(e.to_string())),
                    )
                }
                Message::Close(_) => return None,
                // Pings are answered by tungstenite; text frames are not part of the protocol.
                _ => continue,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

fn lost(e: &tungstenite::Error) -> LiveKitError {
    if let tungstenite::Error::Capacity(too_big) = e {
        return LiveKitError::TooLarge {
            what: too_big.to_string(),
            limit_mib: MAX_MESSAGE >> 20,
        };
    }
    LiveKitError::Lost(e.to_string())
}

/// Why the server (or the network) refused the socket.
fn refusal(base: &str, e: tungstenite::Error) -> LiveKitError {
    let server = redact_url(base);
    match e {
        tungstenite::Error::Http(response) => {
            let body = response
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).trim().to_string())
                .filter(|b| !b.is_empty() && b.len() < 300)
                .map(|b| format!(" The server said: {b}."))
                .unwrap_or_default();
            match response.status() {
                StatusCode::UNAUTHORIZED => LiveKitError::Refused { server, body },
                StatusCode::FORBIDDEN => LiveKitError::Forbidden { server, body },
                StatusCode::NOT_FOUND => LiveKitError::NoServer { server },
                status => LiveKitError::Answered {
                    server,
                    status: status.to_string(),
                    body,
                },
            }
        }
        tungstenite::Error::Tls(tls) => LiveKitError::Tls {
            server,
            reason: tls.to_string(),
        },
        tungstenite::Error::Io(io) => LiveKitError::Unreachable {
            server,
            reason: io.to_string(),
        },
        other => LiveKitError::Unreachable {
            server,
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn urls_keep_a_prefix_and_carry_no_token() {
        let url = signal_url("wss://lk.example/prefix/", &JoinMode::Join);
        assert!(url.starts_with("wss://lk.example/prefix/rtc?auto_subscribe=0"));
        assert!(url.contains("protocol=16"));
        assert!(!url.contains("access_token"));
        let resume = signal_url(
            "ws://127.0.0.1:7880",
            &JoinMode::Resume {
                participant_sid: "PA_x".into(),
            },
        );
        assert!(resume.ends_with("&reconnect=1&sid=PA_x"));
    }

    #[test]
    fn a_token_is_not_sent_to_a_cleartext_server() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = runtime
            .block_on(SignalSocket::connect(
                "ws://lk.example.invalid:7880",
                &Secret::new("t"),
                &JoinMode::Join,
            ))
            .err()
            .unwrap();
        let e = e.to_onair();
        assert_eq!(e.code, ErrorCode::InvalidDestination);
        assert!(e.message.contains("use wss://"), "{e}");
    }

    #[test]
    fn an_oversized_message_is_a_clear_error() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("ws://{}", listener.local_addr().unwrap());
            let server = tokio::spawn(async move {
                let (tcp, _) = listener.accept().await.unwrap();
                let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                let _ = ws.send(Message::binary(vec![0u8; MAX_MESSAGE + 1])).await;
                let _ = ws.next().await;
            });
            let mut socket = SignalSocket::connect(&base, &Secret::new("t"), &JoinMode::Join)
                .await
                .unwrap();
            let e = socket.next().await.unwrap().unwrap_err().to_onair();
            assert_eq!(e.code, ErrorCode::PlatformError);
            assert!(e.message.contains("4 MiB"), "{e}");
            drop(socket);
            let _ = server.await;
        });
    }
}
