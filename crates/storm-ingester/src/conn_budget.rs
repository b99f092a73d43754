//! The new-connection budget: Binance allows 300 new market-data connections per 5 minutes per
//! IP, and a reconnect storm (every connection dropped at once, again and again) must not turn
//! into a ban.
//!
//! [`ConnectBudget`] is a sliding window over connection attempts — the same rolling-refill
//! [`TokenBucket`] as the message budget, with the venue's `new_connections` limit padded by
//! [`CONNECT_GUARD`]. Every attempt counts (the venue counts handshakes, not successes), and so
//! does the replacement opened to rotate an old connection. The limit is per IP: ingesters
//! sharing an address must split it (a shared Redis budget is future work).
//!
//! Use it before every connect: `try_connect(now)`, and on `Err(wait)` schedule the attempt
//! `wait` later (after the reconnect backoff, whichever is longer).

use std::time::{Duration, Instant};

use storm_venues::adapter::RateLimit;

use crate::bucket::TokenBucket;

/// Added to the venue's connection window, for clock and network skew.
pub const CONNECT_GUARD: Duration = Duration::from_secs(1);

/// At most `limit.max` connection attempts in any window of `limit.per` (+ [`CONNECT_GUARD`]).
#[derive(Clone, Debug)]
pub struct ConnectBudget {
    window: TokenBucket,
}

impl ConnectBudget {
    /// The budget for the venue's `new_connections` limit.
    pub fn new(limit: RateLimit) -> Self {
        Self { window: TokenBucket::new(limit.max, limit.per.saturating_add(CONNECT_GUARD)) }
    }

    /// Records a connection attempt at `now` if the budget allows one; otherwise returns how
    /// long to wait.
    pub fn try_connect(&mut self, now: Instant) -> Result<(), Duration> {
        self.window.try_acquire(now)
    }

    /// The earliest instant, not before `now`, at which a connection may be opened.
    pub fn next_connect_at(&self, now: Instant) -> Instant {
        self.window.ready_at(now)
    }

    /// Attempts still allowed at `now` (for metrics and for planning a rotation).
    pub fn remaining(&self, now: Instant) -> usize {
        self.window.available(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE_MINUTES: Duration = Duration::from_secs(300);
    const BINANCE: RateLimit = RateLimit { max: 300, per: FIVE_MINUTES };

    #[test]
    fn three_hundred_connects_then_the_next_waits_out_the_window() {
        let t0 = Instant::now();
        let mut budget = ConnectBudget::new(BINANCE);
        for i in 0..300 {
            assert_eq!(budget.try_connect(t0 + Duration::from_millis(i)), Ok(()), "attempt {i}");
        }
        assert_eq!(budget.remaining(t0 + Duration::from_secs(1)), 0);
        let wait = budget.try_connect(t0 + Duration::from_secs(1)).err();
        assert_eq!(wait, Some(FIVE_MINUTES + CONNECT_GUARD - Duration::from_secs(1)));
        assert_eq!(budget.next_connect_at(t0), t0 + FIVE_MINUTES + CONNECT_GUARD);
        assert_eq!(budget.try_connect(t0 + FIVE_MINUTES + CONNECT_GUARD), Ok(()));
        assert_eq!(budget.remaining(t0 + FIVE_MINUTES + CONNECT_GUARD), 0, "the second attempt's token is 1 ms away");
        assert_eq!(budget.remaining(t0 + FIVE_MINUTES + CONNECT_GUARD + Duration::from_millis(1)), 1);
    }

    #[test]
    fn a_reconnect_storm_never_exceeds_300_in_any_five_minutes() {
        // 40 connections all dropping every 2 s for an hour want 72,000 connects; whatever the
        // budget grants, no 5-minute window (the venue's own) holds more than 300.
        let t0 = Instant::now();
        let mut budget = ConnectBudget::new(BINANCE);
        let mut granted: Vec<Instant> = Vec::new();
        let mut refused = 0usize;
        for round in 0..1_800u64 {
            let now = t0 + Duration::from_secs(2 * round);
            for _ in 0..40 {
                match budget.try_connect(now) {
                    Ok(()) => granted.push(now),
                    Err(wait) => {
                        assert!(wait > Duration::ZERO);
                        refused += 1;
                    }
                }
            }
        }
        assert!(granted.windows(301).all(|w| w[300].duration_since(w[0]) >= FIVE_MINUTES));
        assert!(refused > 0);
        // The budget is used: 300 per 301 s over the hour.
        assert_eq!(granted.len(), 300 * 12, "{} granted", granted.len());
    }

    #[test]
    fn remaining_recovers_as_old_attempts_leave_the_window() {
        let t0 = Instant::now();
        let mut budget = ConnectBudget::new(RateLimit { max: 3, per: Duration::from_secs(10) });
        for s in [0, 4, 8] {
            assert_eq!(budget.try_connect(t0 + Duration::from_secs(s)), Ok(()));
        }
        assert_eq!(budget.remaining(t0 + Duration::from_secs(9)), 0);
        assert_eq!(budget.remaining(t0 + Duration::from_secs(11)), 1);
        assert_eq!(budget.remaining(t0 + Duration::from_secs(19)), 3);
    }
}
