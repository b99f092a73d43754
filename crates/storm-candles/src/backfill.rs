//! Filling a hole with the venue's own candles, and rolling the longer timeframes up again.
//!
//! A hole is venue time in which trades were missed ([`crate::series::Gap`]: the ingester was
//! down, the trade stream was trimmed before storm-candles read it). Every base interval touching
//! it is asked from the venue's REST klines once the venue has closed them; each that differs
//! from the candle storm closed becomes a new version of it, marked `backfilled`. Each longer
//! timeframe is then re-rolled from the next shorter one that divides it (1M from 1d, 1d from
//! 4h, ...) — never taken from the venue — so a longer candle still equals the merge of its
//! shorter ones, whichever of them came from the venue.
//!
//! REST klines carry no trade ids: a backfilled candle's first and last trade are placed at its
//! open and close time (ids `0` and `u64::MAX`), which keeps the order-independent merge exact,
//! and its ids are not shown ([`crate::wire`]).

use std::collections::BTreeMap;

use storm_venues::history::HistoricalCandle;

use crate::candle::{Candle, Edge};
use crate::series::Plan;
use crate::timeframe::Timeframe;

/// The candle of one venue interval, as version `version`.
pub fn from_venue(tf: Timeframe, h: &HistoricalCandle, version: u32) -> Candle {
    let mut c = Candle::flat(tf, h.open_ms, h.open);
    (c.high, c.low, c.close) = (h.high, h.low, h.close);
    (c.volume, c.quote_volume, c.trades) = (h.volume, h.quote_volume, h.trades);
    if h.trades > 0 {
        c.first = Some(Edge { time_ms: c.open_ms, trade_id: 0, price: h.open });
        c.last = Some(Edge { time_ms: c.close_ms(), trade_id: u64::MAX, price: h.close });
    }
    c.version = version;
    c.backfilled = true;
    c
}

/// True when two candles of one interval say the same (prices, volumes, trade count).
pub fn same_values(a: &Candle, b: &Candle) -> bool {
    (a.open, a.high, a.low, a.close, a.volume, a.quote_volume, a.trades)
        == (b.open, b.high, b.low, b.close, b.volume, b.quote_volume, b.trades)
}

/// The new versions of `ours` (latest version per open time) that the venue's candles of the
/// same timeframe correct; an interval storm never wrote is added as version 0.
pub fn corrections(tf: Timeframe, ours: &BTreeMap<u64, Candle>, venue: &[HistoricalCandle]) -> Vec<Candle> {
    venue
        .iter()
        .filter_map(|h| match ours.get(&h.open_ms) {
            None => Some(from_venue(tf, h, 0)),
            Some(mine) => {
                let theirs = from_venue(tf, h, mine.version.saturating_add(1));
                (!same_values(mine, &theirs)).then_some(theirs)
            }
        })
        .collect()
}

/// The timeframe `tf` is re-rolled from: the longest shorter one of the plan that divides it.
pub fn lower_of(plan: &Plan, tf: Timeframe) -> Timeframe {
    plan.timeframes().filter(|&l| l < tf && l.divides(tf)).max().unwrap_or(plan.base())
}

/// The candle of `tf` opening at `open_ms` merged from `parts` (shorter candles inside it, any
/// order); all flat gives a flat candle at the first part's open. `None` when a sum overflows
/// or there are no parts.
pub fn roll<'a>(tf: Timeframe, open_ms: u64, parts: impl IntoIterator<Item = &'a Candle>) -> Option<Candle> {
    let mut parts = parts.into_iter().peekable();
    let first = parts.peek()?;
    let mut c = Candle::flat(tf, open_ms, first.open);
    for p in parts {
        c.merge(p).ok()?;
        c.backfilled |= p.backfilled;
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::candle::Tick;

    const M: u64 = 60_000;

    fn venue(open_ms: u64, o: i64, h: i64, l: i64, c: i64, trades: u64) -> HistoricalCandle {
        HistoricalCandle {
            open_ms,
            open: o.into(),
            high: h.into(),
            low: l.into(),
            close: c.into(),
            volume: Decimal::from(trades),
            quote_volume: Decimal::from(trades * 10),
            trades,
        }
    }

    #[test]
    fn only_intervals_that_differ_get_a_new_version_marked_backfilled() {
        let mut ours = BTreeMap::new();
        let tick = Tick { trade_id: 7, time_ms: 5, price: 10.into(), qty: Decimal::ONE };
        let mut seen = Candle::of_tick(Timeframe::M1, &tick).unwrap();
        seen.quote_volume = 10.into();
        ours.insert(0, seen);
        ours.insert(M, Candle::flat(Timeframe::M1, M, 10.into()));
        let fixed = corrections(
            Timeframe::M1,
            &ours,
            &[venue(0, 10, 10, 10, 10, 1), venue(M, 10, 12, 9, 11, 3), venue(2 * M, 11, 11, 11, 11, 0)],
        );
        let got: Vec<_> = fixed.iter().map(|c| (c.open_ms, c.version, c.backfilled, c.trades)).collect();
        assert_eq!(got, [(M, 1, true, 3), (2 * M, 0, true, 0)]);
        assert!(fixed[1].first.is_none(), "a flat venue interval stays flat");
    }

    #[test]
    fn longer_candles_roll_up_from_the_longest_divisor_in_the_plan() {
        let tfs = [Timeframe::M1, Timeframe::M5, Timeframe::H1, Timeframe::D1, Timeframe::W1, Timeframe::Mo1];
        let plan = Plan::new(&tfs, 250, 5_000).unwrap();
        assert_eq!(lower_of(&plan, Timeframe::M5), Timeframe::M1);
        assert_eq!(lower_of(&plan, Timeframe::H1), Timeframe::M5);
        assert_eq!(lower_of(&plan, Timeframe::W1), Timeframe::D1);
        assert_eq!(lower_of(&plan, Timeframe::Mo1), Timeframe::D1, "a week does not divide a month");
    }

    #[test]
    fn a_roll_of_backfilled_and_seen_parts_is_their_exact_merge() {
        let seen =
            Candle::of_tick(Timeframe::M1, &Tick { trade_id: 3, time_ms: M + 5, price: 20.into(), qty: Decimal::ONE })
                .unwrap();
        let filled = from_venue(Timeframe::M1, &venue(0, 10, 30, 5, 15, 2), 1);
        let flat = Candle::flat(Timeframe::M1, 2 * M, 20.into());
        let c = roll(Timeframe::M5, 0, [&seen, &flat, &filled]).unwrap();
        assert_eq!((c.open, c.high, c.low, c.close), (10.into(), 30.into(), 5.into(), 20.into()));
        assert_eq!((c.trades, c.volume, c.backfilled), (3, 3.into(), true));
        let all_flat = roll(Timeframe::M5, 0, [&flat]).unwrap();
        assert!(all_flat.is_flat() && all_flat.close == Decimal::from(20));
        assert!(roll(Timeframe::M5, 0, []).is_none());
    }
}
