//! What the executor believes of the numbers it is handed, before any arithmetic on them.
//!
//! An opportunity comes from Redis, fills and books from the venue or Redis: any of them can be
//! 28 digits long, negative, or a quotient away from overflowing a `Decimal` — and a panic on an
//! entry is a crash on every redelivery. So an opportunity is checked whole before leg 1
//! ([`opportunity`], [`legs`]): plausible amounts and times, this executor's venue, and every
//! leg's price and quantity against its instrument's filters, with the notional computed checked
//! ([`filters`]). A venue's fill is checked against its order ([`fill`]) before it is believed.
//! Everything that fails is a reason string: the entry ends `rejected`, or the chain is parked.

use rust_decimal::Decimal;
use storm_core::arb::Opportunity;
use storm_core::{Instrument, Price, Qty};

use crate::journal::{LegFill, LegRecord};

/// Longest life of an opportunity from `created_ms` to `expires_ms`: a signal valid for longer
/// than this is not a signal (the finder's own are valid for a second or so).
pub const MAX_LIFETIME_MS: u64 = 3_600_000;

/// The opportunity's own fields at `now_ms`: why it cannot be traded by an executor on `venue`,
/// or `Ok`.
pub fn opportunity(opp: &Opportunity, venue: &str, now_ms: u64) -> Result<(), String> {
    if opp.id.is_empty() {
        return Err("empty id".into());
    }
    if opp.venue.as_str() != venue {
        return Err(format!("venue {:?} is not this executor's ({venue})", opp.venue.as_str()));
    }
    if let Some((i, leg)) = opp.legs.iter().enumerate().find(|(_, l)| l.venue.as_str() != venue) {
        return Err(format!("leg {}: venue {:?} is not this executor's ({venue})", i + 1, leg.venue.as_str()));
    }
    if opp.size <= Decimal::ZERO {
        return Err(format!("size {} is not positive", opp.size));
    }
    if opp.profit.is_sign_negative() || opp.profit > opp.size {
        return Err(format!("predicted profit {} outside [0, size {}]", opp.profit, opp.size));
    }
    if opp.profit_bps.is_sign_negative() || opp.profit_bps > Decimal::from(10_000) {
        return Err(format!("profit_bps {} outside [0, 10000]", opp.profit_bps));
    }
    if opp.expires_ms.saturating_sub(now_ms) > MAX_LIFETIME_MS {
        return Err(format!("expires {} ms from now, more than {MAX_LIFETIME_MS} ms", opp.expires_ms - now_ms));
    }
    match opp.expires_ms.checked_sub(opp.created_ms) {
        None => Err(format!("expires ({}) before it was created ({})", opp.expires_ms, opp.created_ms)),
        Some(life) if life > MAX_LIFETIME_MS => {
            Err(format!("valid for {life} ms from creation, more than {MAX_LIFETIME_MS} ms"))
        }
        Some(_) => Ok(()),
    }
}

/// Every leg against its instrument, before leg 1 is sent: known, trading, and its price and
/// quantity within the filters. `instrument` looks a symbol up.
pub fn legs<F>(opp: &Opportunity, instrument: F) -> Result<(), String>
where
    F: Fn(&storm_core::Symbol) -> Option<Instrument>,
{
    for (i, leg) in opp.legs.iter().enumerate() {
        let inst = instrument(&leg.symbol).ok_or_else(|| format!("leg {}: no instrument for {}", i + 1, leg.symbol))?;
        if !inst.is_trading() {
            return Err(format!("leg {}: {} is not trading", i + 1, leg.symbol));
        }
        filters(&inst, leg.price.0, leg.qty.0).map_err(|why| format!("leg {}: {why}", i + 1))?;
    }
    Ok(())
}

/// An order's price and quantity against the filters (the notional multiplied checked first, so
/// that the filter check itself cannot overflow); the notional when they pass.
pub fn filters(inst: &Instrument, price: Decimal, qty: Decimal) -> Result<Decimal, String> {
    let notional = price.checked_mul(qty).ok_or_else(|| format!("notional of {qty} at {price} overflows"))?;
    inst.check_limit(Price(price), Qty(qty)).map_err(|e| e.to_string())?;
    Ok(notional)
}

/// A venue's result for `leg` as far as it can be believed: quantities not negative, no more
/// filled than ordered, commissions not negative.
pub fn fill(leg: &LegRecord, fill: &LegFill) -> Result<(), String> {
    let bad = |what: String| Err(format!("{}: the venue reported {what}", leg.client_id));
    if fill.executed_qty.is_sign_negative() || fill.executed_qty > leg.qty {
        return bad(format!("{} filled of {} ordered", fill.executed_qty, leg.qty));
    }
    if fill.quote_qty.is_sign_negative() {
        return bad(format!("a quote amount of {}", fill.quote_qty));
    }
    if let Some((asset, fee)) = fill.commission.iter().find(|(_, v)| v.is_sign_negative()) {
        return bad(format!("a commission of {fee} {asset}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use storm_core::{Asset, Symbol, SymbolStatus};

    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    fn inst(tick: &str, step: &str, max_price: &str, max_qty: &str) -> Instrument {
        Instrument {
            symbol: Symbol::new("BTCUSDT"),
            base: Asset::new("BTC"),
            quote: Asset::new("USDT"),
            status: SymbolStatus::Trading,
            tick_size: d(tick),
            min_price: Decimal::ZERO,
            max_price: d(max_price),
            step_size: d(step),
            min_qty: Decimal::ZERO,
            max_qty: d(max_qty),
            min_notional: d("5"),
            max_notional: Decimal::ZERO,
        }
    }

    #[test]
    fn a_fill_is_believed_only_within_its_order() {
        let leg = LegRecord {
            role: crate::journal::LegRole::Leg(0),
            client_id: "x-1".into(),
            symbol: Symbol::new("BTCUSDT"),
            side: storm_core::Side::Buy,
            price: d("60000"),
            qty: d("0.01"),
            tif: "IOC".into(),
            intent_ms: 0,
            fill: None,
        };
        let f = |qty: &str, quote: &str, fee: &str| LegFill {
            order_id: Some("1".into()),
            status: "FILLED".into(),
            executed_qty: d(qty),
            quote_qty: d(quote),
            commission: [("BTC".to_owned(), d(fee))].into_iter().collect(),
            reject: None,
        };
        assert_eq!(fill(&leg, &f("0.01", "600", "0.00001")), Ok(()));
        assert_eq!(fill(&leg, &f("0", "0", "0")), Ok(()));
        for bad in [f("0.02", "600", "0"), f("-0.01", "600", "0"), f("0.01", "-600", "0"), f("0.01", "600", "-1")] {
            assert!(fill(&leg, &bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn extreme_prices_and_quantities_are_refused_without_a_panic() {
        let max = Decimal::MAX.to_string();
        let tiny = "0.0000000000000000000000000001";
        for i in [inst("0.01", "0.00001", "1000000", "9000"), inst("0", "0", "0", "0")] {
            for (p, q) in
                [(max.as_str(), "2"), ("2", max.as_str()), (max.as_str(), max.as_str()), (tiny, "1"), ("1", tiny)]
            {
                assert!(filters(&i, d(p), d(q)).is_err(), "{p} x {q} on tick {}", i.tick_size);
            }
            assert_eq!(filters(&i, d("60000"), d("0.001")), Ok(d("60")));
        }
    }
}
