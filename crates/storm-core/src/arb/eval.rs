//! Evaluating one cycle: is there a size at which the three legs, sent as LIMIT orders at prices
//! we can state now, return more than they spend, after the taker fees, the tick/step rounding
//! and the exchange filters, on books fresh enough to trust?
//!
//! # Order of the checks (the first failure is the [`Reject`])
//! 1. Trust: every book `live` ([`Reject::NotLive`]), none older than `max_age_ms`
//!    ([`Reject::TooOld`]).
//! 2. Shape: the side each leg takes is not empty ([`Reject::EmptySide`]); each book's best bid
//!    and ask have a positive price and quantity and do not cross, `bid < ask`
//!    ([`Reject::BadBook`]). Deeper levels are checked as the sizing reaches them (positive,
//!    strictly worse than the level before, else `BadBook`); levels it never reaches are not read.
//! 3. Top of book, the cheap prefilter: the composite rate of the three best levels after fees
//!    must clear `1 + min_profit_bps / 10_000`, else [`Reject::NotProfitable`] (tested first
//!    without fees, which only lower it). On consistent books almost every evaluation ends here,
//!    after three Decimal multiplications (~180 ns on the benchmark's books). The engine can skip
//!    even that with [`RateScreen`] (f64, conservative by a margin, ~1.4 ns a cycle).
//! 4. Depth sizing (`walk`): the legs' levels are walked together, best first, as the
//!    composition of three piecewise-linear conversions. Each segment's marginal rate is
//!    `r1 · r2 · r3 · (1 − fee)³` (a buy converts at `1/ask`, a sell at `bid`), and segments are
//!    added while it clears the threshold, up to `max_start` and the visible depth. The limit of
//!    each leg is the worst level the last segment used.
//! 5. The plan (`plan`) at those limits: quantities floored to the step, each leg spending what
//!    the previous one produced (`Buy`: `qty = floor(input / price)`, receives `qty × (1 − fee)`;
//!    `Sell`: `qty = floor(input)`, receives `qty × price × (1 − fee)`), every leg checked against
//!    PRICE_FILTER, LOT_SIZE and NOTIONAL ([`Reject::Filters`], also when the book's price is off
//!    the tick: the order could not reach that level; a plan above `max_qty` or `max_notional` is
//!    rejected, not shrunk: `max_start` is the cap). Then `profit = end − size` must be positive
//!    and `profit / size ≥ min_profit_bps / 10_000`, else [`Reject::NotProfitable`], which is also
//!    what a profit that rounding ate becomes.
//!
//! # Why the plan cannot lose
//! Every amount of the plan is recomputed from the floored quantities at the stated limits and
//! fee, so an IOC order filled at its limit (or better) spends at most `input` and receives at
//! least `output`, and each leg spends no more than the previous one produced. The sizing only
//! decides how much to try; it never enters the money the plan promises. The plan also fits the
//! visible depth: at the limits it converts at worst-level rates, so each leg needs no more than
//! the walk found at prices at least as good.
//!
//! # Exactness
//! All money is `Decimal`. Comparisons are cross-multiplied instead of divided; the start amount
//! stays a fraction until the single division that floors leg 1's quantity; every other division
//! is floored to a step at once. While products fit in `Decimal`'s 28 digits every step is exact
//! (the property test, with prices of 3 to 4 significant digits, quantities of up to 3 and fees
//! like 0.075 %, compares against exact rationals digit for digit); beyond that products round at
//! the 28th digit. Amounts too large for `Decimal` are a [`Reject::BadBook`], never a panic.
//!
//! # Confidence
//! `(1 − max share) × (1 − max age / max_age_ms)`, clamped to `0..=1`: the share is each leg's
//! quantity over the whole visible side it takes (a plan that empties the visible book is the
//! likeliest to be raced away), the age the oldest of the three books (1 when `max_age_ms` is 0).
//! A heuristic for ranking and thresholds, hence `f64`.

mod plan;
mod screen;
#[cfg(test)]
mod tests;
mod walk;

use rust_decimal::Decimal;

use crate::arb::graph::Cycle;
use crate::{Instrument, Level, Price, Qty, Side, Symbol};

pub use screen::{quick_rate, RateScreen};

/// One book as the finder sees it.
#[derive(Clone, Copy, Debug)]
pub struct BookView<'a> {
    /// Best bids first.
    pub bids: &'a [Level],
    /// Best asks first.
    pub asks: &'a [Level],
    /// The book's update id.
    pub update_id: u64,
    /// Milliseconds since the book last changed.
    pub age_ms: u64,
    /// Status `live`.
    pub live: bool,
}

