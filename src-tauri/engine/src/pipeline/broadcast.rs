//! One producer, many bounded subscribers. A full subscriber loses the item
//! (and counts it) instead of stalling the producer or the other subscribers.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

pub struct Broadcast<T> {
    subscribers: Mutex<Vec<(Sender<T>, Arc<AtomicU32>)>>,
}

pub struct Subscription<T> {
    pub rx: Receiver<T>,
    dropped: Arc<AtomicU32>,
}

impl<T> Subscription<T> {
    /// Items this subscriber lost because it was not keeping up.
    pub fn dropped(&self) -> u32 {
        self.dropped.load(Ordering::Relaxed)
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
        self.subscribers.lock().unwrap().push((tx, dropped.clone()));
        Subscription { rx, dropped }
    }

    pub fn send(&self, item: &T) {
        self.subscribers
            .lock()
            .unwrap()
            .retain(|(tx, dropped)| match tx.try_send(item.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    dropped.fetch_add(1, Ordering::Relaxed);
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
        assert_eq!(fast.rx.try_iter().collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        drop(fast);
        b.send(&9);
        assert_eq!(b.subscribers.lock().unwrap().len(), 1);
    }
}
