//! Wiring: capture threads broadcast raw media; encoder threads (one per
//! codec, CPU-bound, never on an async runtime) fan encoded units out to sinks.

pub mod broadcast;
pub mod capture;
pub mod control;
pub mod encoders;
pub mod fanout;
pub mod overload;
pub mod stats;
