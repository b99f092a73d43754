//! The booksync engine: one loop that owns every book of a venue.
//!
//! Inputs, each from its own task so the loop never blocks on one while another waits:
//! the depth stream (`storm:md:<venue>:depth`, read from "now": every book starts over anyway),
//! the REST worker's snapshots and instruments ([`crate::rest_worker`]), and a 500 ms tick for
//! staleness, TTLs (every hash rewritten each third of its TTL, which also republishes all of
//! them after Redis restarted empty) and progress. Per read batch the loop applies every entry to its
//! [`SymbolBook`], then writes the outcome in one transaction ([`crate::outputs`]): a tops entry
//! per change of a book's top K (none skipped), and each touched hash once with its latest state.
//! A large batch is handed over in chunks while the writer is idle, so the first books of a burst
//! are out before the last are applied (storm-bench: receive → tops read p50 5.7 → 3.3–3.5 ms).
//!
//! Statuses, per book: `live` while its symbol is in sync and the ingester connection carrying it
//! vouches for it (a diff, or an `alive` entry listing it: quiet symbols stay live); `syncing`
//! from start-up, any gap, crossed book, reset marker or bad level until its snapshot is applied;
//! `stale` when nothing vouched for it for `stale_after_ms` (its connection dropped, stalled or
//! went silent) — back to `live` at the next confirmation, unless a reset marker says continuity
//! broke, which resyncs the symbol ([`crate::freshness`]). An `unsub` marker drops the book: a last
//! `stale` tops entry and hash, which then expires. `time_local` is when the book was last changed
//! or confirmed. At start every leftover hash of the venue is marked `syncing` before anything
//! else, so a book from a previous run is never served as live.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use storm_bus::BusError;
use storm_core::time::now_micros;
use storm_core::{BookStatus, BookTop, DepthAlive, DepthDiff, MdEvent, Symbol, VenueId};
use storm_service::{BootError, Config, Metrics};
use storm_venues::adapter::{adapter_for_kind, AdapterError, VenueAdapter};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{BooksyncConfig, BooksyncConfigError};
use crate::outputs::{self, Batch, Outputs};
use crate::reader::{spawn_reader, Decoded};
use crate::rest_worker::{self, RestEvent, RestSettings};
use crate::stats::Stats;
use crate::symbol::{DiffOutcome, SnapshotOutcome, SymbolBook, SyncState};

/// Entries of a read batch applied between two chances to hand the outputs to an idle writer.
const CHUNK: usize = 32;

