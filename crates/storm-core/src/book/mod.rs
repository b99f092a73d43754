//! The full-depth local order book.
//!
//! # Data structure, and why
//! Each side keeps its best levels (up to 256) in a pair of sorted vectors with the **best level
//! last**, and the deep rest in a `BTreeMap` ([`ladder`]). Prices and quantities are exact
//! fixed-point integers at the book's scale (8 decimals for Binance), parsed straight from the
//! venue's strings ([`fixed`]). The best bid/ask is an O(1) read after every diff.
//!
//! Measured with `cargo bench -p storm-core --bench book_replay` on the real BTCUSDT recording
//! (6,493 applicable diffs, 298,094 level updates, string prices in, parse included, best
//! bid/ask read after every diff; 2 vCPU VM, medians of 30 samples; see `docs/BENCHMARKS.md`):
//!
//! | structure | level updates/s | ns/diff |
//! |---|---:|---:|
//! | this book: near-top `Vec` + deep `BTreeMap`, fixed-point | 11.2 M | 4,087 |
//! | `BTreeMap<u64, u128>`, same parser | 10.4 M | 4,398 |
//! | one sorted `Vec` per side, fixed-point (first version) | 6.8 M | 6,710 |
//! | `BTreeMap<Decimal, Decimal>`, `Decimal::from_str` | 6.8 M | 6,720 |
//!
//! Real updates cluster at the top of the book, where the vector needs a short binary search and
//! moves only the few elements behind the position. A single whole-side vector lost to the
//! B-tree because Binance diffs also touch levels far from the top (outside the 1,000-level
//! snapshot), each costing a `memmove` of the entire side; bounding the vector and sending deep
//! levels to a B-tree keeps the fast path and removes the slow one.
//!
//! Sequencing (which diff may be applied) is not the book's business: the venue adapter's
//! sequencer decides, the book only applies levels.

pub mod fixed;
mod ladder;

use rust_decimal::Decimal;
use thiserror::Error;

use crate::{DepthDiff, Level, Price, Qty};
use ladder::Ladder;

/// Bid or ask side of a book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BookSide {
    /// Buyers' resting orders, best = highest price.
    Bid,
    /// Sellers' resting orders, best = lowest price.
    Ask,
}

/// Why a level could not be applied.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum BookError {
    /// A price or quantity that is negative, malformed, finer than the book's scale or too large.
    #[error("unrepresentable {what} {value:?} at scale {scale}")]
    BadNumber {
        /// `price` or `qty`.
        what: &'static str,
        /// The offending text.
        value: String,
        /// The book's scale for that number.
        scale: u32,
    },
}

/// A full-depth order book with exact fixed-point levels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderBook {
    bids: Ladder,
    asks: Ladder,
    price_scale: u32,
    qty_scale: u32,
    update_id: u64,
}

impl Default for OrderBook {
    fn default() -> Self {
        Self::new(Self::BINANCE_SCALE, Self::BINANCE_SCALE)
    }
}

impl OrderBook {
    /// Binance sends every price and quantity with 8 decimals.
    pub const BINANCE_SCALE: u32 = 8;

    /// An empty book holding prices and quantities with the given numbers of decimals.
    pub fn new(price_scale: u32, qty_scale: u32) -> Self {
        Self {
            bids: Ladder::default(),
            asks: Ladder::default(),
            price_scale: price_scale.min(28),
            qty_scale: qty_scale.min(28),
            update_id: 0,
        }
    }

    /// The venue update id of the last change applied (`lastUpdateId` / `u`).
    pub fn update_id(&self) -> u64 {
        self.update_id
    }

    /// Records the venue update id the book now reflects.
    pub fn set_update_id(&mut self, id: u64) {
        self.update_id = id;
    }

    fn key(side: BookSide, price: u64) -> u64 {
        match side {
            BookSide::Bid => price,
            BookSide::Ask => u64::MAX - price,
        }
    }

    fn price_of(side: BookSide, key: u64) -> u64 {
        Self::key(side, key) // the mapping is its own inverse
    }

