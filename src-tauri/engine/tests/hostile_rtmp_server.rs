//! What a hostile RTMP server's bytes cost: AMF0 bombs and oversized
//! commands end in a clear error, quickly, having held little memory. The
//! allocator below counts the bytes each thread holds, so the bounds are
//! measured rather than assumed (a test binary of its own, so the count
//! stays out of every other test).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use onair_engine::flv::amf0::{Amf0, Amf0Error, MAX_VALUES};
use onair_engine::rtmp::chunk::{ChunkWriter, MAX_MESSAGE};
use onair_engine::rtmp::message::{Message, COMMAND_AMF0};
use onair_engine::rtmp::publish::{PublishError, Publisher};
use onair_engine::secret::Secret;

struct Counting;

thread_local! {
    static HELD: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grew(bytes: usize) {
    let _ = HELD.try_with(|held| {
        let now = held.get() + bytes;
        held.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(bytes: usize) {
    let _ = HELD.try_with(|held| held.set(held.get().saturating_sub(bytes)));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        System.dealloc(p, layout);
        shrank(layout.size());
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = System.realloc(p, layout, new_size);
        if !q.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` on this thread; returns its result, the most it held at once
/// beyond what was held before, and how long it took.
fn measured<T>(f: impl FnOnce() -> T) -> (T, usize, Duration) {
    let before = HELD.with(Cell::get);
    PEAK.with(|peak| peak.set(before));
    let started = Instant::now();
    let result = f();
    let took = started.elapsed();
    (result, PEAK.with(Cell::get) - before, took)
}

const MIB: usize = 1 << 20;
const KEY: &str = "sk_hostile_0123456789";

#[test]
fn a_strict_array_claiming_four_billion_items_is_refused_at_once() {
    // Count 0xFFFFFFFF, then three nulls.
    let bomb = [0x0a, 0xff, 0xff, 0xff, 0xff, 0x05, 0x05, 0x05];
    let (result, held, took) = measured(|| Amf0::decode_all(&bomb));
    assert_eq!(
        result,
        Err(Amf0Error::CountBeyondInput {
            count: u32::MAX,
            left: 3
        })
    );
    assert!(held < 1024, "held {held} bytes");
    assert!(took < Duration::from_millis(100), "{took:?}");
}

#[test]
fn a_million_nulls_cost_no_more_than_the_value_budget() {
    // A strict array as long as its bytes: before the budget, each one-byte
    // null became a 56-byte value and an index string (about 120 MB here).
    let mut bomb = vec![0x0a];
    bomb.extend(1_000_000u32.to_be_bytes());
    bomb.resize(bomb.len() + 1_000_000, 0x05);
    let (result, held, took) = measured(|| Amf0::decode_all(&bomb));
    assert_eq!(result, Err(Amf0Error::TooManyValues));
    assert!(held < MIB, "held {held} bytes for {MAX_VALUES} values");
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[test]
fn objects_nested_without_end_are_refused_without_exhausting_the_stack() {
    let mut bomb = vec![0x03];
    for _ in 0..1_000_000 {
        bomb.extend([0, 1, b'k', 0x03]);
    }
    let (result, held, took) = measured(|| Amf0::decode_all(&bomb));
    assert_eq!(result, Err(Amf0Error::TooDeep));
    assert!(held < 64 << 10, "held {held} bytes");
    assert!(took < Duration::from_millis(100), "{took:?}");
}

/// A publisher past the handshake, waiting for connect's answer.
fn publisher() -> Publisher {
    let mut publisher = Publisher::new("live", "rtmp://ingest.example/live", Secret::new(KEY));
    publisher.start();
    publisher
}

#[test]
fn a_16_mib_command_costs_the_publisher_nothing() {
    // The whole command as a server would send it: a strict array of 16 Mi
    // nulls in 128-byte chunks (a 17 MB feed, as from a fast socket).
    let mut payload = vec![0x0a];
    let count = (16 * MIB - 6) as u32;
    payload.extend(count.to_be_bytes());
    payload.resize(16 * MIB - 1, 0x05);
    let mut writer = ChunkWriter::new();
    let mut wire = Vec::new();
    writer.write(&Message::new(COMMAND_AMF0, 0, 0, payload), &mut wire);

    let mut publisher = publisher();
    let (result, held, took) = measured(|| {
        let mut outcome = Ok(());
        for piece in wire.chunks(16 * 1024) {
            if let Err(e) = publisher.receive(piece) {
                outcome = Err(e);
                break;
            }
        }
        outcome
    });
    let err = result.unwrap_err();
    assert!(matches!(err, PublishError::TooLarge(_)), "{err:?}");
    assert!(err.to_string().contains("16777215-byte"), "{err}");
    assert!(held < 64 << 10, "held {held} bytes");
    assert!(took < Duration::from_millis(100), "{took:?}");
}

#[test]
fn the_largest_accepted_command_full_of_nulls_stays_small() {
    // Within the size limit, the value budget is what holds.
    let mut payload = vec![0x0a];
    payload.extend(((MAX_MESSAGE - 5) as u32).to_be_bytes());
    payload.resize(MAX_MESSAGE, 0x05);
    let mut writer = ChunkWriter::new();
    let mut wire = Vec::new();
    writer.write(&Message::new(COMMAND_AMF0, 0, 0, payload), &mut wire);

    let mut publisher = publisher();
    let (result, held, took) = measured(|| publisher.receive(&wire));
    let err = result.unwrap_err();
    assert!(matches!(err, PublishError::TooLarge(_)), "{err:?}");
    // The wire bytes, the reassembled message and the budget's values.
    assert!(held < 2 * wire.len() + MIB, "held {held} bytes");
    assert!(took < Duration::from_secs(1), "{took:?}");
}
