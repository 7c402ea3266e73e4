//! Reads the platform's status hook on a schedule: every 5 s while live,
//! every 30 s otherwise, slower after errors, not at all while the window is
//! hidden, and at once when asked (Go Live). Each reading, or the failure to
//! get one, goes to the owner as a `Reading`.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::client::HookClient;
use super::hooks::{Context, Hook, READ_LIVE, READ_VIEWERS};
use crate::cancel::Cancel;

pub const LIVE_INTERVAL: Duration = Duration::from_secs(5);
pub const IDLE_INTERVAL: Duration = Duration::from_secs(30);
const MAX_INTERVAL: Duration = Duration::from_secs(60);

/// When the next reading is due after `failures` failed ones in a row;
/// None while hidden (nobody is looking).
pub fn next_delay(live: bool, hidden: bool, failures: u32) -> Option<Duration> {
    if hidden {
        return None;
    }
    let base = if live { LIVE_INTERVAL } else { IDLE_INTERVAL };
    Some((base * 2u32.pow(failures.min(4))).min(MAX_INTERVAL.max(base)))
}

/// What the platform says, or that it could not be asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    Status {
        live: Option<bool>,
        viewers: Option<u32>,
    },
    /// The last reading is getting old: the status hook failed.
    Stale { detail: String },
}

/// A reading from the status hook's answer.
pub fn interpret(hook: &Hook, values: &std::collections::BTreeMap<String, Value>) -> Reading {
    Reading::Status {
        live: values.get(READ_LIVE).and_then(|v| hook.live_flag(v)),
        viewers: values
            .get(READ_VIEWERS)
            .and_then(Value::as_u64)
            .map(|n| n.min(u32::MAX as u64) as u32),
    }
}

#[derive(Debug, Default)]
struct Control {
    live: bool,
    hidden: bool,
    refresh: bool,
    stop: bool,
}

/// The polling thread; stops when dropped.
pub struct StatusPoller {
    control: Arc<(Mutex<Control>, Condvar)>,
    thread: Option<JoinHandle<()>>,
    cancel: Cancel,
}

impl StatusPoller {
    /// Starts polling; the first reading is taken at once.
    pub fn start(
        hook: Hook,
        ctx: Context,
        live: bool,
        report: impl Fn(Reading) + Send + 'static,
    ) -> Result<StatusPoller, crate::error::OnairError> {
        // Dropping the poller cancels a reading in flight: Stop never waits
        // for a stalled status endpoint.
        let cancel = Cancel::new();
        let client = HookClient::new()?
            .without_retries()
            .cancelled_by(cancel.clone());
        let control = Arc::new((
            Mutex::new(Control {
                live,
                refresh: true,
                ..Control::default()
            }),
            Condvar::new(),
        ));
        let shared = control.clone();
        let thread = std::thread::Builder::new()
            .name("onair-status".into())
            .spawn(move || poll(&client, &hook, &ctx, &shared, report))
            .map_err(|e| crate::error::OnairError::internal(format!("a status thread: {e}")))?;
        Ok(StatusPoller {
            control,
            thread: Some(thread),
            cancel,
        })
    }

    fn update(&self, change: impl FnOnce(&mut Control)) {
        let (lock, wake) = &*self.control;
        change(&mut lock.lock().expect("status control"));
        wake.notify_all();
    }

    pub fn set_live(&self, live: bool) {
        self.update(|c| c.live = live);
    }

    pub fn set_hidden(&self, hidden: bool) {
        self.update(|c| c.hidden = hidden);
    }

    /// Reads now, whatever the schedule says.
    pub fn refresh(&self) {
        self.update(|c| c.refresh = true);
    }
}

impl Drop for StatusPoller {
    fn drop(&mut self) {
        self.update(|c| c.stop = true);
        self.cancel.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn poll(
    client: &HookClient,
    hook: &Hook,
    ctx: &Context,
    control: &(Mutex<Control>, Condvar),
    report: impl Fn(Reading),
) {
    let (lock, wake) = control;
    let mut failures = 0;
    let mut due = Instant::now();
    loop {
        {
            let mut c = lock.lock().expect("status control");
            loop {
                if c.stop {
                    return;
                }
                if c.refresh {
                    c.refresh = false;
                    break;
                }
                match next_delay(c.live, c.hidden, failures) {
                    None => c = wake.wait(c).expect("status control"),
                    Some(_) if Instant::now() >= due => break,
                    Some(_) => {
                        let left = due.saturating_duration_since(Instant::now());
                        c = wake.wait_timeout(c, left).expect("status control").0;
                    }
                }
            }
        }
        match client.call(hook, ctx) {
            Ok(values) => {
                failures = 0;
                report(interpret(hook, &values));
            }
            Err(f) => {
                failures += 1;
                report(Reading::Stale {
                    detail: super::flow::failure(super::flow::Step::Status, &f).message,
                });
            }
        }
        let c = lock.lock().expect("status control");
        due = Instant::now() + next_delay(c.live, c.hidden, failures).unwrap_or(IDLE_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn the_schedule_follows_live_hidden_and_errors() {
        assert_eq!(next_delay(true, false, 0), Some(LIVE_INTERVAL));
        assert_eq!(next_delay(false, false, 0), Some(IDLE_INTERVAL));
        assert_eq!(next_delay(true, true, 0), None, "paused while hidden");
        assert_eq!(next_delay(true, false, 1), Some(Duration::from_secs(10)));
        assert_eq!(next_delay(true, false, 9), Some(MAX_INTERVAL), "bounded");
        assert_eq!(next_delay(false, false, 3), Some(MAX_INTERVAL));
    }

    #[test]
    fn readings_take_the_flag_and_the_count() {
        let hook: Hook = serde_json::from_value(json!({
            "method": "GET", "url": "http://p", "live_when": "LIVE",
            "read": {"live": "/phase", "viewers": "/viewerCount"}
        }))
        .unwrap();
        let values = BTreeMap::from([
            ("live".to_string(), json!("LIVE")),
            ("viewers".to_string(), json!(3)),
        ]);
        assert_eq!(
            interpret(&hook, &values),
            Reading::Status {
                live: Some(true),
                viewers: Some(3)
            }
        );
        let values = BTreeMap::from([("live".to_string(), json!("POST_LIVE"))]);
        assert_eq!(
            interpret(&hook, &values),
            Reading::Status {
                live: Some(false),
                viewers: None
            }
        );
    }
}
