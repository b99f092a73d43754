//! `candles`: is every candle in Redis on time? The release `storm-candles` binary against a
//! throwaway Redis, fed live synthetic trades ([`crate::trades`]) for `symbols` symbols, with
//! the shortest timeframe 1 s so that a boundary comes every second; each closed candle's
//! arrival is read by [`crate::closes`] and compared with its boundary. Also the engine's CPU
//! per trade folded, and Redis' (the engine's commit scripts run there).
//!
//! Timeline: Redis, the engine, the watchers and the feed start; once the engine folds trades,
//! a warm-up (every symbol has traded, so has a series), then the window `[w0, w1)`: the CPU
//! and counters are read at both ends and every boundary inside it counts. The feed goes on for
//! [`SETTLE`] after `w1` so the last boundaries close under the same load; a candle not seen by
//! then is reported missing.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use storm_bus::{Bus, BusConfig};
use storm_core::time::now_millis;
use storm_testkit::process::{free_port, metric};
use storm_testkit::RedisServer;
use tokio_util::sync::CancellationToken;

use crate::closes::{on_time, OnTime, Tf, Watch};
use crate::procs::{alive, cpu_seconds, rss_kib, scrape, Engine};
use crate::redis_stats::{delta, CmdStat, RedisStats, Slow};
use crate::trades::{symbol_names, Feed};

/// How long the feed and the watchers go on after the window.
pub const SETTLE: Duration = Duration::from_secs(3);

/// The venue name the engine and the feed use.
const VENUE: &str = "bench";

/// What to run.
#[derive(Clone, Debug)]
pub struct CandlesArgs {
    /// Symbols.
    pub symbols: usize,
    /// Trades per second in all.
    pub rate: u64,
    /// Measured seconds.
    pub seconds: u64,
    /// Seconds between the engine's first trade and the window.
    pub warmup_s: u64,
    /// Timeframes, shortest first.
    pub timeframes: Vec<Tf>,
    /// The engine's `grace_ms`.
    pub grace_ms: u64,
    /// The engine's `forming_every_ms` (None: its default).
    pub forming_every_ms: Option<u64>,
}

/// CPU of one process over the window.
#[derive(Clone, Debug, Serialize)]
pub struct Usage {
    /// `candles`, `redis` or `bench` (feed + watchers).
    pub name: String,
    /// CPU seconds / wall seconds.
    pub cores: f64,
    /// CPU µs per trade folded.
    pub us_per_trade: f64,
    /// Resident memory at the end, MiB.
    pub rss_mib: f64,
}

/// The engine's counters over the window.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct EngineCounts {
    /// Trades folded into candles.
    pub trades: u64,
    /// Candles closed (every timeframe).
    pub closed: u64,
    /// Closed candles amended by a late trade.
    pub amended: u64,
    /// Trades older than the last closed candle.
    pub too_late: u64,
    /// Trades refused.
    pub refused: u64,
    /// Failed writes.
    pub write_errors: u64,
}

impl EngineCounts {
    async fn read(url: &str) -> Result<Self> {
        let b = scrape(url).await?;
        let m = |name: &str| metric(&b, name) as u64;
        Ok(Self {
            trades: m("storm_candles_trades_total"),
            closed: m("storm_candles_closed_total"),
            amended: m("storm_candles_amended_total"),
            too_late: m("storm_candles_too_late_total"),
            refused: m("storm_candles_refused_total"),
            write_errors: m("storm_candles_write_errors_total"),
        })
    }

    fn since(&self, b: &Self) -> Self {
        Self {
            trades: self.trades.saturating_sub(b.trades),
            closed: self.closed.saturating_sub(b.closed),
            amended: self.amended.saturating_sub(b.amended),
            too_late: self.too_late.saturating_sub(b.too_late),
            refused: self.refused.saturating_sub(b.refused),
            write_errors: self.write_errors.saturating_sub(b.write_errors),
        }
    }
}

