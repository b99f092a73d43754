//! [`SymbolBook`] on the real recordings in `testdata/` (see its README).
//!
//! Each recording is fed in receive order: diffs to [`SymbolBook::on_diff`], the recorded REST
//! snapshot to [`SymbolBook::on_snapshot`] where it was received (after some diffs, as in
//! production). The recorded `bookTicker` frames are the venue's own word on the best bid/ask at
//! an update id: whenever the book reaches a `bookTicker`'s `u`, its best levels must equal it.
//!
//! A `bookTicker` is pushed in real time while diffs come in 100 ms batches, so the ticker for an
//! update id is received *before* the diff that ends at that id: tickers wait in a pending map
//! until the book reaches (check) or passes (drop) their `u`. A ticker received when the book is
//! already at its `u` is checked at once.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use storm_booksync::symbol::{DiffOutcome, SnapshotOutcome, SymbolBook, SyncState};
use storm_core::{BookSide, DepthDiff, Level, OrderBook, Symbol, Ticker};
use storm_testkit::fixtures::{load_replay, testdata_file, ReplayMsg};
use storm_venues::adapter::{DepthSnapshot, VenueAdapter};
use storm_venues::binance::adapter::BinanceAdapter;
use storm_venues::binance::rest_wire::parse_depth_snapshot;
use storm_venues::binance::{parse_frame, Frame};

const TOP_K: usize = 10;

/// One symbol's book plus the replay's bookkeeping.
struct Replayed {
    book: SymbolBook,
    /// Tickers whose `u` the book has not reached yet, by `u`.
    pending: BTreeMap<u64, Vec<Ticker>>,
    /// bookTicker checks done (all exact, or the test fails).
    checks: usize,
    /// `dropped` of the snapshot outcome.
    dropped: Option<usize>,
    /// Diffs applied (from the buffer at the snapshot, and live).
    applied: usize,
    /// Live diffs reported as stale.
    stale: usize,
    /// Applied diffs reporting a change of the top K, and the independent count of such changes.
    top_changes: (usize, usize),
    last_top: (Vec<Level>, Vec<Level>),
}

impl Replayed {
    fn new(symbol: &str) -> Self {
        Self {
            book: SymbolBook::new(Symbol::new(symbol), BinanceAdapter.depth_sequencer(), 10_000, TOP_K),
            pending: BTreeMap::new(),
            checks: 0,
            dropped: None,
            applied: 0,
            stale: 0,
            top_changes: (0, 0),
            last_top: (Vec::new(), Vec::new()),
        }
    }

    fn diff(&mut self, d: DepthDiff) {
        let (symbol, first, last) = (d.symbol.clone(), d.first_update_id, d.last_update_id);
        let times = (d.time_exchange, d.time_received);
        match self.book.on_diff(d) {
            DiffOutcome::Buffered => {}
            DiffOutcome::Stale => self.stale += 1,
            DiffOutcome::Applied { top_changed } => {
                assert_eq!((self.book.last_time_exchange(), self.book.last_time_received()), times);
                self.applied += 1;
                self.after_change(top_changed);
            }
            DiffOutcome::Resync(reason) => panic!("{symbol} U={first} u={last}: resync: {reason}"),
        }
    }

    fn snapshot(&mut self, snapshot: DepthSnapshot) {
        assert!(self.book.wants_snapshot(), "{}: diffs were buffered before the snapshot", self.book.symbol());
        self.book.snapshot_requested();
        match self.book.on_snapshot(snapshot) {
            SnapshotOutcome::Live { applied, dropped, top_changed } => {
                assert!(top_changed, "a new live book is a new top");
                self.dropped = Some(dropped);
                self.applied += applied;
                self.after_change(top_changed);
            }
            other => panic!("{}: snapshot: {other:?}", self.book.symbol()),
        }
    }

    fn ticker(&mut self, t: Ticker) {
        let live_at = (self.book.state() == SyncState::Live).then(|| self.book.update_id());
        match live_at {
            Some(id) if t.update_id == id => self.check(&t),
            Some(id) if t.update_id < id => {} // the book went past it between two diffs
            _ => self.pending.entry(t.update_id).or_default().push(t),
        }
    }

    /// The book reached a new update id: check the tickers waiting for it, drop the ones it passed.
    fn after_change(&mut self, top_changed: bool) {
        assert!(!self.book.book().is_crossed());
        let id = self.book.update_id();
        let later = self.pending.split_off(&(id + 1));
        let reached = std::mem::replace(&mut self.pending, later);
        if let Some(tickers) = reached.get(&id) {
            tickers.iter().for_each(|t| self.check(t));
        }
        let top = self.book.top(TOP_K);
        self.top_changes.0 += usize::from(top_changed);
        self.top_changes.1 += usize::from(top != self.last_top);
        assert_eq!(top_changed, top != self.last_top, "{} at {id}", self.book.symbol());
        self.last_top = top;
    }

