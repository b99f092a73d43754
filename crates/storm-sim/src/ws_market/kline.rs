//! Candles of the kline streams (`<sym>@kline_<interval>`), built from the simulator's own public
//! trades, so a chart drawn from the stream agrees with `@trade`.
//!
//! Every trade updates the open candle of each interval (and each update is an event with
//! `"x":false`); a candle whose close time has passed is sent once more with `"x":true`, either
//! when the next trade opens a later candle or when the hub's clock notices it. Candles only
//! exist once a trade falls into them: the simulator does not send empty candles.

use rust_decimal::Decimal;
use storm_core::{Kline, Price, Qty, Symbol, Trade};
use storm_venues::binance::wire::KlineEvent;

use super::stream::{Interval, INTERVAL_COUNT};
use crate::market::rescale;

/// One candle in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candle {
    open_ms: u64,
    close_ms: u64,
    first_trade: u64,
    last_trade: u64,
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    volume: Decimal,
    quote_volume: Decimal,
    taker_buy_volume: Decimal,
    taker_buy_quote_volume: Decimal,
    trades: u64,
}

impl Candle {
    fn new(interval: Interval, t: &Trade, time_ms: u64) -> Self {
        let (open_ms, close_ms) = interval.bounds(time_ms);
        let p = t.price.0;
        let zero = rescale(Decimal::ZERO); // "0.00000000", as Binance prints an empty volume
        Self {
            open_ms,
            close_ms,
            first_trade: t.trade_id,
            last_trade: t.trade_id,
            open: p,
            high: p,
            low: p,
            close: p,
            volume: zero,
            quote_volume: zero,
            taker_buy_volume: zero,
            taker_buy_quote_volume: zero,
            trades: 0,
        }
    }

    fn add(&mut self, t: &Trade) {
        let (p, q) = (t.price.0, t.qty.0);
        self.last_trade = t.trade_id;
        self.high = self.high.max(p);
        self.low = self.low.min(p);
        self.close = p;
        self.volume += q;
        let quote = rescale(p * q);
        self.quote_volume += quote;
        if !t.buyer_is_maker {
            self.taker_buy_volume += q;
            self.taker_buy_quote_volume += quote;
        }
        self.trades += 1;
    }

    /// The candle as Binance sends it.
    pub fn event(&self, symbol: &Symbol, interval: Interval, closed: bool, event_ms: u64) -> KlineEvent {
        let us = |ms: u64| ms.saturating_mul(1_000);
        let kline = Kline {
            symbol: symbol.clone(),
            interval: interval.as_str().to_owned(),
            open_time: us(self.open_ms),
            close_time: us(self.close_ms),
            open: Price(self.open),
            high: Price(self.high),
            low: Price(self.low),
            close: Price(self.close),
            volume: Qty(self.volume),
            quote_volume: Qty(self.quote_volume),
            trades: self.trades,
            closed,
            time_exchange: us(event_ms),
            time_received: us(event_ms),
        };
        let mut event = KlineEvent::from(&kline);
        event.kline.first_trade_id = i64::try_from(self.first_trade).unwrap_or(i64::MAX);
        event.kline.last_trade_id = i64::try_from(self.last_trade).unwrap_or(i64::MAX);
        event.kline.taker_buy_volume = Qty(self.taker_buy_volume);
        event.kline.taker_buy_quote_volume = Qty(self.taker_buy_quote_volume);
        event
    }
}

/// Where an update goes: (symbol index, interval, candle, closed?, event time ms).
pub type Emit<'a> = dyn FnMut(u32, Interval, &Candle, bool, u64) + 'a;

/// The open candle of every (symbol, interval).
#[derive(Debug)]
pub struct Candles {
    open: Vec<[Option<Candle>; INTERVAL_COUNT]>,
}

impl Candles {
    /// No candle yet for `symbols` symbols.
    pub fn new(symbols: usize) -> Self {
        Self { open: (0..symbols).map(|_| Default::default()).collect() }
    }

