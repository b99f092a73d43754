//! The simulator's trade tape: one-minute candles of its own public trades, kept for a day, from
//! which REST serves `/api/v3/klines` and `/api/v3/ticker/24hr` as Binance does.
//!
//! Candles are storm-candles' order-independent aggregates, so a longer interval is the merge
//! of its minutes and agrees with them exactly. An interval without trades is served as Binance
//! serves it: open = high = low = close = the previous close, zero volume, no trade ids. The 24 h
//! window is counted in whole minutes (the current minute and the 1,439 before it).

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use storm_candles::{Candle, Tick, Timeframe};
use storm_core::{Symbol, Trade};

/// Minutes of history kept per symbol.
pub const KEEP_MINUTES: usize = 1_440;

/// A candle plus the taker-buy volumes Binance's klines carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bar {
    /// OHLCV, trade count and ids.
    pub candle: Candle,
    /// Base volume bought by takers.
    pub taker_buy_base: Decimal,
    /// Quote volume bought by takers.
    pub taker_buy_quote: Decimal,
}

impl Bar {
    fn flat(tf: Timeframe, open_ms: u64, price: Decimal) -> Self {
        Self { candle: Candle::flat(tf, open_ms, price), taker_buy_base: Decimal::ZERO, taker_buy_quote: Decimal::ZERO }
    }

    fn merge(&mut self, other: &Bar) {
        if self.candle.merge(&other.candle).is_ok() {
            self.taker_buy_base = self.taker_buy_base.saturating_add(other.taker_buy_base);
            self.taker_buy_quote = self.taker_buy_quote.saturating_add(other.taker_buy_quote);
        }
    }
}

/// Last day's minutes of every symbol that traded.
#[derive(Debug, Default)]
pub struct Tape {
    minutes: HashMap<Symbol, BTreeMap<u64, Bar>>,
    last_qty: HashMap<Symbol, Decimal>,
}

/// 24 h statistics of one symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayStats {
    /// The day's minutes merged (open = the first trade's price in the window).
    pub bar: Bar,
    /// Start of the window, ms.
    pub open_ms: u64,
    /// Close of the window, ms.
    pub close_ms: u64,
    /// Quantity of the last trade.
    pub last_qty: Decimal,
}

impl Tape {
    /// Adds a public trade.
    pub fn on_trade(&mut self, t: &Trade) {
        let tick = Tick { trade_id: t.trade_id, time_ms: t.time_exchange / 1_000, price: t.price.0, qty: t.qty.0 };
        let Ok(one) = Candle::of_tick(Timeframe::M1, &tick) else { return };
        let quote = one.quote_volume;
        self.last_qty.insert(t.symbol.clone(), tick.qty);
        let minutes = self.minutes.entry(t.symbol.clone()).or_default();
        let bar = minutes.entry(one.open_ms).or_insert_with(|| Bar::flat(Timeframe::M1, one.open_ms, tick.price));
        bar.merge(&Bar {
            candle: one,
            taker_buy_base: if t.buyer_is_maker { Decimal::ZERO } else { tick.qty },
            taker_buy_quote: if t.buyer_is_maker { Decimal::ZERO } else { quote },
        });
        while minutes.len() > KEEP_MINUTES {
            minutes.pop_first();
        }
    }

    /// Klines of `sym` in `tf` (one minute or longer) whose open time is in `[start, end]`, at
    /// most `limit`, oldest first; without `start`, the latest `limit` up to `end`. Intervals
    /// between the first kept minute and `now_ms` without trades are flat.
    pub fn klines(
        &self,
        sym: &Symbol,
        tf: Timeframe,
        start: Option<u64>,
        end: Option<u64>,
        limit: usize,
        now_ms: u64,
    ) -> Vec<Bar> {
        let Some(minutes) = self.minutes.get(sym) else { return Vec::new() };
        let Some((&first, first_bar)) = minutes.first_key_value() else { return Vec::new() };
        let end = end.unwrap_or(now_ms).min(now_ms);
        let mut out: Vec<Bar> = Vec::new();
        let mut prev = first_bar.candle.open;
        let mut open = tf.open_of(first);
        while open <= end {
            let next = tf.next_open(open);
            let mut bar = Bar::flat(tf, open, prev);
            for (_, m) in minutes.range(open..next) {
                bar.merge(m);
            }
            prev = bar.candle.close;
            if start.is_none_or(|s| open >= s) {
                out.push(bar);
            }
            open = next;
        }
        let skip = if start.is_none() { out.len().saturating_sub(limit) } else { 0 };
        out.into_iter().skip(skip).take(limit).collect()
    }

