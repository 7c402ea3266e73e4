//! WebRTC publishing over webrtc-rs, shared by the LiveKit and WHIP sinks:
//! only their signalling differs.

pub mod bandwidth;
pub mod feedback;
pub mod link;
pub mod loss_control;
pub mod publisher;
pub mod subscriber;

/// What can go wrong inside the peer connection, before it becomes an
/// `OnairError` at the sink.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("WebRTC: {0}")]
    WebRtc(#[from] rtc::shared::error::Error),
    #[error("WebRTC data channel: {0}")]
    DataChannel(&'static str),
    #[error("WebRTC signalling: {0}")]
    Protocol(String),
}