    /// Adds a trade of symbol `sym` to every interval's candle, closing candles it has left.
    pub fn on_trade(&mut self, sym: u32, t: &Trade, emit: &mut Emit<'_>) {
        let Some(slots) = self.open.get_mut(sym as usize) else { return };
        let time_ms = t.time_exchange / 1_000;
        for interval in Interval::all() {
            let slot = &mut slots[interval.index()];
            if let Some(c) = slot.as_ref().filter(|c| time_ms > c.close_ms) {
                emit(sym, interval, c, true, time_ms);
                *slot = None;
            }
            let candle = slot.get_or_insert_with(|| Candle::new(interval, t, time_ms));
            candle.add(t);
            emit(sym, interval, candle, false, time_ms);
        }
    }

    /// Closes every candle whose close time is before `now_ms`.
    pub fn close_due(&mut self, now_ms: u64, emit: &mut Emit<'_>) {
        for (sym, slots) in self.open.iter_mut().enumerate() {
            for interval in Interval::all() {
                let slot = &mut slots[interval.index()];
                if let Some(c) = slot.as_ref().filter(|c| now_ms > c.close_ms) {
                    emit(sym as u32, interval, c, true, now_ms);
                    *slot = None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn trade(id: u64, price: &str, qty: &str, ms: u64, buyer_is_maker: bool) -> Trade {
        Trade {
            symbol: Symbol::new("BTCUSDT"),
            trade_id: id,
            price: Price::from_str(price).unwrap_or_default(),
            qty: Qty::from_str(qty).unwrap_or_default(),
            buyer_is_maker,
            time_exchange: ms * 1_000,
            time_received: ms * 1_000,
        }
    }

    #[test]
    fn trades_build_candles_and_a_later_trade_closes_them() {
        let mut candles = Candles::new(1);
        let mut seen: Vec<(Interval, KlineEvent)> = Vec::new();
        let sym = Symbol::new("BTCUSDT");
        let mut emit = |_: u32, i: Interval, c: &Candle, closed: bool, ms: u64| {
            if i.as_str() == "1s" {
                seen.push((i, c.event(&sym, i, closed, ms)));
            }
        };
        candles.on_trade(0, &trade(7, "100.00000000", "2.00000000", 1_000_100, false), &mut emit);
        candles.on_trade(0, &trade(8, "101.50000000", "1.00000000", 1_000_900, true), &mut emit);
        candles.on_trade(0, &trade(9, "99.00000000", "1.00000000", 1_001_200, false), &mut emit);
        let frames: Vec<String> = seen.iter().map(|(_, e)| serde_json::to_string(e).unwrap_or_default()).collect();
        assert_eq!(frames.len(), 4, "two updates, the close, the new candle: {frames:#?}");
        assert_eq!(
            frames[2],
            r#"{"e":"kline","E":1001200,"s":"BTCUSDT","k":{"t":1000000,"T":1000999,"s":"BTCUSDT","i":"1s","f":7,"L":8,"o":"100.00000000","c":"101.50000000","h":"101.50000000","l":"100.00000000","v":"3.00000000","n":2,"x":true,"q":"301.50000000","V":"2.00000000","Q":"200.00000000","B":"0"}}"#
        );
        assert!(frames[3].contains(r#""t":1001000,"T":1001999"#) && frames[3].contains(r#""x":false"#));
    }

    #[test]
    fn the_clock_closes_candles_without_a_new_trade() {
        let mut candles = Candles::new(1);
        let mut noop = |_: u32, _: Interval, _: &Candle, _: bool, _: u64| {};
        candles.on_trade(0, &trade(1, "1.00000000", "1.00000000", 5_500, false), &mut noop);
        let mut closed = Vec::new();
        candles.close_due(6_000, &mut |_, i, _, x, _| closed.push((i.as_str(), x)));
        assert_eq!(closed, vec![("1s", true)], "only the 1 s candle has ended");
        closed.clear();
        candles.close_due(6_001, &mut |_, i, _, x, _| closed.push((i.as_str(), x)));
        assert!(closed.is_empty(), "closed once");
    }
}
