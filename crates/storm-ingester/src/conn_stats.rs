//! The counters every connection task shares, registered once per venue.
//!
//! Kept apart from [`crate::connection`] so that the task reads as control flow, and so that the
//! engine, the tests and `/metrics` name each series in exactly one place.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use storm_core::VenueId;
use storm_service::metrics::{Counter, Gauge};
use storm_service::Metrics;

/// Per-venue connection metrics (every connection of the venue adds to the same series).
#[derive(Clone, Debug)]
pub struct ConnStats {
    /// Market-data frames accepted and handed to the writer.
    pub frames: Counter,
    /// Frames that could not be parsed (not JSON, missing field, wrong type).
    pub malformed: Counter,
    /// Well-formed frames for a stream this connection did not ask for, or of a kind not handled.
    pub unexpected: Counter,
    /// Error replies to our control messages.
    pub rejected: Counter,
    /// Reconnects after a session ended (close, error, silence, `serverShutdown`).
    pub reconnects: Counter,
    /// Successful WebSocket handshakes (first connects and reconnects).
    pub connects: Counter,
    /// Connection attempts that failed (refused, timed out, handshake error).
    pub connect_failures: Counter,
    /// Server pings answered faster than the message budget allows (the automatic pong went out
    /// anyway; see `connection` module docs).
    pub pong_over_budget: Counter,
    /// Client messages we sent (control messages and our pings; automatic pongs not included).
    pub sent: Counter,
    /// Round trip of our last ping, ms ("ping lag").
    pub ping_lag_ms: Gauge,
    /// Sockets currently open.
    pub connected: Gauge,
    open: Arc<AtomicI64>,
}

impl ConnStats {
    /// Registers the series for `venue`.
    pub fn new(metrics: &Metrics, venue: &VenueId) -> Self {
        let l = [("venue", venue.as_str())];
        let c = |name: &str, help: &str| metrics.counter(name, help, &l);
        Self {
            frames: c("storm_ingester_frames_total", "Market-data frames received and forwarded"),
            malformed: c("storm_ingester_malformed_total", "Frames that could not be parsed"),
            unexpected: c("storm_ingester_unexpected_total", "Frames for streams not asked for, or not handled"),
            rejected: c("storm_ingester_rejected_total", "Error replies to control messages"),
            reconnects: c("storm_ingester_reconnects_total", "Reconnects after a session ended"),
            connects: c("storm_ingester_connects_total", "Successful WebSocket handshakes"),
            connect_failures: c("storm_ingester_connect_failures_total", "Failed connection attempts"),
            pong_over_budget: c("storm_ingester_pong_over_budget_total", "Pongs beyond the message budget"),
            sent: c("storm_ingester_client_messages_total", "Client messages sent (pongs excluded)"),
            ping_lag_ms: metrics.gauge("storm_ingester_ping_lag_ms", "Round trip of the last ping, ms", &l),
            connected: metrics.gauge("storm_ingester_connected", "WebSocket sockets open", &l),
            open: Arc::new(AtomicI64::new(0)),
        }
    }

    /// A socket opened.
    pub(crate) fn opened(&self) {
        let n = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.connected.set(n as f64);
    }

    /// A socket closed.
    pub(crate) fn closed(&self) {
        let n = self.open.fetch_sub(1, Ordering::Relaxed) - 1;
        self.connected.set(n as f64);
    }
}
