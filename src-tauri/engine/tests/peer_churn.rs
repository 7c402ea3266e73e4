//! Reconnecting must not cost memory: a LiveKit reconnect after a server
//! restart builds a new publisher and subscriber peer connection and closes
//! the old ones. Here our publisher connects to a subscriber connection in
//! the same process over the host's own addresses, sends a few frames and
//! closes, again and again; the bytes the process holds (a counting
//! allocator) and the tasks alive on the runtime must come back to where
//! they were after the first rounds.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use onair_engine::peer::publisher::{LayerDesc, PcEvent, Publisher, PublisherConfig};
use onair_engine::peer::subscriber::SubscriberPc;
use tokio::sync::mpsc;
use webrtc::peer_connection::RTCPeerConnectionState;

struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            HELD.fetch_add(layout.size(), Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        System.dealloc(p, layout);
        HELD.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = System.realloc(p, layout, new_size);
        if !q.is_null() {
            HELD.fetch_sub(layout.size(), Relaxed);
            HELD.fetch_add(new_size, Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The count is process-wide: one test at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn config() -> PublisherConfig {
    PublisherConfig {
        ice_servers: Vec::new(),
        audio: true,
        layers: vec![LayerDesc {
            rid: None,
            width: 320,
            height: 180,
            kbps: 300,
        }],
        data_channels: true,
    }
}

/// A keyframe-sized access unit (Annex B: start code, IDR NAL header).
fn access_unit() -> Vec<u8> {
    let mut au = vec![0, 0, 0, 1, 0x65];
    au.resize(6000, 0x5a);
    au
}

struct Pair {
    publisher: Publisher,
    subscriber: SubscriberPc,
}

impl Pair {
    async fn close(self) {
        self.publisher.close().await;
        self.subscriber.close().await;
    }
}

/// One reconnect's worth of peer connections: up, some media, closed.
async fn one_round() {
    up().await.close().await;
}

/// A connected pair that has carried a second of media.
async fn up() -> Pair {
    let (pub_tx, mut pub_events) = mpsc::unbounded_channel();
    let (sub_tx, mut sub_events) = mpsc::unbounded_channel();
    let mut publisher = Publisher::new(&config(), pub_tx).await.expect("publisher");
    let offer = publisher.create_offer(false).await.expect("offer");
    let (subscriber, answer) = SubscriberPc::answer(offer, Vec::new(), sub_tx)
        .await
        .expect("answer");
    publisher.accept_answer(answer).await.expect("accept");
    let connected = async {
        loop {
            tokio::select! {
                Some(event) = pub_events.recv() => match event {
                    PcEvent::Candidate(json) => { let _ = subscriber.add_remote_candidate(&json).await; }
                    PcEvent::State(RTCPeerConnectionState::Connected) => return,
                    PcEvent::State(RTCPeerConnectionState::Failed) => panic!("ICE failed"),
                    _ => {}
                },
                Some(PcEvent::Candidate(json)) = sub_events.recv() => {
                    let _ = publisher.add_remote_candidate(&json).await;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), connected)
        .await
        .expect("connected within 10 s");
    let au = access_unit();
    for frame in 0..30i64 {
        publisher
            .write_video(0, &au, frame * 33_333)
            .await
            .expect("video");
        publisher
            .write_audio(&[0xfc; 80], frame * 20_000)
            .await
            .expect("audio");
    }
    let _ = publisher
        .send_reliable(b"hello", Duration::from_secs(3))
        .await;
    Pair {
        publisher,
        subscriber,
    }
}

fn settled(runtime: &tokio::runtime::Runtime) -> (usize, usize) {
    // Tasks told to stop finish on their next poll; give them a moment.
    std::thread::sleep(Duration::from_millis(300));
    (HELD.load(Relaxed), runtime.metrics().num_alive_tasks())
}

#[test]
fn closed_peer_connections_give_their_memory_and_tasks_back() {
    let _alone = alone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    const WARM: usize = 5;
    const ROUNDS: usize = 15;
    let mut seen = Vec::new();
    for _ in 0..ROUNDS {
        runtime.block_on(one_round());
        seen.push(settled(&runtime));
    }
    let report: Vec<String> = seen
        .iter()
        .map(|(held, tasks)| format!("{} KiB/{tasks}", held / 1024))
        .collect();
    eprintln!("held/tasks after each round: {}", report.join(", "));
    let (warm_held, warm_tasks) = seen[WARM - 1];
    let (last_held, last_tasks) = seen[ROUNDS - 1];
    assert!(
        last_tasks <= warm_tasks,
        "tasks alive grew from {warm_tasks} to {last_tasks}: {report:?}"
    );
    // A leak of even one connection's state a round (hundreds of KiB)
    // would add up to megabytes here.
    assert!(
        last_held < warm_held + (256 << 10),
        "held bytes grew from {warm_held} to {last_held}: {report:?}"
    );
}

#[test]
fn a_pending_notice_ends_with_its_connection() {
    let _alone = alone();
    // The live notice waits for the data channel to open. When the server
    // dies first it never opens: the task must end at close, not keep the
    // closed connection's state alive for its whole budget.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (tx, _events) = mpsc::unbounded_channel();
        let publisher = Publisher::new(&config(), tx).await.expect("publisher");
        publisher.send_reliable_soon(b"live".to_vec(), Duration::from_secs(30));
        publisher.close().await;
        drop(publisher);
    });
    let (_, tasks) = settled(&runtime);
    assert_eq!(tasks, 0, "a task outlived its closed connection");
}

#[test]
fn a_connection_dropped_without_close_stops() {
    let _alone = alone();
    // An error half-way through a join drops the publisher it had built.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (held_before, _) = settled(&runtime);
    runtime.block_on(async {
        let (tx, _events) = mpsc::unbounded_channel();
        let publisher = Publisher::new(&config(), tx).await.expect("publisher");
        publisher.create_offer(false).await.expect("offer");
        drop(publisher);
    });
    let (held, tasks) = settled(&runtime);
    assert_eq!(tasks, 0, "a dropped connection's driver kept running");
    assert!(held < held_before + (64 << 10), "{held_before} -> {held}");
}