/// The result of one run.
#[derive(Clone, Debug, Serialize)]
pub struct CandlesReport {
    /// UTC date and time of the window's start.
    pub date_utc: String,
    /// CPU model and count.
    pub machine: String,
    /// Symbols.
    pub symbols: usize,
    /// Trades per second asked.
    pub rate: u64,
    /// The engine's grace, ms.
    pub grace_ms: u64,
    /// The engine's `forming_every_ms` when set.
    pub forming_every_ms: Option<u64>,
    /// Window, s.
    pub window_s: f64,
    /// Engine counters over the window.
    pub counts: EngineCounts,
    /// Trades folded per second.
    pub trades_per_s: f64,
    /// CPU per process.
    pub usage: Vec<Usage>,
    /// The whole machine's busy cores over the window (every process, this run's and others').
    pub machine_busy_cores: f64,
    /// Lateness per timeframe.
    pub on_time: Vec<OnTime>,
    /// The target: p99 of arrival − boundary ≤ grace + 50 ms, µs.
    pub target_us: u64,
    /// Whether every timeframe's p99 is within the target and nothing is missing.
    pub met: bool,
    /// Redis commands over the window (calls, µs inside Redis).
    pub redis_commands: Vec<(String, CmdStat)>,
    /// Candle streams whose entries and `XADD` events do not pair up: (key, entries, events).
    pub unpaired: Vec<(String, usize, usize)>,
    /// Commands that took ≥ 10 ms inside Redis during the window.
    pub redis_slow: Vec<Slow>,
}

/// The engine's `storm.toml`.
pub fn engine_config(redis_url: &str, metrics_port: u16, a: &CandlesArgs) -> String {
    let names: Vec<String> = a.timeframes.iter().map(|t| format!("\"{}\"", t.name)).collect();
    let forming = a.forming_every_ms.map(|ms| format!("forming_every_ms = {ms}\n")).unwrap_or_default();
    format!(
        "redis_url = \"{redis_url}\"\nlog_level = \"warn\"\nmetrics_addr = \"127.0.0.1:{metrics_port}\"\n\
         [candles]\nvenue = \"{VENUE}\"\ntimeframes = [{}]\ngrace_ms = {}\n{forming}",
        names.join(", "),
        a.grace_ms
    )
}

/// `<model> × <n>` from `/proc/cpuinfo`.
pub fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    let n = info.lines().filter(|l| l.starts_with("processor")).count();
    format!("{n} × {model}")
}

