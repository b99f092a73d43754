//! The client-message budget of one connection: a token bucket whose tokens come back one
//! window after they are spent.
//!
//! Binance counts every client message on a market-data connection — control messages, pings
//! and pongs — and disconnects a connection that sends more than 5 in a second (the simulator
//! counts the same way: more than 5 within any one second). A classic token bucket with
//! capacity 5 refilling continuously at 5/s does **not** respect that: after a burst of 5 it
//! grants a token every 200 ms, so 9 messages fit in one second. This bucket refills each token
//! exactly `window` after it was spent (a sliding-window log of at most `capacity` send times),
//! which is the strongest budget that still allows the full burst: at most `capacity` sends in
//! any half-open interval of length `window`.
//!
//! [`TokenBucket::for_client_messages`] pads the venue's window by [`CLIENT_MESSAGE_GUARD`]:
//! two messages sent one window apart can arrive closer together when the first one is delayed
//! in the network, and the venue counts arrivals.
//!
//! Time is an explicit `now` argument (`std::time::Instant`; from a `tokio::time::Instant` use
//! `into_std()`, which follows a paused test clock), so the budget is deterministic in tests.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use storm_venues::adapter::RateLimit;

/// Added to the venue's client-message window: the network jitter the budget absorbs.
pub const CLIENT_MESSAGE_GUARD: Duration = Duration::from_millis(100);

/// Longest window accepted (one day), so that `Instant + window` can never overflow.
const MAX_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// At most `capacity` acquisitions in any interval of length `window` (see the module docs).
#[derive(Clone, Debug)]
pub struct TokenBucket {
    capacity: usize,
    window: Duration,
    /// When each token still out was spent, oldest first; never longer than `capacity`.
    spent: VecDeque<Instant>,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens (at least 1), each returning `window` after use
    /// (at most one day).
    pub fn new(capacity: u32, window: Duration) -> Self {
        let capacity = usize::try_from(capacity.max(1)).unwrap_or(usize::MAX);
        Self { capacity, window: window.min(MAX_WINDOW), spent: VecDeque::with_capacity(capacity.min(1024)) }
    }

    /// The budget for one connection's client messages (pings and pongs included), from the
    /// venue's limit padded by [`CLIENT_MESSAGE_GUARD`].
    pub fn for_client_messages(limit: RateLimit) -> Self {
        Self::new(limit.max, limit.per.saturating_add(CLIENT_MESSAGE_GUARD))
    }

    /// Tokens when full.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How long a spent token stays out.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Tokens available at `now`.
    pub fn available(&self, now: Instant) -> usize {
        let still_out = self.spent.iter().filter(|t| **t + self.window > now).count();
        self.capacity - still_out
    }

    /// The earliest instant, not before `now`, at which a message may be sent.
    pub fn ready_at(&self, now: Instant) -> Instant {
        match self.spent.front() {
            Some(oldest) if self.spent.len() >= self.capacity => (*oldest + self.window).max(now),
            _ => now,
        }
    }

    /// How long to wait from `now` before a message may be sent (zero when one may go now).
    pub fn wait(&self, now: Instant) -> Duration {
        self.ready_at(now).saturating_duration_since(now)
    }

    /// Spends a token at `now` if one is available; otherwise returns how long to wait. Call it
    /// right before sending, and send only on `Ok`.
    ///
    /// A `now` earlier than a previous one (a misused clock) is recorded as that previous
    /// instant: the token then returns later, never earlier.
    pub fn try_acquire(&mut self, now: Instant) -> Result<(), Duration> {
        while self.spent.front().is_some_and(|t| *t + self.window <= now) {
            self.spent.pop_front();
        }
        if self.spent.len() >= self.capacity {
            return Err(self.wait(now));
        }
        let at = self.spent.back().map_or(now, |last| now.max(*last));
        self.spent.push_back(at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);
    const BINANCE: RateLimit = RateLimit { max: 5, per: SECOND };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Sends one message per request, each as soon as the bucket allows and not before it is
    /// requested; returns the send times.
    fn send_all(bucket: &mut TokenBucket, t0: Instant, requested: impl IntoIterator<Item = Duration>) -> Vec<Instant> {
        let mut clock = t0;
        let mut sent = Vec::new();
        for at in requested {
            clock = clock.max(t0 + at);
            while let Err(wait) = bucket.try_acquire(clock) {
                assert!(wait > Duration::ZERO, "a refusal must ask for a real wait");
                clock += wait;
            }
            sent.push(clock);
        }
        sent
    }

    /// No more than `max` of the sorted `times` fall in any half-open window `[t, t + window)`.
    fn at_most_per_window(times: &[Instant], max: usize, window: Duration) -> bool {
        times.windows(max + 1).all(|w| w[max].duration_since(w[0]) >= window)
    }

    #[test]
    fn a_full_bucket_allows_a_burst_of_five_then_waits_for_the_oldest_token() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(5, SECOND);
        for i in 0..5 {
            assert_eq!(bucket.try_acquire(t0 + ms(i * 10)), Ok(()), "message {i}");
        }
        assert_eq!(bucket.available(t0 + ms(50)), 0);
        assert_eq!(bucket.try_acquire(t0 + ms(50)), Err(ms(950)));
        assert_eq!(bucket.ready_at(t0 + ms(50)), t0 + SECOND);
        assert_eq!(bucket.wait(t0 + ms(999)), ms(1));
        assert_eq!(bucket.try_acquire(t0 + SECOND), Ok(()));
        assert_eq!(bucket.try_acquire(t0 + SECOND), Err(ms(10)), "the second token is back at 1.010 s");
        assert_eq!(bucket.available(t0 + ms(1_999)), 4, "the token spent at 1 s is still out");
        assert_eq!(bucket.available(t0 + ms(2_000)), 5, "and back one window later");
    }

