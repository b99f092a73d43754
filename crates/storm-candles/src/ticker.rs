//! The ticker of one symbol for `storm:ticker:<venue>`: best bid and ask (from the venue's
//! ticker stream), the last trade, and 24 h statistics rolled from closed candles.
//!
//! The 24 h window moves in steps of five minutes (or of the base timeframe when it is longer):
//! it holds the closed steps of the last 24 hours plus the candle forming now, so the figures
//! agree with the candles in Redis rather than with a second, per-trade bookkeeping that would
//! cost memory per trade. With a one-minute base that is 288 merged candles per symbol.

use std::collections::VecDeque;

use rust_decimal::Decimal;
use serde::Serialize;
use storm_core::Ticker;

use crate::candle::Candle;
use crate::timeframe::Timeframe;

const DAY_MS: u64 = 86_400_000;

/// Ticker state of one symbol.
#[derive(Clone, Debug, Default)]
pub struct TickerState {
    book: Option<(Decimal, Decimal, Decimal, Decimal)>,
    last: Option<(Decimal, u64)>,
    steps: VecDeque<Candle>,
}

/// The JSON value of a symbol's field in `storm:ticker:<venue>`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct TickerJson {
    /// Best bid price (null before the first ticker entry).
    pub bid: Option<Decimal>,
    /// Best bid quantity.
    pub bid_qty: Option<Decimal>,
    /// Best ask price.
    pub ask: Option<Decimal>,
    /// Best ask quantity.
    pub ask_qty: Option<Decimal>,
    /// Last trade price.
    pub last: Option<Decimal>,
    /// Last trade time, ms.
    pub last_ms: Option<u64>,
    /// Open of the 24 h window (its first trade).
    pub open_24h: Decimal,
    /// Highest price in the window.
    pub high_24h: Decimal,
    /// Lowest price in the window.
    pub low_24h: Decimal,
    /// Base volume in the window.
    pub volume_24h: Decimal,
    /// Quote volume in the window.
    pub quote_volume_24h: Decimal,
    /// Trades in the window.
    pub trades_24h: u64,
    /// Last price against the window's open, percent (2 decimals).
    pub change_pct: Decimal,
    /// Start of the window, ms.
    pub from_ms: u64,
}

/// The window's step for a base timeframe.
pub fn step_for(base: Timeframe) -> Timeframe {
    if base <= Timeframe::M5 {
        Timeframe::M5
    } else {
        base
    }
}

impl TickerState {
    /// A best bid/offer from the ticker stream.
    pub fn on_book(&mut self, t: &Ticker) {
        self.book = Some((t.bid_price.0, t.bid_qty.0, t.ask_price.0, t.ask_qty.0));
    }

    /// A trade's price and time.
    pub fn on_trade(&mut self, price: Decimal, time_ms: u64) {
        if self.last.is_none_or(|(_, ms)| time_ms >= ms) {
            self.last = Some((price, time_ms));
        }
    }

    /// Forgets the 24 h window (before it is rebuilt from Redis); book and last trade stay.
    pub fn clear_window(&mut self) {
        self.steps.clear();
    }

    /// A closed base candle (`step` from [`step_for`]).
    pub fn on_closed(&mut self, step: Timeframe, c: &Candle) {
        let open = step.open_of(c.open_ms);
        match self.steps.back_mut() {
            Some(s) if s.open_ms == open => {
                let _ = s.merge(c);
            }
            _ => {
                let mut s = Candle::flat(step, open, c.close);
                let _ = s.merge(c);
                self.steps.push_back(s);
            }
        }
        while self.steps.front().is_some_and(|s| s.open_ms + DAY_MS < step.next_open(open)) {
            self.steps.pop_front();
        }
    }

    /// The field's value, with `forming` (the base candle forming now) included.
    pub fn json(&self, forming: Option<&Candle>) -> TickerJson {
        let first = self.steps.front().or(forming);
        let mut day =
            Candle::flat(Timeframe::D1, first.map_or(0, |c| c.open_ms), first.map_or(Decimal::ZERO, |c| c.open));
        for c in self.steps.iter().chain(forming) {
            let _ = day.merge(c);
        }
        let last = self.last.map(|(p, _)| p);
        let change_pct = match (last, day.open.is_zero()) {
            (Some(l), false) => {
                ((l - day.open) * Decimal::from(100)).checked_div(day.open).unwrap_or_default().round_dp(2)
            }
            _ => Decimal::ZERO,
        };
        let (bid, bid_qty, ask, ask_qty) = match self.book {
            Some((b, bq, a, aq)) => (Some(b), Some(bq), Some(a), Some(aq)),
            None => (None, None, None, None),
        };
        TickerJson {
            bid,
            bid_qty,
            ask,
            ask_qty,
            last,
            last_ms: self.last.map(|(_, ms)| ms),
            open_24h: day.open,
            high_24h: day.high,
            low_24h: day.low,
            volume_24h: day.volume,
            quote_volume_24h: day.quote_volume,
            trades_24h: day.trades,
            change_pct,
            from_ms: day.open_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candle::Tick;

    fn minute(open_min: u64, price: i64, qty: i64) -> Candle {
        let t = Tick { trade_id: open_min, time_ms: open_min * 60_000 + 1, price: price.into(), qty: qty.into() };
        Candle::of_tick(Timeframe::M1, &t).unwrap()
    }

    #[test]
    fn the_window_keeps_a_day_of_five_minute_steps_and_counts_the_forming_candle() {
        let mut s = TickerState::default();
        let step = step_for(Timeframe::M1);
        for m in 0..1_445 {
            s.on_closed(step, &minute(m, 100 + (m as i64 % 7), 1));
        }
        // Minutes 0..1444 closed: steps from minute 5 on (the window is 24 h back from the
        // step now forming, 1440..1445).
        let j = s.json(Some(&minute(1_445, 200, 2)));
        assert_eq!(j.from_ms, 5 * 60_000);
        assert_eq!(j.volume_24h, Decimal::from(1_440 + 2));
        assert_eq!(j.high_24h, Decimal::from(200));
        assert_eq!(j.trades_24h, 1_441);
        s.on_trade(Decimal::from(210), 1_445 * 60_000 + 5);
        s.on_trade(Decimal::from(1), 3);
        let j = s.json(None);
        assert_eq!(j.last, Some(Decimal::from(210)), "an older trade does not replace the last");
        assert_eq!(j.change_pct, ((Decimal::from(210) - j.open_24h) * Decimal::from(100) / j.open_24h).round_dp(2));
    }
}