/// Busy and total clock ticks of the whole machine (`cpu` line of `/proc/stat`): busy is
/// everything but idle and iowait, steal included (the VM's host took it).
pub fn machine_ticks(stat: &str) -> (u64, u64) {
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else { return (0, 0) };
    let f: Vec<u64> = line.split_whitespace().skip(1).take(8).filter_map(|v| v.parse().ok()).collect();
    let total: u64 = f.iter().sum();
    let idle = f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

fn machine_now() -> (u64, u64) {
    machine_ticks(&std::fs::read_to_string("/proc/stat").unwrap_or_default())
}

/// Waits until the engine has folded a trade.
async fn wait_folding(engine: &Engine, url: &str, patience: Duration) -> Result<()> {
    let t0 = Instant::now();
    loop {
        if let Ok(c) = EngineCounts::read(url).await {
            if c.trades > 0 {
                return Ok(());
            }
        }
        if !alive(engine.pid()) {
            bail!("storm-candles exited (see its log above)");
        }
        if t0.elapsed() > patience {
            bail!("storm-candles folded no trade in {patience:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// CPU seconds of the engine, Redis and this process, in that order.
fn cpu_now(pids: &[u32; 3]) -> [f64; 3] {
    pids.map(cpu_seconds)
}

/// Runs once.
pub async fn measure(bin_dir: &Path, a: &CandlesArgs) -> Result<CandlesReport> {
    let redis = RedisServer::start().context("start redis-server")?;
    let url = redis.url();
    let mut stats = RedisStats::connect(&url).await?;
    let names = symbol_names(a.symbols);
    let watch = Watch::start(&url, VENUE, &names, &a.timeframes).await?;
    let port = free_port()?;
    let config = engine_config(&url, port, a);
    let engine = Engine::start("candles", bin_dir, "storm-candles", &config, Some(port))?;
    let metrics_url = engine.metrics_url.clone().context("no metrics")?;
    let bus = Bus::connect(BusConfig::new(&url), CancellationToken::new()).await?;
    let feed = Feed::start(&bus, VENUE, &names, a.rate);
    wait_folding(&engine, &metrics_url, Duration::from_secs(30)).await?;
    tokio::time::sleep(Duration::from_secs(a.warmup_s)).await;

    let pids = [engine.pid(), redis.pid().unwrap_or(0), std::process::id()];
    let (cpu0, c0, s0) = (cpu_now(&pids), EngineCounts::read(&metrics_url).await?, stats.commandstats().await?);
    let m0 = machine_now();
    let (date_utc, w0_ms, t0) = (crate::report::utc_now(), now_millis(), Instant::now());
    while t0.elapsed() < Duration::from_secs(a.seconds) {
        let left = Duration::from_secs(a.seconds).saturating_sub(t0.elapsed());
        tokio::time::sleep(left.min(Duration::from_secs(1))).await;
        if !alive(engine.pid()) {
            bail!("storm-candles exited during the window (see its log above)");
        }
    }
    let (cpu1, c1, s1) = (cpu_now(&pids), EngineCounts::read(&metrics_url).await?, stats.commandstats().await?);
    let m1 = machine_now();
    let (w1_ms, window_s) = (now_millis(), t0.elapsed().as_secs_f64());
    let rss = pids.map(rss_kib);
    tokio::time::sleep(SETTLE).await;
    let written = feed.finish().await?;
    // The engine stops before the watch does, so every candle in Redis had its event stamped.
    drop(engine);
    let (arrivals, disagree) = watch.finish().await?;
    let slow = stats.slow_since(w0_ms / 1_000).await?;
    drop(redis);
    if written == 0 {
        bail!("the feed wrote no trade");
    }

    let counts = c1.since(&c0);
    let per_trade = counts.trades.max(1) as f64;
    let usage = ["candles", "redis", "bench"]
        .iter()
        .enumerate()
        .map(|(i, name)| Usage {
            name: (*name).to_owned(),
            cores: (cpu1[i] - cpu0[i]) / window_s,
            us_per_trade: (cpu1[i] - cpu0[i]) * 1e6 / per_trade,
            rss_mib: rss[i] as f64 / 1024.0,
        })
        .collect();
    let on_time = on_time(&arrivals, &a.timeframes, a.symbols, w0_ms, w1_ms);
    let target_us = (a.grace_ms + 50) * 1_000;
    let met =
        disagree.is_empty() && on_time.iter().all(|o| o.missing == 0 && (o.seen == 0 || o.late.p99_us <= target_us));
    Ok(CandlesReport {
        date_utc,
        machine: machine(),
        symbols: a.symbols,
        rate: a.rate,
        grace_ms: a.grace_ms,
        forming_every_ms: a.forming_every_ms,
        window_s,
        counts,
        trades_per_s: counts.trades as f64 / window_s,
        usage,
        machine_busy_cores: (m1.0.saturating_sub(m0.0)) as f64 / (m1.1.saturating_sub(m0.1)).max(1) as f64
            * std::thread::available_parallelism().map_or(1, usize::from) as f64,
        on_time,
        target_us,
        met,
        redis_commands: delta(&s0, &s1).into_iter().collect(),
        unpaired: disagree,
        redis_slow: slow.into_iter().filter(|s| s.at_s * 1_000 < w1_ms + 999).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_config_is_toml_with_every_timeframe() {
        let timeframes: Vec<Tf> = ["1s", "1m"].iter().map(|s| s.parse().expect("tf")).collect();
        let mut a = CandlesArgs {
            symbols: 1,
            rate: 1,
            seconds: 1,
            warmup_s: 0,
            timeframes,
            grace_ms: 250,
            forming_every_ms: None,
        };
        let c = engine_config("redis://127.0.0.1:1/", 9, &a);
        let t: toml::Table = c.parse().expect("TOML");
        assert_eq!(t["metrics_addr"].as_str(), Some("127.0.0.1:9"));
        let candles = t["candles"].as_table().expect("[candles]");
        assert_eq!(candles["timeframes"].as_array().map(Vec::len), Some(2));
        assert_eq!(candles["grace_ms"].as_integer(), Some(250));
        assert!(!c.contains("forming_every_ms"));
        a.forming_every_ms = Some(3_600_000);
        let t: toml::Table = engine_config("r", 9, &a).parse().expect("TOML");
        assert_eq!(t["candles"]["forming_every_ms"].as_integer(), Some(3_600_000));
        assert!(machine().contains('×'));
    }

    #[test]
    fn machine_ticks_count_steal_as_busy_and_iowait_as_idle() {
        let stat = "cpu  100 5 50 800 40 1 2 3 0 0\ncpu0 50 2 25 400 20 0 1 1 0 0\n";
        assert_eq!(machine_ticks(stat), (161, 1001));
        assert_eq!(machine_ticks("nonsense"), (0, 0));
    }
}
