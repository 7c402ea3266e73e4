//! WHIP (RFC 9725): one HTTP POST to publish over WebRTC, PATCH for trickle
//! and ICE restarts, DELETE to stop. The peer connection is the one LiveKit
//! uses (crate::peer); only the signalling differs.

pub mod client;
pub mod error;
pub mod http;
pub mod protocol;
