//! All timeframes of one symbol: trades in, closed and amended candles out, on storm's clock.
//!
//! Only the shortest configured timeframe (the *base*) is built from trades; every longer one
//! is the merge of the base candles inside it ([`Candle::merge`]), so a 1h candle always equals
//! its sixty 1m candles. A base interval closes when the clock passes its end plus the grace
//! for late trades — whether or not a trade came — and the longer timeframes ending at the same
//! boundary close with it. A trade for an interval already closed *amends* it: the candle is
//! re-emitted with `version + 1`, in the base timeframe and in each longer one holding the trade
//! (still forming there, or the last closed one). A trade older than the last closed candle of
//! a timeframe cannot be placed on the stream any more ([`Emitted::TooLate`]): it is reported,
//! counted and left to the next backfill, never folded into the wrong candle.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::candle::{Candle, Tick, TickError};
use crate::timeframe::Timeframe;

/// Most holes a series keeps apart (more are merged).
pub const MAX_GAPS: usize = 64;

/// Most base intervals one [`Series::on_clock`] call closes.
pub const MAX_CLOSES_PER_CALL: usize = 10_000;

/// What the series hands to the writer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Emitted {
    /// A candle closed on time (version 0).
    Closed(Candle),
    /// A closed candle amended by a late trade (version ≥ 1).
    Amended(Candle),
    /// A trade older than the last closed candle of `tf`: not in any candle of that timeframe.
    TooLate {
        /// Timeframe that could not take it.
        tf: Timeframe,
        /// The trade's time.
        time_ms: u64,
    },
}

/// A trade the series refuses.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    /// Unusable values.
    #[error(transparent)]
    Tick(#[from] TickError),
    /// Time beyond the clock plus the tolerance (a venue or parser error, not a real trade).
    #[error("trade {trade_id} at {time_ms} ms is in the future (now {now_ms} ms)")]
    Future {
        /// Trade id.
        trade_id: u64,
        /// Its time.
        time_ms: u64,
        /// The clock.
        now_ms: u64,
    },
    /// Time further behind the clock than `past_ms`: a garbled time, not a late trade.
    #[error("trade {trade_id} at {time_ms} ms is too far in the past (now {now_ms} ms)")]
    Past {
        /// Trade id.
        trade_id: u64,
        /// Its time.
        time_ms: u64,
        /// The clock.
        now_ms: u64,
    },
}

/// Settings shared by every series of an engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    base: Timeframe,
    higher: Vec<Timeframe>,
    /// ms after a boundary during which trades still go into the closing candle.
    pub grace_ms: u64,
    /// A trade more than this ahead of the clock is refused.
    pub future_ms: u64,
    /// A trade more than this behind the clock is refused (default one hour).
    pub past_ms: u64,
}

/// Timeframes that cannot be rolled up from the base.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("timeframe {higher} is not a whole number of {base} candles")]
pub struct NotRollable {
    /// The shortest timeframe.
    pub base: Timeframe,
    /// The one it does not divide.
    pub higher: Timeframe,
}

impl Plan {
    /// A plan for `tfs` (any order, duplicates ignored; at least one).
    pub fn new(tfs: &[Timeframe], grace_ms: u64, future_ms: u64) -> Result<Self, NotRollable> {
        let mut tfs = tfs.to_vec();
        tfs.sort();
        tfs.dedup();
        let base = tfs.first().copied().unwrap_or(Timeframe::M1);
        let higher: Vec<_> = tfs.into_iter().skip(1).collect();
        if let Some(&h) = higher.iter().find(|h| !base.divides(**h)) {
            return Err(NotRollable { base, higher: h });
        }
        Ok(Self { base, higher, grace_ms, future_ms, past_ms: 3_600_000 })
    }

    /// Refuses a trade whose time cannot be right at clock `now_ms`.
    pub fn check_time(&self, t: &Tick, now_ms: u64) -> Result<(), Refused> {
        let (trade_id, time_ms) = (t.trade_id, t.time_ms);
        if time_ms > now_ms.saturating_add(self.future_ms) {
            return Err(Refused::Future { trade_id, time_ms, now_ms });
        }
        if time_ms.saturating_add(self.past_ms) < now_ms {
            return Err(Refused::Past { trade_id, time_ms, now_ms });
        }
        Ok(())
    }

