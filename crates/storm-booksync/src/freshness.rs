//! Per-book freshness: when a book was last known to be the venue's, and whether it still is.
//!
//! A quiet symbol is normal on a real venue, so the absence of diffs says nothing about a book.
//! What does: the ingester connection carrying it. Each of its diffs confirms the book, and so
//! does each `alive` entry of that connection that lists the symbol (written every
//! `ingester.liveness_ms` while the connection hears from the venue). A live book that nothing
//! confirmed for `stale_after_ms` — its connection dropped, stalled or went silent — is `stale`;
//! the next confirmation makes it live again (a broken stream comes with a reset marker, which
//! resyncs it instead).
//!
//! `time_local` is when the book was last changed or confirmed (never the time a hash or tops
//! entry happened to be written), so consumers' age checks measure what they mean. A live book
//! whose top has not changed is republished once its confirmations have moved `time_local`
//! forward by half the stale timeout, so a consumer holding its last tops entry (the arbitrage)
//! sees a confirmed book as fresh. Updating on a diff is two field writes: booksync applies
//! more than 100,000 diffs a second.

use std::time::Duration;

use tokio::time::Instant;

/// One book's freshness (see the module docs). Times in; no clock read here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Freshness {
    /// When the last confirmation was seen (monotonic, for the stale decision).
    seen: Option<Instant>,
    /// When the book was last changed or confirmed, µs since epoch.
    time_local: u64,
    /// `time_local` of the last tops entry published.
    published: u64,
    stale: bool,
}

impl Freshness {
    /// The book was changed or confirmed at `at_us` (seen at `now`); true when this ends a
    /// stale period. `time_local` never goes back.
    pub fn confirm(&mut self, now: Instant, at_us: u64) -> bool {
        self.seen = Some(now);
        self.time_local = self.time_local.max(at_us);
        std::mem::take(&mut self.stale)
    }

    /// When the book was last changed or confirmed, µs since epoch (0: never).
    pub fn time_local(&self) -> u64 {
        self.time_local
    }

    /// True once nothing confirmed the book for the stale timeout.
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// Marks the book stale now (its subscription was removed).
    pub fn mark_stale(&mut self) {
        self.stale = true;
    }

    /// Marks the book stale when nothing confirmed it for `after`; true when it just turned.
    pub fn check(&mut self, now: Instant, after: Duration) -> bool {
        let silent = self.seen.is_none_or(|seen| now.saturating_duration_since(seen) >= after);
        if self.stale || !silent {
            return false;
        }
        self.stale = true;
        true
    }

    /// A tops entry carrying the current `time_local` went out.
    pub fn published(&mut self) {
        self.published = self.time_local;
    }

    /// True when confirmations moved `time_local` at least `every` past the last tops entry.
    pub fn wants_refresh(&self, every: Duration) -> bool {
        let every_us = u64::try_from(every.as_micros()).unwrap_or(u64::MAX);
        !self.stale && self.time_local.saturating_sub(self.published) >= every_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn stale_only_after_the_timeout_without_confirmation_and_live_again_on_the_next() {
        let t0 = Instant::now();
        let mut f = Freshness::default();
        assert!(!f.confirm(t0, 1_000_000));
        assert!(!f.check(t0 + S * 4, S * 5), "quiet but within the timeout");
        assert!(f.check(t0 + S * 5, S * 5) && f.is_stale());
        assert!(!f.check(t0 + S * 6, S * 5), "turns stale once");
        assert_eq!(f.time_local(), 1_000_000, "staleness keeps the last confirmed time");
        assert!(f.confirm(t0 + S * 7, 8_000_000), "a confirmation ends it");
        assert!(!f.is_stale() && f.time_local() == 8_000_000);
        assert!(!f.confirm(t0 + S * 7, 2_000_000) && f.time_local() == 8_000_000, "never back");
        assert!(!f.check(t0 + S * 11, S * 5));
    }

    #[test]
    fn a_confirmed_quiet_book_wants_republishing_every_so_often() {
        let t0 = Instant::now();
        let mut f = Freshness::default();
        f.confirm(t0, 10_000_000);
        f.published();
        assert!(!f.wants_refresh(S * 2));
        f.confirm(t0 + S, 11_000_000);
        assert!(!f.wants_refresh(S * 2));
        f.confirm(t0 + S * 2, 12_000_000);
        assert!(f.wants_refresh(S * 2));
        f.published();
        assert!(!f.wants_refresh(S * 2));
        f.confirm(t0 + S * 4, 14_000_000);
        f.mark_stale();
        assert!(!f.wants_refresh(S * 2), "a stale book is not refreshed");
    }
}
