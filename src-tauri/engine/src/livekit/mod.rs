//! Publishing to a LiveKit room over WebRTC with a server-issued token.

pub mod client;
pub mod credentials;
pub mod data;
pub mod error;
pub mod presence;
pub mod signal;
pub mod socket;
pub mod token;
