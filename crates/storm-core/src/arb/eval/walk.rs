//! Depth sizing: the largest start amount whose every segment still converts at a rate that
//! clears the threshold.
//!
//! Each leg is a piecewise-linear conversion of its input asset into its output asset, one piece
//! per level: a buy level `(p, q)` takes up to `p × q` quote at `(1 − fee) / p` base per quote, a
//! sell level takes up to `q` base at `p × (1 − fee)` quote per base. The cycle is their
//! composition; its breakpoints are the ends of the levels of all three legs, and between two
//! breakpoints the marginal rate is the product of the three current levels' rates. The walk
//! goes from breakpoint to breakpoint, best levels first, and stops before the first segment
//! whose marginal rate no longer clears `1 + min_profit_bps / 10_000`, at `max_start`, or where
//! a leg's visible depth ends. Since levels get worse, the rate never rises again: that first
//! failing segment is where profitability ends.
//!
//! Exactness: amounts are kept per leg in the leg's own units as cumulative sums, which are
//! exact (`p × q`, `q × (1 − fee)`, `q × p × (1 − fee)`). Which leg ends its level first is
//! decided by carrying a boundary *forward* into the next leg's units and cross-multiplying
//! (no division), so ties, common with round numbers, are exact ties and all tied legs move on
//! together. The stop is returned as a fraction whose one division happens when leg 1's
//! quantity is floored.

use std::cmp::Ordering;

use rust_decimal::Decimal;

use super::{add, mul, sub, Reject};
use crate::{Level, Side};

/// The profitability test of a segment: `Π sell prices × keep³ × 10_000 ≥ (10_000 + bps) × Π buy
/// prices`, the marginal-rate condition with every division multiplied out.
pub(super) struct Threshold {
    /// `keep³ × 10_000`, `keep = 1 − fee`.
    sell_side: Decimal,
    /// `10_000 + min_profit_bps`.
    buy_side: Decimal,
}

/// The test without fees, `Π sell prices × 10_000 ≥ (10_000 + bps) × Π buy prices`: a necessary
/// condition (fees only lower the rate) that skips computing `keep³` for most cycles.
pub(super) fn clears_before_fees(
    min_profit_bps: Decimal,
    sides: [Side; 3],
    prices: [Decimal; 3],
) -> Result<bool, Reject> {
    let bps = Decimal::from(10_000);
    Threshold { sell_side: bps, buy_side: add(bps, min_profit_bps)? }.clears(sides, prices)
}

impl Threshold {
    /// The test for `keep = 1 − fee` and a minimum profit in basis points.
    pub(super) fn new(keep: Decimal, min_profit_bps: Decimal) -> Result<Self, Reject> {
        let bps = Decimal::from(10_000);
        Ok(Self { sell_side: mul(mul(mul(keep, keep)?, keep)?, bps)?, buy_side: add(bps, min_profit_bps)? })
    }

    /// True when the segment at these prices (leg order) clears the threshold.
    pub(super) fn clears(&self, sides: [Side; 3], prices: [Decimal; 3]) -> Result<bool, Reject> {
        let (mut sell, mut buy) = (self.sell_side, self.buy_side);
        for (side, price) in sides.into_iter().zip(prices) {
            match side {
                Side::Sell => sell = mul(sell, price)?,
                Side::Buy => buy = mul(buy, price)?,
            }
        }
        Ok(sell >= buy)
    }
}

/// One leg's side of the book during the walk: its current level and the cumulative amounts of
/// the leg's input and output (after the fee) before and through that level.
#[derive(Clone, Copy, Debug)]
pub(super) struct LegWalk<'a> {
    /// The leg's side.
    pub(super) side: Side,
    /// The book side it takes, best first (non-empty, best level checked by the caller).
    pub(super) levels: &'a [Level],
    /// The current level.
    pub(super) idx: usize,
    /// The current level's price.
    pub(super) price: Decimal,
    keep: Decimal,
    /// Numerator of the current level's rate: `keep` for a buy, `price × keep` for a sell.
    num: Decimal,
    in_before: Decimal,
    out_before: Decimal,
    in_end: Decimal,
    out_end: Decimal,
}

