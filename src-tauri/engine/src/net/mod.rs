//! What every network client in the engine shares: one TLS configuration,
//! one way to build an HTTP client (no redirects, bodies capped), name
//! lookups with a bound, the rules for where a secret may travel, and one
//! reconnect policy for every network sink.

pub mod http;
pub mod policy;
pub mod reconnect;
pub mod resolve;
pub mod tcp_info;
pub mod tls;
