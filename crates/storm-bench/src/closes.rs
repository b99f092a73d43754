//! When each closed candle shows in Redis, and how late that is after its boundary.
//!
//! Redis announces every `XADD` on the keyevent channel `__keyevent@0__:xadd` (the bench turns
//! `notify-keyspace-events Et` on in its throwaway Redis) the moment the command runs, and the
//! messages of one script call go out together right after it, when its writes become readable.
//! One subscriber stamps each message with the wall clock as it arrives ([`Watch`]); after the
//! run every candle stream is read back with `XRANGE` and its entries are paired with its
//! stamps in order (the engine is the only writer of a candle stream, every entry one `XADD`;
//! a refused duplicate `XADD` writes nothing and announces nothing). A stream whose counts do
//! not agree is reported, not guessed at. A candle entry's id is `<open_ms>-<version>`: version 0
//! is the candle closed on time, and its boundary is `open_ms` + the timeframe.
//!
//! Why not a blocking `XREAD` on the 1,000 streams of a timeframe: Redis 7.0 answers a client
//! blocked on many streams with the first stream that got data only, so a second read (and its
//! round trip, on a loaded machine 20–30 ms) comes between the first candle of a commit and the
//! rest, which the subscriber does not add; it also costs Redis nothing between commits.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use anyhow::{bail, Result};
use futures_util::StreamExt;
use serde::Serialize;
use storm_bus::Keys;
use storm_core::time::now_micros;
use storm_core::Symbol;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::stats::Percentiles;

/// The channel every `XADD` of database 0 is announced on.
const XADD_EVENTS: &str = "__keyevent@0__:xadd";

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

/// The running subscriber.
pub struct Watch {
    client: redis::Client,
    keys: Vec<(usize, u32, String)>,
    stop: CancellationToken,
    task: JoinHandle<Result<HashMap<String, Vec<u64>>>>,
}

impl Watch {
    /// Turns the `XADD` events on and starts stamping those of every candle stream of `names` ×
    /// `tfs` on `venue`. Must start before the engine writes its first candle.
    pub async fn start(redis_url: &str, venue: &str, names: &[String], tfs: &[Tf]) -> Result<Self> {
        let client = redis::Client::open(redis_url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("CONFIG").arg("SET").arg("notify-keyspace-events").arg("Et").query_async::<()>(&mut conn).await?;
        let k = Keys::default();
        let mut keys = Vec::new();
        for (ti, tf) in tfs.iter().enumerate() {
            for (si, n) in names.iter().enumerate() {
                keys.push((ti, si as u32, k.candles(venue, &Symbol::new(n), &tf.name)));
            }
        }
        let wanted: HashSet<String> = keys.iter().map(|(_, _, key)| key.clone()).collect();
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(XADD_EVENTS).await?;
        let stop = CancellationToken::new();
        let s = stop.clone();
        let task = tokio::spawn(async move {
            let mut stamps: HashMap<String, Vec<u64>> = HashMap::new();
            let mut messages = pubsub.on_message();
            loop {
                let msg = tokio::select! {
                    _ = s.cancelled() => return Ok(stamps),
                    m = messages.next() => m,
                };
                let Some(msg) = msg else { bail!("the XADD event subscription ended") };
                let at_us = now_micros();
                let key = String::from_utf8_lossy(msg.get_payload_bytes());
                if wanted.contains(key.as_ref()) {
                    stamps.entry(key.into_owned()).or_default().push(at_us);
                }
            }
        });
        Ok(Self { client, keys, stop, task })
    }

    /// Stops stamping and pairs every candle stream's entries with its stamps. Returns the
    /// arrivals and the streams whose counts disagree (key, entries, stamps).
    pub async fn finish(self) -> Result<(Vec<Arrival>, Vec<(String, usize, usize)>)> {
        // The last commits' messages are on their way: a moment for them before stopping.
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.stop.cancel();
        let stamps = self.task.await??;
        let mut conn = self.client.get_multiplexed_async_connection().await?;
        let (mut arrivals, mut disagree) = (Vec::new(), Vec::new());
        for chunk in self.keys.chunks(200) {
            let mut pipe = redis::pipe();
            for (_, _, key) in chunk {
                pipe.cmd("XRANGE").arg(key).arg("-").arg("+");
            }
            let replies: Vec<Vec<(String, redis::Value)>> = pipe.query_async(&mut conn).await?;
            for ((tf, sym, key), entries) in chunk.iter().zip(replies) {
                let ids: Vec<String> = entries.into_iter().map(|(id, _)| id).collect();
                let at = stamps.get(key).map_or(&[][..], Vec::as_slice);
                match pair(&ids, at) {
                    Some(pairs) => arrivals.extend(pairs.into_iter().map(|(open_ms, version, at_us)| Arrival {
                        tf: *tf,
                        sym: *sym,
                        open_ms,
                        version,
                        at_us,
                    })),
                    None => disagree.push((key.clone(), ids.len(), at.len())),
                }
            }
        }
        Ok((arrivals, disagree))
    }
}

/// Entry ids and arrival stamps of one stream, in order, as `(open_ms, version, at_us)`; None
/// when their numbers differ or an id is not `<open_ms>-<version>`.
pub fn pair(ids: &[String], stamps: &[u64]) -> Option<Vec<(u64, u64, u64)>> {
    if ids.len() != stamps.len() {
        return None;
    }
    ids.iter().zip(stamps).map(|(id, &at)| parse_id(id).map(|(open, v)| (open, v, at))).collect()
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
    /// Every boundary, in order.
    pub per_boundary: Vec<Boundary>,
}

/// The candles of one boundary.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Boundary {
    /// The boundary, ms.
    pub at_ms: u64,
    /// Closed candles seen.
    pub seen: u64,
    /// First arrival − boundary, µs.
    pub first_us: u64,
    /// Last arrival − boundary, µs.
    pub last_us: u64,
}

