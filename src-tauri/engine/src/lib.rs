//! Onair's engine: capture, encode, publish, session. No Tauri, no GTK: the
//! desktop app and the `onair` CLI are two thin shells over this crate.

pub mod cancel;
pub mod check;
pub mod clock;
pub mod colour;
pub mod compose;
pub mod destination;
pub mod encode;
pub mod error;
pub mod events;
pub mod flv;
pub mod keys;
pub mod livekit;
pub mod logbook;
pub mod media;
pub mod net;
pub mod peer;
pub mod pipeline;
pub mod platform;
pub mod preset;
pub mod redact;
pub mod rtmp;
pub mod secret;
pub mod session;
pub mod settings;
pub mod sink;
pub mod source;
pub mod voice;
pub mod whip;

pub use error::{ErrorCode, OnairError};
pub use events::{Event, EventSink, SessionState};
