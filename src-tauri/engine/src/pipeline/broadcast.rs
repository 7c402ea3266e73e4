//! One producer, many bounded subscribers. A full subscriber loses the item
//! (and counts it) instead of stalling the producer or the other subscribers.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use super::stats::QueueGauge;

struct Subscriber<T> {
    tx: Sender<T>,
    dropped: Arc<AtomicU32>,
    depth: Arc<QueueGauge>,
}

pub struct Broadcast<T> {
    subscribers: Mutex<Vec<Subscriber<T>>>,
}

pub struct Subscription<T> {
    pub rx: Receiver<T>,
    dropped: Arc<AtomicU32>,
    depth: Arc<QueueGauge>,
}

impl<T> Subscription<T> {
    /// Items this subscriber lost because it was not keeping up.
    pub fn dropped(&self) -> u32 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// How full this subscriber's queue is, for the stats.
    pub fn depth(&self) -> Arc<QueueGauge> {
        self.depth.clone()
    }

    /// The consumer notes what is left after taking an item, so a drained
    /// queue reads empty even when nothing new is pushed.
    pub fn note_depth(&self) {
        self.depth.observe(self.rx.len());
    }
}

impl<T: Clone> Broadcast<T> {
    pub fn new() -> Self {
        Broadcast {
            subscribers: Mutex::new(Vec::new()),
        }
    }

    pub fn subscribe(&self, capacity: usize) -> Subscription<T> {
        let (tx, rx) = bounded(capacity);
        let dropped = Arc::new(AtomicU32::new(0));
        let depth = Arc::new(QueueGauge::new(capacity));
        self.subscribers.lock().unwrap().push(Subscriber {
            tx,
            dropped: dropped.clone(),
            depth: depth.clone(),
        });
        Subscription { rx, dropped, depth }
    }

    pub fn send(&self, item: &T) {
        self.subscribers
            .lock()
            .unwrap()
            .retain(|s| match s.tx.try_send(item.clone()) {
                Ok(()) => {
                    s.depth.observe(s.tx.len());
                    true
                }
                Err(TrySendError::Full(_)) => {
                    s.dropped.fetch_add(1, Ordering::Relaxed);
                    s.depth.observe(s.tx.len());
                    true
                }
                Err(TrySendError::Disconnected(_)) => false,
            });
    }

    /// Ends every subscription (their receivers see a disconnect).
    pub fn close(&self) {
        self.subscribers.lock().unwrap().clear();
    }
}

impl<T: Clone> Default for Broadcast<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_subscriber_drops_without_blocking_the_others() {
        let b = Broadcast::new();
        let slow = b.subscribe(1);
        let fast = b.subscribe(10);
        for i in 0..5 {
            b.send(&i);
        }
        assert_eq!(slow.dropped(), 4);
        assert_eq!(
            (slow.depth().take().now, slow.depth().take().capacity),
            (1, 1)
        );
        assert_eq!(fast.depth().take().peak, 5);
        assert_eq!(fast.rx.try_iter().collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        fast.note_depth();
        assert_eq!(fast.depth().take().now, 0);
        drop(fast);
        b.send(&9);
        assert_eq!(b.subscribers.lock().unwrap().len(), 1);
    }
}
