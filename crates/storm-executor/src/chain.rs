//! One opportunity's legs, in order, sized from what really filled; then, if the chain broke or
//! left inventory, the unwind.
//!
//! The function is driven by the journal record, so running it again after a crash continues
//! exactly where the last run stopped: a leg with a result is not touched, a leg with only an
//! intent is resolved by query ([`crate::order::resolve`]), and only legs never intended are
//! sent. Leg `k + 1`'s quantity is the net amount leg `k` delivered (fill minus commission,
//! floored to the step); a leg that fills nothing ends the chain — cleanly if it is the first.

use rust_decimal::Decimal;
use storm_core::arb::Opportunity;
use storm_core::{Asset, Instrument, Side, Symbol};
use storm_venues::trading::TimeInForce;

use crate::config::UnwindPolicy;
use crate::ctx::{ChainError, Ctx};
use crate::journal::{ChainRecord, LegRecord, LegRole};
use crate::order::{self, Intent};
use crate::pnl::{self, Deltas};

/// Most unwind orders per chain (each one takes what the book has within the slippage bound).
const MAX_UNWINDS: usize = 4;

/// How a chain ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainEnd {
    /// `executed`, `partial`, `rejected` or `failed`.
    pub outcome: &'static str,
    /// Why, when not plainly executed.
    pub reason: Option<String>,
    /// Net change per asset.
    pub deltas: Deltas,
    /// True when the chain broke or needed an unwind (reported on `storm:exec:failed`).
    pub broken: bool,
    /// Inventory left after the unwind (asset ≠ start).
    pub residue: Vec<(Asset, Decimal)>,
    /// A parked chain's `storm:exec:parked` JSON.
    pub parked: Option<String>,
}

impl ChainEnd {
    fn new(outcome: &'static str, reason: Option<String>, deltas: Deltas, broken: bool) -> Self {
        Self { outcome, reason, deltas, broken, residue: Vec::new(), parked: None }
    }
}

/// The end of a chain stopped by [`ChainError::Parked`]: `failed`, reported with the orders
/// whose status is unknown, the account change known so far, and no unwind (what the unknown
/// orders did to the inventory is not known).
pub fn parked(ctx: &Ctx, record: &ChainRecord, why: String) -> ChainEnd {
    let deltas = pnl::deltas(record, |s| ctx.instrument(s)).unwrap_or_default();
    let unresolved: Vec<String> =
        record.legs.iter().filter(|l| l.fill.is_none()).map(|l| format!("{} {}", l.client_id, l.symbol)).collect();
    let reason = format!("parked: {why}; check {} on the venue", unresolved.join(", "));
    tracing::error!(opp = %record.opp_id, %reason, "chain parked for an operator");
    let residue = pnl::inventory(&deltas, &record.asset);
    let json = crate::outcome::parked_json(record, &why, &unresolved, &ctx.owner);
    ChainEnd { residue, parked: Some(json), ..ChainEnd::new("failed", Some(reason), deltas, true) }
}

/// [`execute`], with a chain stopped by [`ChainError::Parked`] ended as [`parked`] — whoever runs
/// it (the gate's "go", a take-over, a lost intent), so a parked chain is always logged, leaves
/// the open set and its lease, and is never found again as an orphan.
pub async fn execute_or_park(
    ctx: &Ctx,
    opp: &Opportunity,
    record: &mut ChainRecord,
    fresh: bool,
) -> Result<ChainEnd, ChainError> {
    match execute(ctx, opp, record, fresh).await {
        Err(ChainError::Parked(why)) => Ok(parked(ctx, record, why)),
        other => other,
    }
}

/// [`pnl::deltas`] of the chain; a sum that overflows parks it.
fn deltas(ctx: &Ctx, record: &ChainRecord) -> Result<Deltas, ChainError> {
    pnl::deltas(record, |s| ctx.instrument(s)).map_err(ChainError::Parked)
}

