//! AMF0 from a server: decoding never panics, never recurses without bound,
//! and what decodes re-encodes to bytes that decode to the same thing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onair_engine::flv::amf0::Amf0;

fn encode(values: &[Amf0]) -> Vec<u8> {
    let mut out = Vec::new();
    for value in values {
        value.encode(&mut out);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(values) = Amf0::decode_all(data) else {
        return;
    };
    let once = encode(&values);
    let again = Amf0::decode_all(&once).expect("our own encoding decodes");
    assert_eq!(encode(&again), once, "encoding is stable");
});