    /// The last 24 h of `sym` (None before its first trade).
    pub fn day(&self, sym: &Symbol, now_ms: u64) -> Option<DayStats> {
        let minutes = self.minutes.get(sym)?;
        let (_, last) = minutes.last_key_value()?;
        let from = Timeframe::M1.open_of(now_ms).saturating_sub((KEEP_MINUTES as u64 - 1) * 60_000);
        let mut bar = Bar::flat(Timeframe::D1, from, last.candle.close);
        for (_, m) in minutes.range(from..) {
            bar.merge(m);
        }
        let last_qty = self.last_qty.get(sym).copied().unwrap_or_default();
        Some(DayStats { bar, open_ms: from, close_ms: now_ms, last_qty })
    }

    /// Symbols with a tape.
    pub fn symbols(&self) -> impl Iterator<Item = &Symbol> {
        self.minutes.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storm_core::{Price, Qty};

    fn trade(id: u64, ms: u64, price: i64, qty: i64, buyer_is_maker: bool) -> Trade {
        Trade {
            symbol: Symbol::new("BTCUSDT"),
            trade_id: id,
            price: Price(Decimal::from(price)),
            qty: Qty(Decimal::from(qty)),
            buyer_is_maker,
            time_exchange: ms * 1_000,
            time_received: ms * 1_000,
        }
    }

    #[test]
    fn klines_merge_minutes_and_fill_silent_intervals_at_the_previous_close() {
        let mut tape = Tape::default();
        let sym = Symbol::new("BTCUSDT");
        tape.on_trade(&trade(1, 60_000, 100, 1, false));
        tape.on_trade(&trade(2, 119_000, 105, 2, true));
        tape.on_trade(&trade(3, 4 * 60_000 + 5, 90, 1, false));
        let m1 = tape.klines(&sym, Timeframe::M1, None, None, 500, 5 * 60_000);
        let closes: Vec<(u64, Decimal, u64)> =
            m1.iter().map(|b| (b.candle.open_ms / 60_000, b.candle.close, b.candle.trades)).collect();
        assert_eq!(
            closes,
            [(1, 105.into(), 2), (2, 105.into(), 0), (3, 105.into(), 0), (4, 90.into(), 1), (5, 90.into(), 0)]
        );
        assert_eq!((m1[0].taker_buy_base, m1[0].taker_buy_quote), (1.into(), 100.into()));
        let m5 = tape.klines(&sym, Timeframe::M5, None, None, 500, 5 * 60_000);
        assert_eq!(m5.len(), 2);
        assert_eq!(
            (m5[0].candle.open, m5[0].candle.high, m5[0].candle.low, m5[0].candle.close),
            (100.into(), 105.into(), 90.into(), 90.into())
        );
        assert_eq!(m5[0].candle.volume, 4.into());
        let later = tape.klines(&sym, Timeframe::M1, Some(3 * 60_000), Some(4 * 60_000), 500, 5 * 60_000);
        assert_eq!(later.iter().map(|b| b.candle.open_ms / 60_000).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(tape.klines(&sym, Timeframe::M1, None, None, 2, 5 * 60_000).len(), 2);
        let day = tape.day(&sym, 5 * 60_000).unwrap();
        assert_eq!((day.bar.candle.open, day.bar.candle.close, day.bar.candle.trades), (100.into(), 90.into(), 3));
    }
}
