//! `run` and `sweep`: the sim at a chosen rate through ingester → Redis → booksync → arbitrage,
//! measured over a window after every book is live and a warm-up.
//!
//! What "sustained" means ([`judge`]) is spelled out because the sweep's answer depends on it:
//! the ingester receives what the sim was asked to send (≥ 95 %), booksync applies what the
//! ingester wrote (≥ 97 %), the backlog between them (written − processed) does not grow by more
//! than a quarter second of events over the window, nothing is dropped, reconnected or resynced,
//! and the median latency of the last third of the window is not more than twice (and 20 ms
//! above) that of the first third. A rate that fails any of these is reported with the reason.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;
use storm_testkit::process::metric;

use crate::procs::{cpu_seconds, rss_kib, scrape, Engines, Feed, Market, Stack};
use std::collections::HashMap;

use crate::reader::{Observer, OppSample, Seen, TopSample};
use crate::stats::{median, Percentiles};

/// What to run.
#[derive(Clone, Debug)]
pub struct RunArgs {
    /// Sim events (depth diffs) per second across all symbols.
    pub rate: u64,
    /// Symbols (at least; the sim's universe grows in steps of three).
    pub symbols: usize,
    /// The sim's `levels_per_event` (diff size).
    pub levels_per_event: usize,
    /// The sim's market clock period, ms (a step sends `rate × step_ms / 1000` diffs at once).
    pub step_ms: u64,
    /// Measured seconds.
    pub duration_s: u64,
    /// Seconds between every book live and the window.
    pub warmup_s: u64,
    /// Run the arbitrage too (opportunity latency).
    pub arbitrage: bool,
    /// booksync's `threads` (0: a worker per core, 1: one thread).
    pub booksync_threads: usize,
    /// Read every tops entry live (else sample 1,000 a second).
    pub live_tops: bool,
}

/// Engine counters at one moment.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Counters {
    /// Entries the ingester wrote to `storm:md:sim:depth`.
    pub written: u64,
    /// Entries the ingester dropped (Redis buffer overflow).
    pub dropped: u64,
    /// Reconnects of the ingester's WebSocket connections.
    pub reconnects: u64,
    /// Depth entries booksync is done with (applied, dropped before a snapshot, already in the book).
    pub processed: u64,
    /// Of which applied to live books.
    pub applied: u64,
    /// Resyncs (gap, crossed book, ...).
    pub resyncs: u64,
    /// Tops entries written.
    pub tops: u64,
    /// booksync's receive-to-apply lag of its last batch, ms.
    pub lag_ms: u64,
    /// Opportunities emitted.
    pub opps: u64,
}

impl Counters {
    /// Scrapes the engines of `stack`.
    pub async fn read(stack: &Stack) -> Result<Self> {
        let mut c = Self::default();
        for e in &stack.engines {
            let Some(url) = &e.metrics_url else { continue };
            let b = scrape(url).await?;
            let m = |name: &str| metric(&b, name) as u64;
            match e.name {
                "ingester" => {
                    c.written = m("storm_ingester_written_total");
                    c.dropped = m("storm_ingester_dropped_total");
                    c.reconnects = m("storm_ingester_reconnects_total");
                }
                "booksync" => {
                    c.applied = m("storm_booksync_diffs_applied_total");
                    c.processed =
                        c.applied + m("storm_booksync_snapshot_dropped_total") + m("storm_booksync_stale_diffs_total");
                    c.resyncs = m("storm_booksync_resyncs_total");
                    c.tops = m("storm_booksync_tops_total");
                    c.lag_ms = m("storm_booksync_lag_ms");
                }
                "arbitrage" => c.opps = m("storm_arbitrage_opportunities_total"),
                _ => {}
            }
        }
        Ok(c)
    }

    /// Events written but not yet processed by booksync.
    pub fn backlog(&self) -> i64 {
        self.written as i64 - self.processed as i64
    }
}

