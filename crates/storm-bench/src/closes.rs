//! When each closed candle shows in Redis, and how late that is after its boundary.
//!
//! One blocking `XREAD` per timeframe over every symbol's `storm:candles:<venue>:<SYM>:<tf>`
//! (storm-bus' [`StreamReader`], each on its own connection and task), so a consumer's view is
//! what is measured: the moment a candle is readable. A candle entry's id is `<open_ms>-<version>`;
//! version 0 is the candle closed on time, and its boundary is `open_ms` + the timeframe. The
//! arrival is stamped after the reply is parsed (one reply holds every candle one commit of the
//! engine wrote), so it is an upper bound by the parse time of one reply, well under a
//! millisecond for 1,000 entries. The readers block on keys between commits and cost Redis one
//! re-registration per reply, a few times a second.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use anyhow::{bail, Result};
use serde::Serialize;
use storm_bus::{Bus, BusConfig, BusError, StartAt, StreamReader};
use storm_core::time::now_micros;
use storm_core::Symbol;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::stats::Percentiles;

/// A timeframe of fixed length (the bench times UTC-aligned ones: 1s to 1d).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tf {
    /// As the engine spells it (`1s`, `1m`, ...).
    pub name: String,
    /// Length, ms; boundaries are its multiples since the epoch.
    pub span_ms: u64,
}

impl std::str::FromStr for Tf {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let span_ms = match s {
            "1s" => 1_000,
            "1m" => 60_000,
            "5m" => 300_000,
            "15m" => 900_000,
            "30m" => 1_800_000,
            "1h" => 3_600_000,
            "4h" => 14_400_000,
            "1d" => 86_400_000,
            _ => return Err(format!("{s:?}: the bench times 1s 1m 5m 15m 30m 1h 4h 1d")),
        };
        Ok(Self { name: s.to_owned(), span_ms })
    }
}

/// `<open_ms>-<version>` of a candle entry id.
pub fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, v) = id.split_once('-')?;
    Some((ms.parse().ok()?, v.parse().ok()?))
}

/// A candle entry seen by the watcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Index into the timeframes watched.
    pub tf: usize,
    /// Index into the symbols watched.
    pub sym: u32,
    /// Candle open, ms.
    pub open_ms: u64,
    /// 0: closed on time; more: amended.
    pub version: u64,
    /// Read by the watcher, µs.
    pub at_us: u64,
}

/// The running watchers, one per timeframe.
pub struct Watch {
    stop: CancellationToken,
    tasks: Vec<JoinHandle<Result<Vec<Arrival>>>>,
}

impl Watch {
    /// Starts reading every candle stream of `names` × `tfs` on `venue` from its beginning.
    pub async fn start(redis_url: &str, venue: &str, names: &[String], tfs: &[Tf]) -> Result<Self> {
        let stop = CancellationToken::new();
        let bus = Bus::connect(BusConfig::new(redis_url), stop.clone()).await?;
        let mut tasks = Vec::new();
        for (tf_index, tf) in tfs.iter().enumerate() {
            let keys: Vec<String> =
                names.iter().map(|n| bus.keys().candles(venue, &Symbol::new(n), &tf.name)).collect();
            let index: HashMap<String, u32> = keys.iter().enumerate().map(|(i, k)| (k.clone(), i as u32)).collect();
            let streams: Vec<(String, StartAt)> = keys.into_iter().map(|k| (k, StartAt::Beginning)).collect();
            let mut reader = StreamReader::new(&bus, &streams, 100, Duration::from_secs(1)).await?;
            tasks.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                loop {
                    let batch = match reader.next_batch().await {
                        Ok(b) => b,
                        Err(BusError::Cancelled) => return Ok(seen),
                        Err(e) => return Err(e.into()),
                    };
                    let at_us = now_micros();
                    for e in batch {
                        let (Some(&sym), Some((open_ms, version))) = (index.get(&e.stream), parse_id(&e.id)) else {
                            continue;
                        };
                        seen.push(Arrival { tf: tf_index, sym, open_ms, version, at_us });
                    }
                }
            }));
        }
        Ok(Self { stop, tasks })
    }

    /// Stops every watcher and returns what they saw.
    pub async fn finish(self) -> Result<Vec<Arrival>> {
        self.stop.cancel();
        let mut all = Vec::new();
        for t in self.tasks {
            all.extend(t.await??);
        }
        Ok(all)
    }
}

/// How late one timeframe's candles were, over the boundaries inside the window.
#[derive(Clone, Debug, Serialize)]
pub struct OnTime {
    /// Timeframe.
    pub tf: String,
    /// Boundaries inside the window.
    pub boundaries: u64,
    /// Candles expected: symbols × boundaries.
    pub expected: u64,
    /// Closed candles (version 0) seen for those boundaries.
    pub seen: u64,
    /// Expected but never seen before the watch ended.
    pub missing: u64,
    /// Version 0 seen more than once (must be 0).
    pub duplicates: u64,
    /// Amendments (version ≥ 1) of candles of those boundaries.
    pub amended: u64,
    /// Arrival − boundary of every closed candle, µs.
    pub late: Percentiles,
    /// Per boundary, the last symbol's arrival − boundary, µs: when all of them were in.
    pub last_of_boundary: Percentiles,
}

/// Boundaries of `span_ms` in `[w0_ms, w1_ms)`.
pub fn boundaries(span_ms: u64, w0_ms: u64, w1_ms: u64) -> u64 {
    if span_ms == 0 || w1_ms <= w0_ms {
        return 0;
    }
    (w1_ms - 1) / span_ms + 1 - w0_ms.div_ceil(span_ms)
}

