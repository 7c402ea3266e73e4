//! A sequence of LiveKit signal responses (protobuf, as the WebSocket
//! delivers them) through the signal state machine, with time passing.
//! Nothing panics, whatever the server sends in whatever order.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use livekit_protocol::SignalResponse;
use onair_engine::livekit::signal::SignalMachine;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let mut machine = SignalMachine::new(start);
    let mut rest = data;
    let mut now = start;
    // Each message: a length byte, a tick in 100 ms steps, then the bytes.
    while let [len, tick, tail @ ..] = rest {
        let len = (*len as usize).min(tail.len());
        let (frame, tail) = tail.split_at(len);
        rest = tail;
        now += Duration::from_millis(100 * *tick as u64);
        machine.on_tick(now);
        if let Ok(response) = SignalResponse::decode(frame) {
            machine.on_response(response, now);
        }
        let _ = (machine.viewers(), machine.rtt_ms(), machine.next_deadline());
    }
});
