//! One symbol's order-book sync: the pure state machine behind every book booksync publishes.
//!
//! The engine around it does the I/O (reading diffs from Redis, fetching REST snapshots under the
//! shared weight budget, writing hashes and the tops stream); this module decides, for each event,
//! what the book becomes and whether it can still be vouched for. Keeping it free of I/O and of the
//! clock (times arrive inside the events) means every rule of BINANCE.md, "Keeping a local order
//! book in sync", is tested here on made-up sequences and on the real recordings.
//!
//! The procedure, with the venue's sequencing rule delegated to its [`DepthSequencer`]:
//!
//! 1. [`SyncState::Buffering`]: diffs are buffered; as soon as one is, [`SymbolBook::wants_snapshot`]
//!    tells the engine to queue a snapshot request, and [`SymbolBook::snapshot_requested`] moves to
//! 2. [`SyncState::Snapshotting`]: diffs are still buffered. A snapshot older than the first
//!    buffered diff ([`DepthSequencer::snapshot_usable`]) is [`SnapshotOutcome::TooOld`] (refetch);
//!    a usable one replaces the book, the sequencer is reset to its `lastUpdateId`, and every
//!    buffered diff is checked: stale ones are dropped, the rest applied. Then
//! 3. [`SyncState::Live`]: each diff is checked and applied; [`DiffOutcome::Applied`] says whether
//!    the top `top_k` levels changed, i.e. whether a tops entry is due.
//!
//! Anything that breaks the chain — a gap, a crossed book, a bad level, a bad snapshot, a buffer
//! overflow, the ingester's reset marker — discards the book and starts over at step 1
//! ([`ResyncReason`]); a book this type cannot vouch for is never [`SyncState::Live`].

use std::fmt;

use storm_core::{BookSide, BookStatus, DepthDiff, Level, OrderBook, Symbol};
use storm_venues::adapter::{DepthSequencer, DepthSnapshot, SeqOutcome};

use crate::freshness::Freshness;

/// Where one symbol's book stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SyncState {
    /// No snapshot requested yet: diffs are buffered; the first one makes
    /// [`SymbolBook::wants_snapshot`] true.
    Buffering,
    /// A snapshot was requested and has not been installed: diffs are still buffered.
    Snapshotting,
    /// The book follows the diff stream and equals the venue's.
    Live,
}

impl SyncState {
    /// The status to publish: [`BookStatus::Live`] only when live, [`BookStatus::Syncing`]
    /// otherwise (whether the venue connection is down, [`BookStatus::Stale`], is the engine's call).
    pub fn status(self) -> BookStatus {
        match self {
            SyncState::Live => BookStatus::Live,
            SyncState::Buffering | SyncState::Snapshotting => BookStatus::Syncing,
        }
    }
}

/// Why a book was discarded and the symbol sent back to [`SyncState::Buffering`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResyncReason {
    /// Updates between the book and a diff were lost.
    #[error("gap: expected update {expected}, got a diff starting at {got_first}")]
    Gap {
        /// The update id the book needed next.
        expected: u64,
        /// The first update id of the diff that came instead.
        got_first: u64,
    },
    /// The best bid reached the best ask: the book cannot be the venue's.
    #[error("crossed book")]
    Crossed,
    /// More diffs arrived before a usable snapshot than the buffer holds.
    #[error("diff buffer overflow")]
    BufferOverflow,
    /// A diff carried a level the book cannot hold (negative, unparsable, zero price, too fine).
    #[error("bad level: {0}")]
    BadLevel(String),
    /// The ingester's reset marker: the stream before and after it do not join up.
    #[error("stream reset: {0}")]
    Reset(String),
    /// The REST snapshot carried a level the book cannot hold.
    #[error("bad snapshot: {0}")]
    BadSnapshot(String),
}

impl ResyncReason {
    /// A fixed, low-cardinality name for metric labels (`gap`, `crossed`, ...).
    pub fn label(&self) -> &'static str {
        match self {
            ResyncReason::Gap { .. } => "gap",
            ResyncReason::Crossed => "crossed",
            ResyncReason::BufferOverflow => "buffer_overflow",
            ResyncReason::BadLevel(_) => "bad_level",
            ResyncReason::Reset(_) => "reset",
            ResyncReason::BadSnapshot(_) => "bad_snapshot",
        }
    }
}

