//! The one place stormctl decides how many digits a number shows a person. Redis holds exact
//! decimals (`61837.63000000`, a computed `60045.586131386861313868613139`, a gauge's
//! `0.08253200000000001`); a person reads prices at the instrument's tick size, quantities at its
//! step size (both from `storm:instruments:<venue>`, the filters booksync copies from the venue),
//! amounts of an asset at 8 decimals (the venues' balance precision), basis points with 2 decimals
//! and milliseconds whole. `--json` keeps the exact values: only the human output goes through here.
//!
//! Rounding is for display only (half away from zero); nothing computed from a shown number.
//! A symbol without instrument data falls back to 8 decimals (the venue's wire precision), and
//! text that is not a decimal is shown as it is.

use std::collections::HashMap;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::ctx::Conn;
use crate::fetch;

/// Decimals of an asset amount, and of a price or quantity without instrument data.
pub(crate) const AMOUNT_DP: u32 = 8;
/// Decimals of basis points.
pub(crate) const BPS_DP: u32 = 2;

/// `d` with exactly `dp` decimals (rounded half away from zero, zeros padded).
pub(crate) fn fixed(d: Decimal, dp: u32) -> String {
    let r = d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    format!("{r:.prec$}", prec = dp as usize)
}

/// An asset amount: as written when it has at most [`AMOUNT_DP`] decimals (`0.51200000`, `-3`),
/// else rounded to that, trailing zeros dropped (`0.43346884841158809655335691` → `0.43346885`).
pub(crate) fn amount(d: Decimal) -> String {
    if d.scale() <= AMOUNT_DP {
        return d.to_string();
    }
    d.round_dp_with_strategy(AMOUNT_DP, RoundingStrategy::MidpointAwayFromZero).normalize().to_string()
}

/// Basis points with 2 decimals (`43.34`).
pub(crate) fn bps(d: Decimal) -> String {
    fixed(d, BPS_DP)
}

/// Milliseconds, whole (`0`, `13`).
pub(crate) fn ms(d: Decimal) -> String {
    fixed(d, 0)
}

/// A decimal read as text, reformatted by `f`; anything that is not a decimal is kept as it is.
pub(crate) fn text_with(text: &str, f: impl Fn(Decimal) -> String) -> String {
    match parse(text) {
        Some(d) => f(d),
        None => text.to_owned(),
    }
}

/// A decimal in plain or scientific notation (a float gauge may be written `1e-7`).
pub(crate) fn parse(text: &str) -> Option<Decimal> {
    let t = text.trim();
    t.parse::<Decimal>().ok().or_else(|| Decimal::from_scientific(t).ok())
}

/// A metric value: a name ending in `_ms` (or `_ms{labels}`) whole, `_bps` with 2 decimals,
/// anything else as an amount (at most 8 decimals).
pub(crate) fn metric(name: &str, value: &str) -> String {
    let base = name.split('{').next().unwrap_or(name);
    if base.ends_with("_ms") {
        text_with(value, ms)
    } else if base.ends_with("_bps") {
        text_with(value, bps)
    } else {
        text_with(value, amount)
    }
}

/// Plain stream fields that hold an amount of the entry's asset.
const AMOUNT_FIELDS: [&str; 6] = ["predicted", "realized", "slippage", "size", "profit", "loss"];
/// Plain stream fields that hold a JSON object of asset → amount.
const AMOUNT_MAP_FIELDS: [&str; 2] = ["pnl", "residue"];

/// A plain field of a stream entry (`storm:opps`, `storm:arb:log`, `storm:exec:failed`) for a
/// person: amounts (also inside `pnl` and `residue`) at most 8 decimals, `*_bps` with 2, `*_ms`
/// whole; everything else as written.
pub(crate) fn field(name: &str, value: &str) -> String {
    if AMOUNT_FIELDS.contains(&name) {
        text_with(value, amount)
    } else if AMOUNT_MAP_FIELDS.contains(&name) {
        amount_map(value)
    } else if name.ends_with("_bps") {
        text_with(value, bps)
    } else if name.ends_with("_ms") {
        text_with(value, ms)
    } else {
        value.to_owned()
    }
}

/// `{"BTC":"-0.00100000000000000000","USDT":"0.512345678912"}` → `{"BTC":"-0.001","USDT":"0.51234568"}`;
/// text that is not such an object is kept as it is.
fn amount_map(value: &str) -> String {
    let Ok(serde_json::Value::Object(mut map)) = serde_json::from_str::<serde_json::Value>(value) else {
        return value.to_owned();
    };
    for v in map.values_mut() {
        let shown = match v {
            serde_json::Value::String(s) => text_with(s, amount),
            serde_json::Value::Number(n) => text_with(&n.to_string(), amount),
            _ => continue,
        };
        *v = serde_json::Value::String(shown);
    }
    serde_json::Value::Object(map).to_string()
}

/// Decimals of one instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Places {
    price: u32,
    qty: u32,
}

/// Prices and quantities of the venues' symbols at their tick and step sizes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Digits {
    /// (venue, symbol) → decimals.
    places: HashMap<(String, String), Places>,
}