    /// The timeframe built from trades.
    pub fn base(&self) -> Timeframe {
        self.base
    }

    /// Every timeframe, base first.
    pub fn timeframes(&self) -> impl Iterator<Item = Timeframe> + '_ {
        std::iter::once(self.base).chain(self.higher.iter().copied())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Rolled {
    forming: Candle,
    last_closed: Option<Candle>,
}

/// The candles of one symbol (serializable: the engine's restart point holds it).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Series {
    /// Open time of the oldest base interval not closed yet.
    next_close: u64,
    /// Base intervals not closed yet that have trades, by open time.
    open: BTreeMap<u64, Candle>,
    base_last_closed: Option<Candle>,
    higher: Vec<Rolled>,
    /// Close of the last closed base candle: the price of the next flat candle.
    last_price: Decimal,
    /// Highest trade id taken and its time, where the venue numbers trades without holes.
    #[serde(default)]
    last_trade: Option<(u64, u64)>,
    /// Spans of venue time in which trades were missed, waiting for a backfill.
    #[serde(default)]
    gaps: Vec<Gap>,
}

/// Venue time in which trades were missed: from the last trade before the hole to the first
/// after it. Every base interval touching `[from_ms, to_ms]` is backfilled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// Time of the last trade before the hole.
    pub from_ms: u64,
    /// Time of the first trade after it.
    pub to_ms: u64,
}

/// What a trade id says, where the venue numbers each symbol's trades 1, 2, 3, ...
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdCheck {
    /// The next one, or the first seen.
    Next,
    /// Already taken (a replay or a duplicate frame): to be skipped.
    Seen,
    /// Lower than the last id but newer than its trade: the venue numbers afresh (a restarted
    /// simulator; a duplicate carries its original, older time). Taken, and counted from here;
    /// the time since the last trade is a hole (recorded) like a jump.
    Renumbered,
    /// Trades were missed before this one.
    Gap(Gap),
}

impl Series {
    /// A series whose first interval is the one holding `first`'s trade. Trades of that
    /// interval before `first` were not seen (storm subscribed in the middle of it): the interval
    /// is a hole for the backfill to check against the venue.
    pub fn start(plan: &Plan, first: &Tick) -> Result<Self, TickError> {
        let base = Candle::of_tick(plan.base, first)?;
        let mut s = Self::resume(plan, base.open_ms, first.price);
        if first.time_ms > base.open_ms {
            s.gaps.push(Gap { from_ms: base.open_ms, to_ms: first.time_ms });
        }
        s.open.insert(base.open_ms, base);
        Ok(s)
    }

    /// A series continuing after history that ends before `open_ms` (a base boundary) at
    /// `last_price` (e.g. the last stored candle's close).
    pub fn resume(plan: &Plan, open_ms: u64, last_price: Decimal) -> Self {
        let higher = plan
            .higher
            .iter()
            .map(|&tf| Rolled { forming: Candle::flat(tf, tf.open_of(open_ms), last_price), last_closed: None })
            .collect();
        Self {
            next_close: plan.base.open_of(open_ms),
            open: BTreeMap::new(),
            base_last_closed: None,
            higher,
            last_price,
            last_trade: None,
            gaps: Vec::new(),
        }
    }

    /// Checks `t`'s id against the last one taken, and takes it (a [`IdCheck::Gap`] is also
    /// recorded for the backfill). Only for venues whose trade ids have no holes.
    pub fn check_id(&mut self, t: &Tick) -> IdCheck {
        let check = match self.last_trade {
            Some((id, at)) if t.trade_id <= id && t.time_ms <= at => return IdCheck::Seen,
            Some((id, at)) if t.trade_id <= id => {
                self.add_gap(Gap { from_ms: at, to_ms: t.time_ms });
                IdCheck::Renumbered
            }
            Some((id, at)) if t.trade_id > id.saturating_add(1) => {
                let gap = Gap { from_ms: at.min(t.time_ms), to_ms: t.time_ms.max(at) };
                self.add_gap(gap);
                IdCheck::Gap(gap)
            }
            _ => IdCheck::Next,
        };
        self.last_trade = Some((t.trade_id, t.time_ms));
        check
    }

