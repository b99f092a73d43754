//! The venue's own closed klines against storm's candles: a check, not the clock.
//!
//! Where a `kline:` subscription brings the venue's candles (`storm:md:<venue>:kline`), each
//! closed one is compared with storm's candle of the same symbol, timeframe and open time once
//! both are closed: open, high, low, close, base volume and trade count must be equal. The venue's
//! close usually comes after storm's (Binance's up to 2 s late), so it is compared at once with
//! the last candle storm closed; one that comes first waits (bounded) for storm's. A disagreement
//! is counted and logged with both values — it means storm missed or misread trades, or the
//! venue's stream did.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use storm_core::{Kline, Symbol};

use crate::candle::Candle;
use crate::timeframe::Timeframe;

/// Venue candles waiting for storm's close at most.
pub const MAX_PENDING: usize = 10_000;

/// The values compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Values {
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    volume: Decimal,
    trades: u64,
}

impl Values {
    fn of_candle(c: &Candle) -> Self {
        Self { open: c.open, high: c.high, low: c.low, close: c.close, volume: c.volume, trades: c.trades }
    }

    fn of_kline(k: &Kline) -> Self {
        let (open, high, low, close) = (k.open.0, k.high.0, k.low.0, k.close.0);
        Self { open, high, low, close, volume: k.volume.0, trades: k.trades }
    }
}

/// What one comparison found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Equal.
    Agree,
    /// Different: (storm's, the venue's).
    Disagree(Box<(Values, Values)>),
    /// Storm's candle is not closed yet: kept until it is.
    Waiting,
    /// Not comparable (a timeframe storm does not build, a candle storm no longer holds, an
    /// open kline, or the waiting list was full).
    Skipped,
}

/// Venue candles waiting for storm's.
#[derive(Debug, Default)]
pub struct CrossCheck {
    pending: BTreeMap<(u64, Symbol, Timeframe), Values>,
}

impl CrossCheck {
    /// A venue kline of `sym`; `last_closed` is storm's last closed candle of its timeframe and
    /// `next_open` the open time of storm's candle of that timeframe not closed yet.
    pub fn on_venue(&mut self, k: &Kline, last_closed: Option<&Candle>, next_open: Option<u64>) -> Verdict {
        let Ok(tf) = k.interval.parse::<Timeframe>() else { return Verdict::Skipped };
        let open_ms = k.open_time / 1_000;
        if !k.closed {
            return Verdict::Skipped;
        }
        if let Some(c) = last_closed.filter(|c| c.tf == tf && c.open_ms == open_ms) {
            return compare(Values::of_candle(c), Values::of_kline(k));
        }
        if next_open.is_some_and(|n| open_ms >= n) && self.pending.len() < MAX_PENDING {
            self.pending.insert((open_ms, k.symbol.clone(), tf), Values::of_kline(k));
            return Verdict::Waiting;
        }
        Verdict::Skipped
    }

    /// Storm closed `c` of `sym`: the verdict on a venue candle that waited for it.
    pub fn on_closed(&mut self, sym: &Symbol, c: &Candle) -> Option<Verdict> {
        if self.pending.is_empty() {
            return None;
        }
        let theirs = self.pending.remove(&(c.open_ms, sym.clone(), c.tf))?;
        Some(compare(Values::of_candle(c), theirs))
    }
}

fn compare(ours: Values, theirs: Values) -> Verdict {
    if ours == theirs {
        Verdict::Agree
    } else {
        Verdict::Disagree(Box::new((ours, theirs)))
    }
}

#[cfg(test)]
mod tests {
    use storm_core::{Price, Qty};

    use super::*;
    use crate::candle::Tick;

    fn kline(open_ms: u64, price: i64, trades: u64, closed: bool) -> Kline {
        let p = Price(price.into());
        Kline {
            symbol: Symbol::new("BTCUSDT"),
            interval: "1m".into(),
            open_time: open_ms * 1_000,
            close_time: (open_ms + 59_999) * 1_000,
            open: p,
            high: p,
            low: p,
            close: p,
            volume: Qty(Decimal::from(trades)),
            quote_volume: Qty(Decimal::ZERO),
            trades,
            closed,
            time_exchange: 0,
            time_received: 0,
        }
    }

    fn ours(open_ms: u64, price: i64) -> Candle {
        Candle::of_tick(
            Timeframe::M1,
            &Tick { trade_id: 1, time_ms: open_ms + 5, price: price.into(), qty: Decimal::ONE },
        )
        .unwrap()
    }

    #[test]
    fn a_late_venue_close_is_compared_with_storms_last_candle() {
        let mut x = CrossCheck::default();
        assert_eq!(x.on_venue(&kline(60_000, 10, 1, true), Some(&ours(60_000, 10)), Some(120_000)), Verdict::Agree);
        let v = x.on_venue(&kline(60_000, 11, 1, true), Some(&ours(60_000, 10)), Some(120_000));
        assert!(matches!(v, Verdict::Disagree(_)), "{v:?}");
        assert_eq!(x.on_venue(&kline(60_000, 10, 1, false), Some(&ours(60_000, 10)), Some(120_000)), Verdict::Skipped);
    }

    #[test]
    fn an_early_venue_close_waits_for_storms() {
        let mut x = CrossCheck::default();
        assert_eq!(x.on_venue(&kline(120_000, 10, 1, true), Some(&ours(60_000, 10)), Some(120_000)), Verdict::Waiting);
        let sym = Symbol::new("BTCUSDT");
        assert_eq!(x.on_closed(&sym, &ours(120_000, 10)), Some(Verdict::Agree));
        assert_eq!(x.on_closed(&sym, &ours(120_000, 10)), None, "compared once");
    }
}