/// CPU and memory of one process over the window.
#[derive(Clone, Debug, Serialize)]
pub struct ProcUsage {
    /// `sim`, `ingester`, `booksync`, `arbitrage`, `redis`, `bench` (this observer).
    pub name: String,
    /// CPU seconds / wall seconds.
    pub cores: f64,
    /// CPU µs per event received by the ingester in the window.
    pub us_per_event: f64,
    /// Resident memory at the end, MiB.
    pub rss_mib: f64,
}

/// The latency series of a run (see [`crate::reader`] for the clocks).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latencies {
    /// sim `E` (ms) → tops entry read by a consumer.
    pub e_to_tops: Percentiles,
    /// sim `E` (ms) → Redis stored the hash + tops entry (entry id, ms).
    pub e_to_hash_write: Percentiles,
    /// ingester receive (µs) → tops entry read by a consumer.
    pub recv_to_tops: Percentiles,
    /// ingester receive (µs) → booksync's publish stamp.
    pub recv_to_publish: Percentiles,
    /// sim `E` (ms) → ingester receive.
    pub e_to_recv: Percentiles,
    /// sim `E` (ms) of the triggering diff → opportunity read by a consumer.
    pub e_to_opp: Percentiles,
    /// ingester receive (µs) of the triggering diff → opportunity read (pipeline_latency's measure).
    pub recv_to_opp: Percentiles,
    /// Triggering tops entry read → opportunity read, both by the observer (live tops only):
    /// the arbitrage's own hop, its Redis round trips included.
    pub tops_to_opp: Percentiles,
    /// Median of the first and of the last third of the window, µs: `E` → tops read when the
    /// tops were read live, else `E` → hash + tops written.
    pub e_to_tops_p50_thirds: (u64, u64),
}

/// One second of the window.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Tick {
    /// Seconds since the window opened.
    pub t_s: f64,
    /// written − processed.
    pub backlog: i64,
    /// booksync's last-batch lag, ms.
    pub lag_ms: u64,
}

/// The result of one run.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// UTC date and time of the window's start.
    pub date_utc: String,
    /// Target sim events/s.
    pub rate: u64,
    /// The sim's market clock period, ms.
    pub step_ms: u64,
    /// booksync's `threads`.
    pub booksync_threads: usize,
    /// Symbols in the sim (all subscribed).
    pub symbols: usize,
    /// Window, s.
    pub window_s: f64,
    /// Depth frames the ingester wrote per second.
    pub received_per_s: f64,
    /// Diffs booksync applied per second.
    pub applied_per_s: f64,
    /// Tops entries per second.
    pub tops_per_s: f64,
    /// Opportunities per second.
    pub opps_per_s: f64,
    /// Counters at the start and end of the window.
    pub counters: (Counters, Counters),
    /// Per-second backlog and lag.
    pub ticks: Vec<Tick>,
    /// Per process.
    pub usage: Vec<ProcUsage>,
    /// Engines only (ingester + booksync [+ arbitrage]) CPU µs per event.
    pub engines_us_per_event: f64,
    /// Engines + Redis CPU µs per event.
    pub engines_redis_us_per_event: f64,
    /// Latencies.
    pub latency: Latencies,
    /// Whether the rate was sustained, and if not why.
    pub sustained: bool,
    /// Reasons it was not (empty when sustained).
    pub problems: Vec<String>,
}

