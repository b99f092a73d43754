//! Exponential backoff with full jitter, for every reconnect and retry in storm.
//!
//! Delays grow `base · 2^attempt` up to `max`, and each delay is drawn uniformly from the upper
//! half of that window so that many processes restarting together (after a Redis restart, a
//! venue outage) do not reconnect in lockstep. The jitter source is a tiny xorshift seeded per
//! instance: no I/O, deterministic under [`Backoff::with_seed`] for tests.

use std::time::Duration;

/// Backoff state for one retried operation.
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    /// A backoff from `base` doubling up to `max`, seeded from the clock.
    pub fn new(base: Duration, max: Duration) -> Self {
        let seed = crate::time::now_micros() ^ (u64::from(std::process::id()) << 32);
        Self::with_seed(base, max, seed)
    }

    /// Same, with a fixed seed (deterministic jitter).
    pub fn with_seed(base: Duration, max: Duration, seed: u64) -> Self {
        Self { base, max: max.max(base), attempt: 0, rng: seed | 1 }
    }

    /// Number of delays handed out since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Forget past failures (call after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// The next delay: uniform in `[w/2, w]` where `w = min(max, base·2^attempt)`.
    pub fn next_delay(&mut self) -> Duration {
        let window = self.base.checked_mul(1u32 << self.attempt.min(20)).map_or(self.max, |d| d.min(self.max));
        self.attempt = self.attempt.saturating_add(1);
        let half = window / 2;
        let span = (window - half).as_micros() as u64;
        let jitter = if span == 0 { 0 } else { self.next_random() % (span + 1) };
        half + Duration::from_micros(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_within_jitter_window_and_cap() {
        let mut b = Backoff::with_seed(Duration::from_millis(100), Duration::from_secs(2), 7);
        let expected_windows = [100u64, 200, 400, 800, 1600, 2000, 2000];
        for w in expected_windows {
            let d = b.next_delay().as_millis() as u64;
            assert!(d >= w / 2 && d <= w, "delay {d} outside [{}, {w}]", w / 2);
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn different_seeds_spread_out() {
        let a: Vec<_> = (0..5)
            .map(|s| Backoff::with_seed(Duration::from_secs(1), Duration::from_secs(1), s).next_delay())
            .collect();
        assert!(a.windows(2).any(|w| w[0] != w[1]), "jitter must vary: {a:?}");
    }
}
