//! One simulated market: its book, the user orders resting in it, and the random order flow
//! that moves it.
//!
//! The book holds synthetic liquidity plus the quantity of user orders resting at each price (so
//! the diff stream shows them, as on an exchange). Every change goes through [`Market::set`],
//! which records it; [`Market::take_diff`] turns the recorded changes into one depth event with
//! contiguous update ids (`U` = previous `u` + 1, one id per changed level).

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::Rng;
use rust_decimal::Decimal;
use storm_core::{BookSide, DepthDiff, Instrument, Level, OrderBook, Price, Qty, Ticker};

/// Levels kept on each side at least.
pub const MIN_LEVELS: usize = 120;
/// Levels beyond this are trimmed from the deep end.
pub const MAX_LEVELS: usize = 160;

/// State of one symbol.
#[derive(Debug)]
pub struct Market {
    /// The symbol's filters.
    pub instrument: Instrument,
    /// Full book, synthetic + resting user quantity.
    pub book: OrderBook,
    /// Last update id (`u`) published.
    pub update_id: u64,
    /// Resting user quantity per (side, price).
    pub user_qty: BTreeMap<(bool, Decimal), Decimal>,
    /// Temporary mispricing: fraction added to the fair price (0.008 = +0.8 %) until a time.
    pub bias: Option<(Decimal, u64)>,
    pending: BTreeMap<(bool, Decimal), Decimal>,
    last_top: Option<(Level, Level)>,
}

fn is_bid(side: BookSide) -> bool {
    side == BookSide::Bid
}

impl Market {
    /// An empty market; call [`Market::reshape`] to build its ladder.
    pub fn new(instrument: Instrument, first_update_id: u64) -> Self {
        Self {
            instrument,
            book: OrderBook::default(),
            update_id: first_update_id,
            user_qty: BTreeMap::new(),
            bias: None,
            pending: BTreeMap::new(),
            last_top: None,
        }
    }

    /// Sets a level (total quantity; zero removes) and records the change for the next diff.
    pub fn set(&mut self, side: BookSide, price: Decimal, qty: Decimal) {
        let qty = qty.max(Decimal::ZERO);
        if self.book.apply(side, Price(price), Qty(qty)).is_ok() {
            self.pending.insert((is_bid(side), price), qty);
        }
    }

    /// Quantity resting at a level (0 if none).
    pub fn level_qty(&self, side: BookSide, price: Decimal) -> Decimal {
        // Top levels are where nearly all lookups land; the iterator stops early.
        self.book.levels(side).find(|l| l.price.0 == price).map_or(Decimal::ZERO, |l| l.qty.0)
    }

    /// Sets the synthetic part of a level, keeping resting user quantity on top of it.
    fn set_synthetic(&mut self, side: BookSide, price: Decimal, synthetic: Decimal) {
        let user = self.user_qty.get(&(is_bid(side), price)).copied().unwrap_or_default();
        self.set(side, price, synthetic + user);
    }

    /// The recorded changes as one depth event, or `None` if nothing changed.
    pub fn take_diff(&mut self, now_us: u64) -> Option<DepthDiff> {
        if self.pending.is_empty() {
            return None;
        }
        let first = self.update_id + 1;
        self.update_id += self.pending.len() as u64;
        let mut bids = Vec::new();
        let mut asks = Vec::new();
        for ((bid, price), qty) in std::mem::take(&mut self.pending) {
            let scaled = Level::new(Price(rescale(price)), Qty(rescale(qty)));
            if bid {
                bids.push(scaled);
            } else {
                asks.push(scaled);
            }
        }
        bids.reverse(); // best (highest) first, as Binance lists them
        self.book.set_update_id(self.update_id);
        Some(DepthDiff {
            symbol: self.instrument.symbol.clone(),
            first_update_id: first,
            last_update_id: self.update_id,
            bids,
            asks,
            time_exchange: now_us,
            time_received: now_us,
        })
    }

    /// The best bid/offer when it changed since the last call.
    pub fn take_ticker(&mut self, now_us: u64) -> Option<Ticker> {
        let top = (self.book.best_bid()?, self.book.best_ask()?);
        if self.last_top.as_ref() == Some(&top) {
            return None;
        }
        self.last_top = Some(top);
        Some(Ticker {
            symbol: self.instrument.symbol.clone(),
            update_id: self.update_id,
            bid_price: top.0.price,
            bid_qty: top.0.qty,
            ask_price: top.1.price,
            ask_qty: top.1.qty,
            time_exchange: now_us,
            time_received: now_us,
        })
    }