/// The decimals a filter allows (`0.01000000` → 2); none for a disabled (zero) filter.
fn places_of(filter: Decimal) -> Option<u32> {
    (!filter.is_zero()).then(|| filter.normalize().scale())
}

impl Digits {
    /// The instruments of `venues` from `storm:instruments:<venue>`; an unreadable hash or entry
    /// only loses its digits (the fallback is [`AMOUNT_DP`]), a lost connection is an error.
    pub(crate) async fn load(
        conn: &mut Conn,
        keys: &storm_bus::Keys,
        venues: &[&str],
    ) -> Result<Self, redis::RedisError> {
        let mut digits = Self::default();
        for venue in venues {
            let fields = match fetch::hash(conn, &keys.instruments(venue)).await {
                Ok(f) => f,
                Err(e) if fetch::is_connection_error(&e) => return Err(e),
                Err(_) => continue,
            };
            for json in fields.values() {
                digits.add(venue, json);
            }
        }
        Ok(digits)
    }

    /// [`Digits::load`] for every venue that has a `storm:instruments:<venue>` hash.
    pub(crate) async fn load_all(conn: &mut Conn, keys: &storm_bus::Keys) -> Result<Self, redis::RedisError> {
        let pattern = keys.instruments("*");
        let found = fetch::scan(conn, &pattern).await?;
        let venues: Vec<&str> = found.iter().map(|k| k.strip_prefix(fetch::prefix_of(&pattern)).unwrap_or(k)).collect();
        Self::load(conn, keys, &venues).await
    }

    /// Adds one `storm:instruments:<venue>` value (ignored when unreadable).
    pub(crate) fn add(&mut self, venue: &str, json: &str) {
        if let Ok(i) = storm_bus::instruments::decode(json) {
            let places = Places {
                price: places_of(i.tick_size).unwrap_or(AMOUNT_DP),
                qty: places_of(i.step_size).unwrap_or(AMOUNT_DP),
            };
            self.places.insert((venue.to_owned(), i.symbol.to_string()), places);
        }
    }

    fn places(&self, venue: &str, symbol: &str) -> Option<Places> {
        self.places.get(&(venue.to_owned(), symbol.to_owned())).copied()
    }

    /// A price of `symbol` on `venue` at its tick size.
    pub(crate) fn price(&self, venue: &str, symbol: &str, d: Decimal) -> String {
        match self.places(venue, symbol) {
            Some(p) => fixed(d, p.price),
            None => amount(d),
        }
    }

    /// A quantity of `symbol` on `venue` at its step size.
    pub(crate) fn qty(&self, venue: &str, symbol: &str, d: Decimal) -> String {
        match self.places(venue, symbol) {
            Some(p) => fixed(d, p.qty),
            None => amount(d),
        }
    }

    /// [`Digits::price`] of a decimal read as text.
    pub(crate) fn price_text(&self, venue: &str, symbol: &str, text: &str) -> String {
        text_with(text, |d| self.price(venue, symbol, d))
    }

    /// [`Digits::qty`] of a decimal read as text.
    pub(crate) fn qty_text(&self, venue: &str, symbol: &str, text: &str) -> String {
        text_with(text, |d| self.qty(venue, symbol, d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    #[test]
    fn each_kind_has_its_digits() {
        let mut digits = Digits::default();
        digits.add(
            "sim",
            r#"{"symbol":"BNBBTC","base":"BNB","quote":"BTC","status":"TRADING","tick_size":"0.0000001",
            "min_price":"0","max_price":"0","step_size":"0.001","min_qty":"0","max_qty":"0",
            "min_notional":"0","max_notional":"0"}"#,
        );
        assert_eq!(digits.qty("sim", "BNBBTC", d("1.090200000000000000000000000")), "1.090");
        assert_eq!(digits.price("sim", "BNBBTC", d("0.00912345678")), "0.0091235");
        assert_eq!(digits.price("sim", "NOPE", d("60045.586131386861313868613139")), "60045.58613139");
        assert_eq!(bps(d("43.336884841158809655335691026")), "43.34");
        assert_eq!(ms(d("0.08253200000000001")), "0");
        assert_eq!(metric("storm_ingester_conn_ping_lag_ms{conn=\"a\"}", "13.6"), "14");
        assert_eq!(metric("x", "1e-7"), "0.0000001");
        assert_eq!(amount(d("-0.51200000")), "-0.51200000");
        assert_eq!(amount(d("0.43346884841158809655335691")), "0.43346885");
        assert_eq!(text_with("n/a", amount), "n/a");
        assert_eq!(field("realized", "0.512345678912345"), "0.51234568");
        assert_eq!(field("realized", "0.51200000"), "0.51200000");
        assert_eq!(
            field("pnl", r#"{"BTC":"-0.00100000000000000000","USDT":"0.5"}"#),
            r#"{"BTC":"-0.001","USDT":"0.5"}"#
        );
        assert_eq!(field("profit_bps", "43.336884841158809655335691026"), "43.34");
        assert_eq!(field("reason", "all legs filled"), "all legs filled");
    }
}
