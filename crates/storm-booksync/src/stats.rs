//! booksync's metrics, registered once per venue; also fields of `storm:health:booksync:<instance>`.

use std::collections::HashMap;
use std::sync::Mutex;

use storm_core::VenueId;
use storm_service::metrics::{Counter, Gauge};
use storm_service::Metrics;

/// The counters and gauges of one venue's books.
#[derive(Debug)]
pub struct Stats {
    /// Diffs applied to books (live ones, and buffered ones when their snapshot arrived).
    pub applied: Counter,
    /// Diffs already contained in the book (duplicates, older than the snapshot).
    pub stale_diffs: Counter,
    /// Entries that are not depth diffs or reset markers, or do not decode.
    pub bad_events: Counter,
    /// Diffs for symbols the venue does not list.
    pub unknown_symbol: Counter,
    /// Snapshots older than the first buffered diff (fetched again).
    pub snapshot_too_old: Counter,
    /// Buffered diffs dropped as already contained in the snapshot they waited for.
    pub snapshot_dropped: Counter,
    /// Tops entries written.
    pub tops_written: Counter,
    /// Receive-to-apply lag of the newest diff of the last batch, ms.
    pub lag_ms: Gauge,
    live: Gauge,
    syncing: Gauge,
    stale: Gauge,
    resyncs: Mutex<HashMap<&'static str, Counter>>,
    metrics: Metrics,
    venue: VenueId,
}

impl Stats {
    /// Registers the series for `venue`.
    pub fn new(metrics: &Metrics, venue: &VenueId) -> Self {
        let l = [("venue", venue.as_str())];
        let c = |name: &str, help: &str| metrics.counter(name, help, &l);
        let books = |status: &str| {
            metrics.gauge("storm_booksync_books", "Books by status", &[("venue", venue.as_str()), ("status", status)])
        };
        Self {
            applied: c("storm_booksync_diffs_applied_total", "Diffs applied to live books"),
            stale_diffs: c("storm_booksync_stale_diffs_total", "Diffs already in the book, ignored"),
            bad_events: c("storm_booksync_bad_events_total", "Unreadable or unexpected depth-stream entries"),
            unknown_symbol: c("storm_booksync_unknown_symbol_total", "Diffs for symbols the venue does not list"),
            snapshot_too_old: c("storm_booksync_snapshot_too_old_total", "Snapshots older than the buffered diffs"),
            snapshot_dropped: c(
                "storm_booksync_snapshot_dropped_total",
                "Buffered diffs older than their snapshot, dropped",
            ),
            tops_written: c("storm_booksync_tops_total", "Entries written to storm:tops"),
            lag_ms: metrics.gauge("storm_booksync_lag_ms", "Receive-to-apply lag of the last batch, ms", &l),
            live: books("live"),
            syncing: books("syncing"),
            stale: books("stale"),
            resyncs: Mutex::new(HashMap::new()),
            metrics: metrics.clone(),
            venue: venue.clone(),
        }
    }

    /// Counts a resync, by reason.
    pub fn resync(&self, reason: &'static str) {
        let mut map = self.resyncs.lock().unwrap_or_else(|p| p.into_inner());
        let counter = map.entry(reason).or_insert_with(|| {
            self.metrics.counter(
                "storm_booksync_resyncs_total",
                "Books sent back to syncing, by reason",
                &[("venue", self.venue.as_str()), ("reason", reason)],
            )
        });
        counter.inc();
    }

    /// Books by status.
    pub fn books(&self, live: usize, syncing: usize, stale: usize) {
        self.live.set(live as f64);
        self.syncing.set(syncing as f64);
        self.stale.set(stale as f64);
    }
}
