//! Candles of the kline streams (`<sym>@kline_<interval>`), built from the simulator's own public
//! trades, so a chart drawn from the stream agrees with `@trade`.
//!
//! They go out as Binance sends them, on the hub's clock rather than per trade: the forming
//! candle every second for `1s` and every two seconds for the other intervals ("Update Speed:
//! 1000ms for 1s, 2000ms for the other intervals"), whether or not anything traded, and each
//! candle once more with `"x":true` at its boundary. An interval without a trade is a candle
//! too: open = high = low = close = the previous close, zero volumes, `"n":0`, `"f":-1`,
//! `"L":-1`. A trade in a later interval closes the open candle at once (a replay's trades may
//! arrive a little before their venue time).
//!
//! Two limits: a symbol gets candles from its first trade on (before it there is no close to
//! repeat), and a candle far behind the clock (a recording replayed with its 2021 or 2024 times,
//! see `--replay-now`) is closed by its trades only, so the clock does not fill the years in
//! between with empty candles.

use rust_decimal::Decimal;
use storm_core::{Kline, Price, Qty, Symbol, Trade};
use storm_venues::binance::wire::KlineEvent;

use super::stream::{Interval, INTERVAL_COUNT};
use crate::market::rescale;

/// A candle whose close is further than this behind the clock is left to its trades.
const BEHIND_MS: u64 = 3_600_000;

/// Most empty intervals sent at once after a stall of the hub; beyond it the stream jumps.
const MAX_CATCH_UP: usize = 600;

/// Period of the forming candle's updates, ms.
fn update_every_ms(interval: Interval) -> u64 {
    if interval.as_str() == "1s" {
        1_000
    } else {
        2_000
    }
}

/// One candle in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candle {
    open_ms: u64,
    close_ms: u64,
    /// First and last trade ids; `None` for an interval without trades.
    trade_ids: Option<(u64, u64)>,
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
    /// An interval without trades so far, flat at `price` (the previous close).
    fn empty(interval: Interval, time_ms: u64, price: Decimal) -> Self {
        let (open_ms, close_ms) = interval.bounds(time_ms);
        let zero = rescale(Decimal::ZERO); // "0.00000000", as Binance prints an empty volume
        Self {
            open_ms,
            close_ms,
            trade_ids: None,
            open: price,
            high: price,
            low: price,
            close: price,
            volume: zero,
            quote_volume: zero,
            taker_buy_volume: zero,
            taker_buy_quote_volume: zero,
            trades: 0,
        }
    }

    fn add(&mut self, t: &Trade) {
        let (p, q) = (t.price.0, t.qty.0);
        match &mut self.trade_ids {
            Some((_, last)) => {
                *last = t.trade_id;
                self.high = self.high.max(p);
                self.low = self.low.min(p);
            }
            None => {
                // The first trade opens the candle: the previous close was only a placeholder.
                self.trade_ids = Some((t.trade_id, t.trade_id));
                (self.open, self.high, self.low) = (p, p, p);
            }
        }
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
        let id = |id: u64| i64::try_from(id).unwrap_or(i64::MAX);
        let (first, last) = self.trade_ids.map_or((-1, -1), |(f, l)| (id(f), id(l)));
        let mut event = KlineEvent::from(&kline);
        event.kline.first_trade_id = first;
        event.kline.last_trade_id = last;
        event.kline.taker_buy_volume = Qty(self.taker_buy_volume);
        event.kline.taker_buy_quote_volume = Qty(self.taker_buy_quote_volume);
        event
    }
}

/// Where an update goes: (symbol index, interval, candle, closed?, event time ms).
pub type Emit<'a> = dyn FnMut(u32, Interval, &Candle, bool, u64) + 'a;

/// Sends `c` closed, then every empty interval after it that ended before `now_ms` (at most
/// [`MAX_CATCH_UP`]), flat at its close.
fn close_through(sym: u32, interval: Interval, c: &Candle, now_ms: u64, emit: &mut Emit<'_>) {
    emit(sym, interval, c, true, now_ms);
    let mut next = Candle::empty(interval, c.close_ms.saturating_add(1), c.close);
    for _ in 0..MAX_CATCH_UP {
        if next.close_ms >= now_ms {
            return;
        }
        emit(sym, interval, &next, true, now_ms);
        next = Candle::empty(interval, next.close_ms.saturating_add(1), c.close);
    }
}

/// The open candle of every (symbol, interval).
#[derive(Debug)]
pub struct Candles {
    open: Vec<[Option<Candle>; INTERVAL_COUNT]>,
    /// The clock's previous reading (for the update periods).
    last_clock_ms: u64,
}

impl Candles {
    /// No candle yet for `symbols` symbols.
    pub fn new(symbols: usize) -> Self {
        Self { open: (0..symbols).map(|_| Default::default()).collect(), last_clock_ms: 0 }
    }

    /// Adds a trade of symbol `sym` to every interval's candle; a candle the trade is past is
    /// closed first (with the empty intervals between). A trade older than the open candle
    /// (possible only if the hub's clock ran ahead of the exchange's) is left out of the klines.
    pub fn on_trade(&mut self, sym: u32, t: &Trade, emit: &mut Emit<'_>) {
        let Some(slots) = self.open.get_mut(sym as usize) else { return };
        let time_ms = t.time_exchange / 1_000;
        for interval in Interval::all() {
            let slot = &mut slots[interval.index()];
            match slot.as_ref() {
                Some(c) if time_ms < c.open_ms => {
                    tracing::debug!(interval = interval.as_str(), time_ms, "trade older than its open candle");
                    continue;
                }
                Some(c) if time_ms > c.close_ms => {
                    if time_ms - c.close_ms <= BEHIND_MS {
                        close_through(sym, interval, c, time_ms, emit);
                    } else {
                        emit(sym, interval, c, true, time_ms);
                    }
                    *slot = Some(Candle::empty(interval, time_ms, c.close));
                }
                Some(_) => {}
                None => *slot = Some(Candle::empty(interval, time_ms, t.price.0)),
            }
            if let Some(c) = slot.as_mut() {
                c.add(t);
            }
        }
    }

