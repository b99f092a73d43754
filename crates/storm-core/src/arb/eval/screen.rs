//! Screening: which cycles through a changed book could possibly clear the threshold, cheaply
//! enough to ask for a thousand cycles per book change.
//!
//! No plan can beat the top of book: every level after the best converts worse, and rounding
//! and filters only take away. So a cycle whose best levels' composite rate after fees is below
//! `1 + min_profit_bps / 10_000` is rejected by [`evaluate`](super::evaluate) without sizing.
//! `evaluate` already tests that first, exactly, in `Decimal`, in about 180 ns; a change of
//! BTCUSDT touches 1,178 cycles on the real Binance graph (through USDT, BTC or BNB): 215 µs.
//! Screened, the same change costs 1.6 µs (`benches/arb_reeval.rs`).
//!
//! [`RateScreen`] keeps each symbol's best rates as `f64` (`1 / best ask`, `best bid`), updated
//! once per book change, and tests a cycle with two multiplications. It only ever *skips* work,
//! never decides money: its threshold is lowered by a relative margin of 1e-9, some seven orders
//! of magnitude above the error of the conversions and products it does, so it never skips a
//! cycle that `evaluate` would accept (the property test checks it). Everything it lets through is
//! evaluated in `Decimal`.

use std::collections::HashMap;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::{BookView, EvalParams, Reject};
use crate::arb::graph::{Cycle, TriangleGraph};
use crate::{Level, Side, Symbol};

/// Relative slack under the threshold that covers the f64 rounding of the screen.
const MARGIN: f64 = 1e-9;

