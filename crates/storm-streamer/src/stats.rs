//! The streamer's metrics, one set per account (labels `venue` and `account`, the account id —
//! never the key). They are served on `/metrics` and mirrored into `storm:health:streamer:<instance>`.

use storm_service::metrics::{Counter, Gauge};
use storm_service::Metrics;

/// Counters and gauges of one account's stream.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Events applied, by kind.
    pub executions: Counter,
    /// `outboundAccountPosition` events.
    pub positions: Counter,
    /// `balanceUpdate` events.
    pub balance_updates: Counter,
    /// `eventStreamTerminated` events.
    pub terminated: Counter,
    /// Events of a type the streamer does not handle, or of another subscription.
    pub unknown: Counter,
    /// Frames that are not what the venue documents.
    pub malformed: Counter,
    /// Connections opened after the first.
    pub reconnects: Counter,
    /// Reconciliations completed.
    pub reconciles: Counter,
    /// Reconciliations that failed (retried).
    pub reconcile_failures: Counter,
    /// Fills appended to the fills stream.
    pub fills: Counter,
    /// Fills seen again (replays) and not appended.
    pub duplicate_fills: Counter,
    /// Order states written.
    pub order_writes: Counter,
    /// Reports older than the stored state, ignored.
    pub stale_reports: Counter,
    /// Redis writes that failed for good.
    pub write_failures: Counter,
    /// Closed orders removed from Redis after the retention.
    pub pruned_orders: Counter,
    /// 1 while subscribed, else 0.
    pub connected: Gauge,
}

impl Stats {
    /// Registers the series of account `acct` on `venue`.
    pub fn new(metrics: &Metrics, venue: &str, acct: &str) -> Self {
        let l = [("venue", venue), ("account", acct)];
        let events = |event: &str, what: &str| {
            metrics.counter(
                "storm_streamer_events_total",
                what,
                &[("venue", venue), ("account", acct), ("event", event)],
            )
        };
        Self {
            executions: events("executionReport", "User-data events applied, by type"),
            positions: events("outboundAccountPosition", "User-data events applied, by type"),
            balance_updates: events("balanceUpdate", "User-data events applied, by type"),
            terminated: events("eventStreamTerminated", "User-data events applied, by type"),
            unknown: metrics.counter("storm_streamer_unknown_events_total", "Events of unhandled types, skipped", &l),
            malformed: metrics.counter("storm_streamer_malformed_total", "Unreadable frames, skipped", &l),
            reconnects: metrics.counter("storm_streamer_reconnects_total", "Reconnections of the user-data stream", &l),
            reconciles: metrics.counter("storm_streamer_reconciles_total", "REST reconciliations completed", &l),
            reconcile_failures: metrics.counter(
                "storm_streamer_reconcile_failures_total",
                "REST reconciliations that failed and were retried",
                &l,
            ),
            fills: metrics.counter("storm_streamer_fills_total", "Fills appended to storm:fills", &l),
            duplicate_fills: metrics.counter(
                "storm_streamer_duplicate_fills_total",
                "Fills seen again (replay, reconcile) and not appended",
                &l,
            ),
            order_writes: metrics.counter("storm_streamer_order_writes_total", "Order states written", &l),
            stale_reports: metrics.counter(
                "storm_streamer_stale_reports_total",
                "Order reports older than the stored state, ignored",
                &l,
            ),
            write_failures: metrics.counter("storm_streamer_write_failures_total", "Redis writes that failed", &l),
            pruned_orders: metrics.counter(
                "storm_streamer_pruned_orders_total",
                "Closed orders removed from storm:order:* after the retention",
                &l,
            ),
            connected: metrics.gauge("storm_streamer_connected", "1 while the user-data stream is subscribed", &l),
        }
    }
}