/// What [`SymbolBook::on_diff`] did with a diff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiffOutcome {
    /// Kept for the snapshot to come (state [`SyncState::Buffering`] or [`SyncState::Snapshotting`]).
    Buffered,
    /// Applied to the live book.
    Applied {
        /// Whether the top `top_k` levels of either side differ from the last published ones.
        top_changed: bool,
    },
    /// Already in the book (duplicate, late re-delivery): ignored, the book is still live.
    Stale,
    /// The book was discarded; the symbol is back to [`SyncState::Buffering`].
    Resync(ResyncReason),
}

/// What [`SymbolBook::on_snapshot`] did with a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotOutcome {
    /// The book is live: the snapshot plus `applied` buffered diffs.
    Live {
        /// Buffered diffs applied on top of the snapshot.
        applied: usize,
        /// Buffered diffs dropped as already contained in the snapshot.
        dropped: usize,
        /// Whether the top `top_k` levels differ from the last published ones.
        top_changed: bool,
    },
    /// Older than the first buffered diff: still [`SyncState::Snapshotting`], buffer kept; fetch
    /// another snapshot.
    TooOld,
    /// The snapshot (or the buffer on top of it) could not make a valid book; back to
    /// [`SyncState::Buffering`].
    Resync(ResyncReason),
    /// No snapshot was awaited (not [`SyncState::Snapshotting`], e.g. a reset happened while it was
    /// in flight): nothing changed.
    Ignored,
}

/// One symbol's book and its sync state (see the module docs).
#[derive(Debug)]
pub struct SymbolBook {
    symbol: Symbol,
    state: SyncState,
    book: OrderBook,
    sequencer: Box<dyn DepthSequencer>,
    buffer: Vec<DepthDiff>,
    buffer_max: usize,
    top_k: usize,
    published_bids: Vec<Level>,
    published_asks: Vec<Level>,
    last_time_exchange: u64,
    last_time_received: u64,
    resyncs: u64,
    last_resync: Option<ResyncReason>,
    fresh: Freshness,
}

impl SymbolBook {
    /// An empty, [`SyncState::Buffering`] book for `symbol`, sequenced by the venue's `sequencer`,
    /// buffering at most `buffer_max` diffs (at least 1) while it waits for a snapshot, and
    /// reporting changes of its top `top_k` levels.
    pub fn new(symbol: Symbol, sequencer: Box<dyn DepthSequencer>, buffer_max: usize, top_k: usize) -> Self {
        Self {
            symbol,
            state: SyncState::Buffering,
            book: OrderBook::default(),
            sequencer,
            buffer: Vec::new(),
            buffer_max: buffer_max.max(1),
            top_k,
            published_bids: Vec::new(),
            published_asks: Vec::new(),
            last_time_exchange: 0,
            last_time_received: 0,
            resyncs: 0,
            last_resync: None,
            fresh: Freshness::default(),
        }
    }

    /// The venue symbol.
    pub fn symbol(&self) -> &Symbol {
        &self.symbol
    }

    /// Where the book stands.
    pub fn state(&self) -> SyncState {
        self.state
    }

    /// The status to publish ([`SyncState::status`]).
    pub fn status(&self) -> BookStatus {
        self.state.status()
    }

    /// Takes one diff of this symbol (the engine routes by symbol; it is not checked here).
    ///
    /// Buffered while not live; an overflowing buffer is emptied and this diff starts the new one.
    /// When live, the sequencer decides: stale → ignored; gap → resync, keeping this diff as the
    /// first buffered one (it is a valid event and starts the next sync); apply → the levels are
    /// set, and a bad level or a crossed result resyncs.
    pub fn on_diff(&mut self, diff: DepthDiff) -> DiffOutcome {
        if self.state != SyncState::Live {
            if self.buffer.len() >= self.buffer_max {
                self.resync(ResyncReason::BufferOverflow);
                self.buffer.push(diff);
                return DiffOutcome::Resync(ResyncReason::BufferOverflow);
            }
            self.buffer.push(diff);
            return DiffOutcome::Buffered;
        }
        match self.sequencer.check(diff.first_update_id, diff.last_update_id) {
            SeqOutcome::Stale => DiffOutcome::Stale,
            SeqOutcome::Gap { expected, got_first } => {
                let reason = ResyncReason::Gap { expected, got_first };
                self.resync(reason.clone());
                self.buffer.push(diff);
                DiffOutcome::Resync(reason)
            }
            SeqOutcome::Apply => {
                if let Err(reason) = self.apply(&diff) {
                    self.resync(reason.clone());
                    return DiffOutcome::Resync(reason);
                }
                if self.book.is_crossed() {
                    self.resync(ResyncReason::Crossed);
                    return DiffOutcome::Resync(ResyncReason::Crossed);
                }
                DiffOutcome::Applied { top_changed: self.refresh_published_top() }
            }
        }
    }

