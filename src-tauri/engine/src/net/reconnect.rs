//! When and how to try again after a lost connection, for every network sink
//! alike (RTMP, LiveKit, WHIP), with no I/O. A sink reports what happened
//! (lost, an attempt failed, connected, the time now) and does what comes
//! back (wait until, attempt a resume or a fresh connection, tell the
//! creator, give up). The machine never reads the clock or draws a random
//! number itself, so its tests run in virtual time.
//!
//! The policy: bounded exponential backoff with "equal jitter" (so a fleet of
//! broadcasters does not hammer a recovering server in step); where the
//! protocol can resume (LiveKit resume, a WHIP ICE restart), each attempt
//! tries that first and falls back to a fresh connection at once; an error
//! that cannot get better by waiting ends it at once (see `is_final`).

use std::time::{Duration, Instant};

use crate::sink::SinkNotice;

/// What kind of failure it was: the one thing the policy reads from a
/// protocol's error. Each protocol maps its own typed error to this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The server refused the credentials: a stream key, a token.
    Refused,
    /// The credentials are good but may not publish there.
    Forbidden,
    /// The destination cannot work: no such application, room or endpoint,
    /// or an address Onair will not use.
    Unusable,
    /// The server's certificate did not verify.
    Certificate,
    /// The server still holds our previous publish on the same stream.
    Busy,
    /// The network: refused or reset connections, timeouts, a lost link.
    Network,
    /// The server failed (5xx, a crash, a broken answer).
    Server,
    /// Something on this computer failed while setting up.
    Local,
}

/// The one rule: does this error end reconnecting at once?
///
/// Final are the answers a server gives the same way every time for the
/// same request: trying again with the same key, token and URL only delays
/// the creator seeing what to fix. Everything a server or a network
/// recovers from on its own is retried, within the attempt limit. A failed
/// *resume* is never judged: it says only that the old session is gone, and
/// the fresh attempt right after it decides.
pub fn is_final(cause: Cause) -> bool {
    match cause {
        // The same key or token is refused again.
        Cause::Refused => true,
        // Permissions do not change while we wait.
        Cause::Forbidden => true,
        // A room, application or endpoint that is not there will not appear.
        Cause::Unusable => true,
        // The certificate or this computer's clock must change first.
        Cause::Certificate => true,
        // Our earlier session times out on the server, then the name is free.
        Cause::Busy => false,
        // A restarting server, a dropped link: what reconnecting is for.
        Cause::Network | Cause::Server => false,
        // Possibly a passing shortage (ports, memory); bounded by the limit.
        Cause::Local => false,
    }
}

/// A protocol error as the policy sees it: `RtmpError`, `LiveKitError` and
/// `WhipError` each say what kind of failure they are.
pub trait Failure {
    fn cause(&self) -> Cause;
    /// Why, in a few words, for the Reconnecting notice. Never a secret.
    fn reason(&self) -> String;
}

/// The numbers of the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The first wait is between half of this and this.
    pub first: Duration,
    /// No wait is longer than this.
    pub cap: Duration,
    /// Attempts after one loss before giving up (`--reconnect-attempts`).
    pub max_attempts: u32,
    /// Each attempt tries to resume the old session before a fresh one.
    pub resume_first: bool,
}

impl Policy {
    /// First retry after 0.25–0.5 s, doubling to at most 10 s: with the
    /// default 10 attempts, about a minute of trying.
    pub fn new(max_attempts: u32) -> Self {
        Policy {
            first: Duration::from_millis(500),
            cap: Duration::from_secs(10),
            max_attempts,
            resume_first: false,
        }
    }

    pub fn resuming(self) -> Self {
        Policy {
            resume_first: true,
            ..self
        }
    }

    /// The backoff step before attempt `index` (0-based), before jitter.
    fn step(&self, index: u32) -> Duration {
        self.first
            .saturating_mul(1u32 << index.min(16))
            .min(self.cap)
    }
}

/// Where the jitter comes from: a number in [0, 1) per wait.
pub trait Jitter {
    fn unit(&mut self) -> f64;
}