    fn ladder_mut(&mut self, side: BookSide) -> &mut Ladder {
        match side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        }
    }

    fn ladder(&self, side: BookSide) -> &Ladder {
        match side {
            BookSide::Bid => &self.bids,
            BookSide::Ask => &self.asks,
        }
    }

    fn price_units(&self, price: Price) -> Result<u64, BookError> {
        fixed::decimal_to_fixed(price.0, self.price_scale)
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| self.bad("price", price.to_string(), self.price_scale))
    }

    fn qty_units(&self, qty: Qty) -> Result<u128, BookError> {
        fixed::decimal_to_fixed(qty.0, self.qty_scale).ok_or_else(|| self.bad("qty", qty.to_string(), self.qty_scale))
    }

    fn bad(&self, what: &'static str, value: String, scale: u32) -> BookError {
        BookError::BadNumber { what, value, scale }
    }

    /// Sets one level; a zero quantity removes it (removing an unknown level is normal).
    pub fn apply(&mut self, side: BookSide, price: Price, qty: Qty) -> Result<(), BookError> {
        let p = self.price_units(price)?;
        let q = self.qty_units(qty)?;
        self.ladder_mut(side).set(Self::key(side, p), q);
        Ok(())
    }

    /// Sets one level straight from the venue's decimal strings (the fast path: no `Decimal`).
    #[inline]
    pub fn apply_str(&mut self, side: BookSide, price: &str, qty: &str) -> Result<(), BookError> {
        let p = fixed::parse_fixed(price, self.price_scale)
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| self.bad("price", price.to_owned(), self.price_scale))?;
        let q =
            fixed::parse_fixed(qty, self.qty_scale).ok_or_else(|| self.bad("qty", qty.to_owned(), self.qty_scale))?;
        self.ladder_mut(side).set(Self::key(side, p), q);
        Ok(())
    }

    /// Applies every level of a diff and records its final update id. Levels are validated
    /// first, so a diff with one bad number leaves the book untouched.
    pub fn apply_diff(&mut self, diff: &DepthDiff) -> Result<(), BookError> {
        let mut staged = Vec::with_capacity(diff.level_count());
        for (side, levels) in [(BookSide::Bid, &diff.bids), (BookSide::Ask, &diff.asks)] {
            for l in levels {
                let p = self.price_units(l.price)?;
                staged.push((side, Self::key(side, p), self.qty_units(l.qty)?));
            }
        }
        for (side, key, q) in staged {
            self.ladder_mut(side).set(key, q);
        }
        self.update_id = diff.last_update_id;
        Ok(())
    }

    /// Replaces the whole book with a snapshot.
    pub fn replace(&mut self, bids: &[Level], asks: &[Level], update_id: u64) -> Result<(), BookError> {
        let mut sides = [Vec::with_capacity(bids.len()), Vec::with_capacity(asks.len())];
        for (i, (side, levels)) in [(BookSide::Bid, bids), (BookSide::Ask, asks)].into_iter().enumerate() {
            for l in levels {
                let p = self.price_units(l.price)?;
                sides[i].push((Self::key(side, p), self.qty_units(l.qty)?));
            }
        }
        let [b, a] = sides;
        self.bids.replace(b);
        self.asks.replace(a);
        self.update_id = update_id;
        Ok(())
    }

    /// Empties the book (both sides) and resets the update id.
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.update_id = 0;
    }

    fn level(&self, side: BookSide, (key, qty): (u64, u128)) -> Level {
        Level::new(
            Price(fixed::fixed_to_decimal(u128::from(Self::price_of(side, key)), self.price_scale)),
            Qty(fixed::fixed_to_decimal(qty, self.qty_scale)),
        )
    }

    /// Best level of a side, O(1).
    pub fn best(&self, side: BookSide) -> Option<Level> {
        self.ladder(side).best().map(|kq| self.level(side, kq))
    }

    /// Best bid, O(1).
    pub fn best_bid(&self) -> Option<Level> {
        self.best(BookSide::Bid)
    }

    /// Best ask, O(1).
    pub fn best_ask(&self) -> Option<Level> {
        self.best(BookSide::Ask)
    }

    /// Levels of a side from best to worst.
    pub fn levels(&self, side: BookSide) -> impl Iterator<Item = Level> + '_ {
        self.ladder(side).iter().map(move |kq| self.level(side, kq))
    }

    /// The best `n` levels of a side.
    pub fn top(&self, side: BookSide, n: usize) -> Vec<Level> {
        self.levels(side).take(n).collect()
    }

    /// Number of levels on a side.
    pub fn depth(&self, side: BookSide) -> usize {
        self.ladder(side).len()
    }

    /// True when the best bid is at or above the best ask: such a book cannot be the venue's
    /// and must be resynchronized.
    pub fn is_crossed(&self) -> bool {
        match (self.bids.best(), self.asks.best()) {
            (Some((bid, _)), Some((ask_key, _))) => bid >= Self::price_of(BookSide::Ask, ask_key),
            _ => false,
        }
    }

    /// Mid price, when both sides exist.
    pub fn mid(&self) -> Option<Price> {
        let (b, a) = (self.best_bid()?, self.best_ask()?);
        Some(Price((b.price.0 + a.price.0) / Decimal::TWO))
    }
}

#[cfg(test)]
mod tests;
