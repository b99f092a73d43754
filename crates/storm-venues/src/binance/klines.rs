//! Binance Spot REST klines: `GET /api/v3/klines`, the history storm-candles backfills from.
//!
//! A reply is an array of arrays, one per interval, oldest first:
//! `[openTime, "open", "high", "low", "close", "volume", closeTime, "quoteVolume", trades,
//! "takerBuyBase", "takerBuyQuote", "0"]` (BINANCE.md "REST"; weight 2, `limit` 1..=1000,
//! default 500). An interval without trades is served flat at the previous close with volume 0.

use rust_decimal::Decimal;
use serde_json::Value;
use storm_core::Symbol;

use super::rest_wire::RestWireError;
use crate::history::HistoricalCandle;

/// Request weight of `GET /api/v3/klines`.
pub const KLINES_WEIGHT: u32 = 2;

/// Most intervals one `GET /api/v3/klines` returns.
pub const MAX_KLINES: u32 = 1000;

/// `<rest>/api/v3/klines?symbol=..&interval=..&startTime=..&endTime=..&limit=..`.
pub fn klines_url(rest_base_url: &str, symbol: &Symbol, interval: &str, start_ms: u64, end_ms: u64) -> String {
    format!(
        "{}/api/v3/klines?symbol={symbol}&interval={interval}&startTime={start_ms}&endTime={end_ms}&limit={MAX_KLINES}",
        rest_base_url.trim_end_matches('/')
    )
}

/// Parses a klines reply; every price must be positive and every volume non-negative.
pub fn parse_klines(body: &str) -> Result<Vec<HistoricalCandle>, RestWireError> {
    let rows: Vec<Vec<Value>> = serde_json::from_str(body)?;
    rows.iter().enumerate().map(|(i, row)| parse_row(i, row)).collect()
}

fn parse_row(i: usize, row: &[Value]) -> Result<HistoricalCandle, RestWireError> {
    let int = |j: usize, name: &str| {
        row.get(j).and_then(Value::as_u64).ok_or_else(|| bad(i, name, row.get(j), "not a whole number"))
    };
    let dec = |j: usize, name: &str, positive: bool| {
        let v = row.get(j).and_then(Value::as_str).ok_or_else(|| bad(i, name, row.get(j), "not a decimal string"))?;
        let d: Decimal = v.parse().map_err(|_| bad(i, name, row.get(j), "not a decimal"))?;
        match (positive, d) {
            (true, d) if d <= Decimal::ZERO => Err(bad(i, name, row.get(j), "not positive")),
            (false, d) if d < Decimal::ZERO => Err(bad(i, name, row.get(j), "negative")),
            _ => Ok(d),
        }
    };
    Ok(HistoricalCandle {
        open_ms: int(0, "open time")?,
        open: dec(1, "open", true)?,
        high: dec(2, "high", true)?,
        low: dec(3, "low", true)?,
        close: dec(4, "close", true)?,
        volume: dec(5, "volume", false)?,
        quote_volume: dec(7, "quote volume", false)?,
        trades: int(8, "trades")?,
    })
}

fn bad(i: usize, name: &str, value: Option<&Value>, problem: &'static str) -> RestWireError {
    RestWireError::Number {
        field: format!("klines[{i}] {name}"),
        value: value.map_or_else(|| "missing".into(), Value::to_string),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_documented_reply_parses_exactly() {
        let body = r#"[[1499040000000,"0.01634790","0.80000000","0.01575800","0.01577100","148976.11427815",
            1499644799999,"2434.19055334",308,"1756.87402397","28.46694368","0"]]"#;
        let k = &parse_klines(body).unwrap()[0];
        assert_eq!((k.open_ms, k.trades), (1499040000000, 308));
        assert_eq!(k.high, "0.80000000".parse::<Decimal>().unwrap());
        assert_eq!(k.quote_volume, "2434.19055334".parse::<Decimal>().unwrap());
    }

    #[test]
    fn bad_rows_name_the_field() {
        let negative = r#"[[1,"1","1","1","1","-2",2,"0",0,"0","0","0"]]"#;
        assert_eq!(parse_klines(negative).unwrap_err().to_string(), "klines[0] volume: \"\\\"-2\\\"\" is negative");
        let short = r#"[[1,"1","1","1","1"]]"#;
        assert!(parse_klines(short).unwrap_err().to_string().contains("klines[0] volume"));
        let garbage = r#"[[1,"x","1","1","1","0",2,"0",0]]"#;
        assert!(parse_klines(garbage).unwrap_err().to_string().contains("not a decimal"));
        assert!(parse_klines("{}").is_err());
    }

    #[test]
    fn the_url_asks_for_the_range_and_the_most_rows() {
        assert_eq!(
            klines_url("http://h:1/", &Symbol::new("BTCUSDT"), "1m", 60_000, 119_999),
            "http://h:1/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=60000&endTime=119999&limit=1000"
        );
    }
}
