//! The brute force the evaluator is checked against, written from the rules rather than from the
//! implementation, in exact rationals.
//!
//! The evaluator walks the three legs together and decides which level ends first by carrying
//! boundaries forward. This instead lists every breakpoint of the composed conversion in the
//! start asset (each level end of each leg, mapped back through the inverse conversions of the
//! legs before it, and `max_start`), sorts them, and tests the interval ending at each one by
//! pushing its amount forward through the legs: the size is the last breakpoint before the
//! first interval that does not clear the threshold, the limits are the levels that interval
//! used. The plan, the filters and the profit are then recomputed from the rules.

use rust_decimal::Decimal;
use storm_core::arb::Reject;
use storm_core::{Instrument, Level, Side};

use super::exact::Q;

/// One leg as the brute force sees it.
pub struct Leg<'a> {
    pub side: Side,
    /// The side it takes, best first.
    pub levels: &'a [Level],
    pub instrument: &'a Instrument,
}

/// What the plan should be.
#[derive(Debug, PartialEq)]
pub struct Plan {
    pub size: Decimal,
    pub end: Decimal,
    /// `(price, qty, input, output)` per leg.
    pub legs: [(Decimal, Decimal, Decimal, Decimal); 3],
    /// Level index of each leg's limit.
    pub limits: [usize; 3],
    /// True when `max_start` bound the size.
    pub capped: bool,
    /// True when two breakpoints (of different legs, or a leg and `max_start`) coincided up to
    /// the stop.
    pub tie: bool,
}

/// A leg's conversion, level by level: cumulative input and output, and each level's rate.
struct Conversion {
    cum_in: Vec<Q>,
    cum_out: Vec<Q>,
    rate: Vec<Q>,
}

impl Conversion {
    fn new(side: Side, levels: &[Level], keep: &Q) -> Self {
        let (mut cum_in, mut cum_out, mut rate) = (vec![Q::int(0)], vec![Q::int(0)], Vec::new());
        for l in levels {
            let (p, q) = (Q::dec(l.price.0), Q::dec(l.qty.0));
            let (cap, out) = match side {
                Side::Buy => (p.mul(&q), q.mul(keep)),
                Side::Sell => (q.clone(), q.mul(&p).mul(keep)),
            };
            rate.push(out.div(&cap));
            cum_in.push(cum_in.last().expect("seeded").add(&cap));
            cum_out.push(cum_out.last().expect("seeded").add(&out));
        }
        Self { cum_in, cum_out, rate }
    }

    /// The level holding the last unit of input `x > 0`, and the output for `x`; `None` past the depth.
    fn forward(&self, x: &Q) -> Option<(usize, Q)> {
        let i = (1..self.cum_in.len()).find(|&i| self.cum_in[i] >= *x)?;
        Some((i - 1, self.cum_out[i - 1].add(&x.sub(&self.cum_in[i - 1]).mul(&self.rate[i - 1]))))
    }

    /// The input that produces output `y`; `None` past the depth.
    fn inverse(&self, y: &Q) -> Option<Q> {
        let i = (1..self.cum_out.len()).find(|&i| self.cum_out[i] >= *y)?;
        Some(self.cum_in[i - 1].add(&y.sub(&self.cum_out[i - 1]).div(&self.rate[i - 1])))
    }

    /// Every level end, in this leg's input units.
    fn ends(&self) -> &[Q] {
        &self.cum_in[1..]
    }
}

/// The expected result of `evaluate` on live, fresh, well-formed books.
pub fn evaluate(
    legs: &[Leg<'_>; 3],
    fee: Decimal,
    min_bps: Decimal,
    max_start: Option<Decimal>,
) -> Result<Plan, Reject> {
    let keep = Decimal::ONE - fee;
    let keep_q = Q::dec(keep);
    let conv = legs.each_ref().map(|l| Conversion::new(l.side, l.levels, &keep_q));
    let threshold = Q::dec(Decimal::from(10_000) + min_bps).div(&Q::int(10_000));

    let mut breakpoints: Vec<Q> = conv[0].ends().to_vec();
    breakpoints.extend(conv[1].ends().iter().filter_map(|e| conv[0].inverse(e)));
    breakpoints.extend(conv[2].ends().iter().filter_map(|e| conv[0].inverse(&conv[1].inverse(e)?)));
    breakpoints.extend(max_start.map(Q::dec));
    breakpoints.sort();
    let all = breakpoints.clone();
    breakpoints.dedup();

    let mut best: Option<(Q, [usize; 3])> = None;
    for b in breakpoints {
        if max_start.is_some_and(|m| b > Q::dec(m)) {
            break;
        }
        let Some((i1, y1)) = conv[0].forward(&b) else { break };
        let Some((i2, y2)) = conv[1].forward(&y1) else { break };
        let Some((i3, _)) = conv[2].forward(&y2) else { break };
        if conv[0].rate[i1].mul(&conv[1].rate[i2]).mul(&conv[2].rate[i3]) < threshold {
            break;
        }
        best = Some((b, [i1, i2, i3]));
    }
    let (start, limits) = best.ok_or(Reject::NotProfitable)?;
    let capped = max_start.is_some_and(|m| start == Q::dec(m));
    let tie = all.windows(2).any(|w| w[0] == w[1] && w[1] <= start);

    let mut amount = start;
    let mut planned = Vec::new();
    let mut filters_ok = true;
    for (leg, &limit) in legs.iter().zip(&limits) {
        let i = leg.instrument;
        let price = leg.levels[limit].price.0;
        let (qty, input, output) = match leg.side {
            Side::Buy => {
                let qty = amount.div(&Q::dec(price)).floor_to(i.step_size);
                (qty, qty * price, qty * keep)
            }
            Side::Sell => {
                let qty = amount.floor_to(i.step_size);
                (qty, qty, qty * price * keep)
            }
        };
        let notional = qty * price;
        filters_ok &= price >= i.min_price
            && (i.max_price.is_zero() || price <= i.max_price)
            && (i.tick_size.is_zero() || (price % i.tick_size).is_zero())
            && qty > Decimal::ZERO
            && qty >= i.min_qty
            && (i.max_qty.is_zero() || qty <= i.max_qty)
            && notional >= i.min_notional
            && (i.max_notional.is_zero() || notional <= i.max_notional);
        planned.push((price, qty, input, output));
        amount = Q::dec(output);
    }
    if !filters_ok {
        return Err(Reject::Filters);
    }
    let legs: [_; 3] = planned.try_into().expect("three legs");
    let (size, end) = (legs[0].2, legs[2].3);
    if end <= size || (end - size) * Decimal::from(10_000) < min_bps * size {
        return Err(Reject::NotProfitable);
    }
    Ok(Plan { size, end, legs, limits, capped, tie })
}
