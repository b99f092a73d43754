//! One candle: an order-independent aggregate of trades.
//!
//! A candle's open and close are the prices of its first and last trade, ordered by (venue time,
//! trade id), not by arrival, so applying the same trades in any order — a late trade after the
//! candle closed, or the base candles of a higher timeframe merged in — gives the same candle.
//! That is what makes a late trade's amendment and the roll-up of higher timeframes agree with
//! a candle computed from scratch. An interval without trades is a *flat* candle at the previous
//! close (volume 0, no trade ids), as the venues report it.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::timeframe::Timeframe;

/// A trade as the candles need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tick {
    /// Venue trade id.
    pub trade_id: u64,
    /// Venue trade time, ms.
    pub time_ms: u64,
    /// Price (> 0).
    pub price: Decimal,
    /// Base quantity (> 0).
    pub qty: Decimal,
}

/// A trade the candles cannot take.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TickError {
    /// Price or quantity zero or negative.
    #[error("trade {0}: price and quantity must be positive")]
    NotPositive(u64),
    /// A sum or product overflowed `Decimal`.
    #[error("trade {0}: volume overflows")]
    Overflow(u64),
}

/// The first or last trade of a candle: its ordering key and price.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    /// Venue trade time, ms.
    pub time_ms: u64,
    /// Venue trade id.
    pub trade_id: u64,
    /// Its price.
    pub price: Decimal,
}

impl Edge {
    fn key(&self) -> (u64, u64) {
        (self.time_ms, self.trade_id)
    }
}

/// A candle of one symbol and timeframe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candle {
    /// Timeframe.
    pub tf: Timeframe,
    /// Open time, ms (a boundary of `tf`).
    pub open_ms: u64,
    /// Open price.
    pub open: Decimal,
    /// Highest price.
    pub high: Decimal,
    /// Lowest price.
    pub low: Decimal,
    /// Close price.
    pub close: Decimal,
    /// Base volume.
    pub volume: Decimal,
    /// Quote volume (Σ price × qty).
    pub quote_volume: Decimal,
    /// Number of trades.
    pub trades: u64,
    /// First trade (`None` for a flat candle).
    pub first: Option<Edge>,
    /// Last trade (`None` for a flat candle).
    pub last: Option<Edge>,
    /// 0 when first closed; +1 per amendment by a late trade.
    pub version: u32,
    /// Filled in from the venue's REST klines, not built from trades storm saw.
    pub backfilled: bool,
}

impl Candle {
    /// A flat candle at `price`: no trade in the interval.
    pub fn flat(tf: Timeframe, open_ms: u64, price: Decimal) -> Self {
        Self {
            tf,
            open_ms,
            open: price,
            high: price,
            low: price,
            close: price,
            volume: Decimal::ZERO,
            quote_volume: Decimal::ZERO,
            trades: 0,
            first: None,
            last: None,
            version: 0,
            backfilled: false,
        }
    }

    /// The candle of one trade.
    pub fn of_tick(tf: Timeframe, t: &Tick) -> Result<Self, TickError> {
        check(t)?;
        let edge = Edge { time_ms: t.time_ms, trade_id: t.trade_id, price: t.price };
        Ok(Self {
            volume: t.qty,
            quote_volume: t.price.checked_mul(t.qty).ok_or(TickError::Overflow(t.trade_id))?,
            trades: 1,
            first: Some(edge),
            last: Some(edge),
            ..Self::flat(tf, tf.open_of(t.time_ms), t.price)
        })
    }

    /// Close time as the venues give it: the last millisecond of the interval.
    pub fn close_ms(&self) -> u64 {
        self.tf.next_open(self.open_ms).saturating_sub(1)
    }

    /// True when no trade fell in the interval.
    pub fn is_flat(&self) -> bool {
        self.trades == 0
    }

    /// Adds one trade (any order). A flat candle becomes the candle of that trade.
    pub fn apply(&mut self, t: &Tick) -> Result<(), TickError> {
        let one = Candle::of_tick(self.tf, t)?;
        self.merge(&one).map_err(|_| TickError::Overflow(t.trade_id))
    }