impl Boundary {
    fn add(&mut self, us: u64) {
        if self.seen == 0 || us < self.first_us {
            self.first_us = us;
        }
        self.last_us = self.last_us.max(us);
        self.seen += 1;
    }
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
            let mut per: BTreeMap<u64, Boundary> = BTreeMap::new();
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
                let b = per.entry(boundary).or_default();
                b.at_ms = boundary;
                b.add(us);
            }
            let n = boundaries(tf.span_ms, w0_ms, w1_ms);
            let expected = n * symbols as u64;
            let per_boundary: Vec<Boundary> = per.into_values().collect();
            let mut lasts: Vec<u64> = per_boundary.iter().map(|b| b.last_us).collect();
            OnTime {
                tf: tf.name.clone(),
                boundaries: n,
                expected,
                seen: late.len() as u64,
                missing: expected.saturating_sub(late.len() as u64),
                duplicates,
                amended,
                late: Percentiles::of(&mut late),
                last_of_boundary: Percentiles::of(&mut lasts),
                per_boundary,
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
    fn ids_pair_with_stamps_in_order_or_not_at_all() {
        let ids: Vec<String> = ["1000-0", "2000-0", "2000-1"].map(String::from).to_vec();
        assert_eq!(pair(&ids, &[7, 8, 9]), Some(vec![(1_000, 0, 7), (2_000, 0, 8), (2_000, 1, 9)]));
        assert_eq!(pair(&ids, &[7, 8]), None, "a stamp missing");
        assert_eq!(pair(&["x".to_owned()], &[7]), None, "not a candle id");
        assert_eq!(pair(&[], &[]), Some(vec![]));
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
            at(0, 0, 59_000, 0, 260), // boundary 60 s: in
            at(0, 1, 59_000, 0, 300), // in
            at(0, 1, 59_000, 0, 900), // the same candle again: a duplicate
            at(0, 0, 60_000, 0, 280), // boundary 61 s: in; symbol 1 missing there
            at(0, 0, 60_000, 1, 700), // an amendment
            at(0, 0, 61_000, 0, 250), // boundary 62 s: outside the window
            at(1, 0, 0, 0, 400),      // the minute ending at 60 s
        ];
        let r = on_time(&arrivals, &tfs, 2, 60_000, 62_000);
        let s = &r[0];
        assert_eq!((s.boundaries, s.expected, s.seen, s.missing, s.duplicates, s.amended), (2, 4, 3, 1, 1, 1));
        assert_eq!((s.late.p50_us, s.late.max_us), (280_000, 300_000));
        assert_eq!((s.last_of_boundary.n, s.last_of_boundary.max_us), (2, 300_000));
        let first = &s.per_boundary[0];
        assert_eq!((first.at_ms, first.seen, first.first_us, first.last_us), (60_000, 2, 260_000, 300_000));
        let m = &r[1];
        assert_eq!((m.boundaries, m.expected, m.seen, m.missing, m.late.p50_us), (1, 2, 1, 1, 400_000));
    }
}