/// Lateness per timeframe of candles whose boundary is in `[w0_ms, w1_ms)`, `symbols` each.
pub fn on_time(arrivals: &[Arrival], tfs: &[Tf], symbols: usize, w0_ms: u64, w1_ms: u64) -> Vec<OnTime> {
    tfs.iter()
        .enumerate()
        .map(|(i, tf)| {
            let mut late = Vec::new();
            let mut last: BTreeMap<u64, u64> = BTreeMap::new();
            let mut once = HashSet::new();
            let (mut duplicates, mut amended) = (0, 0);
            for a in arrivals.iter().filter(|a| a.tf == i) {
                let boundary = a.open_ms.saturating_add(tf.span_ms);
                if boundary < w0_ms || boundary >= w1_ms {
                    continue;
                }
                if a.version > 0 {
                    amended += 1;
                    continue;
                }
                if !once.insert((a.sym, a.open_ms)) {
                    duplicates += 1;
                    continue;
                }
                let us = a.at_us.saturating_sub(boundary.saturating_mul(1_000));
                late.push(us);
                let l = last.entry(boundary).or_default();
                *l = (*l).max(us);
            }
            let n = boundaries(tf.span_ms, w0_ms, w1_ms);
            let expected = n * symbols as u64;
            let mut per_boundary: Vec<u64> = last.into_values().collect();
            OnTime {
                tf: tf.name.clone(),
                boundaries: n,
                expected,
                seen: late.len() as u64,
                missing: expected.saturating_sub(late.len() as u64),
                duplicates,
                amended,
                late: Percentiles::of(&mut late),
                last_of_boundary: Percentiles::of(&mut per_boundary),
            }
        })
        .collect()
}

/// `1s,1m,...` into timeframes, shortest first, each once; the engine builds the shortest from
/// trades, so every other must be a whole number of it.
pub fn parse_timeframes(list: &[String]) -> Result<Vec<Tf>> {
    let mut tfs = Vec::new();
    for s in list {
        match s.parse::<Tf>() {
            Ok(tf) => tfs.push(tf),
            Err(e) => bail!("--timeframes: {e}"),
        }
    }
    tfs.sort_by_key(|t| t.span_ms);
    tfs.dedup();
    let Some(base) = tfs.first().map(|t| t.span_ms) else { bail!("--timeframes is empty") };
    if let Some(t) = tfs.iter().find(|t| t.span_ms % base != 0) {
        bail!("--timeframes: {} is not a whole number of {} ms", t.name, base);
    }
    Ok(tfs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tf(s: &str) -> Tf {
        s.parse().expect("a timeframe")
    }

    #[test]
    fn ids_and_timeframes_parse_and_nonsense_does_not() {
        assert_eq!(parse_id("1765135000000-0"), Some((1_765_135_000_000, 0)));
        assert_eq!(parse_id("1765135000000-2"), Some((1_765_135_000_000, 2)));
        assert_eq!(parse_id("1765135000000"), None);
        assert_eq!(parse_id("x-0"), None);
        assert_eq!(tf("4h").span_ms, 14_400_000);
        assert!("1w".parse::<Tf>().is_err() && "7m".parse::<Tf>().is_err());
        let list: Vec<String> = ["1m", "1s", "1h", "1m"].map(String::from).to_vec();
        let names: Vec<String> = parse_timeframes(&list).expect("ok").into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["1s", "1m", "1h"]);
        assert!(parse_timeframes(&[]).is_err());
    }

    #[test]
    fn boundaries_count_multiples_in_a_half_open_window() {
        assert_eq!(boundaries(1_000, 10_000, 13_000), 3); // 10, 11, 12 s
        assert_eq!(boundaries(1_000, 10_001, 13_000), 2); // 11, 12 s
        assert_eq!(boundaries(1_000, 10_001, 13_001), 3); // 11, 12, 13 s
        assert_eq!(boundaries(60_000, 10_000, 13_000), 0);
        assert_eq!(boundaries(1_000, 13_000, 13_000), 0);
    }

    #[test]
    fn lateness_is_arrival_after_the_boundary_and_gaps_are_missing() {
        let tfs = [tf("1s"), tf("1m")];
        let at = |tf, sym, open_ms, version, late_ms: u64| Arrival {
            tf,
            sym,
            open_ms,
            version,
            at_us: (open_ms + if tf == 0 { 1_000 } else { 60_000 } + late_ms) * 1_000,
        };
        let arrivals = [
            at(0, 0, 59_000, 0, 260),  // boundary 60 s: in
            at(0, 1, 59_000, 0, 300),  // in
            at(0, 1, 59_000, 0, 900),  // the same candle again: a duplicate
            at(0, 0, 60_000, 0, 280),  // boundary 61 s: in; symbol 1 missing there
            at(0, 0, 60_000, 1, 700),  // an amendment
            at(0, 0, 61_000, 0, 250),  // boundary 62 s: outside the window
            at(1, 0, 0, 0, 400),       // the minute ending at 60 s
        ];
        let r = on_time(&arrivals, &tfs, 2, 60_000, 62_000);
        let s = &r[0];
        assert_eq!((s.boundaries, s.expected, s.seen, s.missing, s.duplicates, s.amended), (2, 4, 3, 1, 1, 1));
        assert_eq!((s.late.p50_us, s.late.max_us), (280_000, 300_000));
        assert_eq!((s.last_of_boundary.n, s.last_of_boundary.max_us), (2, 300_000));
        let m = &r[1];
        assert_eq!((m.boundaries, m.expected, m.seen, m.missing, m.late.p50_us), (1, 2, 1, 1, 400_000));
    }
}
