//! Whatever an RTMP server sends: the handshake, then chunks carrying
//! protocol control and AMF0 commands, split at any point as a socket may.
//! Nothing panics, no error repeats the stream key, and the publisher holds
//! memory in proportion to what it was sent (plus the AMF0 value budget).
#![no_main]

mod counting;

use libfuzzer_sys::fuzz_target;
use onair_engine::flv::amf0::MAX_VALUES;
use onair_engine::rtmp::handshake::Handshake;
use onair_engine::rtmp::publish::Publisher;
use onair_engine::secret::Secret;

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

const KEY: &str = "live_fuzz_5tr3am_k3y";

/// Unparsed bytes and half-received messages are at most the input; one
/// batch's answers (pongs, acks: a small message for each few bytes) and a
/// decoded command (see the amf0 target) add the rest.
fn bound(input: usize) -> usize {
    16 * input + 512 * MAX_VALUES + (64 << 10)
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let step = 1 + split as usize;

    let (mut handshake, _c0c1) = Handshake::start(0, &mut || 7);
    for piece in stream.chunks(step) {
        if handshake.feed(piece).map_or(true, |done| done.is_some()) {
            break;
        }
    }

    let mut publisher = Publisher::new("live", "rtmp://ingest.example/live", Secret::new(KEY));
    publisher.start();
    let (outcome, held) = counting::peak_during(|| {
        for piece in stream.chunks(step) {
            if let Err(e) = publisher.receive(piece) {
                return Err(e);
            }
        }
        Ok(())
    });
    assert!(
        held <= bound(data.len()),
        "{} bytes from the server held {held} bytes",
        data.len()
    );
    if let Err(e) = outcome {
        assert!(!e.to_string().contains(KEY), "{e}");
        return;
    }
    assert!(!publisher.closed().to_string().contains(KEY));
});