/// Decides whether a run sustained its rate; returns the problems found (none: sustained).
pub fn judge(rate: u64, received_per_s: f64, c0: &Counters, c1: &Counters, p50_thirds: (u64, u64)) -> Vec<String> {
    let mut p = Vec::new();
    if received_per_s < 0.95 * rate as f64 {
        p.push(format!("ingester received {received_per_s:.0}/s of {rate}/s asked (sim or ingester behind)"));
    }
    let (written, processed) = (c1.written.saturating_sub(c0.written), c1.processed.saturating_sub(c0.processed));
    if (processed as f64) < 0.97 * written as f64 {
        p.push(format!("booksync processed {processed} of {written} entries written in the window"));
    }
    let growth = c1.backlog() - c0.backlog();
    if growth as f64 > 0.25 * rate as f64 {
        p.push(format!("backlog grew by {growth} entries ({} → {})", c0.backlog(), c1.backlog()));
    }
    for (what, n) in [
        ("ingester dropped", c1.dropped.saturating_sub(c0.dropped)),
        ("ingester reconnects", c1.reconnects.saturating_sub(c0.reconnects)),
        ("booksync resyncs", c1.resyncs.saturating_sub(c0.resyncs)),
    ] {
        if n > 0 {
            p.push(format!("{what}: {n}"));
        }
    }
    let (first, last) = p50_thirds;
    if last > 2 * first && last > first + 20_000 {
        p.push(format!("E→tops median grew from {} to {} within the window", first / 1000, last / 1000) + " ms");
    }
    p
}

/// Splits `(at, value)` samples into thirds of `[t0, t1]` by time and returns the medians of
/// the first and last third.
pub fn thirds(at: &[u64], values: &[u64], t0: u64, t1: u64) -> (u64, u64) {
    let third = (t1.saturating_sub(t0)) / 3;
    let pick = |lo: u64, hi: u64| {
        let mut v: Vec<u64> = at.iter().zip(values).filter(|(a, _)| **a >= lo && **a < hi).map(|(_, v)| *v).collect();
        median(&mut v)
    };
    (pick(t0, t0 + third), pick(t1 - third, t1 + 1))
}

/// Runs once.
pub async fn measure(bin_dir: &Path, a: &RunArgs) -> Result<RunReport> {
    let market = Market { rate: a.rate, symbols: a.symbols, levels: a.levels_per_event, step_ms: a.step_ms };
    let stack = Stack::start(
        bin_dir,
        &Feed::Synthetic(market),
        Engines { arbitrage: a.arbitrage, booksync_threads: a.booksync_threads },
    )
    .await?;
    stack.wait_books_live(Duration::from_secs(240)).await?;
    let observer = Observer::start(&stack.redis.url(), "sim", a.live_tops, false).await?;
    tokio::time::sleep(Duration::from_secs(a.warmup_s)).await;

    let pids = stack.pids();
    let me = std::process::id();
    let cpu0: Vec<f64> = pids.iter().map(|(_, p)| cpu_seconds(*p)).collect();
    let me0 = cpu_seconds(me);
    let c0 = Counters::read(&stack).await?;
    let date_utc = crate::report::utc_now();
    let t0_us = storm_core::time::now_micros();
    let t0 = Instant::now();
    observer.set_window(true);
    let mut ticks = Vec::new();
    while t0.elapsed() < Duration::from_secs(a.duration_s) {
        tokio::time::sleep(Duration::from_secs(1).min(Duration::from_secs(a.duration_s).saturating_sub(t0.elapsed())))
            .await;
        let c = Counters::read(&stack).await?;
        ticks.push(Tick { t_s: t0.elapsed().as_secs_f64(), backlog: c.backlog(), lag_ms: c.lag_ms });
    }
    observer.set_window(false);
    let c1 = Counters::read(&stack).await?;
    let elapsed = t0.elapsed().as_secs_f64();
    let t1_us = storm_core::time::now_micros();
    let cpu1: Vec<f64> = pids.iter().map(|(_, p)| cpu_seconds(*p)).collect();
    let me1 = cpu_seconds(me);
    let rss: Vec<u64> = pids.iter().map(|(_, p)| rss_kib(*p)).collect();
    let seen = observer.finish().await?;
    let symbols = stack.symbols.len();
    drop(stack);

    let events = (c1.written.saturating_sub(c0.written)).max(1) as f64;
    let mut usage: Vec<ProcUsage> = pids
        .iter()
        .enumerate()
        .map(|(i, (name, _))| ProcUsage {
            name: (*name).to_owned(),
            cores: (cpu1[i] - cpu0[i]) / elapsed,
            us_per_event: (cpu1[i] - cpu0[i]) * 1e6 / events,
            rss_mib: rss[i] as f64 / 1024.0,
        })
        .collect();
    usage.push(ProcUsage {
        name: "bench".into(),
        cores: (me1 - me0) / elapsed,
        us_per_event: (me1 - me0) * 1e6 / events,
        rss_mib: rss_kib(me) as f64 / 1024.0,
    });
    let engines: f64 = usage
        .iter()
        .filter(|u| matches!(u.name.as_str(), "ingester" | "booksync" | "arbitrage"))
        .map(|u| u.us_per_event)
        .sum();
    let redis = usage.iter().find(|u| u.name == "redis").map_or(0.0, |u| u.us_per_event);
    let latency = latencies(&seen, t0_us, t1_us);
    let received_per_s = (c1.written.saturating_sub(c0.written)) as f64 / elapsed;
    let problems = judge(a.rate, received_per_s, &c0, &c1, latency.e_to_tops_p50_thirds);
    Ok(RunReport {
        date_utc,
        rate: a.rate,
        step_ms: a.step_ms,
        booksync_threads: a.booksync_threads,
        symbols,
        window_s: elapsed,
        received_per_s,
        applied_per_s: (c1.applied.saturating_sub(c0.applied)) as f64 / elapsed,
        tops_per_s: (c1.tops.saturating_sub(c0.tops)) as f64 / elapsed,
        opps_per_s: (c1.opps.saturating_sub(c0.opps)) as f64 / elapsed,
        counters: (c0, c1),
        ticks,
        usage,
        engines_us_per_event: engines,
        engines_redis_us_per_event: engines + redis,
        latency,
        sustained: problems.is_empty(),
        problems,
    })
}

