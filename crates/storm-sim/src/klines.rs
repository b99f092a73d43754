//! REST `/api/v3/klines` and `/api/v3/ticker/24hr` from the trade tape ([`crate::tape`]), in
//! Binance's shapes: a kline is `[openTime, "open", "high", "low", "close", "volume", closeTime,
//! "quoteVolume", trades, "takerBuyBase", "takerBuyQuote", "0"]`.

use serde_json::{json, Value};
use storm_candles::Timeframe;
use storm_core::Symbol;

use crate::auth::Params;
use crate::json::dec;
use crate::orders::SimError;
use crate::server::SimState;
use crate::tape::{Bar, DayStats};

fn row(b: &Bar) -> Value {
    let c = &b.candle;
    json!([
        c.open_ms,
        dec(c.open),
        dec(c.high),
        dec(c.low),
        dec(c.close),
        dec(c.volume),
        c.close_ms(),
        dec(c.quote_volume),
        c.trades,
        dec(b.taker_buy_base),
        dec(b.taker_buy_quote),
        "0"
    ])
}

fn number(p: &Params, name: &str) -> Result<Option<u64>, SimError> {
    p.get(name)
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                SimError::new(
                    -1100,
                    format!("Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."),
                )
            })
        })
        .transpose()
}

/// `GET /api/v3/klines?symbol&interval[&startTime][&endTime][&limit]` (intervals of a minute or
/// more; limit 1..=1000, default 500).
pub fn klines(sim: &SimState, p: &Params, now: u64) -> Result<Value, SimError> {
    let sym = Symbol::new(p.get("symbol").ok_or_else(|| {
        SimError::new(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
    })?);
    if sim.exchange().instrument(&sym).is_none() {
        return Err(SimError::bad_symbol());
    }
    let tf = p
        .get("interval")
        .and_then(|i| i.parse::<Timeframe>().ok())
        .filter(|tf| *tf != Timeframe::S1)
        .ok_or_else(|| SimError::new(-1120, "Invalid interval."))?;
    let limit = number(p, "limit")?.unwrap_or(500);
    if !(1..=1000).contains(&limit) {
        return Err(SimError::new(-1100, "Illegal characters found in parameter 'limit'; legal range is '1-1000'."));
    }
    let bars = sim.tape().klines(&sym, tf, number(p, "startTime")?, number(p, "endTime")?, limit as usize, now);
    Ok(bars.iter().map(row).collect())
}

fn day_json(sym: &Symbol, d: &DayStats, book: Option<(storm_core::Level, storm_core::Level)>) -> Value {
    let c = &d.bar.candle;
    let change = c.close - c.open;
    let pct = if c.open.is_zero() { c.open } else { (change * rust_decimal::Decimal::from(100) / c.open).round_dp(3) };
    let avg = if c.volume.is_zero() { c.close } else { c.quote_volume.checked_div(c.volume).unwrap_or(c.close) };
    let zero = rust_decimal::Decimal::ZERO;
    let ((bp, bq), (ap, aq)) =
        book.map_or(((zero, zero), (zero, zero)), |(b, a)| ((b.price.0, b.qty.0), (a.price.0, a.qty.0)));
    json!({
        "symbol": sym.as_str(), "priceChange": dec(change), "priceChangePercent": pct.to_string(),
        "weightedAvgPrice": dec(avg), "prevClosePrice": dec(c.open), "lastPrice": dec(c.close), "lastQty": dec(d.last_qty),
        "bidPrice": dec(bp), "bidQty": dec(bq), "askPrice": dec(ap), "askQty": dec(aq),
        "openPrice": dec(c.open), "highPrice": dec(c.high), "lowPrice": dec(c.low), "volume": dec(c.volume),
        "quoteVolume": dec(c.quote_volume), "openTime": d.open_ms, "closeTime": d.close_ms,
        "firstId": c.first.map_or(-1, |e| e.trade_id as i64), "lastId": c.last.map_or(-1, |e| e.trade_id as i64),
        "count": c.trades,
    })
}

/// `GET /api/v3/ticker/24hr[?symbol]`: the last 24 h (in whole minutes) of one or every symbol.
pub fn ticker_24hr(sim: &SimState, p: &Params, now: u64) -> Result<Value, SimError> {
    let ex = sim.exchange();
    let tape = sim.tape();
    let one = |sym: &Symbol| tape.day(sym, now).map(|d| day_json(sym, &d, ex.book_ticker(sym)));
    match p.get("symbol") {
        Some(s) => {
            let sym = Symbol::new(s);
            ex.instrument(&sym).ok_or_else(SimError::bad_symbol)?;
            Ok(one(&sym).unwrap_or_else(|| json!({ "symbol": sym.as_str(), "count": 0 })))
        }
        None => Ok(ex.instruments().filter_map(|i| one(&i.symbol)).collect()),
    }
}
