//! Stop, as something a blocking step can wait on: a flag that threads poll,
//! a condition they sleep on and a future async work selects against. The
//! session cancels it on Stop, so a stalled platform call, token fetch or
//! connect gives up at once instead of after its own timeouts.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{select, Receiver, Sender};

#[derive(Clone)]
pub struct Cancel(Arc<Inner>);

struct Inner {
    cancelled: AtomicBool,
    /// Dropped on cancel: every `closed` receiver wakes at once.
    trigger: Mutex<Option<Sender<()>>>,
    closed: Receiver<()>,
    notify: tokio::sync::Notify,
}

impl Default for Cancel {
    fn default() -> Self {
        let (trigger, closed) = crossbeam_channel::bounded(0);
        Cancel(Arc::new(Inner {
            cancelled: AtomicBool::new(false),
            trigger: Mutex::new(Some(trigger)),
            closed,
            notify: tokio::sync::Notify::new(),
        }))
    }
}

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        self.0
            .trigger
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.0.notify.notify_waiters();
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Sleeps for `duration` or until cancelled; true when cancelled.
    pub fn sleep(&self, duration: Duration) -> bool {
        let _ = self.0.closed.recv_timeout(duration);
        self.is_cancelled()
    }

    /// Resolves once cancelled.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.0.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }

    /// `work`'s output, or None when cancelled first (the work is dropped,
    /// which aborts a request or a connect in flight).
    pub async fn run<F: Future>(&self, work: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            _ = self.cancelled() => None,
            out = work => Some(out),
        }
    }

    /// Runs blocking `work` on a thread of its own and waits for it, or for
    /// Stop. When Stop wins, `work` finishes alone and `abandoned` gets its
    /// result, to release what it opened (a late connection is closed, never
    /// left live). None as well when `work` panicked.
    pub fn run_blocking<T: Send + 'static>(
        &self,
        name: &str,
        work: impl FnOnce() -> T + Send + 'static,
        abandoned: impl FnOnce(T) + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let abandon = move |rx: Receiver<T>| {
            if let Ok(out) = rx.recv() {
                abandoned(out);
            }
        };
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _ = tx.send(work());
            })
            .ok()?;
        if self.is_cancelled() {
            std::thread::spawn(move || abandon(rx));
            return None;
        }
        select! {
            recv(rx) -> out => out.ok(),
            recv(self.0.closed) -> _ => {
                std::thread::spawn(move || abandon(rx));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn sleep_ends_early_on_cancel() {
        let cancel = Cancel::new();
        let other = cancel.clone();
        let started = Instant::now();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            other.cancel();
        });
        assert!(cancel.sleep(Duration::from_secs(30)));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(cancel.sleep(Duration::from_secs(30)), "stays cancelled");
    }

    #[test]
    fn async_work_is_dropped_on_cancel() {
        let cancel = Cancel::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let other = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            other.cancel();
        });
        let started = Instant::now();
        let out = runtime.block_on(async {
            cancel
                .run(tokio::time::sleep(Duration::from_secs(30)))
                .await
        });
        assert_eq!(out, None);
        assert!(started.elapsed() < Duration::from_secs(2));
        let done = runtime.block_on(Cancel::new().run(async { 7 }));
        assert_eq!(done, Some(7));
    }

    #[test]
    fn blocking_work_left_behind_hands_its_result_to_be_released() {
        let cancel = Cancel::new();
        let (released_tx, released) = crossbeam_channel::bounded(1);
        let other = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            other.cancel();
        });
        let started = Instant::now();
        let out = cancel.run_blocking(
            "slow-connect",
            || {
                std::thread::sleep(Duration::from_millis(400));
                "a connection"
            },
            move |late| released_tx.send(late).unwrap(),
        );
        assert_eq!(out, None);
        assert!(started.elapsed() < Duration::from_millis(350));
        assert_eq!(
            released.recv_timeout(Duration::from_secs(5)),
            Ok("a connection")
        );
        let quick = Cancel::new().run_blocking("quick", || 3, |_| unreachable!());
        assert_eq!(quick, Some(3));
    }
}