    fn check(&mut self, t: &Ticker) {
        let book = self.book.book();
        let (bid, ask) = (book.best_bid().unwrap(), book.best_ask().unwrap());
        let want = (Level::new(t.bid_price, t.bid_qty), Level::new(t.ask_price, t.ask_qty));
        assert_eq!((bid, ask), want, "{} bookTicker u={}", t.symbol, t.update_id);
        self.checks += 1;
    }
}

/// hftbacktest recordings of one symbol, in order (day 1, then day 2).
fn replay_hftbacktest(symbol: &str, files: &[&str]) -> (Replayed, OrderBook) {
    let mut r = Replayed::new(symbol);
    // The plain storm-core replay, for the final comparison: snapshot, then every newer diff.
    let mut naive = OrderBook::default();
    let mut before_snapshot = Vec::new();
    for file in files {
        for (_, msg) in load_replay(file).unwrap() {
            match msg {
                ReplayMsg::Diff(d) => {
                    if naive.update_id() == 0 {
                        before_snapshot.push(d.clone());
                    } else if d.last_update_id > naive.update_id() {
                        naive.apply_diff(&d).unwrap();
                    }
                    r.diff(d);
                }
                ReplayMsg::Snapshot { last_update_id, bids, asks } => {
                    naive.replace(&bids, &asks, last_update_id).unwrap();
                    for d in before_snapshot.iter().filter(|d| d.last_update_id > last_update_id) {
                        naive.apply_diff(d).unwrap();
                    }
                    r.snapshot(DepthSnapshot { last_update_id, bids, asks });
                }
                ReplayMsg::BookTicker(t) => r.ticker(t),
                ReplayMsg::Other(_) => {}
            }
        }
    }
    assert_eq!((r.book.state(), r.book.resyncs(), r.stale), (SyncState::Live, 0, 0), "{symbol}");
    (r, naive)
}

/// Both books hold the same levels (their internal near/far split may differ with history).
fn assert_same_levels(got: &OrderBook, want: &OrderBook) {
    assert_eq!(got.update_id(), want.update_id());
    for side in [BookSide::Bid, BookSide::Ask] {
        assert_eq!(got.depth(side), want.depth(side), "{side:?}");
        assert!(got.levels(side).eq(want.levels(side)), "{side:?} levels differ");
    }
}

const BTC_DAY1: &str = "binance-spot-replay/spot_btcusdt_20240808.gz";
const BTC_DAY2: &str = "binance-spot-replay/spot_btcusdt_20240809.gz";
const ETH_DAY1: &str = "binance-spot-replay/spot_ethusdt_20240808.gz";
const ETH_DAY2: &str = "binance-spot-replay/spot_ethusdt_20240809.gz";

#[test]
fn btcusdt_day1_drops_the_two_diffs_older_than_the_snapshot_and_matches_564_book_tickers() {
    let (r, naive) = replay_hftbacktest("BTCUSDT", &[BTC_DAY1]);
    assert_eq!(r.dropped, Some(2));
    assert_eq!(r.applied, 3451 - 2);
    assert_eq!(r.checks, 564);
    assert_eq!(r.book.update_id(), 50_093_421_584);
    assert_same_levels(r.book.book(), &naive);
    println!("BTCUSDT day 1: {} checks, top-{TOP_K} changes {:?} of {} diffs", r.checks, r.top_changes, r.applied);
}

#[test]
fn btcusdt_both_days_match_1072_book_tickers() {
    let (r, naive) = replay_hftbacktest("BTCUSDT", &[BTC_DAY1, BTC_DAY2]);
    assert_eq!((r.dropped, r.applied, r.checks), (Some(2), 3451 + 3044 - 2, 1072));
    assert_eq!(r.book.update_id(), 50_093_696_318);
    assert_same_levels(r.book.book(), &naive);
    println!("BTCUSDT both days: {} checks, top-{TOP_K} changes {:?} of {} diffs", r.checks, r.top_changes, r.applied);
}

#[test]
fn ethusdt_day1_matches_577_book_tickers() {
    let (r, naive) = replay_hftbacktest("ETHUSDT", &[ETH_DAY1]);
    assert_eq!((r.dropped, r.checks), (Some(2), 577), "one dropped diff ends exactly at lastUpdateId");
    assert_same_levels(r.book.book(), &naive);
    println!("ETHUSDT day 1: {} checks, top-{TOP_K} changes {:?} of {} diffs", r.checks, r.top_changes, r.applied);
}

