//! AMF0 from a server: decoding never panics, never recurses without bound,
//! holds memory in proportion to its input (plus the value budget), and
//! what decodes re-encodes to bytes that decode to the same thing.
#![no_main]

mod counting;

use libfuzzer_sys::fuzz_target;
use onair_engine::flv::amf0::{Amf0, MAX_VALUES};

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

/// Strings take at most three times their bytes (lossy UTF-8); a value, its
/// slot in a vector with room to spare (four slots for a lone property,
/// three while the vector grows) and a short index string, well under 512.
fn bound(input: usize) -> usize {
    4 * input + 512 * MAX_VALUES
}

fn encode(values: &[Amf0]) -> Vec<u8> {
    let mut out = Vec::new();
    for value in values {
        value.encode(&mut out);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let (decoded, held) = counting::peak_during(|| Amf0::decode_all(data));
    assert!(
        held <= bound(data.len()),
        "decoding {} bytes held {held} bytes",
        data.len()
    );
    let Ok(values) = decoded else {
        return;
    };
    let once = encode(&values);
    let again = Amf0::decode_all(&once).expect("our own encoding decodes");
    assert_eq!(encode(&again), once, "encoding is stable");
});
