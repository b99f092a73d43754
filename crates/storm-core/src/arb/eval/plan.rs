//! The plan at the limit prices: floored quantities, the money each leg spends and receives, the
//! exchange filters, the profit after all of it, and the confidence.
//!
//! Leg 1 spends the start amount the walk chose (a fraction, divided once here); each later leg
//! spends what the previous one received. A buy of `input` quote at limit `p` is
//! `qty = floor_step(input / p)`, spends `qty × p` and receives `qty × (1 − fee)`; a sell is
//! `qty = floor_step(input)`, spends `qty` and receives `qty × p × (1 − fee)`. Dust the floors
//! leave behind stays in the intermediate asset and is not counted as end amount.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::walk::{LegWalk, Start};
use super::{div, mul, sub, BookView, EvalParams, Evaluation, PlannedLeg, Reject};
use crate::arb::graph::{Cycle, CycleLeg};
use crate::{Instrument, Price, Qty, Side};

/// Builds and checks the plan at the legs' current (limit) levels.
pub(super) fn build(
    cycle: &Cycle,
    legs: &[LegWalk<'_>; 3],
    instruments: [&Instrument; 3],
    start: Start,
    params: &EvalParams,
    books: [&BookView<'_>; 3],
) -> Result<Evaluation, Reject> {
    let keep = sub(Decimal::ONE, params.taker_fee)?;
    let [c1, c2, c3] = &cycle.legs;
    let [w1, w2, w3] = legs;
    let [i1, i2, i3] = instruments;
    let l1 = plan_leg(c1, w1, i1, keep, start)?;
    let l2 = plan_leg(c2, w2, i2, keep, Start { num: l1.output, den: Decimal::ONE })?;
    let l3 = plan_leg(c3, w3, i3, keep, Start { num: l2.output, den: Decimal::ONE })?;

    let size = l1.input;
    let end = l3.output;
    let profit = sub(end, size)?;
    let bps = Decimal::from(10_000);
    if profit <= Decimal::ZERO || mul(profit, bps)? < mul(params.min_profit_bps, size)? {
        return Err(Reject::NotProfitable);
    }
    let profit_bps = div(mul(profit, bps)?, size)?;
    let planned = [l1, l2, l3];
    let confidence = confidence(&planned, legs, books, params.max_age_ms);
    Ok(Evaluation { size, end, profit, profit_bps, legs: planned, confidence })
}

/// One leg spending `amount` (`num / den` of its input asset) at the walk's limit level.
fn plan_leg(
    leg: &CycleLeg,
    walk: &LegWalk<'_>,
    instrument: &Instrument,
    keep: Decimal,
    amount: Start,
) -> Result<PlannedLeg, Reject> {
    let price = instrument.round_price(leg.side, Price(walk.price));
    if price.0 != walk.price {
        // The book's level is off the tick: a valid limit would not reach it.
        return Err(Reject::Filters);
    }
    let p = price.0;
    let (qty, input, output) = match leg.side {
        Side::Buy => {
            let qty = floor_div(instrument, amount.num, mul(amount.den, p)?)?;
            (qty, mul(qty, p)?, mul(qty, keep)?)
        }
        Side::Sell => {
            let qty = floor_div(instrument, amount.num, amount.den)?;
            (qty, qty, mul(mul(qty, p)?, keep)?)
        }
    };
    instrument.check_limit(price, Qty(qty)).map_err(|_| Reject::Filters)?;
    Ok(PlannedLeg { symbol: leg.symbol.clone(), side: leg.side, price, qty: Qty(qty), input, output })
}

/// The largest step multiple `q` with `q × d ≤ n` (`d > 0`).
pub(super) fn floor_div(instrument: &Instrument, n: Decimal, d: Decimal) -> Result<Decimal, Reject> {
    let q = instrument.floor_qty(Qty(div(n, d)?)).0;
    if mul(q, d)? <= n {
        return Ok(q);
    }
    // The quotient was rounded up onto the next step (or, with no step, past the exact value).
    let back = if instrument.step_size.is_zero() { Decimal::new(1, q.scale()) } else { instrument.step_size };
    Ok(sub(q, back)?.max(Decimal::ZERO))
}

/// `(1 − max share of the visible side taken) × (1 − oldest age / max_age_ms)`, in `0..=1`.
fn confidence(planned: &[PlannedLeg; 3], legs: &[LegWalk<'_>; 3], books: [&BookView<'_>; 3], max_age_ms: u64) -> f64 {
    let to_f64 = |d: Decimal| d.to_f64().unwrap_or(0.0);
    let share = planned
        .iter()
        .zip(legs)
        .map(|(leg, walk)| {
            let visible: f64 = walk.levels.iter().map(|l| to_f64(l.qty.0)).sum();
            if visible > 0.0 {
                to_f64(leg.qty.0) / visible
            } else {
                1.0
            }
        })
        .fold(0.0, f64::max);
    let oldest = books.iter().map(|b| b.age_ms).max().unwrap_or(0);
    let freshness = if max_age_ms == 0 { 1.0 } else { 1.0 - oldest as f64 / max_age_ms as f64 };
    ((1.0 - share) * freshness).clamp(0.0, 1.0)
}