/// Summarises the observer's samples (see [`crate::reader`] for the clocks).
pub fn latencies(seen: &Seen, t0_us: u64, t1_us: u64) -> Latencies {
    let d = |a: u64, b: u64| a.saturating_sub(b);
    let live: Vec<&TopSample> = seen.tops.iter().filter(|t| t.at_us.is_some()).collect();
    let at = |t: &TopSample| t.at_us.unwrap_or(0);
    let mut e_to_tops: Vec<u64> = live.iter().map(|t| d(at(t), t.e_us)).collect();
    let mut recv_to_tops: Vec<u64> = live.iter().map(|t| d(at(t), t.recv_us)).collect();
    let mut write: Vec<u64> = seen.tops.iter().map(|t| d(t.id_ms * 1_000, t.e_us)).collect();
    let mut publish: Vec<u64> = seen.tops.iter().map(|t| d(t.local_us, t.recv_us)).collect();
    let mut e_to_recv: Vec<u64> = seen.tops.iter().map(|t| d(t.recv_us, t.e_us)).collect();
    // Growth: E→tops read (live) or E→write (sampled), medians of the first and last third.
    let p50_thirds = if live.is_empty() {
        let when: Vec<u64> = seen.tops.iter().map(|t| t.id_ms * 1_000).collect();
        thirds(&when, &write, t0_us, t1_us)
    } else {
        let when: Vec<u64> = live.iter().map(|t| at(t)).collect();
        thirds(&when, &e_to_tops, t0_us, t1_us)
    };
    let trigger: HashMap<(&str, u64), &TopSample> =
        seen.tops.iter().map(|t| ((t.symbol.as_str(), t.update_id), t)).collect();
    let mut recv_to_opp: Vec<u64> = seen.opps.iter().map(|o| d(o.at_us, o.trigger_us)).collect();
    let triggers: Vec<(&OppSample, &TopSample)> =
        seen.opps
            .iter()
            .filter_map(|o| {
                let t = o.books.iter().find_map(|(sym, u)| {
                    trigger.get(&(sym.as_str(), *u)).filter(|t| t.recv_us == o.trigger_us).copied()
                })?;
                Some((o, t))
            })
            .collect();
    let mut e_to_opp: Vec<u64> = triggers.iter().map(|(o, t)| d(o.at_us, t.e_us)).collect();
    let mut tops_to_opp: Vec<u64> = triggers.iter().filter_map(|(o, t)| t.at_us.map(|read| d(o.at_us, read))).collect();
    Latencies {
        e_to_tops: Percentiles::of(&mut e_to_tops),
        e_to_hash_write: Percentiles::of(&mut write),
        recv_to_tops: Percentiles::of(&mut recv_to_tops),
        recv_to_publish: Percentiles::of(&mut publish),
        e_to_recv: Percentiles::of(&mut e_to_recv),
        e_to_opp: Percentiles::of(&mut e_to_opp),
        recv_to_opp: Percentiles::of(&mut recv_to_opp),
        tops_to_opp: Percentiles::of(&mut tops_to_opp),
        e_to_tops_p50_thirds: p50_thirds,
    }
}