/// Leg 1's intent, ready for the gate to journal, or why it cannot be sent — nor the chain
/// started: every leg is checked against its instrument first ([`crate::sanity::legs`]).
pub fn first_intent(ctx: &Ctx, opp: &Opportunity) -> Result<LegRecord, String> {
    crate::sanity::legs(opp, |s| ctx.instrument(s))?;
    let leg = opp.legs.first().ok_or("no legs")?;
    let inst = ctx.instrument(&leg.symbol).ok_or_else(|| format!("leg 1: no instrument for {}", leg.symbol))?;
    check(&inst, leg.price.0, leg.qty.0).map_err(|why| format!("leg 1: {why}"))?;
    let tif = if ctx.cfg.first_leg_fok { TimeInForce::Fok } else { TimeInForce::Ioc };
    let intent = Intent {
        role: LegRole::Leg(0),
        inst: &inst,
        side: leg.side,
        price: leg.price.0,
        qty: leg.qty.0,
        tif,
        not_after_ms: None,
    };
    Ok(order::leg_record(ctx, &opp.id, &intent))
}

/// Runs (or continues) the chain of `opp` recorded in `record`. `fresh`: the gate has just
/// journaled leg 1's intent, which is sent now; otherwise (a continued chain) an intent without a
/// result may have been sent before a crash and is resolved by query.
pub async fn execute(
    ctx: &Ctx,
    opp: &Opportunity,
    record: &mut ChainRecord,
    fresh: bool,
) -> Result<ChainEnd, ChainError> {
    let mut broken: Option<String> = None;
    let mut all_full = true;
    for (i, leg) in opp.legs.iter().enumerate() {
        let role = LegRole::Leg(i);
        let Some(inst) = ctx.instrument(&leg.symbol) else {
            broken = Some(format!("leg {}: no instrument for {}", i + 1, leg.symbol));
            break;
        };
        let fill = match record.leg(role).map(|l| l.fill.clone()) {
            Some(Some(fill)) => fill,
            Some(None) if fresh && i == 0 => order::transmit(ctx, record, role, &inst, Some(opp.expires_ms)).await?,
            Some(None) => order::resolve(ctx, record, role).await?,
            None => {
                let qty = if i == 0 { Ok(leg.qty.0) } else { next_qty(ctx, record, &inst, leg.side, leg.price.0) };
                let qty = match qty.and_then(|qty| check(&inst, leg.price.0, qty).map(|()| qty)) {
                    Ok(qty) => qty,
                    Err(why) => {
                        broken = Some(format!("leg {}: {why}", i + 1));
                        break;
                    }
                };
                let tif = if i == 0 && ctx.cfg.first_leg_fok { TimeInForce::Fok } else { TimeInForce::Ioc };
                let not_after_ms = (i == 0).then_some(opp.expires_ms);
                let intent = Intent { role, inst: &inst, side: leg.side, price: leg.price.0, qty, tif, not_after_ms };
                order::send(ctx, record, intent).await?
            }
        };
        if fill.executed_qty.is_zero() {
            let why = fill.reject.clone().unwrap_or_else(|| format!("{} with nothing filled", fill.status));
            broken = Some(format!("leg {}: {why}", i + 1));
            break;
        }
        let intended = record.leg(role).map_or(Decimal::ZERO, |l| l.qty);
        all_full &= fill.executed_qty >= intended;
    }
    let deltas = deltas(ctx, record)?;
    if deltas.is_empty() {
        // Nothing traded at all: the first leg did not fill (or was refused).
        let reason = broken.unwrap_or_else(|| "nothing filled".into());
        return Ok(ChainEnd::new("rejected", Some(reason), deltas, false));
    }
    let needs_unwind = !pnl::inventory(&deltas, &record.asset).iter().all(|(a, v)| is_dust(ctx, record, a, *v));
    if broken.is_none() && !needs_unwind {
        let outcome = if all_full { "executed" } else { "partial" };
        return Ok(ChainEnd::new(outcome, None, deltas, false));
    }
    let unwound = unwind(ctx, record).await?;
    let deltas = self::deltas(ctx, record)?;
    let residue = pnl::inventory(&deltas, &record.asset);
    let clean = residue.iter().all(|(a, v)| is_dust(ctx, record, a, *v));
    let mut reason = broken.unwrap_or_else(|| "inventory left by partial fills".into());
    reason.push_str(match (ctx.cfg.unwind, clean) {
        (UnwindPolicy::Hold, _) => "; held (unwind policy hold)",
        (_, true) => "; unwound to the start asset",
        (_, false) if unwound == 0 => "; no unwind possible",
        (_, false) => "; unwind incomplete",
    });
    let outcome = if clean && ctx.cfg.unwind == UnwindPolicy::Return { "partial" } else { "failed" };
    Ok(ChainEnd { residue, ..ChainEnd::new(outcome, Some(reason), deltas, true) })
}

