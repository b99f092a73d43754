//! What booksync writes to Redis: `storm:tops:<venue>` entries and `storm:book:<venue>:<SYM>`
//! hashes, one transaction per read batch ([`storm_bus::Publisher::publish_with_hashes`]), so a
//! Redis restart neither loses nor duplicates a tops entry and a hash never lags its entry.
//! Field formats live in [`storm_bus::book`] and [`storm_bus::tops`]; this module only decides
//! what goes into a batch. [`spawn_writer`] runs it beside the engine loop.

use storm_bus::{book, tops, Bus, BusError, Entry, HashWrite, Publisher};
use storm_core::{BookStatus, BookTop, Symbol, VenueId};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::config::BooksyncConfig;

/// One read batch's output: tops entries in order, and the latest state of each touched book.
#[derive(Debug, Default)]
pub struct Batch {
    /// One per change of a top K, in order.
    pub tops: Vec<BookTop>,
    /// Top N of each book whose hash must be rewritten.
    pub hashes: Vec<BookTop>,
}

/// Batches in flight to the writer task at most; the engine waits beyond (backpressure).
const IN_FLIGHT: usize = 2;

/// Runs `outputs` in a task of its own, so that encoding and the Redis round trip of one batch
/// overlap the engine's work on the next; batches are written in order. Dropping the sender ends
/// the task after the last batch, and the task hands `outputs` back.
pub fn spawn_writer(mut outputs: Outputs) -> (mpsc::Sender<Batch>, JoinHandle<Outputs>) {
    let (tx, mut rx) = mpsc::channel::<Batch>(IN_FLIGHT);
    let task = tokio::spawn(async move {
        while let Some(batch) = rx.recv().await {
            if let Err(e) = outputs.write(&batch.tops, &batch.hashes).await {
                warn!(error = %e, "cannot publish books");
            }
        }
        outputs
    });
    (tx, task)
}

/// The engine's writer.
#[derive(Debug)]
pub struct Outputs {
    bus: Bus,
    venue: VenueId,
    publisher: Publisher,
    tops_maxlen: usize,
    depth: u32,
    ttl_ms: u64,
}

impl Outputs {
    /// A writer for `venue`'s books.
    pub fn new(bus: &Bus, venue: &VenueId, cfg: &BooksyncConfig, instance: &str) -> Self {
        Self {
            bus: bus.clone(),
            venue: venue.clone(),
            publisher: Publisher::new(bus, &format!("booksync:{instance}")),
            tops_maxlen: cfg.tops_maxlen,
            depth: cfg.snapshot_depth,
            ttl_ms: cfg.book_ttl_ms,
        }
    }

    fn hash(&self, top: &BookTop) -> HashWrite {
        HashWrite {
            key: self.bus.keys().book(self.venue.as_str(), &top.symbol),
            fields: book::fields(top, self.depth),
            ttl_ms: Some(self.ttl_ms),
        }
    }

    /// One batch: every tops entry in order, and each hash's latest state.
    pub async fn write(&mut self, changes: &[BookTop], hashes: &[BookTop]) -> Result<(), BusError> {
        let mut entries: Vec<Entry> = Vec::with_capacity(changes.len());
        for top in changes {
            match tops::entry(self.bus.keys(), &self.venue, self.tops_maxlen, top) {
                Ok(e) => entries.push(e),
                Err(e) => warn!(symbol = %top.symbol, error = %e, "cannot encode a tops entry"),
            }
        }
        let hashes: Vec<HashWrite> = hashes.iter().map(|t| self.hash(t)).collect();
        self.publisher.publish_with_hashes(&entries, &hashes).await.map(|_| ())
    }

    /// Sets `status` on every existing book hash of the venue (start-up: `syncing`); returns how
    /// many there were.
    pub async fn mark_all(&self, status: BookStatus) -> Result<usize, BusError> {
        let pattern = format!("{}*", self.bus.keys().book(self.venue.as_str(), &Symbol::new("")));
        let keys: Vec<String> = self
            .bus
            .retry("scan book hashes", |mut c| {
                let pattern = pattern.clone();
                async move {
                    let mut keys = Vec::new();
                    let mut cursor: u64 = 0;
                    loop {
                        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(&pattern)
                            .arg("COUNT")
                            .arg(1000)
                            .query_async(&mut c)
                            .await?;
                        keys.extend(batch);
                        if next == 0 {
                            return Ok(keys);
                        }
                        cursor = next;
                    }
                }
            })
            .await?;
        self.set_status(&keys, status).await?;
        Ok(keys.len())
    }

    /// At shutdown: the books are no longer maintained.
    pub async fn mark_stale_on_exit(&self, symbols: &[Symbol]) -> Result<(), BusError> {
        let keys: Vec<String> = symbols.iter().map(|s| self.bus.keys().book(self.venue.as_str(), s)).collect();
        self.set_status(&keys, BookStatus::Stale).await
    }

    async fn set_status(&self, keys: &[String], status: BookStatus) -> Result<(), BusError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.bus
            .retry("set book status", |mut c| {
                let mut pipe = redis::pipe();
                for key in keys {
                    // Only existing hashes: HSET on an expired key would resurrect a bare one.
                    pipe.cmd("EVAL")
                        .arg("if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'status', ARGV[1]) end")
                        .arg(1)
                        .arg(key)
                        .arg(status.as_str())
                        .ignore();
                }
                async move { pipe.query_async::<()>(&mut c).await }
            })
            .await
    }
}