    /// Adds the trades of `other` (a candle of the same or a shorter timeframe inside this one,
    /// in any order). A flat `other` adds nothing.
    pub fn merge(&mut self, other: &Candle) -> Result<(), Overflow> {
        let (Some(of), Some(ol)) = (other.first, other.last) else { return Ok(()) };
        let volume = self.volume.checked_add(other.volume).ok_or(Overflow)?;
        let quote_volume = self.quote_volume.checked_add(other.quote_volume).ok_or(Overflow)?;
        let trades = self.trades.checked_add(other.trades).ok_or(Overflow)?;
        match (self.first, self.last) {
            (Some(sf), Some(sl)) => {
                if of.key() < sf.key() {
                    self.first = Some(of);
                    self.open = other.open;
                }
                if ol.key() >= sl.key() {
                    self.last = Some(ol);
                    self.close = other.close;
                }
                self.high = self.high.max(other.high);
                self.low = self.low.min(other.low);
            }
            _ => {
                (self.first, self.last) = (Some(of), Some(ol));
                (self.open, self.high, self.low, self.close) = (other.open, other.high, other.low, other.close);
            }
        }
        (self.volume, self.quote_volume, self.trades) = (volume, quote_volume, trades);
        Ok(())
    }

    /// True when the trade at `time_ms` falls in this candle's interval.
    pub fn holds(&self, time_ms: u64) -> bool {
        self.tf.open_of(time_ms) == self.open_ms
    }
}

/// A sum overflowed `Decimal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("candle volume overflows")]
pub struct Overflow;

fn check(t: &Tick) -> Result<(), TickError> {
    if t.price <= Decimal::ZERO || t.qty <= Decimal::ZERO {
        return Err(TickError::NotPositive(t.trade_id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(id: u64, ms: u64, price: &str, qty: &str) -> Tick {
        Tick { trade_id: id, time_ms: ms, price: price.parse().unwrap(), qty: qty.parse().unwrap() }
    }

    #[test]
    fn the_same_trades_in_any_order_give_the_same_candle() {
        let ticks = [
            tick(1, 60_001, "10", "1"),
            tick(2, 60_500, "12", "2"),
            tick(3, 60_900, "9", "0.5"),
            tick(4, 61_000, "11", "1"),
        ];
        let build = |order: &[usize]| {
            let mut c = Candle::flat(Timeframe::M1, 60_000, Decimal::from(7));
            for &i in order {
                c.apply(&ticks[i]).unwrap();
            }
            c
        };
        let a = build(&[0, 1, 2, 3]);
        assert_eq!(a, build(&[3, 1, 0, 2]));
        assert_eq!(a, build(&[2, 3, 0, 1]));
        assert_eq!((a.open, a.high, a.low, a.close), (10.into(), 12.into(), 9.into(), 11.into()));
        assert_eq!(a.volume, "4.5".parse().unwrap());
        assert_eq!(a.quote_volume, "49.5".parse().unwrap());
        assert_eq!((a.trades, a.first.unwrap().trade_id, a.last.unwrap().trade_id), (4, 1, 4));
        assert_eq!(a.close_ms(), 119_999);
    }

    #[test]
    fn merging_a_flat_candle_changes_nothing_and_a_flat_candle_takes_the_first_trade() {
        let mut c = Candle::flat(Timeframe::M5, 0, Decimal::from(5));
        c.merge(&Candle::flat(Timeframe::M1, 60_000, Decimal::from(6))).unwrap();
        assert_eq!(c, Candle::flat(Timeframe::M5, 0, Decimal::from(5)));
        c.apply(&tick(9, 120_000, "8", "1")).unwrap();
        assert_eq!((c.open, c.high, c.low, c.close, c.trades), (8.into(), 8.into(), 8.into(), 8.into(), 1));
    }

    #[test]
    fn bad_trades_are_refused_not_absorbed() {
        let mut c = Candle::flat(Timeframe::M1, 0, Decimal::ONE);
        assert_eq!(c.apply(&tick(1, 5, "-1", "1")), Err(TickError::NotPositive(1)));
        assert_eq!(c.apply(&tick(2, 5, "1", "0")), Err(TickError::NotPositive(2)));
        let big = Tick { trade_id: 3, time_ms: 5, price: Decimal::MAX, qty: Decimal::from(2) };
        assert_eq!(c.apply(&big), Err(TickError::Overflow(3)));
        assert!(c.is_flat());
    }
}