    /// Records a hole; past [`MAX_GAPS`] the two oldest become one spanning both.
    pub fn add_gap(&mut self, gap: Gap) {
        self.gaps.push(gap);
        if self.gaps.len() > MAX_GAPS {
            let second = self.gaps.remove(1);
            let first = &mut self.gaps[0];
            (first.from_ms, first.to_ms) = (first.from_ms.min(second.from_ms), first.to_ms.max(second.to_ms));
        }
    }

    /// Holes waiting for a backfill, oldest first.
    pub fn gaps(&self) -> &[Gap] {
        &self.gaps
    }

    /// True when the `tf` interval opening at `open_ms` touches a hole not backfilled yet.
    pub fn in_hole(&self, tf: Timeframe, open_ms: u64) -> bool {
        let end = tf.next_open(open_ms);
        self.gaps.iter().any(|g| g.from_ms < end && open_ms <= g.to_ms)
    }

    /// Forgets a hole once it is backfilled.
    pub fn gap_filled(&mut self, gap: Gap) {
        self.gaps.retain(|g| *g != gap);
    }

    /// Takes candles rewritten by a backfill: the last closed ones it holds for late trades, the
    /// forming longer candles, and the price the next flat candle continues from.
    pub fn take_backfill(&mut self, plan: &Plan, amended: &[Candle], forming: &[Candle]) {
        for c in amended {
            if c.tf == plan.base {
                if self.base_last_closed.as_ref().is_some_and(|l| l.open_ms == c.open_ms) {
                    self.base_last_closed = Some(c.clone());
                    self.last_price = c.close;
                }
                continue;
            }
            if let Some(r) = self.higher.iter_mut().find(|r| r.forming.tf == c.tf) {
                if r.last_closed.as_ref().is_some_and(|l| l.open_ms == c.open_ms) {
                    r.last_closed = Some(c.clone());
                }
            }
        }
        for c in forming {
            if let Some(r) = self.higher.iter_mut().find(|r| r.forming.tf == c.tf && r.forming.open_ms == c.open_ms) {
                r.forming = c.clone();
            }
        }
    }

    /// The last closed candle of `tf` (kept for late trades).
    pub fn last_closed(&self, plan: &Plan, tf: Timeframe) -> Option<&Candle> {
        if tf == plan.base {
            return self.base_last_closed.as_ref();
        }
        self.higher.iter().find(|r| r.forming.tf == tf)?.last_closed.as_ref()
    }

    /// Open time of the candle of `tf` not closed yet (`None` for a timeframe not built).
    pub fn unclosed_open(&self, plan: &Plan, tf: Timeframe) -> Option<u64> {
        if tf == plan.base {
            return Some(self.next_close);
        }
        self.forming_open(tf)
    }

    /// Open time of the longer candle of `tf` still forming (`None` for the base or an unknown
    /// timeframe).
    pub fn forming_open(&self, tf: Timeframe) -> Option<u64> {
        self.higher.iter().find(|r| r.forming.tf == tf).map(|r| r.forming.open_ms)
    }

    /// The longer candle of `tf` still forming, from closed base candles only.
    pub fn rolled(&self, tf: Timeframe) -> Option<&Candle> {
        self.higher.iter().find(|r| r.forming.tf == tf).map(|r| &r.forming)
    }

    /// Open time of the oldest interval not closed yet.
    pub fn next_close(&self) -> u64 {
        self.next_close
    }

    /// When the clock closes that interval: its end plus the grace.
    pub fn due(&self, plan: &Plan) -> u64 {
        plan.base.next_open(self.next_close).saturating_add(plan.grace_ms)
    }

    /// Takes one trade at clock `now_ms`.
    pub fn on_trade(&mut self, plan: &Plan, t: &Tick, now_ms: u64) -> Result<Vec<Emitted>, Refused> {
        plan.check_time(t, now_ms)?;
        let one = Candle::of_tick(plan.base, t)?;
        if one.open_ms >= self.next_close {
            match self.open.get_mut(&one.open_ms) {
                Some(c) => c.apply(t)?,
                None => {
                    self.open.insert(one.open_ms, one);
                }
            }
            return Ok(Vec::new());
        }
        self.late(plan, t)
    }