/// From the shutdown signal to the engine's return, at most.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// `booksync.venue` names no `[[venue]]`.
    #[error("booksync.venue = {0:?} names no [[venue]] entry")]
    UnknownVenue(String),
    /// No adapter for the venue's kind.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// A setting out of range.
    #[error(transparent)]
    Config(#[from] BooksyncConfigError),
    /// Redis or the metrics endpoint could not be set up.
    #[error(transparent)]
    Boot(#[from] BootError),
    /// Redis failed during start-up.
    #[error("redis: {0}")]
    Bus(#[from] BusError),
}

/// Runs booksync until `shutdown` fires, with a fresh metrics registry.
pub async fn run(cfg: Config<BooksyncConfig>, shutdown: CancellationToken) -> Result<(), EngineError> {
    run_with_metrics(cfg, Metrics::new(), shutdown).await
}

/// [`run`] with the caller's registry (tests read the counters from it).
pub async fn run_with_metrics(
    cfg: Config<BooksyncConfig>,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<(), EngineError> {
    let engine = &cfg.engine;
    engine.validate()?;
    let venue_cfg = cfg.venue(&engine.venue).ok_or_else(|| EngineError::UnknownVenue(engine.venue.clone()))?;
    let adapter = adapter_for_kind(venue_cfg.kind);
    let venue = VenueId::new(&engine.venue);

    // The bus keeps retrying through Redis outages until our own token fires, which happens
    // only after the final writes at shutdown (bounded by SHUTDOWN_GRACE).
    let bus_stop = CancellationToken::new();
    let bus = storm_service::boot::connect(&cfg.common, &metrics, bus_stop.clone(), &shutdown).await?;
    // Leftovers first: nothing from a previous run may be read as live once we are up (the
    // heartbeat appearing means this is done).
    let outputs = Outputs::new(&bus, &venue, engine, &cfg.common.instance);
    // Until the loop runs, SIGTERM must end the bus' retries too (bus_stop only fires at the very
    // end): Redis may vanish right after the connect, or answer LOADING while it reads its AOF.
    let marked = tokio::select! {
        biased;
        _ = shutdown.cancelled() => {
            bus_stop.cancel();
            return Err(BusError::Cancelled.into());
        }
        marked = outputs.mark_all(BookStatus::Syncing) => marked?,
    };
    info!(venue = %venue, marked, "leftover book hashes marked syncing");
    let heartbeat =
        metrics.spawn_heartbeat(&bus, "booksync", &cfg.common.instance, Duration::from_millis(cfg.common.heartbeat_ms));

    let settings = RestSettings {
        venue: venue.clone(),
        kind: venue_cfg.kind,
        rest_url: venue_cfg.rest_url.clone(),
        depth: engine.snapshot_depth,
        weight_limit: engine.weight_limit,
        usable_percent: engine.weight_usable_percent,
        instruments_refresh: engine.instruments_refresh(),
    };
    let (snapshots, rest_events) =
        rest_worker::spawn(adapter.clone(), bus.clone(), settings, &metrics, shutdown.clone());
    let batches = tokio::select! {
        biased;
        _ = shutdown.cancelled() => {
            bus_stop.cancel();
            return Err(BusError::Cancelled.into());
        }
        batches = spawn_reader(&bus, &venue, shutdown.clone()) => batches?,
    };
    info!(venue = %venue, depth = engine.snapshot_depth, "booksync started");

    let mut state = Engine {
        adapter,
        cfg: engine.clone(),
        books: HashMap::new(),
        listed: None,
        snapshots,
        tops: Vec::new(),
        dirty: BTreeSet::new(),
        dropped: Vec::new(),
        stats: Stats::new(&metrics, &venue),
    };
    let (writer, writer_task) = outputs::spawn_writer(outputs);
    state.run(&writer, batches, rest_events, &shutdown).await;

    // Shutdown: the last batches out, then say the books are no longer maintained.
    drop(writer);
    let books: Vec<Symbol> = state.books.keys().cloned().collect();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        if let Ok(outputs) = writer_task.await {
            let _ = outputs.mark_stale_on_exit(&books).await;
        }
    })
    .await;
    bus_stop.cancel();
    let _ = tokio::time::timeout(Duration::from_millis(200), heartbeat).await;
    info!(venue = %venue, "booksync stopped");
    Ok(())
}

/// The loop's state: every book of the venue and what the current batch must publish.
struct Engine {
    adapter: Arc<dyn VenueAdapter>,
    cfg: BooksyncConfig,
    books: HashMap<Symbol, SymbolBook>,
    /// The venue's symbols, once exchangeInfo has been read.
    listed: Option<HashSet<Symbol>>,
    snapshots: mpsc::UnboundedSender<Symbol>,
    /// Tops entries of the batch, in order.
    tops: Vec<BookTop>,
    /// Books whose hash must be rewritten after the batch.
    dirty: BTreeSet<Symbol>,
    /// The last hash state of books dropped in this batch (unsubscribed).
    dropped: Vec<BookTop>,
    stats: Stats,
}

impl Engine {
    async fn run(
        &mut self,
        writer: &mpsc::Sender<Batch>,
        mut batches: mpsc::Receiver<Vec<Decoded>>,
        mut rest: mpsc::Receiver<RestEvent>,
        shutdown: &CancellationToken,
    ) {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut ttl_at = Instant::now();
        let mut progress_at = Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                batch = batches.recv() => match batch {
                    Some(batch) => {
                        if !self.on_batch(batch, writer).await {
                            return;
                        }
                    }
                    None => return,
                },
                event = rest.recv() => match event {
                    Some(RestEvent::Snapshot(symbol, snapshot)) => self.on_snapshot(symbol, snapshot),
                    Some(RestEvent::Instruments(list)) => {
                        self.listed = Some(list.into_iter().map(|i| i.symbol).collect());
                    }
                    None => return,
                },
                _ = tick.tick() => {
                    self.check_fresh();
                    let log = Instant::now() >= progress_at;
                    if log {
                        progress_at = Instant::now() + Duration::from_secs(5);
                    }
                    self.progress(log);
                    if Instant::now() >= ttl_at {
                        // Every hash rewritten whole with a fresh TTL: keeps live books from
                        // expiring, and restores them all after Redis restarted empty.
                        ttl_at = Instant::now() + self.cfg.book_ttl() / 3;
                        self.dirty.extend(self.books.keys().cloned());
                    }
                }
            }
            if !self.flush(writer).await {
                return;
            }
        }
    }

    /// Applies a read batch. Between chunks of [`CHUNK`] entries the outputs so far are handed
    /// to the writer when it is idle: under light load a burst's first books reach Redis while the
    /// rest is still being applied, and under heavy load (writer busy) batches stay large. False
    /// when the writer is gone.
    async fn on_batch(&mut self, batch: Vec<Decoded>, writer: &mpsc::Sender<Batch>) -> bool {
        let at = Instant::now();
        let now = now_micros();
        let mut lag_us = 0;
        for (i, entry) in batch.into_iter().enumerate() {
            if i > 0 && i % CHUNK == 0 && writer.capacity() == writer.max_capacity() && !self.flush(writer).await {
                return false;
            }
            match entry {
                Ok(MdEvent::Depth(diff)) => {
                    lag_us = lag_us.max(now.saturating_sub(diff.time_received));
                    self.on_diff(diff, at, now);
                }
                Ok(MdEvent::Reset(reset)) => self.on_reset(&reset.symbol, &reset.reason),
                Ok(MdEvent::Alive(alive)) => self.on_alive(&alive, at, now),
                Ok(MdEvent::Unsubscribed(unsub)) => self.on_unsubscribed(&unsub.symbol),
                Ok(_) => self.stats.bad_events.inc(),
                Err((id, e)) => {
                    self.stats.bad_events.inc();
                    warn!(id = %id, error = %e, "unreadable depth entry skipped");
                }
            }
        }
        self.stats.lag_ms.set(lag_us as f64 / 1_000.0);
        true
    }

    fn book(&mut self, symbol: &Symbol) -> &mut SymbolBook {
        let (adapter, buffer_max, top_k) = (&self.adapter, self.cfg.buffer_max, self.cfg.top_k);
        self.books
            .entry(symbol.clone())
            .or_insert_with(|| SymbolBook::new(symbol.clone(), adapter.depth_sequencer(), buffer_max, top_k))
    }

    /// A diff: applied (or buffered) and, whatever its outcome, a confirmation of the book — the
    /// connection carrying it is alive (`at`/`now`: the batch's clocks, read once per batch).
    fn on_diff(&mut self, diff: DepthDiff, at: Instant, now: u64) {
        if self.listed.as_ref().is_some_and(|l| !l.contains(&diff.symbol)) {
            self.stats.unknown_symbol.inc();
            return;
        }
        let symbol = diff.symbol.clone();
        let book = self.book(&symbol);
        let outcome = book.on_diff(diff);
        // A stale book confirmed again is republished live, once.
        let back = book.fresh_mut().confirm(at, now) && book.state() == SyncState::Live;
        match outcome {
            DiffOutcome::Buffered => {}
            DiffOutcome::Applied { top_changed } => {
                self.stats.applied.inc();
                if top_changed || back {
                    self.publish(&symbol);
                }
            }
            DiffOutcome::Stale => {
                self.stats.stale_diffs.inc();
                if back {
                    self.publish(&symbol);
                }
            }
            DiffOutcome::Resync(reason) => {
                self.stats.resync(reason.label());
                warn!(symbol = %symbol, reason = %reason, "book out of sync; resyncing");
                self.publish(&symbol);
            }
        }
        self.request_snapshot(&symbol);
    }

    fn on_reset(&mut self, symbol: &Symbol, reason: &str) {
        let book = self.book(symbol);
        let was_live = book.state() == SyncState::Live;
        book.on_reset(reason);
        if was_live {
            self.stats.resync("reset");
            info!(symbol = %symbol, reason, "reset marker from the ingester; resyncing");
        }
        self.publish(symbol);
    }

    /// An `alive` entry: every listed book booksync keeps is confirmed as of when the ingester
    /// last heard the venue (never later than now); a stale one is live again.
    fn on_alive(&mut self, alive: &DepthAlive, at: Instant, now: u64) {
        let heard = alive.time_received.min(now);
        let mut back = 0usize;
        for symbol in &alive.symbols {
            let Some(book) = self.books.get_mut(symbol) else { continue };
            if book.fresh_mut().confirm(at, heard) && book.state() == SyncState::Live {
                back += 1;
                self.publish(symbol);
            }
        }
        if back > 0 {
            info!(conn = %alive.conn, books = back, "connection vouches for its stale books again: live");
        }
    }

    /// An `unsub` marker: the book is no longer maintained. Its last state goes out as `stale`
    /// (tops entry and hash, which then expires) and the book is forgotten.
    fn on_unsubscribed(&mut self, symbol: &Symbol) {
        let Some(mut book) = self.books.remove(symbol) else { return };
        book.fresh_mut().mark_stale();
        info!(symbol = %symbol, "depth subscription removed: book dropped");
        self.tops.push(self.top_of(&book, self.cfg.top_k));
        self.dropped.push(self.top_of(&book, self.cfg.top_n));
        self.dirty.remove(symbol);
    }

    fn on_snapshot(&mut self, symbol: Symbol, snapshot: storm_venues::adapter::DepthSnapshot) {
        let Some(book) = self.books.get_mut(&symbol) else { return };
        let outcome = book.on_snapshot(snapshot);
        if matches!(outcome, SnapshotOutcome::Live { .. }) {
            book.fresh_mut().confirm(Instant::now(), now_micros());
        }
        match outcome {
            SnapshotOutcome::Live { applied, dropped, .. } => {
                self.stats.snapshot_dropped.add(dropped as u64);
                self.stats.applied.add(applied as u64);
                info!(symbol = %symbol, applied, dropped, "book live");
                self.publish(&symbol);
            }
            SnapshotOutcome::TooOld => {
                self.stats.snapshot_too_old.inc();
                let _ = self.snapshots.send(symbol);
            }
            SnapshotOutcome::Resync(reason) => {
                self.stats.resync(reason.label());
                warn!(symbol = %symbol, reason = %reason, "snapshot did not join the diffs; resyncing");
                self.publish(&symbol);
                self.request_snapshot(&symbol);
            }
            SnapshotOutcome::Ignored => {}
        }
    }

    fn request_snapshot(&mut self, symbol: &Symbol) {
        let Some(book) = self.books.get_mut(symbol) else { return };
        if book.wants_snapshot() && self.snapshots.send(symbol.clone()).is_ok() {
            book.snapshot_requested();
        }
    }

    /// The status a book is published with.
    fn status_of(&self, book: &SymbolBook) -> BookStatus {
        match book.state() {
            SyncState::Live if book.fresh().is_stale() => BookStatus::Stale,
            SyncState::Live => BookStatus::Live,
            _ => BookStatus::Syncing,
        }
    }

    /// Queues a tops entry for the book's current state and marks its hash dirty.
    fn publish(&mut self, symbol: &Symbol) {
        let Some(book) = self.books.get(symbol) else { return };
        let top = self.top_of(book, self.cfg.top_k);
        self.tops.push(top);
        self.dirty.insert(symbol.clone());
        if let Some(book) = self.books.get_mut(symbol) {
            book.fresh_mut().published();
        }
    }

    fn top_of(&self, book: &SymbolBook, n: usize) -> BookTop {
        let status = self.status_of(book);
        let (bids, asks) = if status == BookStatus::Syncing { (Vec::new(), Vec::new()) } else { book.top(n) };
        BookTop {
            symbol: book.symbol().clone(),
            bids,
            asks,
            update_id: book.book().update_id(),
            time_exchange: book.last_time_exchange(),
            time_received: book.last_time_received(),
            time_local: book.fresh().time_local(),
            status,
        }
    }

    /// The tick's pass over the live books: those nothing confirmed for `stale_after_ms` turn
    /// stale; quiet confirmed ones are republished every half of it ([`crate::freshness`]).
    fn check_fresh(&mut self) {
        let (now, after) = (Instant::now(), self.cfg.stale_after());
        let mut turned = Vec::new();
        let mut refresh = Vec::new();
        for (symbol, book) in self.books.iter_mut().filter(|(_, b)| b.state() == SyncState::Live) {
            if book.fresh_mut().check(now, after) {
                turned.push(symbol.clone());
            } else if book.fresh().wants_refresh(after / 2) {
                refresh.push(symbol.clone());
            }
        }
        if !turned.is_empty() {
            let first: Vec<&str> = turned.iter().take(5).map(Symbol::as_str).collect();
            warn!(books = turned.len(), ?first, silent_for = ?after, "no diff or liveness for these books: marked stale");
        }
        for symbol in turned.iter().chain(&refresh) {
            self.publish(symbol);
        }
    }

    /// Books by status into the gauges; with `log`, the "books live: k/N" line while not all are.
    fn progress(&mut self, log: bool) {
        let (mut live, mut syncing) = (0usize, 0usize);
        for book in self.books.values() {
            match self.status_of(book) {
                BookStatus::Live => live += 1,
                BookStatus::Syncing => syncing += 1,
                BookStatus::Stale => {}
            }
        }
        let total = self.books.len();
        let stale = total - live - syncing;
        self.stats.books(live, syncing, stale);
        if log && live < total {
            info!("books live: {live}/{total} ({syncing} syncing, {stale} stale)");
        }
    }

    /// Hands the batch's tops entries and dirty hashes to the writer (one transaction, in
    /// order); false when the writer is gone.
    async fn flush(&mut self, writer: &mpsc::Sender<Batch>) -> bool {
        if self.tops.is_empty() && self.dirty.is_empty() && self.dropped.is_empty() {
            return true;
        }
        let tops = std::mem::take(&mut self.tops);
        let dirty = std::mem::take(&mut self.dirty);
        let mut hashes: Vec<BookTop> =
            dirty.iter().filter_map(|s| self.books.get(s)).map(|b| self.top_of(b, self.cfg.top_n)).collect();
        hashes.append(&mut self.dropped);
        self.stats.tops_written.add(tops.len() as u64);
        writer.send(Batch { tops, hashes }).await.is_ok()
    }
}
