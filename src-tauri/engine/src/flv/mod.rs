//! FLV: the container of local recordings and the payload format of RTMP.
//! Tag bodies are built here once and shared by both.

pub mod amf0;
pub mod avc;
pub mod tags;
pub mod writer;