impl<'a> LegWalk<'a> {
    /// Starts at the best level. `levels` must not be empty; amounts are computed by [`size`].
    pub(super) fn new(side: Side, levels: &'a [Level], keep: Decimal) -> Self {
        let price = levels.first().map_or(Decimal::ZERO, |l| l.price.0);
        let zero = Decimal::ZERO;
        Self {
            side,
            levels,
            idx: 0,
            price,
            keep,
            num: keep,
            in_before: zero,
            out_before: zero,
            in_end: zero,
            out_end: zero,
        }
    }

    /// Numerator of the current level's rate.
    fn num(&self) -> Decimal {
        self.num
    }

    /// `x` times the denominator of the current level's rate (`price` for a buy, 1 for a sell).
    fn by_den(&self, x: Decimal) -> Result<Decimal, Reject> {
        match self.side {
            Side::Buy => mul(x, self.price),
            Side::Sell => Ok(x),
        }
    }

    /// The price of the next level, `None` at the end of the visible depth; a level that is not
    /// positive or not strictly worse than the current one is a bad book.
    fn next_price(&self) -> Result<Option<Decimal>, Reject> {
        let Some(next) = self.levels.get(self.idx + 1) else { return Ok(None) };
        let p = next.price.0;
        let worse = match self.side {
            Side::Buy => p > self.price,
            Side::Sell => p < self.price,
        };
        if p <= Decimal::ZERO || next.qty.0 <= Decimal::ZERO || !worse {
            return Err(Reject::BadBook);
        }
        Ok(Some(p))
    }

    /// Moves to the next level (which [`Self::next_price`] has validated).
    fn advance(&mut self) -> Result<(), Reject> {
        self.idx += 1;
        let level = self.levels.get(self.idx).ok_or(Reject::BadBook)?;
        self.price = level.price.0;
        self.load(*level)
    }

    /// Adds `level` (the current one) to the cumulative amounts: its input capacity (`p × q` for
    /// a buy, `q` for a sell) and output (`q × keep`, `q × p × keep`).
    fn load(&mut self, level: Level) -> Result<(), Reject> {
        let (p, q) = (level.price.0, level.qty.0);
        let (cap, out) = match self.side {
            Side::Buy => (mul(p, q)?, mul(q, self.keep)?),
            Side::Sell => {
                self.num = mul(p, self.keep)?;
                (q, mul(q, self.num)?)
            }
        };
        self.in_before = self.in_end;
        self.out_before = self.out_end;
        self.in_end = add(self.in_end, cap)?;
        self.out_end = add(self.out_end, out)?;
        Ok(())
    }
}

/// The start amount the walk settled on, as the fraction `num / den` (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Start {
    /// Numerator.
    pub(super) num: Decimal,
    /// Denominator (positive).
    pub(super) den: Decimal,
}

