//! The finder's state and decisions, without I/O: the latest top of every book, the cycle graph,
//! and on each book change the re-evaluation of only the cycles through that symbol.
//!
//! Trust rules applied here before the math in [`storm_core::arb::evaluate`]: a cycle needs all
//! three books published (`live`, fresh), all three instruments, and a `max_start` for its start
//! asset; anything missing is counted and skipped, never guessed. An opportunity is emitted once
//! per distinct state — the same cycle at the same three book versions is never re-emitted — and
//! not again for the same cycle within the cooldown.

use std::collections::HashMap;

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use storm_core::arb::{
    evaluate, BookView, EvalParams, OppKind, OppLeg, Opportunity, RateScreen, Reject, TriangleGraph,
};
use storm_core::{Asset, BookStatus, BookTop, Instrument, Symbol, VenueId};

use crate::config::ArbitrageConfig;

/// What the finder counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FinderCounts {
    /// Cycles evaluated (all three books and instruments present).
    pub evaluated: u64,
    /// Opportunities emitted.
    pub emitted: u64,
    /// Cycles skipped for a missing book, instrument or start cap.
    pub incomplete: u64,
    /// Cycles not sized: the same book versions as when last emitted, or within the cooldown.
    pub repeated: u64,
    /// Rejections by reason.
    pub rejected: HashMap<&'static str, u64>,
}

/// The finder (see the module docs).
#[derive(Debug)]
pub struct Finder {
    venue: VenueId,
    graph: TriangleGraph,
    /// Top-of-book rates of every cycle: only cycles that may clear the minimum are evaluated.
    screen: RateScreen,
    start_assets: Vec<Asset>,
    instruments: HashMap<Symbol, Instrument>,
    books: HashMap<Symbol, BookTop>,
    max_start: HashMap<Asset, Decimal>,
    balances: HashMap<Asset, Decimal>,
    fee: Decimal,
    min_profit_bps: Decimal,
    max_age_ms: u64,
    cooldown_ms: u64,
    expires_ms: u64,
    last: HashMap<u32, ([u64; 3], u64)>,
    counts: FinderCounts,
}

fn reject_label(r: &Reject) -> &'static str {
    match r {
        Reject::NotLive => "not_live",
        Reject::TooOld => "too_old",
        Reject::EmptySide => "empty_side",
        Reject::BadBook => "bad_book",
        Reject::NotProfitable => "not_profitable",
        Reject::Filters => "filters",
    }
}

impl Finder {
    /// A finder for `venue` over `instruments`, with `fee` per leg.
    pub fn new(venue: VenueId, instruments: Vec<Instrument>, cfg: &ArbitrageConfig, fee: Decimal) -> Self {
        let mut finder = Self {
            venue,
            graph: TriangleGraph::default(),
            screen: RateScreen::new(&TriangleGraph::default(), &Self::screen_params(cfg, fee)),
            start_assets: cfg.start_assets.iter().map(Asset::new).collect(),
            instruments: HashMap::new(),
            books: HashMap::new(),
            max_start: cfg.max_start.iter().map(|(a, v)| (Asset::new(a), *v)).collect(),
            balances: HashMap::new(),
            fee,
            min_profit_bps: cfg.min_profit_bps,
            max_age_ms: cfg.max_book_age_ms,
            cooldown_ms: cfg.cooldown_ms,
            expires_ms: cfg.expires_ms,
            last: HashMap::new(),
            counts: FinderCounts::default(),
        };
        finder.set_instruments(instruments);
        finder
    }

    fn screen_params(cfg: &ArbitrageConfig, fee: Decimal) -> EvalParams {
        EvalParams {
            taker_fee: fee,
            min_profit_bps: cfg.min_profit_bps,
            max_start: None,
            max_age_ms: cfg.max_book_age_ms,
        }
    }