    /// True exactly when the engine should queue a snapshot request now: buffering, with at least
    /// one diff buffered (so the snapshot can be checked against it). The engine then calls
    /// [`SymbolBook::snapshot_requested`].
    pub fn wants_snapshot(&self) -> bool {
        self.state == SyncState::Buffering && !self.buffer.is_empty()
    }

    /// The engine queued a snapshot request: [`SyncState::Buffering`] → [`SyncState::Snapshotting`]
    /// (no effect in other states).
    pub fn snapshot_requested(&mut self) {
        if self.state == SyncState::Buffering {
            self.state = SyncState::Snapshotting;
        }
    }

    /// Installs a snapshot, when one is awaited (see [`SnapshotOutcome`]).
    ///
    /// With an empty buffer (the engine requested a snapshot before any diff was buffered) the
    /// snapshot cannot be checked against the stream; it is accepted anyway, and the sequencer,
    /// reset to its `lastUpdateId`, checks the next diff: a snapshot that does not join the stream
    /// turns into a [`ResyncReason::Gap`] on that diff, so no unvouched book stays live for more
    /// than one event.
    pub fn on_snapshot(&mut self, snapshot: DepthSnapshot) -> SnapshotOutcome {
        if self.state != SyncState::Snapshotting {
            return SnapshotOutcome::Ignored;
        }
        if let Some(first) = self.buffer.first() {
            if !self.sequencer.snapshot_usable(snapshot.last_update_id, first.first_update_id) {
                return SnapshotOutcome::TooOld;
            }
        }
        if let Err(reason) = self.install(&snapshot) {
            // The buffered diffs are still good: keep them, so the next snapshot is wanted at once.
            let buffered = std::mem::take(&mut self.buffer);
            self.resync(reason.clone());
            self.buffer = buffered;
            return SnapshotOutcome::Resync(reason);
        }
        self.sequencer.reset(snapshot.last_update_id);
        let (mut applied, mut dropped) = (0, 0);
        let mut buffered = std::mem::take(&mut self.buffer).into_iter();
        while let Some(diff) = buffered.next() {
            match self.sequencer.check(diff.first_update_id, diff.last_update_id) {
                SeqOutcome::Stale => dropped += 1,
                SeqOutcome::Apply => {
                    if let Err(reason) = self.apply(&diff) {
                        self.resync(reason.clone());
                        return SnapshotOutcome::Resync(reason);
                    }
                    applied += 1;
                }
                SeqOutcome::Gap { expected, got_first } => {
                    // The buffer itself has a hole: this diff and the ones after it start the next sync.
                    let reason = ResyncReason::Gap { expected, got_first };
                    self.resync(reason.clone());
                    self.buffer.push(diff);
                    self.buffer.extend(buffered);
                    return SnapshotOutcome::Resync(reason);
                }
            }
        }
        if self.book.is_crossed() {
            self.resync(ResyncReason::Crossed);
            return SnapshotOutcome::Resync(ResyncReason::Crossed);
        }
        self.state = SyncState::Live;
        SnapshotOutcome::Live { applied, dropped, top_changed: self.refresh_published_top() }
    }

    /// The ingester's reset marker (reconnect, rotation, stall): the diffs before and after it do
    /// not join up. Clears the book and the buffer and goes back to [`SyncState::Buffering`];
    /// counted as a resync when it discarded anything (a book, a pending snapshot, buffered diffs).
    pub fn on_reset(&mut self, reason: &str) {
        let discarded = self.state != SyncState::Buffering || !self.buffer.is_empty();
        if discarded {
            self.resync(ResyncReason::Reset(reason.to_owned()));
        }
    }

    /// The full-depth book (empty unless live).
    pub fn book(&self) -> &OrderBook {
        &self.book
    }

    /// The best `n` levels of each side, best first: `(bids, asks)`.
    pub fn top(&self, n: usize) -> (Vec<Level>, Vec<Level>) {
        (self.book.top(BookSide::Bid, n), self.book.top(BookSide::Ask, n))
    }