#[test]
fn ethusdt_both_days_match_1056_book_tickers() {
    let (r, naive) = replay_hftbacktest("ETHUSDT", &[ETH_DAY1, ETH_DAY2]);
    assert_eq!((r.dropped, r.applied, r.checks), (Some(2), 6470 - 2, 1056));
    assert_eq!(r.book.update_id(), 35_346_924_199);
    assert_same_levels(r.book.book(), &naive);
    println!("ETHUSDT both days: {} checks, top-{TOP_K} changes {:?} of {} diffs", r.checks, r.top_changes, r.applied);
}

/// cryptofeed's `<seconds>.<fraction>` receive time, as integer nanoseconds (no float).
fn secs_to_ns(ts: &str) -> u64 {
    let (secs, frac) = ts.trim().split_once('.').unwrap_or((ts.trim(), ""));
    let frac: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    secs.parse::<u64>().unwrap() * 1_000_000_000 + frac.parse::<u64>().unwrap()
}

enum Item {
    Frame(Frame),
    Snapshot(Symbol, DepthSnapshot),
}

/// `BINANCE.ws.1.0` (a URL line, then `ts: frame`) merged by receive time with the REST depth
/// replies of `BINANCE.http.0.0` (`url -> ts: body`).
fn cryptofeed_items() -> Vec<(u64, Item)> {
    let mut items = Vec::new();
    let ws = std::fs::read_to_string(testdata_file("binance-spot-multi/BINANCE.ws.1.0")).unwrap();
    for line in ws.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let (ts, frame) = line.split_once(": ").expect("`ts: frame`");
        let ns = secs_to_ns(ts);
        items.push((ns, Item::Frame(parse_frame(frame, ns / 1_000).unwrap())));
    }
    let http = std::fs::read_to_string(testdata_file("binance-spot-multi/BINANCE.http.0.0")).unwrap();
    for line in http.lines().filter(|l| !l.trim().is_empty()) {
        let (url, rest) = line.split_once(" -> ").expect("`url -> ts: body`");
        let (ts, body) = rest.split_once(": ").expect("`ts: body`");
        let symbol = url.split("symbol=").nth(1).unwrap().split('&').next().unwrap();
        items.push((secs_to_ns(ts), Item::Snapshot(Symbol::new(symbol), parse_depth_snapshot(body).unwrap())));
    }
    items.sort_by_key(|(ns, _)| *ns); // stable
    items
}

fn book_of<'a>(books: &'a mut BTreeMap<Symbol, Replayed>, symbol: &Symbol) -> &'a mut Replayed {
    books.entry(symbol.clone()).or_insert_with(|| Replayed::new(symbol.as_str()))
}

#[test]
fn cryptofeed_multi_symbol_recording_syncs_every_symbol_without_gap_or_cross() {
    let mut books: BTreeMap<Symbol, Replayed> = BTreeMap::new();
    for (_, item) in cryptofeed_items() {
        match item {
            Item::Frame(Frame::Depth(d)) => book_of(&mut books, &d.symbol).diff(d),
            Item::Frame(Frame::Ticker(t)) => book_of(&mut books, &t.symbol).ticker(t),
            Item::Frame(_) => {}
            Item::Snapshot(symbol, snapshot) => book_of(&mut books, &symbol).snapshot(snapshot),
        }
    }
    // (symbol, last update id, bookTicker checks, buffered diffs dropped, live diffs stale).
    // RUNEEUR has no bookTicker in the recording, BLZETH one; the other tickers' `u` fall between
    // two diffs' `u`s. LRCBTC's second diff ends at the snapshot's `lastUpdateId` but was received
    // after the snapshot: stale once live.
    let want = [
        ("BLZETH", 281_916_638, 1, Some(1), 0),
        ("LRCBTC", 259_345_563, 6, Some(1), 1),
        ("NKNUSDT", 499_870_179, 19, Some(1), 0),
        ("RUNEEUR", 15_602_513, 0, Some(1), 0),
    ];
    let got: Vec<_> =
        books.values().map(|r| (r.book.symbol().as_str(), r.book.update_id(), r.checks, r.dropped, r.stale)).collect();
    assert_eq!(got, want);
    for r in books.values() {
        let symbol = r.book.symbol();
        assert_eq!((r.book.state(), r.book.resyncs()), (SyncState::Live, 0), "{symbol}");
        let (bid, ask) = (r.book.book().best(BookSide::Bid).unwrap(), r.book.book().best(BookSide::Ask).unwrap());
        assert!(bid.price < ask.price, "{symbol} crossed");
        println!("{symbol}: {} checks, {} diffs applied, top changes {:?}", r.checks, r.applied, r.top_changes);
    }
}