    /// Replaces the instruments and rebuilds the graph and the screen (books are fed again);
    /// false, and nothing rebuilt, when they are the ones already held. The engine re-reads
    /// them every minute and they rarely change: a rebuild takes milliseconds (the graph of the
    /// real exchangeInfo: 5.8 ms), a stall every opportunity behind it would wait for.
    pub fn set_instruments(&mut self, instruments: Vec<Instrument>) -> bool {
        let by_symbol: HashMap<Symbol, Instrument> =
            instruments.iter().map(|i| (i.symbol.clone(), i.clone())).collect();
        if by_symbol == self.instruments {
            return false;
        }
        self.graph = TriangleGraph::build(&instruments, &self.start_assets);
        let params = EvalParams {
            taker_fee: self.fee,
            min_profit_bps: self.min_profit_bps,
            max_start: None,
            max_age_ms: self.max_age_ms,
        };
        self.screen = RateScreen::new(&self.graph, &params);
        let now = storm_core::time::now_millis();
        for (symbol, top) in &self.books {
            if let Some(slot) = self.screen.slot(symbol) {
                let _ = self.screen.update(slot, &Self::view(top, now));
            }
        }
        self.instruments = by_symbol;
        self.last.clear();
        true
    }

    /// The cycle graph.
    pub fn graph(&self) -> &TriangleGraph {
        &self.graph
    }

    /// The free balance of `asset` (caps the start amount when known).
    pub fn set_balance(&mut self, asset: Asset, free: Decimal) {
        self.balances.insert(asset, free);
    }

    /// Counters so far.
    pub fn counts(&self) -> &FinderCounts {
        &self.counts
    }

    /// The latest published top of `symbol`.
    pub fn book(&self, symbol: &Symbol) -> Option<&BookTop> {
        self.books.get(symbol)
    }

    /// A book changed: re-evaluates the cycles through it; returns the new opportunities.
    pub fn on_top(&mut self, top: BookTop, now_ms: u64) -> Vec<Opportunity> {
        let symbol = top.symbol.clone();
        let trigger_us = top.time_received;
        let Some(slot) = self.screen.slot(&symbol) else {
            self.books.insert(symbol, top);
            return Vec::new();
        };
        if self.screen.update(slot, &Self::view(&top, now_ms)).is_err() {
            *self.counts.rejected.entry("bad_book").or_default() += 1;
        }
        self.books.insert(symbol, top);
        let ids: Vec<u32> = self.screen.candidates(slot).collect();
        let mut found = Vec::new();
        for id in ids {
            if let Some(opp) = self.evaluate_cycle(id, now_ms, trigger_us) {
                found.push(opp);
            }
        }
        found
    }

    fn view<'a>(top: &'a BookTop, now_ms: u64) -> BookView<'a> {
        BookView {
            bids: &top.bids,
            asks: &top.asks,
            update_id: top.update_id,
            age_ms: now_ms.saturating_sub(top.time_local / 1_000),
            live: top.status == BookStatus::Live,
        }
    }

    fn evaluate_cycle(&mut self, id: u32, now_ms: u64, trigger_us: u64) -> Option<Opportunity> {
        let cycle = self.graph.cycle(id)?.clone();
        let books: Vec<&BookTop> = cycle.legs.iter().filter_map(|l| self.books.get(&l.symbol)).collect();
        let instruments: Vec<&Instrument> = cycle.legs.iter().filter_map(|l| self.instruments.get(&l.symbol)).collect();
        let cap = self.max_start.get(&cycle.start).copied();
        let ([b0, b1, b2], [i0, i1, i2], Some(cap)) = (books.as_slice(), instruments.as_slice(), cap) else {
            self.counts.incomplete += 1;
            return None;
        };
        let max_start = match self.balances.get(&cycle.start) {
            Some(free) => cap.min(*free),
            None => cap,
        };
        let book_ids = [b0.update_id, b1.update_id, b2.update_id];
        // Before the sizing, which is the expensive part: a cycle that could not be emitted
        // anyway (same book versions, or within its cooldown) is not sized.
        if let Some((ids, at)) = self.last.get(&id) {
            if *ids == book_ids || now_ms.saturating_sub(*at) < self.cooldown_ms {
                self.counts.repeated += 1;
                return None;
            }
        }
        let views = [Self::view(b0, now_ms), Self::view(b1, now_ms), Self::view(b2, now_ms)];
        let params = EvalParams {
            taker_fee: self.fee,
            min_profit_bps: self.min_profit_bps,
            max_start: Some(max_start),
            max_age_ms: self.max_age_ms,
        };
        self.counts.evaluated += 1;
        let evaluation = match evaluate(&cycle, [&views[0], &views[1], &views[2]], [i0, i1, i2], &params) {
            Ok(e) => e,
            Err(r) => {
                *self.counts.rejected.entry(reject_label(&r)).or_default() += 1;
                return None;
            }
        };
        self.last.insert(id, (book_ids, now_ms));
        self.counts.emitted += 1;
        let path = cycle.path();
        Some(Opportunity {
            id: opportunity_id(&self.venue, &path, &book_ids),
            kind: OppKind::Triangular,
            venue: self.venue.clone(),
            path,
            asset: cycle.start.clone(),
            size: evaluation.size,
            profit: evaluation.profit,
            profit_bps: evaluation.profit_bps,
            confidence: evaluation.confidence,
            created_ms: now_ms,
            expires_ms: now_ms + self.expires_ms,
            legs: evaluation
                .legs
                .iter()
                .map(|l| OppLeg {
                    venue: self.venue.clone(),
                    symbol: l.symbol.clone(),
                    side: l.side,
                    price: l.price,
                    qty: l.qty,
                })
                .collect(),
            book_ids: book_ids.to_vec(),
            time_trigger_us: trigger_us,
        })
    }
}