/// Quantity of a later leg: everything the chain holds of the asset this leg spends. `Err` when
/// the quotient does not fit (a price far too small for what is held).
fn next_qty(ctx: &Ctx, record: &ChainRecord, inst: &Instrument, side: Side, price: Decimal) -> Result<Decimal, String> {
    let deltas = pnl::deltas(record, |s| ctx.instrument(s))?;
    let spend = match side {
        Side::Buy => &inst.quote,
        Side::Sell => &inst.base,
    };
    let available = deltas.get(spend).copied().unwrap_or_default().max(Decimal::ZERO);
    let raw = match side {
        Side::Sell => available,
        Side::Buy if price.is_zero() => Decimal::ZERO,
        Side::Buy => available.checked_div(price).ok_or_else(|| format!("{available} {spend} at {price} overflows"))?,
    };
    let mut qty = inst.floor_qty(storm_core::Qty(raw)).0;
    if !inst.max_qty.is_zero() {
        qty = qty.min(inst.max_qty);
    }
    Ok(qty)
}

/// Filters an order must pass before it is sent (the notional multiplied checked).
fn check(inst: &Instrument, price: Decimal, qty: Decimal) -> Result<(), String> {
    if qty.is_zero() {
        return Err("quantity rounds to zero".into());
    }
    crate::sanity::filters(inst, price, qty).map(|_| ())
}

/// The market between `asset` and `start`, and the side that turns `asset` into `start`.
fn route(ctx: &Ctx, asset: &Asset, start: &Asset) -> Option<(Instrument, Side)> {
    let all = ctx.instruments.read().unwrap_or_else(|e| e.into_inner());
    all.values().filter(|i| i.is_trading()).find_map(|i| {
        if &i.base == asset && &i.quote == start {
            Some((i.clone(), Side::Sell))
        } else if &i.base == start && &i.quote == asset {
            Some((i.clone(), Side::Buy))
        } else {
            None
        }
    })
}

/// True when `amount` of `asset` is below what any order back to `start` could trade (step,
/// min qty, min notional at the price the chain last used on that market).
fn is_dust(ctx: &Ctx, record: &ChainRecord, asset: &Asset, amount: Decimal) -> bool {
    let start = &record.asset;
    match route(ctx, asset, start) {
        None => false,
        Some((inst, Side::Sell)) => {
            let q = inst.floor_qty(storm_core::Qty(amount)).0;
            let price = leg_price(record, &inst.symbol).unwrap_or_default();
            q.is_zero()
                || inst.check_qty(storm_core::Qty(q)).is_err()
                || q.checked_mul(price).is_some_and(|n| !price.is_zero() && inst.check_notional(n).is_err())
        }
        Some((inst, Side::Buy)) => amount.is_zero() || (!inst.min_notional.is_zero() && amount < inst.min_notional),
    }
}

