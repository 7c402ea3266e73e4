//! The go-live session: a pure state machine (`machine`) and the runner that
//! performs its actions with real threads, encoders and sinks (`runner`).

pub mod machine;
mod platform;
pub mod prepare;
pub mod runner;

pub use runner::{start, LiveConfig, SessionHandle, SessionSummary};