    fn late(&mut self, plan: &Plan, t: &Tick) -> Result<Vec<Emitted>, Refused> {
        let mut out = Vec::new();
        match self.base_last_closed.as_mut().filter(|c| c.holds(t.time_ms)) {
            Some(c) => {
                c.apply(t)?;
                c.version += 1;
                self.last_price = c.close;
                out.push(Emitted::Amended(c.clone()));
            }
            None => out.push(Emitted::TooLate { tf: plan.base, time_ms: t.time_ms }),
        }
        for r in &mut self.higher {
            if r.forming.holds(t.time_ms) {
                r.forming.apply(t)?;
            } else if let Some(c) = r.last_closed.as_mut().filter(|c| c.holds(t.time_ms)) {
                c.apply(t)?;
                c.version += 1;
                out.push(Emitted::Amended(c.clone()));
            } else {
                out.push(Emitted::TooLate { tf: r.forming.tf, time_ms: t.time_ms });
            }
        }
        Ok(out)
    }

    /// Closes every interval whose end plus the grace is at or before `now_ms`, at most
    /// [`MAX_CLOSES_PER_CALL`] base intervals per call (a series restored after a long outage
    /// catches up over several ticks instead of holding the engine).
    pub fn on_clock(&mut self, plan: &Plan, now_ms: u64) -> Vec<Emitted> {
        let mut out = Vec::new();
        for _ in 0..MAX_CLOSES_PER_CALL {
            let end = plan.base.next_open(self.next_close);
            if end.saturating_add(plan.grace_ms) > now_ms {
                return out;
            }
            let base = match self.open.remove(&self.next_close) {
                Some(c) => c,
                None => Candle::flat(plan.base, self.next_close, self.last_price),
            };
            self.last_price = base.close;
            for r in &mut self.higher {
                // Merging cannot overflow where the base candle did not: on overflow the
                // longer candle keeps what it had (the base candle is still exact).
                let _ = r.forming.merge(&base);
            }
            out.push(Emitted::Closed(base.clone()));
            self.base_last_closed = Some(base);
            for r in &mut self.higher {
                if r.forming.tf.next_open(r.forming.open_ms) == end {
                    let next = Candle::flat(r.forming.tf, end, self.last_price);
                    let mut done = std::mem::replace(&mut r.forming, next);
                    if done.is_flat() {
                        done = Candle::flat(done.tf, done.open_ms, self.last_price);
                    }
                    out.push(Emitted::Closed(done.clone()));
                    r.last_closed = Some(done);
                }
            }
            self.next_close = end;
        }
        out
    }

