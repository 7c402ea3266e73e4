//! When to try again after a lost connection: exponential, capped, jittered
//! (so a fleet of broadcasters does not hammer a recovering server in step),
//! and bounded in attempts so a dead destination ends the session.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    max_attempts: u32,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    /// The policy the RTMP sink uses: first retry after 0.25–0.5 s, doubling
    /// to at most 10 s.
    pub fn new(max_attempts: u32, seed: u64) -> Self {
        Backoff {
            first: Duration::from_millis(500),
            cap: Duration::from_secs(10),
            max_attempts,
            attempt: 0,
            rng: seed | 1,
        }
    }

    pub fn set_max_attempts(&mut self, max_attempts: u32) {
        self.max_attempts = max_attempts;
    }

    /// Attempts made since the last reset.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The wait before the next attempt, or None when attempts are used up.
    /// "Equal jitter": half the step is fixed, half random, so the delay
    /// stays within [step/2, step].
    pub fn next_delay(&mut self) -> Option<Duration> {
        if self.attempt >= self.max_attempts {
            return None;
        }
        let step = self
            .first
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.cap);
        self.attempt += 1;
        let half = step / 2;
        let jitter = half.mul_f64(self.random_unit());
        Some(half + jitter)
    }

    /// xorshift64*: jitter needs spread, not cryptographic randomness.
    fn random_unit(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let x = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_within_bounds_and_stop_at_the_limit() {
        for seed in [1, 42, 0xdead_beef, u64::MAX] {
            let mut b = Backoff::new(8, seed);
            let delays: Vec<Duration> = std::iter::from_fn(|| b.next_delay()).collect();
            assert_eq!(delays.len(), 8);
            assert!(delays[0] < Duration::from_secs(1), "{delays:?}");
            assert!(delays[0] >= Duration::from_millis(250));
            for (i, d) in delays.iter().enumerate() {
                let step = Duration::from_millis(500 * (1 << i)).min(Duration::from_secs(10));
                assert!(*d >= step / 2 && *d <= step, "attempt {i}: {d:?}");
            }
            assert!(delays.iter().all(|d| *d <= Duration::from_secs(10)));
            assert_eq!(b.next_delay(), None);
            b.reset();
            assert!(b.next_delay().unwrap() < Duration::from_secs(1));
        }
    }

    #[test]
    fn jitter_spreads_retries() {
        let firsts: Vec<Duration> = (1..20)
            .map(|seed| Backoff::new(3, seed * 7919).next_delay().unwrap())
            .collect();
        let distinct: std::collections::HashSet<_> = firsts.iter().collect();
        assert!(distinct.len() > 10, "{firsts:?}");
    }
}