    /// The clock at `now_ms`: closes every candle that ended before it (and the empty intervals
    /// after it), opens the current interval flat at the last close, and sends each forming
    /// candle whose update period turned since the previous reading.
    pub fn on_clock(&mut self, now_ms: u64, emit: &mut Emit<'_>) {
        let last = std::mem::replace(&mut self.last_clock_ms, now_ms);
        for (sym, slots) in self.open.iter_mut().enumerate() {
            let sym = sym as u32;
            for interval in Interval::all() {
                let Some(c) = slots[interval.index()].as_mut() else { continue };
                if now_ms > c.close_ms && now_ms - c.close_ms <= BEHIND_MS {
                    close_through(sym, interval, c, now_ms, emit);
                    *c = Candle::empty(interval, now_ms, c.close);
                }
                let every = update_every_ms(interval);
                if now_ms / every != last / every {
                    emit(sym, interval, c, false, now_ms);
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

    /// Every 1s frame as JSON.
    fn one_second_frames(candles: &mut Candles, steps: &[Step]) -> Vec<String> {
        let sym = Symbol::new("BTCUSDT");
        let mut seen = Vec::new();
        let mut emit = |_: u32, i: Interval, c: &Candle, closed: bool, ms: u64| {
            if i.as_str() == "1s" {
                seen.push(serde_json::to_string(&c.event(&sym, i, closed, ms)).unwrap_or_default());
            }
        };
        for step in steps {
            match step {
                Step::Trade(t) => candles.on_trade(0, t, &mut emit),
                Step::Clock(ms) => candles.on_clock(*ms, &mut emit),
            }
        }
        seen
    }

    enum Step {
        Trade(Trade),
        Clock(u64),
    }

    #[test]
    fn a_later_trade_closes_the_candle_and_the_empty_seconds_between() {
        let frames = one_second_frames(
            &mut Candles::new(1),
            &[
                Step::Trade(trade(7, "100.00000000", "2.00000000", 1_000_100, false)),
                Step::Trade(trade(8, "101.50000000", "1.00000000", 1_000_900, true)),
                Step::Trade(trade(9, "99.00000000", "1.00000000", 1_002_200, false)),
            ],
        );
        assert_eq!(frames.len(), 2, "the traded second, the empty one; no update without the clock: {frames:#?}");
        assert_eq!(
            frames[0],
            r#"{"e":"kline","E":1002200,"s":"BTCUSDT","k":{"t":1000000,"T":1000999,"s":"BTCUSDT","i":"1s","f":7,"L":8,"o":"100.00000000","c":"101.50000000","h":"101.50000000","l":"100.00000000","v":"3.00000000","n":2,"x":true,"q":"301.50000000","V":"2.00000000","Q":"200.00000000","B":"0"}}"#
        );
        assert_eq!(
            frames[1],
            r#"{"e":"kline","E":1002200,"s":"BTCUSDT","k":{"t":1001000,"T":1001999,"s":"BTCUSDT","i":"1s","f":-1,"L":-1,"o":"101.50000000","c":"101.50000000","h":"101.50000000","l":"101.50000000","v":"0.00000000","n":0,"x":true,"q":"0.00000000","V":"0.00000000","Q":"0.00000000","B":"0"}}"#
        );
    }

    #[test]
    fn the_clock_closes_every_interval_and_repeats_the_forming_candle() {
        let mut candles = Candles::new(1);
        let frames = one_second_frames(
            &mut candles,
            &[
                Step::Clock(5_001),
                Step::Trade(trade(1, "1.00000000", "1.00000000", 5_500, false)),
                Step::Clock(5_900),
                Step::Clock(6_003),
                Step::Clock(8_004),
                Step::Clock(8_500),
            ],
        );
        let short: Vec<(u64, bool, u64)> = frames
            .iter()
            .map(|f| {
                let v: serde_json::Value = serde_json::from_str(f).unwrap_or_default();
                (v["k"]["t"].as_u64().unwrap_or(0), v["k"]["x"] == true, v["E"].as_u64().unwrap_or(0))
            })
            .collect();
        assert_eq!(
            short,
            [
                (5_000, true, 6_003),  // the traded second closes at its boundary
                (6_000, false, 6_003), // the next one, flat, sent with the second's turn
                (6_000, true, 8_004),  // a stalled clock still closes every second
                (7_000, true, 8_004),
                (8_000, false, 8_004),
            ]
        );
        assert!(frames[2].contains(r#""f":-1,"L":-1"#) && frames[2].contains(r#""o":"1.00000000""#));
    }

    #[test]
    fn candles_far_behind_the_clock_follow_their_trades_only() {
        let old = 1_633_998_523_963; // 2021, a recording replayed with its own times
        let frames = one_second_frames(
            &mut Candles::new(1),
            &[
                Step::Trade(trade(1, "1.00000000", "1.00000000", old, false)),
                Step::Clock(old + 400 * 86_400_000),
                Step::Trade(trade(2, "2.00000000", "1.00000000", old + 5_000, false)),
            ],
        );
        let closed: Vec<&String> = frames.iter().filter(|f| f.contains(r#""x":true"#)).collect();
        assert_eq!(closed.len(), 5, "the traded second and the four empty ones, not 400 days: {frames:#?}");
    }
}