    /// The candle forming in `tf` now (base: the oldest open interval; longer: closed base
    /// candles plus the ones still open), for the `storm:candle:*` hash.
    pub fn forming(&self, plan: &Plan, tf: Timeframe) -> Option<Candle> {
        if tf == plan.base {
            return Some(
                self.open
                    .get(&self.next_close)
                    .cloned()
                    .unwrap_or_else(|| Candle::flat(tf, self.next_close, self.last_price)),
            );
        }
        let r = self.higher.iter().find(|r| r.forming.tf == tf)?;
        let mut c = r.forming.clone();
        let inside: Vec<&Candle> = self.open.values().filter(|o| c.holds(o.open_ms)).collect();
        for open in inside {
            let _ = c.merge(open);
        }
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = 60_000;

    fn tick(id: u64, ms: u64, price: i64) -> Tick {
        Tick { trade_id: id, time_ms: ms, price: Decimal::from(price), qty: Decimal::ONE }
    }

    fn closed(out: &[Emitted]) -> Vec<(Timeframe, u64, Decimal, u64)> {
        out.iter()
            .filter_map(|e| match e {
                Emitted::Closed(c) => Some((c.tf, c.open_ms, c.close, c.trades)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn three_silent_intervals_give_three_flat_candles_on_time() {
        let plan = Plan::new(&[Timeframe::M1, Timeframe::M5], 250, 5_000).unwrap();
        let mut s = Series::start(&plan, &tick(1, 10 * M + 5, 100)).unwrap();
        assert!(s.on_clock(&plan, 11 * M + 249).is_empty(), "closed before the grace ran out");
        let out = s.on_clock(&plan, 11 * M + 250);
        assert_eq!(closed(&out), [(Timeframe::M1, 10 * M, 100.into(), 1)]);
        let out = s.on_clock(&plan, 14 * M + 250);
        assert_eq!(
            closed(&out),
            [
                (Timeframe::M1, 11 * M, 100.into(), 0),
                (Timeframe::M1, 12 * M, 100.into(), 0),
                (Timeframe::M1, 13 * M, 100.into(), 0)
            ]
        );
        let out = s.on_clock(&plan, 15 * M + 250);
        assert_eq!(closed(&out), [(Timeframe::M1, 14 * M, 100.into(), 0), (Timeframe::M5, 10 * M, 100.into(), 1)]);
    }

    #[test]
    fn a_long_outage_is_caught_up_in_bounded_steps() {
        let plan = Plan::new(&[Timeframe::S1], 0, 5_000).unwrap();
        let mut s = Series::start(&plan, &tick(1, 5, 100)).unwrap();
        let day = 86_400_000;
        let first = s.on_clock(&plan, day);
        assert_eq!(first.len(), MAX_CLOSES_PER_CALL);
        let mut total = first.len();
        while s.next_close() < day {
            total += s.on_clock(&plan, day).len();
        }
        assert_eq!(total, 86_400, "every second of the day, once");
    }

    #[test]
    fn a_trade_within_the_grace_joins_its_candle() {
        let plan = Plan::new(&[Timeframe::M1], 250, 5_000).unwrap();
        let mut s = Series::start(&plan, &tick(1, 5, 100)).unwrap();
        assert!(s.on_trade(&plan, &tick(2, M - 1, 101), M + 200).unwrap().is_empty());
        let out = s.on_clock(&plan, M + 250);
        assert_eq!(closed(&out), [(Timeframe::M1, 0, 101.into(), 2)]);
    }

    #[test]
    fn a_trade_after_the_grace_amends_the_closed_candle_in_every_timeframe() {
        let plan = Plan::new(&[Timeframe::M1, Timeframe::M5], 250, 5_000).unwrap();
        let mut s = Series::start(&plan, &tick(1, 4 * M + 5, 100)).unwrap();
        s.on_clock(&plan, 5 * M + 250); // closes 4m (1m) and 0m (5m)
        let out = s.on_trade(&plan, &tick(2, 5 * M - 1, 90), 5 * M + 900).unwrap();
        let amended: Vec<_> = out
            .iter()
            .map(|e| match e {
                Emitted::Amended(c) => (c.tf, c.open_ms, c.version, c.low, c.close, c.trades),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            amended,
            [(Timeframe::M1, 4 * M, 1, 90.into(), 90.into(), 2), (Timeframe::M5, 0, 1, 90.into(), 90.into(), 2)]
        );
        // The next flat candle continues from the amended close.
        let out = s.on_clock(&plan, 6 * M + 250);
        assert_eq!(closed(&out), [(Timeframe::M1, 5 * M, 90.into(), 0)]);
    }

    #[test]
    fn a_trade_older_than_the_last_closed_candle_is_reported_not_misplaced() {
        let plan = Plan::new(&[Timeframe::M1, Timeframe::H1], 250, 5_000).unwrap();
        let mut s = Series::start(&plan, &tick(1, 5, 100)).unwrap();
        s.on_clock(&plan, 3 * M + 250);
        let out = s.on_trade(&plan, &tick(2, M + 7, 120), 3 * M + 300).unwrap();
        assert_eq!(out, [Emitted::TooLate { tf: Timeframe::M1, time_ms: M + 7 }]);
        // The hour is still forming: it takes the trade.
        assert_eq!(s.forming(&plan, Timeframe::H1).unwrap().high, 120.into());
    }

    #[test]
    fn future_and_unusable_trades_are_refused() {
        let plan = Plan::new(&[Timeframe::M1], 250, 5_000).unwrap();
        let mut s = Series::start(&plan, &tick(1, 5, 100)).unwrap();
        assert!(matches!(s.on_trade(&plan, &tick(2, 10_006, 100), 5_000), Err(Refused::Future { .. })));
        assert!(matches!(s.on_trade(&plan, &tick(4, 6, 100), 3_600_007), Err(Refused::Past { .. })));
        assert!(matches!(s.on_trade(&plan, &tick(3, 6, -1), 5_000), Err(Refused::Tick(_))));
        assert_eq!(s.forming(&plan, Timeframe::M1).unwrap().trades, 1);
    }

    #[test]
    fn a_jump_in_trade_ids_is_a_gap_and_an_id_taken_is_skipped() {
        let plan = Plan::new(&[Timeframe::M1], 250, 5_000).unwrap();
        let mut s = Series::start(&plan, &tick(7, 5, 100)).unwrap();
        assert_eq!(s.check_id(&tick(7, 5, 100)), IdCheck::Next, "the first id seen");
        assert_eq!(s.check_id(&tick(8, 9, 100)), IdCheck::Next);
        assert_eq!(s.check_id(&tick(8, 9, 100)), IdCheck::Seen);
        assert_eq!(s.check_id(&tick(3, 2, 100)), IdCheck::Seen);
        let start = Gap { from_ms: 0, to_ms: 5 };
        assert_eq!(s.gaps(), [start], "the first interval, seen from its middle");
        let gap = Gap { from_ms: 9, to_ms: 3 * M };
        assert_eq!(s.check_id(&tick(20, 3 * M, 100)), IdCheck::Gap(gap));
        assert_eq!(s.gaps(), [start, gap]);
        s.gap_filled(gap);
        s.gap_filled(start);
        assert!(s.gaps().is_empty());
        // A venue that numbers afresh (a restarted simulator): a lower id with a newer time,
        // and what it traded before that trade in its interval storm did not see: a hole.
        assert_eq!(s.check_id(&tick(1, 4 * M + 7, 100)), IdCheck::Renumbered);
        assert_eq!(s.gaps(), [Gap { from_ms: 3 * M, to_ms: 4 * M + 7 }]);
        assert_eq!(s.check_id(&tick(2, 4 * M + 8, 100)), IdCheck::Next);
        s.gap_filled(s.gaps()[0]);
        for i in 0..100 {
            s.add_gap(Gap { from_ms: i * M, to_ms: i * M + 5 });
        }
        assert_eq!(s.gaps().len(), MAX_GAPS);
        assert_eq!(s.gaps()[0], Gap { from_ms: 0, to_ms: 36 * M + 5 }, "the oldest merged");
    }

    #[test]
    fn a_plan_refuses_timeframes_that_do_not_roll_up() {
        assert_eq!(
            Plan::new(&[Timeframe::W1, Timeframe::Mo1], 250, 5_000),
            Err(NotRollable { base: Timeframe::W1, higher: Timeframe::Mo1 })
        );
        let plan = Plan::new(&[Timeframe::Mo1, Timeframe::M1, Timeframe::W1, Timeframe::M1], 0, 0).unwrap();
        assert_eq!(plan.timeframes().collect::<Vec<_>>(), [Timeframe::M1, Timeframe::W1, Timeframe::Mo1]);
    }

    #[test]
    fn the_month_closes_at_midnight_of_its_last_day() {
        // 2024-02-29 23:59 UTC, then the clock passes 2024-03-01 00:00:00.250.
        let mar1 = storm_core::time::days_from_civil(2024, 3, 1) as u64 * 86_400_000;
        let plan = Plan::new(&[Timeframe::D1, Timeframe::W1, Timeframe::Mo1], 250, 5_000).unwrap();
        let mut s = Series::start(&plan, &tick(1, mar1 - M, 100)).unwrap();
        let out = s.on_clock(&plan, mar1 + 250);
        let feb1 = storm_core::time::days_from_civil(2024, 2, 1) as u64 * 86_400_000;
        assert_eq!(
            closed(&out),
            [(Timeframe::D1, mar1 - 86_400_000, 100.into(), 1), (Timeframe::Mo1, feb1, 100.into(), 1)]
        );
    }
}
