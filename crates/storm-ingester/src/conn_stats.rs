//! The counters every connection task shares, registered once per venue.
//!
//! Kept apart from [`crate::connection`] so that the task reads as control flow, and so that the
//! engine, the tests and `/metrics` name each series in exactly one place.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use storm_core::VenueId;
use storm_service::metrics::{Counter, Gauge};
use storm_service::Metrics;

use crate::shard::ConnId;

/// Name of the per-connection ping-lag gauge.
pub const CONN_PING_LAG: &str = "storm_ingester_conn_ping_lag_ms";

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
    /// Frames dropped during a rotation because the other connection forwarded them already.
    pub handover_copies: Counter,
    /// Connections rotated before the venue's maximum age.
    pub rotations: Counter,
    /// Round trip of our last ping, ms ("ping lag").
    pub ping_lag_ms: Gauge,
    /// Sockets currently open.
    pub connected: Gauge,
    open: Arc<AtomicI64>,
    metrics: Metrics,
    venue: VenueId,
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
            handover_copies: c("storm_ingester_handover_copies_total", "Frames dropped as copies during a rotation"),
            rotations: c("storm_ingester_rotations_total", "Connections rotated before the venue's maximum age"),
            ping_lag_ms: metrics.gauge("storm_ingester_ping_lag_ms", "Round trip of the last ping, ms", &l),
            connected: metrics.gauge("storm_ingester_connected", "WebSocket sockets open", &l),
            open: Arc::new(AtomicI64::new(0)),
            metrics: metrics.clone(),
            venue: venue.clone(),
        }
    }

    /// The ping lag of one connection, `storm_ingester_conn_ping_lag_ms{venue,conn}`: also a
    /// field of `storm:health:ingester:<instance>` through the heartbeat.
    pub(crate) fn conn_ping_lag(&self, conn: ConnId) -> Gauge {
        let conn = conn.to_string();
        self.metrics.gauge(CONN_PING_LAG, "Round trip of the connection's last ping, ms", &self.conn_labels(&conn))
    }

    /// Drops a finished connection's series.
    pub(crate) fn forget_conn(&self, conn: ConnId) {
        let conn = conn.to_string();
        self.metrics.remove(CONN_PING_LAG, &self.conn_labels(&conn));
    }

    fn conn_labels<'a>(&'a self, conn: &'a str) -> [(&'a str, &'a str); 2] {
        [("venue", self.venue.as_str()), ("conn", conn)]
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