/// Sends the chain's inventory back to the start asset (policy `return`), each order an IOC at
/// most `unwind_slippage_bps` worse than the best price on the book (or the legs' own price when
/// no live book is readable). Returns how many unwind orders were sent.
async fn unwind(ctx: &Ctx, record: &mut ChainRecord) -> Result<usize, ChainError> {
    for n in 0..record.unwinds() {
        if record.leg(LegRole::Unwind(n)).is_some_and(|l| l.fill.is_none()) {
            order::resolve(ctx, record, LegRole::Unwind(n)).await?;
        }
    }
    if ctx.cfg.unwind == UnwindPolicy::Hold {
        return Ok(0);
    }
    let mut sent = 0;
    while record.unwinds() < MAX_UNWINDS {
        let deltas = deltas(ctx, record)?;
        let Some((asset, amount, inst, side)) = pnl::inventory(&deltas, &record.asset)
            .into_iter()
            .filter(|(a, v)| !is_dust(ctx, record, a, *v))
            .find_map(|(a, v)| route(ctx, &a, &record.asset).map(|(i, s)| (a, v, i, s)))
        else {
            break;
        };
        let Some(reference) = reference_price(ctx, record, &inst.symbol, side).await else {
            break;
        };
        let Some((price, qty)) = unwind_order(ctx, &inst, side, reference, amount) else {
            tracing::warn!(%asset, %amount, %reference, symbol = %inst.symbol, "inventory cannot be unwound (amounts overflow)");
            break;
        };
        if check(&inst, price, qty).is_err() {
            tracing::warn!(%asset, %amount, symbol = %inst.symbol, "inventory cannot be unwound (filters)");
            break;
        }
        let role = LegRole::Unwind(record.unwinds());
        let intent = Intent { role, inst: &inst, side, price, qty, tif: TimeInForce::Ioc, not_after_ms: None };
        let fill = order::send(ctx, record, intent).await?;
        sent += 1;
        if fill.executed_qty.is_zero() {
            break;
        }
    }
    Ok(sent)
}

/// The limit and quantity of an unwind of `amount` at most `unwind_slippage_bps` worse than
/// `reference` (read from a book or the venue: every step checked); `None` when they overflow.
fn unwind_order(
    ctx: &Ctx,
    inst: &Instrument,
    side: Side,
    reference: Decimal,
    amount: Decimal,
) -> Option<(Decimal, Decimal)> {
    let bps = ctx.cfg.unwind_slippage_bps.checked_div(Decimal::from(10_000))?;
    let limit = |factor: Decimal| reference.checked_mul(factor);
    match side {
        Side::Sell => {
            let raw = limit(Decimal::ONE.checked_sub(bps)?)?;
            raw.checked_add(inst.tick_size)?; // ceil_price adds up to one tick
            Some((inst.ceil_price(storm_core::Price(raw)).0, inst.floor_qty(storm_core::Qty(amount)).0))
        }
        Side::Buy => {
            let p = inst.floor_price(storm_core::Price(limit(Decimal::ONE.checked_add(bps)?)?)).0;
            let q = if p.is_zero() { Decimal::ZERO } else { amount.checked_div(p)? };
            Some((p, inst.floor_qty(storm_core::Qty(q)).0))
        }
    }
}

/// The price an unwind is bounded against: the live book booksync publishes, else the venue's
/// book ticker, else (no market view at all) the price this chain last used on the symbol.
async fn reference_price(ctx: &Ctx, record: &ChainRecord, symbol: &Symbol, side: Side) -> Option<Decimal> {
    if let Some(p) = crate::book::best(&ctx.bus, &ctx.venue, symbol, side).await {
        return Some(p);
    }
    if let Some(p) = ctx.gateway.best_price(symbol, side).await {
        return Some(p);
    }
    leg_price(record, symbol)
}

/// The limit price a leg of this chain used on `symbol`, as a last-resort reference.
fn leg_price(record: &ChainRecord, symbol: &Symbol) -> Option<Decimal> {
    record.legs.iter().find(|l| &l.symbol == symbol).map(|l| l.price)
}