/// Sweep settings.
#[derive(Clone, Debug)]
pub struct SweepArgs {
    /// First rate.
    pub from: u64,
    /// Increment.
    pub step: u64,
    /// Last rate tried at most.
    pub max: u64,
    /// One more run halfway between the last sustained and the first failed rate.
    pub refine: bool,
}

/// The sweep's result.
#[derive(Clone, Debug, Serialize)]
pub struct SweepReport {
    /// Every run, in order.
    pub runs: Vec<RunReport>,
    /// Highest rate sustained (0: none).
    pub highest_sustained: u64,
}

/// Increases the rate until a run is not sustained (or `max`), then optionally refines once.
pub async fn sweep(
    bin_dir: &Path,
    base: &RunArgs,
    s: &SweepArgs,
    mut each: impl FnMut(&RunReport),
) -> Result<SweepReport> {
    let mut runs = Vec::new();
    let mut best = 0;
    let mut failed = None;
    let mut rate = s.from;
    while rate <= s.max {
        let r = measure(bin_dir, &RunArgs { rate, ..base.clone() }).await?;
        each(&r);
        let ok = r.sustained;
        runs.push(r);
        if !ok {
            failed = Some(rate);
            break;
        }
        best = rate;
        rate += s.step;
    }
    if let (true, Some(bad)) = (s.refine, failed) {
        let mid = (best + bad) / 2 / 1_000 * 1_000;
        if mid > best && mid < bad {
            let r = measure(bin_dir, &RunArgs { rate: mid, ..base.clone() }).await?;
            each(&r);
            if r.sustained {
                best = mid;
            }
            runs.push(r);
        }
    }
    Ok(SweepReport { runs, highest_sustained: best })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(written: u64, processed: u64) -> Counters {
        Counters { written, processed, applied: processed, ..Counters::default() }
    }

    #[test]
    fn a_steady_run_is_sustained() {
        assert!(judge(10_000, 9_990.0, &c(1_000, 990), &c(101_000, 100_950), (3_000, 3_200)).is_empty());
    }

    #[test]
    fn growth_loss_and_a_slow_source_are_each_named() {
        let p = judge(10_000, 9_000.0, &c(0, 0), &c(100_000, 90_000), (3_000, 40_000));
        assert_eq!(p.len(), 4, "{p:?}"); // received, processed, backlog, latency growth
        let mut bad = c(100_000, 100_000);
        bad.resyncs = 2;
        let p = judge(10_000, 10_000.0, &c(0, 0), &bad, (3_000, 3_000));
        assert_eq!(p, vec!["booksync resyncs: 2".to_owned()]);
    }

    #[test]
    fn thirds_take_medians_by_time() {
        let at = [0, 1, 2, 7, 8, 9];
        let v = [1, 1, 1, 5, 5, 5];
        assert_eq!(thirds(&at, &v, 0, 9), (1, 5));
    }
}