    #[test]
    fn client_message_budget_is_the_venue_limit_plus_the_guard() {
        let bucket = TokenBucket::for_client_messages(BINANCE);
        assert_eq!((bucket.capacity(), bucket.window()), (5, SECOND + CLIENT_MESSAGE_GUARD));
        assert_eq!(TokenBucket::new(0, SECOND).capacity(), 1, "never a bucket that can never send");
    }

    #[test]
    fn a_burst_of_1000_subscribe_batches_never_puts_more_than_five_in_any_second() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::for_client_messages(BINANCE);
        let sent = send_all(&mut bucket, t0, std::iter::repeat_n(Duration::ZERO, 1000));
        assert_eq!(sent.len(), 1000);
        assert!(at_most_per_window(&sent, 5, SECOND));
        assert!(at_most_per_window(&sent, 5, SECOND + CLIENT_MESSAGE_GUARD), "the guard is kept too");
        // And the budget is used, not wasted: 200 windows of 1.1 s, the first starting at t0.
        let elapsed = sent[999].duration_since(t0);
        assert_eq!(elapsed, (SECOND + CLIENT_MESSAGE_GUARD) * 199, "{elapsed:?}");
    }

    #[test]
    fn a_continuous_refill_bucket_would_overshoot_but_this_one_does_not() {
        // Five at t0, then one every 200 ms is what a classic 5/s bucket grants: 9 in [0, 1 s).
        let t0 = Instant::now();
        let classic: Vec<Instant> = (0..5).map(|_| t0).chain((1..5).map(|i| t0 + ms(200 * i))).collect();
        assert!(!at_most_per_window(&classic, 5, SECOND));
        let mut bucket = TokenBucket::new(5, SECOND);
        let granted = classic.iter().filter(|t| bucket.try_acquire(**t).is_ok()).count();
        assert_eq!(granted, 5);
    }

    #[test]
    fn a_clock_going_backwards_never_frees_a_token_early() {
        let t0 = Instant::now() + SECOND;
        let mut bucket = TokenBucket::new(2, SECOND);
        assert_eq!(bucket.try_acquire(t0), Ok(()));
        assert_eq!(bucket.try_acquire(t0 - ms(500)), Ok(()), "recorded at t0, not 500 ms earlier");
        assert_eq!(bucket.try_acquire(t0 + ms(600)), Err(ms(400)), "not back at t0 + 500 ms");
        assert_eq!(bucket.wait(t0 - SECOND), SECOND * 2, "waits are counted from the recorded instant");
        assert_eq!(bucket.try_acquire(t0 + SECOND), Ok(()));
    }

    proptest! {
        /// Subscribes, unsubscribes, our pings and pongs requested at arbitrary times all share the
        /// budget; the venue sees them after up to `CLIENT_MESSAGE_GUARD` of network jitter and
        /// counts like the simulator (more than 5 within one second disconnects): never tripped.
        #[test]
        fn any_mix_of_requests_stays_within_five_per_second_at_the_venue(
            gaps_ms in proptest::collection::vec(0u64..1_500, 1..300),
            jitter_ms in proptest::collection::vec(0u64..=100, 300),
        ) {
            let t0 = Instant::now();
            let mut bucket = TokenBucket::for_client_messages(BINANCE);
            let requested: Vec<Duration> = gaps_ms.iter().scan(0, |t, g| { *t += g; Some(ms(*t)) }).collect();
            let sent = send_all(&mut bucket, t0, requested.iter().copied());
            prop_assert!(at_most_per_window(&sent, 5, SECOND));
            for (send, requested) in sent.iter().zip(&requested) {
                prop_assert!(*send >= t0 + *requested, "never sent before it was asked for");
            }
            let mut arrived: Vec<Instant> = sent.iter().zip(&jitter_ms).map(|(t, j)| *t + ms(*j)).collect();
            arrived.sort();
            prop_assert!(at_most_per_window(&arrived, 5, SECOND), "the venue would disconnect us");
        }
    }
}
