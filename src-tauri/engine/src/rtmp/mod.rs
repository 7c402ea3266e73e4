//! RTMP and RTMPS publishing, written for Onair: sans-IO protocol cores
//! (handshake, chunk stream, command flow, media gate, congestion)
//! that tests drive without sockets, and one thin blocking I/O layer over them.

pub mod chunk;
pub mod congestion;
pub mod connection;
pub mod error;
pub mod gate;
pub mod handshake;
pub mod message;
pub mod publish;
pub mod transport;
pub mod url;
