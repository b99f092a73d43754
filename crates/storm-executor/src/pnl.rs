//! What a chain did to the account, computed only from the venue's fills and commissions:
//! per asset, what was received minus what was paid minus commissions. This is the realized PnL
//! written to `storm:arb:log`, the inventory an unwind must return, and — because it is built
//! from the same numbers the venue books — exactly the change of the account's balances.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use storm_core::{Asset, Instrument, Side, Symbol};

use crate::journal::{ChainRecord, LegRecord};

/// Net change per asset.
pub type Deltas = BTreeMap<Asset, Decimal>;

/// Adds one order's fill to `deltas`; `Err` when the venue's numbers do not fit a `Decimal`.
pub fn add_leg(deltas: &mut Deltas, leg: &LegRecord, inst: &Instrument) -> Result<(), String> {
    let Some(fill) = &leg.fill else { return Ok(()) };
    if fill.executed_qty.is_zero() {
        return Ok(());
    }
    let (base, quote) = match leg.side {
        Side::Buy => (fill.executed_qty, -fill.quote_qty),
        Side::Sell => (-fill.executed_qty, fill.quote_qty),
    };
    let fees = fill.commission.iter().map(|(a, fee)| (Asset::new(a), -*fee));
    for (asset, amount) in [(inst.base.clone(), base), (inst.quote.clone(), quote)].into_iter().chain(fees) {
        let slot = deltas.entry(asset).or_default();
        *slot = slot.checked_add(amount).ok_or_else(|| format!("{}: the account change overflows", leg.client_id))?;
    }
    Ok(())
}

/// Net change of the whole chain; legs on symbols missing from `instruments` are skipped (the
/// caller refuses to trade a symbol it has no instrument for, so none of them has fills). `Err`
/// when the fills add up past what a `Decimal` holds (a venue reply that cannot be believed).
pub fn deltas<F>(record: &ChainRecord, instrument: F) -> Result<Deltas, String>
where
    F: Fn(&Symbol) -> Option<Instrument>,
{
    let mut out = Deltas::new();
    for leg in &record.legs {
        if let Some(inst) = instrument(&leg.symbol) {
            add_leg(&mut out, leg, &inst)?;
        }
    }
    out.retain(|_, v| !v.is_zero());
    Ok(out)
}

/// The assets other than `start` the chain still holds (positive net change).
pub fn inventory(deltas: &Deltas, start: &Asset) -> Vec<(Asset, Decimal)> {
    deltas
        .iter()
        .filter(|(a, v)| *a != start && v.is_sign_positive() && !v.is_zero())
        .map(|(a, v)| (a.clone(), *v))
        .collect()
}

/// `{"USDT":"1.23","BTC":"-0.0001"}`: decimal strings, as everywhere in Redis.
pub fn to_json(deltas: &Deltas) -> String {
    let map: BTreeMap<&str, String> = deltas.iter().map(|(a, v)| (a.as_str(), v.normalize().to_string())).collect();
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests {
    use storm_core::SymbolStatus;

    use super::*;
    use crate::journal::{LegFill, LegRole};

    fn inst(sym: &str, base: &str, quote: &str) -> Instrument {
        Instrument {
            symbol: Symbol::new(sym),
            base: Asset::new(base),
            quote: Asset::new(quote),
            status: SymbolStatus::Trading,
            tick_size: Decimal::ZERO,
            min_price: Decimal::ZERO,
            max_price: Decimal::ZERO,
            step_size: Decimal::ZERO,
            min_qty: Decimal::ZERO,
            max_qty: Decimal::ZERO,
            min_notional: Decimal::ZERO,
            max_notional: Decimal::ZERO,
        }
    }

    fn leg(sym: &str, side: Side, qty: &str, quote: &str, fee: (&str, &str)) -> LegRecord {
        let d = |s: &str| s.parse::<Decimal>().expect("decimal");
        LegRecord {
            role: LegRole::Leg(0),
            client_id: "x".into(),
            symbol: Symbol::new(sym),
            side,
            price: Decimal::ONE,
            qty: d(qty),
            tif: "IOC".into(),
            intent_ms: 0,
            fill: Some(LegFill {
                order_id: Some("1".into()),
                status: "FILLED".into(),
                executed_qty: d(qty),
                quote_qty: d(quote),
                commission: [(fee.0.to_owned(), d(fee.1))].into_iter().collect(),
                reject: None,
            }),
        }
    }

    #[test]
    fn a_full_triangle_leaves_only_the_start_asset_changed() {
        let mut r = ChainRecord::new("a", "USDT>BTC>ETH>USDT", &Asset::new("USDT"), "x", 0);
        // buy 0.01 BTC for 300 USDT (fee 0.00001 BTC), buy ETH with 0.00999 BTC, sell the ETH.
        r.legs.push(leg("BTCUSDT", Side::Buy, "0.01", "300", ("BTC", "0.00001")));
        r.legs.push(leg("ETHBTC", Side::Buy, "0.2", "0.00999", ("ETH", "0.0002")));
        r.legs.push(leg("ETHUSDT", Side::Sell, "0.1998", "303", ("USDT", "0.303")));
        let all = [inst("BTCUSDT", "BTC", "USDT"), inst("ETHBTC", "ETH", "BTC"), inst("ETHUSDT", "ETH", "USDT")];
        let d = deltas(&r, |s| all.iter().find(|i| &i.symbol == s).cloned()).expect("fits");
        assert_eq!(d.get(&Asset::new("USDT")), Some(&"2.697".parse().expect("d")));
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(inventory(&d, &Asset::new("USDT")).is_empty());
        assert_eq!(to_json(&d), r#"{"USDT":"2.697"}"#);
    }

    #[test]
    fn a_broken_chain_holds_the_intermediate_asset() {
        let mut r = ChainRecord::new("a", "USDT>BTC>ETH>USDT", &Asset::new("USDT"), "x", 0);
        r.legs.push(leg("BTCUSDT", Side::Buy, "0.01", "300", ("BTC", "0.00001")));
        let all = [inst("BTCUSDT", "BTC", "USDT")];
        let d = deltas(&r, |s| all.iter().find(|i| &i.symbol == s).cloned()).expect("fits");
        assert_eq!(inventory(&d, &Asset::new("USDT")), vec![(Asset::new("BTC"), "0.00999".parse().expect("d"))]);
    }
}