/// The finder's settings for one evaluation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalParams {
    /// Taker fee per leg, fraction (`0.001` = 0.1 %).
    pub taker_fee: Decimal,
    /// Minimum profit, basis points, after fees and rounding.
    pub min_profit_bps: Decimal,
    /// Largest start amount (config cap, or the balance), in the start asset.
    pub max_start: Option<Decimal>,
    /// Books older than this are not trusted.
    pub max_age_ms: u64,
}

/// One leg of an evaluated cycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedLeg {
    /// Symbol.
    pub symbol: Symbol,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub price: Price,
    /// Base quantity.
    pub qty: Qty,
    /// Amount of the leg's `from` asset spent (at the limit price).
    pub input: Decimal,
    /// Amount of the leg's `to` asset received, after the fee (at the limit price).
    pub output: Decimal,
}

/// A cycle found profitable.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Start amount spent.
    pub size: Decimal,
    /// End amount received.
    pub end: Decimal,
    /// `end - size`.
    pub profit: Decimal,
    /// `profit / size × 10_000`.
    pub profit_bps: Decimal,
    /// The legs.
    pub legs: [PlannedLeg; 3],
    /// 0..1.
    pub confidence: f64,
}

/// Why a cycle was not an opportunity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reject {
    /// A book is not live.
    NotLive,
    /// A book is older than allowed.
    TooOld,
    /// A side a leg needs is empty.
    EmptySide,
    /// A book is crossed or has a zero price (or a non-positive quantity, levels out of order, or
    /// amounts too large for `Decimal`).
    BadBook,
    /// Not profitable after fees (or below the minimum; also when rounding ate the profit).
    NotProfitable,
    /// Killed by rounding, min qty or min notional (any PRICE_FILTER, LOT_SIZE or NOTIONAL
    /// failure of a leg, a book level off the tick included).
    Filters,
}

/// Evaluates `cycle` on its three books and instruments (in leg order).
pub fn evaluate(
    cycle: &Cycle,
    books: [&BookView<'_>; 3],
    instruments: [&Instrument; 3],
    params: &EvalParams,
) -> Result<Evaluation, Reject> {
    if books.iter().any(|b| !b.live) {
        return Err(Reject::NotLive);
    }
    if books.iter().any(|b| b.age_ms > params.max_age_ms) {
        return Err(Reject::TooOld);
    }
    let sides = [0, 1, 2].map(|k| match cycle.legs[k].side {
        Side::Buy => books[k].asks,
        Side::Sell => books[k].bids,
    });
    if sides.iter().any(|s| s.is_empty()) {
        return Err(Reject::EmptySide);
    }
    if !books.iter().all(|b| top_is_sane(b)) {
        return Err(Reject::BadBook);
    }
    let keep = Decimal::ONE - params.taker_fee;
    if keep <= Decimal::ZERO || keep > Decimal::ONE || params.max_start.is_some_and(|m| m <= Decimal::ZERO) {
        return Err(Reject::NotProfitable);
    }
    let leg_sides = cycle.legs.each_ref().map(|l| l.side);
    let tops = sides.map(|s| s.first().map_or(Decimal::ZERO, |l| l.price.0));
    if !walk::clears_before_fees(params.min_profit_bps, leg_sides, tops)? {
        return Err(Reject::NotProfitable);
    }
    let threshold = walk::Threshold::new(keep, params.min_profit_bps)?;
    let mut legs = [0, 1, 2].map(|k| walk::LegWalk::new(cycle.legs[k].side, sides[k], keep));
    let start = walk::size(&mut legs, &threshold, params.max_start)?;
    plan::build(cycle, &legs, instruments, start, params, books)
}

/// Best levels positive and not crossed (the sides may be empty).
fn top_is_sane(book: &BookView<'_>) -> bool {
    let positive = |d: Decimal| d.is_sign_positive() && !d.is_zero();
    let positive = |l: &Level| positive(l.price.0) && positive(l.qty.0);
    match (book.bids.first(), book.asks.first()) {
        (Some(bid), Some(ask)) => positive(bid) && positive(ask) && bid.price < ask.price,
        (Some(only), None) | (None, Some(only)) => positive(only),
        (None, None) => true,
    }
}

/// `a × b`; an overflow means numbers no book can hold.
fn mul(a: Decimal, b: Decimal) -> Result<Decimal, Reject> {
    a.checked_mul(b).ok_or(Reject::BadBook)
}

/// `a + b`, overflow as in [`mul`].
fn add(a: Decimal, b: Decimal) -> Result<Decimal, Reject> {
    a.checked_add(b).ok_or(Reject::BadBook)
}

/// `a − b`, overflow as in [`mul`].
fn sub(a: Decimal, b: Decimal) -> Result<Decimal, Reject> {
    a.checked_sub(b).ok_or(Reject::BadBook)
}

/// `a / b`; a zero divisor or an overflow is a bad book too.
fn div(a: Decimal, b: Decimal) -> Result<Decimal, Reject> {
    a.checked_div(b).ok_or(Reject::BadBook)
}
