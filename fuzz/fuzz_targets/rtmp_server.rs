//! Whatever an RTMP server sends: the handshake, then chunks carrying
//! protocol control and AMF0 commands, split at any point as a socket may.
//! Nothing panics, and no error repeats the stream key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onair_engine::rtmp::handshake::Handshake;
use onair_engine::rtmp::publish::Publisher;
use onair_engine::secret::Secret;

const KEY: &str = "live_fuzz_5tr3am_k3y";

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
    for piece in stream.chunks(step) {
        if let Err(e) = publisher.receive(piece) {
            assert!(!e.to_string().contains(KEY), "{e}");
            return;
        }
    }
    assert!(!publisher.closed().to_string().contains(KEY));
});