/// xorshift64*: jitter needs spread, not cryptographic randomness.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed | 1)
    }

    /// Seeded from the wall clock, so that broadcasters started together
    /// still spread out.
    pub fn from_clock() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        Self::new(nanos)
    }
}

impl Jitter for XorShift {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input<E> {
    /// The live connection broke.
    Lost(E),
    /// The attempt asked for failed.
    AttemptFailed(E),
    /// Asked to resume, the sink has nothing left to resume.
    CannotResume,
    /// The attempt asked for succeeded: live again.
    Connected,
    /// The time has moved on (after a `WaitUntil`).
    Tick,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The same session again (LiveKit resume, a WHIP ICE restart).
    Resume,
    /// A new connection from scratch.
    Fresh,
}

/// What the creator is told.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    Reconnecting {
        attempt: u32,
        retry_in: Duration,
        reason: String,
    },
    Restored,
}

impl From<Notice> for SinkNotice {
    fn from(notice: Notice) -> Self {
        match notice {
            Notice::Reconnecting {
                attempt,
                retry_in,
                reason,
            } => SinkNotice::Reconnecting {
                attempt,
                retry_in,
                reason,
            },
            Notice::Restored => SinkNotice::Restored,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The error was final (`is_final`).
    Final,
    /// Every attempt was used.
    Exhausted,
}

/// Reconnecting is over: the sink fails with this.
#[derive(Debug, Clone, PartialEq)]
pub struct GiveUp<E> {
    /// The last error.
    pub error: E,
    pub why: Why,
    /// Attempts made since the loss.
    pub attempts: u32,
    /// Why the last attempt failed, resume and fresh together.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Output<E> {
    Notice(Notice),
    /// Feed `Tick` at (or after) this instant.
    WaitUntil(Instant),
    Attempt(Mode),
    GiveUp(GiveUp<E>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Connected,
    Waiting(Instant),
    Trying(Mode),
    GaveUp,
}

/// One sink's reconnect state. It starts connected: the first connect is
/// the session's business, not a reconnect.
#[derive(Debug)]
pub struct Reconnect<J = XorShift> {
    policy: Policy,
    jitter: J,
    state: State,
    /// Attempts since the loss; 0 while connected.
    attempt: u32,
    /// Why this attempt's resume failed, told with the fresh one's reason.
    resume_reason: Option<String>,
}

impl<J: Jitter> Reconnect<J> {
    pub fn new(policy: Policy, jitter: J) -> Self {
        Reconnect {
            policy,
            jitter,
            state: State::Connected,
            attempt: 0,
            resume_reason: None,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn handle<E: Failure>(&mut self, input: Input<E>, now: Instant) -> Vec<Output<E>> {
        match (self.state, input) {
            (State::Connected, Input::Lost(error)) => {
                let reason = error.reason();
                self.judge(error, reason, now)
            }
            (State::Waiting(until), Input::Tick) if now < until => vec![Output::WaitUntil(until)],
            (State::Waiting(_), Input::Tick) => {
                let mode = if self.policy.resume_first {
                    Mode::Resume
                } else {
                    Mode::Fresh
                };
                self.state = State::Trying(mode);
                vec![Output::Attempt(mode)]
            }
            (State::Trying(Mode::Resume), Input::AttemptFailed(error)) => {
                self.resume_reason = Some(error.reason());
                self.escalate()
            }
            (State::Trying(Mode::Resume), Input::CannotResume) => self.escalate(),
            (State::Trying(Mode::Fresh), Input::AttemptFailed(error)) => {
                let reason = match self.resume_reason.take() {
                    Some(resume) if resume != error.reason() => {
                        format!("{resume}; {}", error.reason())
                    }
                    _ => error.reason(),
                };
                self.judge(error, reason, now)
            }
            (State::Trying(_), Input::Connected) => {
                self.state = State::Connected;
                self.attempt = 0;
                self.resume_reason = None;
                vec![Output::Notice(Notice::Restored)]
            }
            // Late or repeated reports, anything after giving up: nothing to do.
            _ => vec![],
        }
    }

    fn escalate<E>(&mut self) -> Vec<Output<E>> {
        self.state = State::Trying(Mode::Fresh);
        vec![Output::Attempt(Mode::Fresh)]
    }

    /// After a loss or a failed attempt: wait for the next one, or give up.
    fn judge<E: Failure>(&mut self, error: E, reason: String, now: Instant) -> Vec<Output<E>> {
        let why = if is_final(error.cause()) {
            Why::Final
        } else if self.attempt >= self.policy.max_attempts {
            Why::Exhausted
        } else {
            let delay = self.next_delay();
            self.attempt += 1;
            let until = now + delay;
            self.state = State::Waiting(until);
            return vec![
                Output::Notice(Notice::Reconnecting {
                    attempt: self.attempt,
                    retry_in: delay,
                    reason,
                }),
                Output::WaitUntil(until),
            ];
        };
        self.state = State::GaveUp;
        vec![Output::GiveUp(GiveUp {
            error,
            why,
            attempts: self.attempt,
            reason,
        })]
    }

    /// "Equal jitter": half the step fixed, half random, so the wait stays
    /// within [step/2, step].
    fn next_delay(&mut self) -> Duration {
        let step = self.policy.step(self.attempt);
        let half = step / 2;
        let unit = self.jitter.unit().clamp(0.0, 1.0);
        half + half.mul_f64(unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A protocol error for the tests.
    #[derive(Debug, Clone, PartialEq)]
    struct E(Cause, &'static str);

    impl Failure for E {
        fn cause(&self) -> Cause {
            self.0
        }
        fn reason(&self) -> String {
            self.1.to_string()
        }
    }

    fn down() -> E {
        E(Cause::Network, "connection refused")
    }

    /// Jitter that always draws the same number.
    struct Fixed(f64);
    impl Jitter for Fixed {
        fn unit(&mut self) -> f64 {
            self.0
        }
    }

    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// Drives a machine in virtual time: waits are skipped, not slept.
    struct Bench<J> {
        machine: Reconnect<J>,
        now: Instant,
    }

    impl<J: Jitter> Bench<J> {
        fn new(policy: Policy, jitter: J) -> Self {
            Bench {
                machine: Reconnect::new(policy, jitter),
                now: Instant::now(),
            }
        }

        fn feed(&mut self, input: Input<E>) -> Vec<Output<E>> {
            self.machine.handle(input, self.now)
        }

        /// Waits out a `WaitUntil` and returns what the tick brings.
        fn wait_out(&mut self, outputs: &[Output<E>]) -> Vec<Output<E>> {
            let until = outputs
                .iter()
                .find_map(|o| match o {
                    Output::WaitUntil(at) => Some(*at),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("no wait in {outputs:?}"));
            self.now = until;
            self.feed(Input::Tick)
        }

        /// Loses the connection, then fails every attempt: the waits announced.
        fn waits_until_giving_up(&mut self) -> (Vec<Duration>, Vec<u32>, GiveUp<E>) {
            let mut outputs = self.feed(Input::Lost(down()));
            let (mut waits, mut attempts) = (vec![], vec![]);
            loop {
                for output in &outputs {
                    match output {
                        Output::Notice(Notice::Reconnecting {
                            attempt, retry_in, ..
                        }) => {
                            attempts.push(*attempt);
                            waits.push(*retry_in);
                        }
                        Output::GiveUp(g) => return (waits, attempts, g.clone()),
                        _ => {}
                    }
                }
                assert_eq!(self.wait_out(&outputs), vec![Output::Attempt(Mode::Fresh)]);
                outputs = self.feed(Input::AttemptFailed(down()));
            }
        }
    }

    #[test]
    fn waits_double_from_the_first_step() {
        let mut bench = Bench::new(Policy::new(5), Fixed(0.0));
        let (waits, attempts, _) = bench.waits_until_giving_up();
        // Jitter 0: exactly half of each step.
        assert_eq!(waits, vec![MS(250), MS(500), MS(1000), MS(2000), MS(4000)]);
        assert_eq!(attempts, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn no_wait_exceeds_the_cap() {
        let mut bench = Bench::new(Policy::new(40), Fixed(0.999_999));
        let (waits, _, _) = bench.waits_until_giving_up();
        assert_eq!(waits.len(), 40);
        assert!(waits[..5].windows(2).all(|w| w[0] < w[1]), "{waits:?}");
        assert!(
            waits.iter().all(|w| *w <= Duration::from_secs(10)),
            "{waits:?}"
        );
        // From the sixth on, the step is the cap.
        assert!(waits[5..].iter().all(|w| *w > MS(9_999)), "{waits:?}");
    }

    #[test]
    fn jitter_stays_within_half_a_step_to_a_step_and_spreads() {
        for seed in [1, 42, 0xdead_beef, u64::MAX] {
            let mut bench = Bench::new(Policy::new(8), XorShift::new(seed));
            let (waits, _, _) = bench.waits_until_giving_up();
            for (i, wait) in waits.iter().enumerate() {
                let step = MS(500 * (1 << i)).min(Duration::from_secs(10));
                assert!(*wait >= step / 2 && *wait <= step, "attempt {i}: {wait:?}");
            }
        }
        let firsts: std::collections::HashSet<Duration> = (1..20u64)
            .map(|seed| {
                let mut bench = Bench::new(Policy::new(3), XorShift::new(seed * 7919));
                match &bench.feed(Input::Lost(down()))[0] {
                    Output::Notice(Notice::Reconnecting { retry_in, .. }) => *retry_in,
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        assert!(firsts.len() > 10, "{firsts:?}");
    }

    #[test]
    fn a_loss_is_announced_then_waited_out_before_the_attempt() {
        let mut bench = Bench::new(Policy::new(3), Fixed(0.5));
        let start = bench.now;
        let outputs = bench.feed(Input::Lost(down()));
        assert_eq!(
            outputs,
            vec![
                Output::Notice(Notice::Reconnecting {
                    attempt: 1,
                    retry_in: MS(375),
                    reason: "connection refused".into(),
                }),
                Output::WaitUntil(start + MS(375)),
            ]
        );
        // Woken early (a spurious tick): still waiting, same deadline.
        bench.now = start + MS(100);
        assert_eq!(
            bench.feed(Input::Tick),
            vec![Output::WaitUntil(start + MS(375))]
        );
        bench.now = start + MS(375);
        assert_eq!(bench.feed(Input::Tick), vec![Output::Attempt(Mode::Fresh)]);
    }

    #[test]
    fn each_attempt_resumes_first_then_joins_afresh_at_once() {
        let mut bench = Bench::new(Policy::new(3).resuming(), Fixed(0.0));
        let lost = bench.feed(Input::Lost(down()));
        assert_eq!(bench.wait_out(&lost), vec![Output::Attempt(Mode::Resume)]);
        // A refused resume says only that the old session is gone: not final.
        let refused = E(Cause::Refused, "no such participant");
        assert_eq!(
            bench.feed(Input::AttemptFailed(refused)),
            vec![Output::Attempt(Mode::Fresh)]
        );
        let outputs = bench.feed(Input::AttemptFailed(down()));
        assert_eq!(
            outputs[0],
            Output::Notice(Notice::Reconnecting {
                attempt: 2,
                retry_in: MS(500),
                reason: "no such participant; connection refused".into(),
            }),
            "one attempt is a resume and a fresh join; the reason tells both"
        );
        // Nothing left to resume: straight to a fresh join, same attempt.
        assert_eq!(
            bench.wait_out(&outputs),
            vec![Output::Attempt(Mode::Resume)]
        );
        assert_eq!(
            bench.feed(Input::CannotResume),
            vec![Output::Attempt(Mode::Fresh)]
        );
        assert_eq!(
            bench.feed(Input::Connected),
            vec![Output::Notice(Notice::Restored)]
        );
        // The same reason twice is told once.
        let lost = bench.feed(Input::Lost(down()));
        bench.wait_out(&lost);
        bench.feed(Input::AttemptFailed(down()));
        let outputs = bench.feed(Input::AttemptFailed(down()));
        assert!(
            matches!(&outputs[0], Output::Notice(Notice::Reconnecting { reason, .. }) if reason == "connection refused"),
            "{outputs:?}"
        );
    }

    #[test]
    fn a_final_error_gives_up_at_once() {
        for cause in [
            Cause::Refused,
            Cause::Forbidden,
            Cause::Unusable,
            Cause::Certificate,
        ] {
            // Lost with it: no attempt at all.
            let mut bench = Bench::new(Policy::new(10), Fixed(0.0));
            let error = E(cause, "no");
            assert_eq!(
                bench.feed(Input::Lost(error.clone())),
                vec![Output::GiveUp(GiveUp {
                    error: error.clone(),
                    why: Why::Final,
                    attempts: 0,
                    reason: "no".into(),
                })]
            );
            // From a fresh attempt: the first one ends it.
            let mut bench = Bench::new(Policy::new(10).resuming(), Fixed(0.0));
            let lost = bench.feed(Input::Lost(down()));
            bench.wait_out(&lost);
            bench.feed(Input::CannotResume);
            let outputs = bench.feed(Input::AttemptFailed(error.clone()));
            assert!(
                matches!(
                    &outputs[..],
                    [Output::GiveUp(GiveUp {
                        why: Why::Final,
                        attempts: 1,
                        ..
                    })]
                ),
                "{cause:?}: {outputs:?}"
            );
            // Given up: later reports change nothing.
            assert_eq!(bench.feed(Input::Tick), vec![]);
            assert_eq!(bench.feed(Input::Connected), vec![]);
            assert_eq!(bench.feed(Input::Lost(down())), vec![]);
        }
    }

    #[test]
    fn retried_causes_are_the_ones_that_recover_on_their_own() {
        let retried = [Cause::Busy, Cause::Network, Cause::Server, Cause::Local];
        assert!(retried.iter().all(|c| !is_final(*c)));
    }

    #[test]
    fn spent_attempts_give_up_with_the_last_error() {
        let mut bench = Bench::new(Policy::new(3), Fixed(0.0));
        let (_, attempts, gave_up) = bench.waits_until_giving_up();
        assert_eq!(attempts, vec![1, 2, 3]);
        assert_eq!(
            gave_up,
            GiveUp {
                error: down(),
                why: Why::Exhausted,
                attempts: 3,
                reason: "connection refused".into(),
            }
        );
        // No attempts allowed: the loss itself ends it.
        let mut bench = Bench::new(Policy::new(0), Fixed(0.0));
        assert!(matches!(
            &bench.feed(Input::Lost(down()))[..],
            [Output::GiveUp(GiveUp {
                why: Why::Exhausted,
                attempts: 0,
                ..
            })]
        ));
    }

    #[test]
    fn connected_resets_the_attempts_and_the_waits() {
        let mut bench = Bench::new(Policy::new(3), Fixed(0.0));
        for _ in 0..5 {
            let mut outputs = bench.feed(Input::Lost(down()));
            for _ in 0..2 {
                bench.wait_out(&outputs);
                outputs = bench.feed(Input::AttemptFailed(down()));
            }
            assert!(
                matches!(&outputs[0], Output::Notice(Notice::Reconnecting { attempt: 3, retry_in, .. }) if *retry_in == MS(1000)),
                "{outputs:?}"
            );
            bench.wait_out(&outputs);
            assert_eq!(
                bench.feed(Input::Connected),
                vec![Output::Notice(Notice::Restored)]
            );
            // A second Connected is no second Restored.
            assert_eq!(bench.feed(Input::Connected), vec![]);
        }
        // Three failed attempts per loss, five losses: never given up.
        let outputs = bench.feed(Input::Lost(down()));
        assert!(
            matches!(&outputs[0], Output::Notice(Notice::Reconnecting { attempt: 1, retry_in, .. }) if *retry_in == MS(250)),
            "{outputs:?}"
        );
    }
}