/// The cycle's composite rate at the top of book after fees, `(1 − fee)³ × Π rate`, with a buy
/// converting at `1 / best ask` and a sell at `best bid`, in the start asset per start asset.
/// `None` when a side a leg takes is empty or its best price is not positive.
///
/// [`evaluate`](super::evaluate) can only succeed when this is at least
/// `1 + min_profit_bps / 10_000` (and above 1); for display and scouting. Exact but for the
/// rounding of the divisions at the 28th digit.
pub fn quick_rate(cycle: &Cycle, books: [&BookView<'_>; 3], taker_fee: Decimal) -> Option<Decimal> {
    let keep = Decimal::ONE.checked_sub(taker_fee)?;
    let mut rate = keep.checked_mul(keep)?.checked_mul(keep)?;
    for (leg, book) in cycle.legs.iter().zip(books) {
        let best = match leg.side {
            Side::Buy => book.asks.first(),
            Side::Sell => book.bids.first(),
        }?
        .price
        .0;
        if best <= Decimal::ZERO {
            return None;
        }
        rate = match leg.side {
            Side::Buy => rate.checked_div(best)?,
            Side::Sell => rate.checked_mul(best)?,
        };
    }
    Some(rate)
}

/// Top-of-book rates of every symbol of a graph, and a conservative test of its cycles.
///
/// Use: build once per graph and params; on each book change call [`RateScreen::update`] for the
/// changed symbol, then [`evaluate`](super::evaluate) only the ids [`RateScreen::candidates`]
/// yields. A symbol without an update yet has no rates, and its cycles are skipped.
#[derive(Clone, Debug)]
pub struct RateScreen {
    slots: HashMap<Symbol, u32>,
    /// Per cycle id, the three rate indices (`2 × slot` buy, `2 × slot + 1` sell).
    by_cycle: Vec<[u32; 3]>,
    /// Per symbol slot, its cycles and their rate indices, contiguous for the hot loop.
    by_slot: Vec<Vec<(u32, [u32; 3])>>,
    /// `1 / best ask` and `best bid` per slot; 0 when unusable.
    rates: Vec<f64>,
    threshold: f64,
}

impl RateScreen {
    /// A screen over `graph`'s cycles for `params`' fee and minimum profit; no rates yet.
    pub fn new(graph: &TriangleGraph, params: &EvalParams) -> Self {
        let mut slots: HashMap<Symbol, u32> = HashMap::new();
        let mut by_cycle = Vec::with_capacity(graph.cycles().len());
        for cycle in graph.cycles() {
            let idx = cycle.legs.each_ref().map(|leg| {
                let next = slots.len() as u32;
                let slot = *slots.entry(leg.symbol.clone()).or_insert(next);
                2 * slot + u32::from(leg.side == Side::Sell)
            });
            by_cycle.push(idx);
        }
        let mut by_slot = vec![Vec::new(); slots.len()];
        for (id, idx) in (0u32..).zip(&by_cycle) {
            for i in idx {
                if let Some(list) = by_slot.get_mut((i / 2) as usize) {
                    list.push((id, *idx));
                }
            }
        }
        let rates = vec![0.0; 2 * slots.len()];
        let mut screen = Self { slots, by_cycle, by_slot, rates, threshold: f64::INFINITY };
        screen.set_params(params);
        screen
    }

    /// Re-derives the threshold for new fee or minimum profit; the rates stay.
    pub fn set_params(&mut self, params: &EvalParams) {
        let keep = Decimal::ONE.checked_sub(params.taker_fee).and_then(|k| k.to_f64());
        let bps = params.min_profit_bps.to_f64();
        self.threshold = match (keep, bps) {
            // `evaluate` rejects a fee of 100 % or more: nothing to let through.
            (Some(keep), _) if keep <= 0.0 => f64::INFINITY,
            (Some(keep), Some(bps)) => (1.0 + bps / 10_000.0) / (keep * keep * keep) * (1.0 - MARGIN),
            // Unrepresentable settings: let everything through, `evaluate` decides.
            _ => 0.0,
        };
    }

    /// The slot of `symbol`, `None` when no cycle uses it.
    pub fn slot(&self, symbol: &Symbol) -> Option<u32> {
        self.slots.get(symbol).copied()
    }

    /// Takes the best levels of `book` for `slot`. A crossed book or a non-positive best price
    /// disables both rates and is a [`Reject::BadBook`]; an empty side disables its own rate.
    pub fn update(&mut self, slot: u32, book: &BookView<'_>) -> Result<(), Reject> {
        let bid = book.bids.first().map(|l: &Level| l.price.0);
        let ask = book.asks.first().map(|l: &Level| l.price.0);
        let bad = bid.is_some_and(|b| b <= Decimal::ZERO)
            || ask.is_some_and(|a| a <= Decimal::ZERO)
            || matches!((bid, ask), (Some(b), Some(a)) if b >= a);
        let to_f64 = |d: Option<Decimal>| d.and_then(|d| d.to_f64()).unwrap_or(0.0);
        let (buy, sell) = if bad { (0.0, 0.0) } else { (to_f64(ask), to_f64(bid)) };
        let buy = if buy > 0.0 { 1.0 / buy } else { 0.0 };
        let i = 2 * slot as usize;
        if let Some(rates) = self.rates.get_mut(i..i + 2) {
            rates.copy_from_slice(&[buy, sell]);
        }
        if bad {
            Err(Reject::BadBook)
        } else {
            Ok(())
        }
    }

    /// True when cycle `id` may clear the threshold at the current rates (unknown ids: false).
    pub fn may_profit(&self, id: u32) -> bool {
        self.by_cycle.get(id as usize).is_some_and(|idx| self.passes(idx))
    }

    /// The ids, ascending, of the cycles through `slot` that may clear the threshold.
    pub fn candidates(&self, slot: u32) -> impl Iterator<Item = u32> + '_ {
        let list = self.by_slot.get(slot as usize).map(Vec::as_slice).unwrap_or(&[]);
        list.iter().filter(|(_, idx)| self.passes(idx)).map(|(id, _)| *id)
    }

    #[inline]
    fn passes(&self, idx: &[u32; 3]) -> bool {
        let rate = |i: u32| self.rates.get(i as usize).copied().unwrap_or(0.0);
        rate(idx[0]) * rate(idx[1]) * rate(idx[2]) >= self.threshold
    }
}
