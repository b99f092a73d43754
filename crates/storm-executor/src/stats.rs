//! The executor's metrics (`storm_executor_*`), also summarized in its health hash.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use storm_service::metrics::{Counter, Gauge, Histogram};
use storm_service::Metrics;

use crate::journal::LegFill;

/// Buckets of the signal-to-send latency, µs.
const SEND_US_BUCKETS: &[f64] = &[
    25.0, 50.0, 75.0, 100.0, 125.0, 150.0, 175.0, 200.0, 250.0, 300.0, 400.0, 500.0, 750.0, 1_000.0, 2_500.0, 10_000.0,
    100_000.0,
];

/// Counters and gauges.
pub struct Stats {
    metrics: Metrics,
    venue: String,
    outcomes: Mutex<HashMap<&'static str, Counter>>,
    orders: Mutex<HashMap<String, Counter>>,
    /// Orders whose outcome was unknown (timeout, 5xx, -1007).
    pub unknown: Counter,
    /// Unknown orders resolved by query.
    pub resolved: Counter,
    /// Opportunities delivered again after their chain was done.
    pub duplicates: Counter,
    /// Unreadable entries.
    pub bad_input: Counter,
    /// Chains parked: an order's status could not be resolved.
    pub parked: Counter,
    /// Entries reclaimed from other consumers.
    pub reclaimed: Counter,
    /// Chains continued from the journal after a restart or a claim.
    pub recovered: Counter,
    /// Chains this executor stopped because another took them over (its lease ran out).
    pub lost: Counter,
    /// Deliveries left alone because the chain's owner still holds its lease.
    pub held: Counter,
    /// Chains found by the orphan scan (lease run out, entry gone) and open slots freed.
    pub orphans: Counter,
    /// Redelivered opportunities without a record whose leg 1 was looked up and existed.
    pub lost_intents: Counter,
    /// The gate's Redis round trip (checks + leg 1's intent), µs.
    pub gate: Histogram,
    /// Whether `storm:halt` is set (1) or not.
    pub halted: Gauge,
    /// When the opportunity in hand was read, until its first order is sent.
    pub first_send: std::sync::Arc<FirstSend>,
}

impl Stats {
    /// Registers the metrics of `venue`.
    pub fn new(metrics: &Metrics, venue: &str) -> Self {
        let l = [("venue", venue)];
        let signal_to_send = metrics.histogram(
            "storm_executor_signal_to_send_us",
            "Opportunity read to its first request handed to the HTTP client (weight reserved, signed), microseconds",
            &l,
            SEND_US_BUCKETS,
        );
        Self {
            metrics: metrics.clone(),
            venue: venue.to_owned(),
            outcomes: Mutex::new(HashMap::new()),
            orders: Mutex::new(HashMap::new()),
            unknown: metrics.counter("storm_executor_unknown_total", "Orders whose outcome was unknown", &l),
            resolved: metrics.counter("storm_executor_resolved_total", "Unknown orders resolved by query", &l),
            duplicates: metrics.counter("storm_executor_duplicates_total", "Opportunities seen again after done", &l),
            bad_input: metrics.counter("storm_executor_bad_input_total", "Unreadable opportunities", &l),
            parked: metrics.counter(
                "storm_executor_parked_total",
                "Chains parked on storm:exec:parked: an order status that could not be resolved",
                &l,
            ),
            reclaimed: metrics.counter("storm_executor_reclaimed_total", "Entries claimed from idle consumers", &l),
            recovered: metrics.counter("storm_executor_recovered_total", "Chains continued from the journal", &l),
            lost: metrics.counter("storm_executor_ownership_lost_total", "Chains stopped: taken over by another", &l),
            held: metrics.counter("storm_executor_claim_held_total", "Deliveries left to the chain's live owner", &l),
            orphans: metrics.counter("storm_executor_orphans_total", "Orphaned chains found by the scan", &l),
            lost_intents: metrics.counter(
                "storm_executor_lost_intents_total",
                "Redelivered opportunities without a record whose leg 1 was looked up at the venue",
                &l,
            ),
            gate: metrics.histogram(
                "storm_executor_gate_us",
                "The gate's round trip to Redis before leg 1, microseconds",
                &l,
                SEND_US_BUCKETS,
            ),
            halted: metrics.gauge("storm_executor_halted", "1 while storm:halt is set", &l),
            first_send: std::sync::Arc::new(FirstSend::new(signal_to_send)),
        }
    }

    /// Counts one opportunity's outcome.
    pub fn outcome(&self, outcome: &'static str) {
        let mut map = self.outcomes.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(outcome)
            .or_insert_with(|| {
                self.metrics.counter(
                    "storm_executor_opportunities_total",
                    "Opportunities by outcome",
                    &[("venue", &self.venue), ("outcome", outcome)],
                )
            })
            .inc();
    }

    /// Counts one order by its result.
    pub fn order(&self, fill: &LegFill) {
        let result = fill.status.to_ascii_lowercase();
        let mut map = self.orders.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(result.clone())
            .or_insert_with(|| {
                self.metrics.counter(
                    "storm_executor_orders_total",
                    "Orders by final status",
                    &[("venue", &self.venue), ("status", &result)],
                )
            })
            .inc();
    }

    /// Sets the realized PnL gauge of `asset` (floats only for metrics).
    pub fn pnl(&self, asset: &str, value: f64) {
        self.metrics
            .gauge(
                "storm_executor_pnl",
                "Realized PnL today (UTC) by start asset, over every executor",
                &[("venue", &self.venue), ("asset", asset)],
            )
            .set(value);
    }
}

/// The read time of the opportunity in hand, taken by the first request it causes: the venue
/// client's send hook ([`FirstSend::hook`]) or, for paper trading, the order call.
pub struct FirstSend {
    pending: Mutex<Option<Instant>>,
    latency: Histogram,
}

impl FirstSend {
    fn new(latency: Histogram) -> Self {
        Self { pending: Mutex::new(None), latency }
    }

    /// Marks the opportunity in hand as read at `at`.
    pub fn start(&self, at: Instant) {
        *self.pending.lock().unwrap_or_else(|e| e.into_inner()) = Some(at);
    }

    /// Records the pending opportunity's latency, once (any opportunity: the hook does not know
    /// which one a request belongs to, and one is handled at a time).
    pub fn sent(&self) {
        if let Some(at) = self.pending.lock().unwrap_or_else(|e| e.into_inner()).take() {
            self.latency.observe(at.elapsed().as_secs_f64() * 1e6);
        }
    }

    /// [`FirstSend::sent`] as a venue client's send hook.
    pub fn hook(self: &std::sync::Arc<Self>) -> storm_venues::rest::SendHook {
        let me = std::sync::Arc::clone(self);
        std::sync::Arc::new(move || me.sent())
    }
}
