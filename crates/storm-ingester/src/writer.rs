//! The Redis writer: every event the connections parse goes to `storm:md:<venue>:<channel>` in
//! pipelined batches (one round trip per batch, never per frame).
//!
//! While a batch is being written — or retried because Redis is away — the writer keeps taking
//! events into a bounded buffer, so the WebSocket readers never stall. When the buffer is full
//! the **oldest** entry is dropped, counted (`storm_ingester_dropped_total`) and logged: after an
//! outage the newest data is what booksync needs, and it resynchronizes from a snapshot anyway.
//! Batches themselves are written exactly once across reconnects ([`storm_bus::Publisher`]).

use std::collections::VecDeque;

use storm_bus::{md, Bus, BusError, Entry, Keys, Publisher};
use storm_core::{MdEvent, VenueId};
use storm_service::metrics::{Counter, Gauge};
use storm_service::Metrics;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Writer settings.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// Most entries per pipelined batch.
    pub batch_max: usize,
    /// Most entries held while Redis is slow or away (then the oldest are dropped).
    pub buffer_max: usize,
    /// `MAXLEN ~` of every market-data stream.
    pub maxlen: usize,
}

/// The writer's counters, also on `/metrics` and in the heartbeat.
#[derive(Clone, Debug)]
pub struct WriterStats {
    /// Entries written to Redis.
    pub written: Counter,
    /// Entries dropped because the buffer was full.
    pub dropped: Counter,
    /// Events that could not be encoded (never expected; counted, not fatal).
    pub encode_errors: Counter,
    /// Entries waiting to be written.
    pub buffered: Gauge,
}

impl WriterStats {
    /// Registers the counters for `venue`.
    pub fn new(metrics: &Metrics, venue: &VenueId) -> Self {
        let l = [("venue", venue.as_str())];
        Self {
            written: metrics.counter("storm_ingester_written_total", "Market-data entries written to Redis", &l),
            dropped: metrics.counter(
                "storm_ingester_dropped_total",
                "Entries dropped: buffer full while Redis was away",
                &l,
            ),
            encode_errors: metrics.counter(
                "storm_ingester_encode_errors_total",
                "Events that could not be encoded",
                &l,
            ),
            buffered: metrics.gauge("storm_ingester_buffered", "Entries waiting for Redis", &l),
        }
    }
}

/// Where connections send parsed events.
pub type EventSender = mpsc::Sender<MdEvent>;

/// Starts the writer; it runs until every sender is dropped or `shutdown` fires, then writes what
/// it holds once more and returns.
pub fn spawn(
    bus: &Bus,
    venue: VenueId,
    cfg: WriterConfig,
    stats: WriterStats,
    shutdown: CancellationToken,
) -> (EventSender, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(8_192);
    let publisher = Publisher::new(bus, &format!("ingester:{venue}"));
    let keys = bus.keys().clone();
    (tx, tokio::spawn(run(publisher, rx, keys, venue, cfg, stats, shutdown)))
}

struct Buffer {
    entries: VecDeque<Entry>,
    keys: Keys,
    venue: VenueId,
    cfg: WriterConfig,
    stats: WriterStats,
}

impl Buffer {
    fn push(&mut self, ev: &MdEvent) {
        match md::entry(&self.keys, &self.venue, self.cfg.maxlen, ev) {
            Ok(e) => self.entries.push_back(e),
            Err(err) => {
                self.stats.encode_errors.inc();
                warn!(venue = %self.venue, kind = ev.kind(), symbol = ?ev.symbol(), error = %err, "event not encodable; skipped");
                return;
            }
        }
        if self.entries.len() > self.cfg.buffer_max {
            self.entries.pop_front();
            self.stats.dropped.inc();
            let n = self.stats.dropped.get();
            if n == 1 || n % 10_000 == 0 {
                warn!(venue = %self.venue, dropped_total = n, buffer_max = self.cfg.buffer_max, "redis too slow or away: dropping oldest market data");
            }
        }
        self.stats.buffered.set(self.entries.len() as f64);
    }
}

async fn run(
    mut publisher: Publisher,
    mut rx: mpsc::Receiver<MdEvent>,
    keys: Keys,
    venue: VenueId,
    cfg: WriterConfig,
    stats: WriterStats,
    shutdown: CancellationToken,
) {
    let batch_max = cfg.batch_max.max(1);
    let mut buf = Buffer { entries: VecDeque::new(), keys, venue, cfg, stats };
    let mut open = true;
    while open || !buf.entries.is_empty() {
        if buf.entries.is_empty() {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ev) => buf.push(&ev),
                    None => open = false,
                },
                _ = shutdown.cancelled() => open = false,
            }
        }
        while buf.entries.len() < batch_max {
            match rx.try_recv() {
                Ok(ev) => buf.push(&ev),
                Err(_) => break,
            }
        }
        if shutdown.is_cancelled() {
            open = false;
        }
        let n = buf.entries.len().min(batch_max);
        if n == 0 {
            continue;
        }
        let batch: Vec<Entry> = buf.entries.drain(..n).collect();
        buf.stats.buffered.set(buf.entries.len() as f64);
        let publish = publisher.publish(&batch);
        tokio::pin!(publish);
        let result = loop {
            tokio::select! {
                r = &mut publish => break r,
                ev = rx.recv(), if open => match ev {
                    Some(ev) => buf.push(&ev),
                    None => open = false,
                },
            }
        };
        match result {
            Ok(written) => buf.stats.written.add(written as u64),
            Err(BusError::Cancelled) => {
                warn!(venue = %buf.venue, unwritten = batch.len() + buf.entries.len(), "shutdown while redis was away: entries not written");
                return;
            }
            Err(e) => {
                buf.stats.dropped.add(batch.len() as u64);
                warn!(venue = %buf.venue, error = %e, entries = batch.len(), "batch refused by redis; dropped");
            }
        }
    }
    info!(venue = %buf.venue, written = buf.stats.written.get(), dropped = buf.stats.dropped.get(), "writer stopped");
}
