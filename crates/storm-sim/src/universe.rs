//! The default simulated universe: real Binance pairs between a handful of major assets, with
//! filters derived from each pair's price the way Binance sizes them (about six significant
//! digits of price, a step worth a few cents, a minimum notional of about 5 USDT).
//!
//! Fair values are per asset, in USDT; a pair's fair price is `fair(base) / fair(quote)`, so every
//! cross rate is consistent by construction and triangles only open when the sim injects a
//! mispricing.

use std::str::FromStr;

use rust_decimal::Decimal;
use storm_core::{Asset, Instrument, Symbol, SymbolStatus};

/// Assets of the default universe with a starting fair value in USDT.
pub const DEFAULT_ASSETS: &[(&str, &str)] = &[
    ("USDT", "1"),
    ("BTC", "60000"),
    ("ETH", "3000"),
    ("BNB", "550"),
    ("SOL", "150"),
    ("XRP", "0.5"),
    ("ADA", "0.4"),
    ("DOGE", "0.12"),
    ("LTC", "70"),
    ("TRX", "0.12"),
];

/// (base, quote) pairs Binance lists between the default assets.
pub const DEFAULT_PAIRS: &[(&str, &str)] = &[
    ("BTC", "USDT"),
    ("ETH", "USDT"),
    ("BNB", "USDT"),
    ("SOL", "USDT"),
    ("XRP", "USDT"),
    ("ADA", "USDT"),
    ("DOGE", "USDT"),
    ("LTC", "USDT"),
    ("TRX", "USDT"),
    ("ETH", "BTC"),
    ("BNB", "BTC"),
    ("SOL", "BTC"),
    ("XRP", "BTC"),
    ("ADA", "BTC"),
    ("DOGE", "BTC"),
    ("LTC", "BTC"),
    ("TRX", "BTC"),
    ("BNB", "ETH"),
    ("SOL", "ETH"),
    ("XRP", "ETH"),
    ("ADA", "ETH"),
    ("LTC", "ETH"),
    ("TRX", "ETH"),
    ("SOL", "BNB"),
    ("XRP", "BNB"),
    ("ADA", "BNB"),
    ("LTC", "BNB"),
    ("TRX", "BNB"),
    ("DOGE", "BNB"),
];

/// 10^exp as a Decimal (exp in -28..=28).
pub fn pow10(exp: i32) -> Decimal {
    if exp >= 0 {
        Decimal::from_i128_with_scale(10i128.pow(exp.min(28) as u32), 0)
    } else {
        Decimal::new(1, (-exp).min(28) as u32)
    }
}

/// floor(log10(d)) for d > 0, exactly (from the mantissa's digit count and the scale).
pub fn magnitude(d: Decimal) -> i32 {
    let digits = d.mantissa().unsigned_abs().to_string().len() as i32;
    digits - 1 - d.scale() as i32
}

/// A positive value rounded up to one significant digit (0.00167 → 0.002).
fn ceil_one_digit(x: Decimal) -> Decimal {
    let unit = pow10(magnitude(x));
    (x / unit).ceil() * unit
}

/// Builds the instrument of `base`/`quote` at a fair price, with Binance-like filters.
pub fn instrument(base: &str, quote: &str, price: Decimal, quote_fair_usdt: Decimal) -> Instrument {
    let tick = pow10((magnitude(price) - 5).clamp(-8, 0));
    // A step worth about 0.1 of the quote... expressed per unit of base: 0.1 USDT of notional.
    let step_value = Decimal::new(1, 1) / quote_fair_usdt;
    let step = pow10(magnitude(step_value / price).clamp(-8, 0));
    let min_notional = ceil_one_digit(Decimal::from(5) / quote_fair_usdt);
    Instrument {
        symbol: Symbol::new(format!("{base}{quote}")),
        base: Asset::new(base),
        quote: Asset::new(quote),
        status: SymbolStatus::Trading,
        tick_size: tick,
        min_price: tick,
        max_price: Decimal::from(1_000_000),
        step_size: step,
        min_qty: step,
        max_qty: Decimal::from(9_000_000),
        min_notional,
        max_notional: Decimal::from(9_000_000),
    }
}

/// Parses the asset table (static strings known to be valid decimals).
pub fn default_fair_values() -> Vec<(String, Decimal)> {
    DEFAULT_ASSETS.iter().filter_map(|(a, v)| Decimal::from_str(v).ok().map(|d| (a.to_string(), d))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    #[test]
    fn magnitude_is_exact() {
        assert_eq!(magnitude(d("60000")), 4);
        assert_eq!(magnitude(d("0.05")), -2);
        assert_eq!(magnitude(d("1")), 0);
        assert_eq!(magnitude(d("9.99")), 0);
    }

    #[test]
    fn filters_look_like_binance() {
        let btc = instrument("BTC", "USDT", d("60000"), Decimal::ONE);
        assert_eq!(btc.tick_size, d("0.1"));
        assert_eq!(btc.step_size, d("0.000001"));
        assert_eq!(btc.min_notional, d("5"));
        let ethbtc = instrument("ETH", "BTC", d("0.05"), d("60000"));
        assert_eq!(ethbtc.tick_size, d("0.0000001"));
        assert_eq!(ethbtc.min_notional, d("0.00009")); // 5 USDT in BTC, one significant digit up
                                                       // one step is worth at most ~0.1 USDT and at least a hundredth of that
        let step_usdt = ethbtc.step_size * d("0.05") * d("60000");
        assert!(step_usdt <= d("0.1") && step_usdt >= d("0.001"), "{step_usdt}");
    }

    #[test]
    fn default_universe_has_dozens_of_triangles() {
        // Count 3-cycles in the undirected pair graph.
        let pairs: Vec<(&str, &str)> = DEFAULT_PAIRS.to_vec();
        let has = |a: &str, b: &str| pairs.iter().any(|&(x, y)| (x == a && y == b) || (x == b && y == a));
        let assets: Vec<&str> = DEFAULT_ASSETS.iter().map(|a| a.0).collect();
        let mut n = 0;
        for i in 0..assets.len() {
            for j in i + 1..assets.len() {
                for k in j + 1..assets.len() {
                    if has(assets[i], assets[j]) && has(assets[j], assets[k]) && has(assets[i], assets[k]) {
                        n += 1;
                    }
                }
            }
        }
        assert!(n >= 24, "only {n} triangles");
    }
}