/// A deterministic id (the same cycle at the same book versions always gets the same one), 16
/// hex characters so that `st<id>-<leg>` stays well inside the 36 characters of a client order
/// id every venue accepts.
pub fn opportunity_id(venue: &VenueId, path: &str, book_ids: &[u64; 3]) -> String {
    let mut h = Sha256::new();
    h.update(venue.as_str().as_bytes());
    h.update(b"|");
    h.update(path.as_bytes());
    for id in book_ids {
        h.update(id.to_be_bytes());
    }
    hex::encode(&h.finalize()[..8])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use storm_core::{Level, SymbolStatus};

    use super::*;

    fn instrument(symbol: &str, base: &str, quote: &str, tick: &str, step: &str) -> Instrument {
        Instrument {
            symbol: Symbol::new(symbol),
            base: Asset::new(base),
            quote: Asset::new(quote),
            status: SymbolStatus::Trading,
            tick_size: tick.parse().unwrap(),
            min_price: Decimal::ZERO,
            max_price: Decimal::ZERO,
            step_size: step.parse().unwrap(),
            min_qty: Decimal::ZERO,
            max_qty: Decimal::ZERO,
            min_notional: Decimal::ZERO,
            max_notional: Decimal::ZERO,
        }
    }

    fn top(symbol: &str, bid: (&str, &str), ask: (&str, &str), id: u64, status: BookStatus, now_ms: u64) -> BookTop {
        BookTop {
            symbol: Symbol::new(symbol),
            bids: vec![Level::parse(bid.0, bid.1).unwrap()],
            asks: vec![Level::parse(ask.0, ask.1).unwrap()],
            update_id: id,
            time_exchange: now_ms * 1_000,
            time_received: now_ms * 1_000 + 7,
            time_local: now_ms * 1_000,
            status,
        }
    }

    fn finder() -> Finder {
        let instruments = vec![
            instrument("BTCUSDT", "BTC", "USDT", "0.01", "0.00001"),
            instrument("ETHUSDT", "ETH", "USDT", "0.01", "0.0001"),
            instrument("ETHBTC", "ETH", "BTC", "0.00001", "0.0001"),
        ];
        let cfg = ArbitrageConfig { start_assets: vec!["USDT".into()], ..ArbitrageConfig::default() };
        Finder::new(VenueId::new("sim"), instruments, &cfg, Decimal::new(1, 3))
    }

    /// BTC 60,000, ETH 3,000 → fair ETHBTC 0.05; ETHBTC offered at 0.0496 (−0.8 %).
    fn feed(f: &mut Finder, ethbtc_id: u64, status: BookStatus, now: u64) -> Vec<Opportunity> {
        let mut out = f.on_top(top("BTCUSDT", ("59999.99", "5"), ("60000.00", "5"), 1, BookStatus::Live, now), now);
        out.extend(f.on_top(top("ETHUSDT", ("3000.00", "50"), ("3000.01", "50"), 1, BookStatus::Live, now), now));
        out.extend(f.on_top(top("ETHBTC", ("0.04950", "50"), ("0.04960", "50"), ethbtc_id, status, now), now));
        out
    }

    #[test]
    fn the_mispriced_cycle_is_emitted_once_per_book_state_and_not_within_the_cooldown() {
        let mut f = finder();
        let now = 1_000_000;
        let found = feed(&mut f, 10, BookStatus::Live, now);
        assert_eq!(found.len(), 1, "{found:?}");
        let o = &found[0];
        assert_eq!(o.path, "USDT>BTC>ETH>USDT");
        let legs: Vec<(&str, storm_core::Side)> = o.legs.iter().map(|l| (l.symbol.as_str(), l.side)).collect();
        use storm_core::Side::{Buy, Sell};
        assert_eq!(legs, [("BTCUSDT", Buy), ("ETHBTC", Buy), ("ETHUSDT", Sell)]);
        assert_eq!(o.book_ids, [1, 10, 1]);
        assert_eq!(o.id, opportunity_id(&VenueId::new("sim"), &o.path, &[1, 10, 1]));
        assert_eq!(o.id.len(), 16);
        assert_eq!(o.time_trigger_us, now * 1_000 + 7);
        assert!(o.size <= Decimal::new(1000, 0), "capped by max_start USDT 1000");

        // The same state again: nothing; a new version within the cooldown: nothing; after it: again.
        assert!(f.on_top(f.book(&Symbol::new("ETHBTC")).unwrap().clone(), now + 1).is_empty());
        let sized = f.counts().evaluated;
        assert!(feed(&mut f, 11, BookStatus::Live, now + 500).is_empty());
        assert_eq!(f.counts().evaluated, sized, "a cycle in its cooldown is not sized");
        assert_eq!(feed(&mut f, 12, BookStatus::Live, now + 2_000).len(), 1);
        assert!(f.counts().repeated >= 2);
    }

    #[test]
    fn stale_old_or_incomplete_books_never_make_an_opportunity() {
        let now = 1_000_000;
        let mut f = finder();
        assert!(feed(&mut f, 10, BookStatus::Stale, now).is_empty(), "a stale book is not traded");
        assert!(f.counts().rejected.get("not_live").copied().unwrap_or(0) > 0);

        let mut f = finder();
        f.on_top(top("BTCUSDT", ("59999.99", "5"), ("60000.00", "5"), 1, BookStatus::Live, now - 60_000), now);
        f.on_top(top("ETHUSDT", ("3000.00", "50"), ("3000.01", "50"), 1, BookStatus::Live, now), now);
        let found = f.on_top(top("ETHBTC", ("0.04950", "50"), ("0.04960", "50"), 5, BookStatus::Live, now), now);
        assert!(found.is_empty(), "BTCUSDT's top is a minute old");

        let mut f = finder();
        let found = f.on_top(top("ETHBTC", ("0.04950", "50"), ("0.04960", "50"), 5, BookStatus::Live, now), now);
        assert!(found.is_empty(), "two books missing: the screen has no rate for them, nothing is guessed");
    }

    #[test]
    fn the_same_instruments_again_rebuild_nothing_and_keep_the_cooldown() {
        let now = 1_000_000;
        let mut f = finder();
        assert_eq!(feed(&mut f, 10, BookStatus::Live, now).len(), 1);
        let mut same: Vec<Instrument> = f.instruments.values().cloned().collect();
        same.reverse();
        assert!(!f.set_instruments(same.clone()), "same set, other order: no rebuild");
        assert!(feed(&mut f, 11, BookStatus::Live, now + 500).is_empty(), "still within the cooldown");

        let mut changed = same;
        changed[0].step_size = Decimal::new(1, 6);
        assert!(f.set_instruments(changed), "a changed filter rebuilds");
        assert_eq!(f.graph().cycles().len(), 2, "one triangle, both directions");
        assert_eq!(feed(&mut f, 12, BookStatus::Live, now + 600).len(), 1, "a rebuild starts the cooldowns over");
    }

    #[test]
    fn a_balance_below_the_cap_limits_the_size() {
        let now = 1_000_000;
        let mut f = finder();
        f.set_balance(Asset::new("USDT"), Decimal::new(100, 0));
        let found = feed(&mut f, 10, BookStatus::Live, now);
        assert_eq!(found.len(), 1);
        assert!(found[0].size <= Decimal::new(100, 0), "{}", found[0].size);
    }
}