/// Walks the legs; on return each leg's `idx` is its limit level.
pub(super) fn size(legs: &mut [LegWalk<'_>; 3], th: &Threshold, max_start: Option<Decimal>) -> Result<Start, Reject> {
    let sides = legs.each_ref().map(|l| l.side);
    if !th.clears(sides, legs.each_ref().map(|l| l.price))? {
        return Err(Reject::NotProfitable);
    }
    for leg in legs.iter_mut() {
        let top = *leg.levels.first().ok_or(Reject::EmptySide)?;
        leg.load(top)?;
    }
    loop {
        let first = first_to_end(legs)?;
        if let Some(m) = max_start {
            if !ends_before(legs, first, m)? {
                return Ok(Start { num: m, den: Decimal::ONE });
            }
        }
        let mut next = legs.each_ref().map(|l| l.price);
        let mut exhausted = false;
        for ((leg, moves), price) in legs.iter().zip(first).zip(next.iter_mut()) {
            if moves {
                match leg.next_price()? {
                    Some(p) => *price = p,
                    None => exhausted = true,
                }
            }
        }
        if exhausted || !th.clears(sides, next)? {
            return boundary(legs, first);
        }
        for (leg, moves) in legs.iter_mut().zip(first) {
            if moves {
                leg.advance()?;
            }
        }
    }
}

/// Which legs end their current level first (all tied legs), seen from the start asset.
fn first_to_end(legs: &[LegWalk<'_>; 3]) -> Result<[bool; 3], Reject> {
    let [l1, l2, l3] = legs;
    // Leg 1's end and leg 2's end in leg 2's input units: exact on both sides.
    let one_vs_two = l1.out_end.cmp(&l2.in_end);
    let vs_three = match one_vs_two {
        Ordering::Less => {
            // Leg 1 ends first; carry its end through leg 2's current level into leg 3's units:
            // F2(x) = out_before2 + (x − in_before2) × num2 / den2, compared × den2.
            let carried = add(l2.by_den(l2.out_before)?, mul(sub(l1.out_end, l2.in_before)?, l2.num())?)?;
            carried.cmp(&l2.by_den(l3.in_end)?)
        }
        Ordering::Equal | Ordering::Greater => l2.out_end.cmp(&l3.in_end),
    };
    let earlier = match one_vs_two {
        Ordering::Less => [true, false, false],
        Ordering::Equal => [true, true, false],
        Ordering::Greater => [false, true, false],
    };
    Ok(match vs_three {
        Ordering::Less => earlier,
        Ordering::Equal => [earlier[0], earlier[1], true],
        Ordering::Greater => [false, false, true],
    })
}

/// True when the next breakpoint (the end of the `first` legs' levels) comes strictly before the
/// start amount `m`, i.e. the walk may pass it; false when `m` caps the walk first.
fn ends_before(legs: &[LegWalk<'_>; 3], first: [bool; 3], m: Decimal) -> Result<bool, Reject> {
    let [l1, l2, l3] = legs;
    if first[0] {
        return Ok(l1.in_end < m);
    }
    if m >= l1.in_end {
        return Ok(true); // the breakpoint is inside leg 1's level, m at or past its end
    }
    // m is inside leg 1's current level: F1(m) × den1, then compared in leg 2's units.
    let f1 = add(l1.by_den(l1.out_before)?, mul(sub(m, l1.in_before)?, l1.num())?)?;
    let end2 = l1.by_den(l2.in_end)?;
    if first[1] {
        return Ok(end2 < f1);
    }
    if f1 >= end2 {
        return Ok(true); // the breakpoint is inside leg 2's level, F1(m) at or past its end
    }
    // Only leg 3 ends first and F1(m) is inside leg 2's current level: compare F2(F1(m)) × den1 × den2.
    let f2 = add(l1.by_den(l2.by_den(l2.out_before)?)?, mul(sub(f1, l1.by_den(l2.in_before)?)?, l2.num())?)?;
    Ok(l1.by_den(l2.by_den(l3.in_end)?)? < f2)
}

/// The start amount at the breakpoint where the `first` legs end their level, mapped back to the
/// start asset through the inverse of the legs before (one leg suffices; ties agree exactly).
fn boundary(legs: &[LegWalk<'_>; 3], first: [bool; 3]) -> Result<Start, Reject> {
    let [l1, l2, l3] = legs;
    if first[0] {
        return Ok(Start { num: l1.in_end, den: Decimal::ONE });
    }
    // s = in_before1 + (y − out_before1) × den1 / num1, with y leg 1's output at the breakpoint.
    let n1 = l1.num();
    if first[1] {
        let num = add(mul(l1.in_before, n1)?, l1.by_den(sub(l2.in_end, l1.out_before)?)?)?;
        return Ok(Start { num, den: n1 });
    }
    // y = in_before2 + (in_end3 − out_before2) × den2 / num2 = y_num / num2.
    let n2 = l2.num();
    let y_num = add(mul(l2.in_before, n2)?, l2.by_den(sub(l3.in_end, l2.out_before)?)?)?;
    let num = add(mul(mul(l1.in_before, n1)?, n2)?, l1.by_den(sub(y_num, mul(l1.out_before, n2)?)?)?)?;
    Ok(Start { num, den: mul(n1, n2)? })
}