    /// The top `top_k` levels as last reported by a `top_changed: true` outcome: `(bids, asks)`.
    pub fn published_top(&self) -> (&[Level], &[Level]) {
        (&self.published_bids, &self.published_asks)
    }

    /// How many levels per side count for `top_changed`.
    pub fn top_k(&self) -> usize {
        self.top_k
    }

    /// The venue update id the book reflects (0 while there is no book).
    pub fn update_id(&self) -> u64 {
        self.book.update_id()
    }

    /// Diffs waiting for a snapshot.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Venue event time (µs) of the last diff applied to the current book; 0 before one was (also
    /// right after a resync, and for a book that is a bare snapshot).
    pub fn last_time_exchange(&self) -> u64 {
        self.last_time_exchange
    }

    /// Receive time (µs) of the last diff applied to the current book; 0 as for
    /// [`SymbolBook::last_time_exchange`].
    pub fn last_time_received(&self) -> u64 {
        self.last_time_received
    }

    /// When the book was last known to be the venue's (kept by the engine, which has the clock).
    pub fn fresh(&self) -> &Freshness {
        &self.fresh
    }

    /// [`SymbolBook::fresh`], to update.
    pub fn fresh_mut(&mut self) -> &mut Freshness {
        &mut self.fresh
    }

    /// How many times the book was discarded since creation.
    pub fn resyncs(&self) -> u64 {
        self.resyncs
    }

    /// Why the book was last discarded, if ever.
    pub fn last_resync(&self) -> Option<&ResyncReason> {
        self.last_resync.as_ref()
    }

    /// Book := snapshot, after checking that every price is positive.
    fn install(&mut self, snapshot: &DepthSnapshot) -> Result<(), ResyncReason> {
        let bad = |e: String| ResyncReason::BadSnapshot(e);
        check_prices("bids", &snapshot.bids).map_err(bad)?;
        check_prices("asks", &snapshot.asks).map_err(bad)?;
        self.book.replace(&snapshot.bids, &snapshot.asks, snapshot.last_update_id).map_err(|e| bad(e.to_string()))
    }

    /// Sets a diff's levels (all or none) and records its times.
    fn apply(&mut self, diff: &DepthDiff) -> Result<(), ResyncReason> {
        let bad = |e: String| ResyncReason::BadLevel(e);
        check_prices("bids", &diff.bids).map_err(bad)?;
        check_prices("asks", &diff.asks).map_err(bad)?;
        self.book.apply_diff(diff).map_err(|e| bad(format!("diff {}: {e}", diff.last_update_id)))?;
        self.last_time_exchange = diff.time_exchange;
        self.last_time_received = diff.time_received;
        Ok(())
    }

    /// Compares the book's top `top_k` with the published one; on a difference, the book's becomes
    /// the published one and the answer is true. Allocates only on a change.
    fn refresh_published_top(&mut self) -> bool {
        let k = self.top_k;
        let same = |side, published: &[Level]| self.book.levels(side).take(k).eq(published.iter().copied());
        if same(BookSide::Bid, &self.published_bids) && same(BookSide::Ask, &self.published_asks) {
            return false;
        }
        self.published_bids = self.book.top(BookSide::Bid, k);
        self.published_asks = self.book.top(BookSide::Ask, k);
        true
    }

    /// Discards the book and the buffer: back to buffering.
    fn resync(&mut self, reason: ResyncReason) {
        self.state = SyncState::Buffering;
        self.book.clear();
        self.buffer.clear();
        self.published_bids.clear();
        self.published_asks.clear();
        self.last_time_exchange = 0;
        self.last_time_received = 0;
        self.resyncs += 1;
        self.last_resync = Some(reason);
    }
}

/// A zero price is not a level (the book would accept it: its integers start at 0); negative and
/// unrepresentable numbers are left to the book, which rejects them.
fn check_prices(side: &str, levels: &[Level]) -> Result<(), String> {
    match levels.iter().position(|l| l.price.is_zero()) {
        Some(i) => Err(format!("{side}[{i}] price is zero")),
        None => Ok(()),
    }
}

impl fmt::Display for SyncState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyncState::Buffering => "buffering",
            SyncState::Snapshotting => "snapshotting",
            SyncState::Live => "live",
        })
    }
}

#[cfg(test)]
mod tests;
