//! A minimal reader of Binance's `GET /api/v3/exchangeInfo` reply: symbol, status, base and quote
//! asset, and the PRICE_FILTER, LOT_SIZE and NOTIONAL (or older MIN_NOTIONAL) filters, as
//! `storm-venues` maps them (a missing filter leaves zeros, "no rule").

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;
use storm_core::{Asset, Instrument, Symbol, SymbolStatus};

/// The real reply of 2023-08-13 in `testdata/` (2,276 symbols, 1,393 TRADING).
pub const BINANCE_2023: &str = "exchange-info/binance_spot_exchangeInfo_2023-08-13.json";

/// Every symbol of the recorded reply at `rel` under `testdata/`.
pub fn load(rel: &str) -> Vec<Instrument> {
    let path = storm_testkit::fixtures::testdata_file(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reply: Value = serde_json::from_str(&text).expect("exchangeInfo is JSON");
    reply["symbols"].as_array().expect("symbols array").iter().map(instrument).collect()
}

fn dec(v: &Value, key: &str) -> Decimal {
    v[key].as_str().map_or(Decimal::ZERO, |s| Decimal::from_str(s).expect("decimal string"))
}

fn instrument(s: &Value) -> Instrument {
    let text = |key: &str| s[key].as_str().expect("string field").to_owned();
    let mut i = Instrument {
        symbol: Symbol::new(text("symbol")),
        base: Asset::new(text("baseAsset")),
        quote: Asset::new(text("quoteAsset")),
        status: serde_json::from_value::<SymbolStatus>(s["status"].clone()).expect("status"),
        tick_size: Decimal::ZERO,
        min_price: Decimal::ZERO,
        max_price: Decimal::ZERO,
        step_size: Decimal::ZERO,
        min_qty: Decimal::ZERO,
        max_qty: Decimal::ZERO,
        min_notional: Decimal::ZERO,
        max_notional: Decimal::ZERO,
    };
    let filters = s["filters"].as_array().expect("filters array");
    let has_notional = filters.iter().any(|f| f["filterType"] == "NOTIONAL");
    for f in filters {
        match f["filterType"].as_str() {
            Some("PRICE_FILTER") => {
                (i.tick_size, i.min_price, i.max_price) = (dec(f, "tickSize"), dec(f, "minPrice"), dec(f, "maxPrice"))
            }
            Some("LOT_SIZE") => {
                (i.step_size, i.min_qty, i.max_qty) = (dec(f, "stepSize"), dec(f, "minQty"), dec(f, "maxQty"))
            }
            Some("NOTIONAL") => (i.min_notional, i.max_notional) = (dec(f, "minNotional"), dec(f, "maxNotional")),
            Some("MIN_NOTIONAL") if !has_notional => i.min_notional = dec(f, "minNotional"),
            _ => {}
        }
    }
    i
}