    fn gap(&self, fair: Decimal) -> Decimal {
        let tick = self.instrument.tick_size.max(Decimal::new(1, 8));
        let raw = fair * Decimal::new(5, 5); // 0.005 % of the price between levels
        (raw / tick).floor().max(Decimal::ONE) * tick
    }

    fn random_qty(&self, rng: &mut StdRng, price: Decimal, quote_usdt: Decimal) -> Decimal {
        let usdt = Decimal::from(rng.gen_range(50..3_000));
        let qty = usdt / (price * quote_usdt).max(Decimal::new(1, 12));
        self.instrument.floor_qty(Qty(qty)).0.max(self.instrument.step_size)
    }

    /// One round of order flow around `fair` (the quote-denominated fair price, bias included):
    /// the top follows the fair price, a few levels near the top change, the depth stays within
    /// [`MIN_LEVELS`, `MAX_LEVELS`]. `changes` is the most random level changes near the top
    /// (1..=`changes` are drawn, within the top `max(20, changes)` levels of a side).
    pub fn reshape(&mut self, rng: &mut StdRng, fair: Decimal, quote_usdt: Decimal, changes: usize) {
        let inst = self.instrument.clone();
        let gap = self.gap(fair);
        let half_spread = gap.max(inst.tick_size);
        let bid_target = inst.floor_price(Price(fair - half_spread)).0;
        let ask_target = inst.ceil_price(Price(fair + half_spread)).0;

        // Levels on the wrong side of the new fair price go (user orders there stay, they may
        // be filled by the taker flow).
        for (side, target) in [(BookSide::Bid, bid_target), (BookSide::Ask, ask_target)] {
            let crossing: Vec<Decimal> = self
                .book
                .levels(side)
                .map(|l| l.price.0)
                .take_while(|p| if side == BookSide::Bid { *p > target } else { *p < target })
                .collect();
            for p in crossing {
                self.set_synthetic(side, p, Decimal::ZERO);
            }
        }
        // Fill from the target towards the current top, so the spread stays tight.
        for (side, target, dir) in
            [(BookSide::Bid, bid_target, -Decimal::ONE), (BookSide::Ask, ask_target, Decimal::ONE)]
        {
            let best = self.book.best(side).map(|l| l.price.0);
            let mut p = target;
            for _ in 0..8 {
                let beyond = match best {
                    Some(b) if side == BookSide::Bid => p <= b,
                    Some(b) => p >= b,
                    None => false,
                };
                if beyond || p <= Decimal::ZERO {
                    break;
                }
                let q = self.random_qty(rng, p, quote_usdt);
                self.set_synthetic(side, p, q);
                p += dir * gap;
            }
        }
        // Random changes near the top.
        for _ in 0..rng.gen_range(1..=changes.max(1)) {
            let side = if rng.gen_bool(0.5) { BookSide::Bid } else { BookSide::Ask };
            let depth = self.book.depth(side).min(changes.max(20));
            if depth == 0 {
                continue;
            }
            let idx = rng.gen_range(0..depth);
            let level = self.book.levels(side).nth(idx);
            if let Some(level) = level {
                let q = if rng.gen_bool(0.2) { Decimal::ZERO } else { self.random_qty(rng, level.price.0, quote_usdt) };
                self.set_synthetic(side, level.price.0, q);
            }
        }
        // Keep the depth in range at the deep end.
        for (side, dir) in [(BookSide::Bid, -Decimal::ONE), (BookSide::Ask, Decimal::ONE)] {
            let mut worst = self.book.levels(side).last().map(|l| l.price.0);
            while self.book.depth(side) < MIN_LEVELS {
                let p = worst.map_or(if side == BookSide::Bid { bid_target } else { ask_target }, |w| w + dir * gap);
                if p <= Decimal::ZERO {
                    break;
                }
                let q = self.random_qty(rng, p, quote_usdt);
                self.set_synthetic(side, p, q);
                worst = Some(p);
            }
            while self.book.depth(side) > MAX_LEVELS {
                let Some(w) = self.book.levels(side).last() else { break };
                if self.user_qty.contains_key(&(is_bid(side), w.price.0)) {
                    break;
                }
                self.set(side, w.price.0, Decimal::ZERO);
            }
        }
    }
}

/// Binance shows every price and quantity with 8 decimals.
pub fn rescale(d: Decimal) -> Decimal {
    let mut d = d.round_dp(8);
    d.rescale(8);
    d
}
