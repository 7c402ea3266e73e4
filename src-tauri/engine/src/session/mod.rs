//! The go-live session: pure decisions (`machine` for the session, `roster`
//! for its destinations, `plan` for what is encoded for whom) and the runner
//! that performs them with real threads, encoders and sinks.

pub mod grade;
pub mod machine;
mod member;
pub mod plan;
mod platform;
pub mod prepare;
pub mod roster;
pub mod runner;

pub use runner::{
    start, LiveConfig, NamedDestination, SessionHandle, SessionRequest, SessionSummary,
};
