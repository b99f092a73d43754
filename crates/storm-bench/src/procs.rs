//! The processes of one measurement: a throwaway redis-server, the release `storm-sim` and the
//! engine binaries, each started from a generated config file (the same files an operator
//! writes), plus what is read from them: `/metrics` counters and `/proc` CPU and memory.
//!
//! Everything is a separate OS process on purpose: the numbers must be those of the binaries
//! that run in production, with their own runtimes and allocators, and CPU must be attributable
//! per engine (`/proc/<pid>/stat`), which an in-process bench cannot do.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use storm_testkit::process::{cpu_ticks, free_port, metric, EngineProcess, TICKS_PER_SECOND};
use storm_testkit::RedisServer;

/// Symbols of the sim's default universe (ten real assets); each extra asset adds three
/// (`X###USDT`, `X###BTC`, `X###ETH`), see `storm_sim::app::model`.
pub const BASE_SYMBOLS: usize = 29;

/// Extra synthetic assets for at least `symbols` symbols in the sim.
pub fn extra_assets_for(symbols: usize) -> usize {
    symbols.saturating_sub(BASE_SYMBOLS).div_ceil(3)
}

/// Where the release binaries are: `--bin-dir`, else `<workspace>/target/release`.
pub fn bin_dir(arg: Option<&Path>) -> PathBuf {
    match arg {
        Some(p) => p.to_path_buf(),
        None => workspace_root().join("target").join("release"),
    }
}

/// The workspace root (two levels above this crate's manifest).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

fn binary(dir: &Path, name: &str) -> Result<String> {
    let p = dir.join(name);
    if !p.is_file() {
        bail!("{} not found: build it first with `cargo build --release --bins` (or pass --bin-dir)", p.display());
    }
    Ok(p.to_string_lossy().into_owned())
}

/// The sim's `storm.toml`.
pub fn sim_config(port: u16, market: &Market, mispricing: bool) -> String {
    let Market { rate: events_per_second, symbols, levels, step_ms } = *market;
    let extra_assets = extra_assets_for(symbols);
    // Weight is not the subject here: a generous limit lets 500 snapshots go out at once.
    // Mispricings (when the arbitrage runs) every ~1 s on a random symbol, 2 s long, 0.8 %:
    // enough for a steady flow of opportunities to time.
    let every_ms = if mispricing { 1_000 } else { 0 };
    format!(
        "log_level = \"warn\"\n[sim]\nlisten = \"127.0.0.1:{port}\"\nseed = 7\nstep_ms = {step_ms}\n\
         events_per_second = {events_per_second}\nextra_assets = {extra_assets}\nlevels_per_event = {levels}\nweight_limit = 1000000\n\
         [sim.mispricing]\nevery_ms = {every_ms}\nsize = \"0.008\"\nlifetime_ms = 2000\n\
         [sim.ws]\nmax_streams = 1024\nmax_incoming_per_sec = 50\n"
    )
}

/// Common head of an engine's `storm.toml`: Redis, its own `/metrics` port, the sim as venue.
fn engine_head(redis_url: &str, metrics_port: u16, sim_port: u16) -> String {
    format!(
        "redis_url = \"{redis_url}\"\nlog_level = \"warn\"\nmetrics_addr = \"127.0.0.1:{metrics_port}\"\n\
         [[venue]]\nname = \"sim\"\nkind = \"binance\"\nrest_url = \"http://127.0.0.1:{sim_port}\"\n\
         ws_url = \"ws://127.0.0.1:{sim_port}\"\n"
    )
}

/// The ingester's config: the depth stream of every symbol, as static subscriptions.
pub fn ingester_config(redis_url: &str, metrics_port: u16, sim_port: u16, symbols: &[String]) -> String {
    let subs: Vec<String> = symbols.iter().map(|s| format!("\"depth:{s}\"")).collect();
    format!(
        "{}[ingester]\nvenue = \"sim\"\nsubscriptions = [{}]\nstream_maxlen = 1000000\n",
        engine_head(redis_url, metrics_port, sim_port),
        subs.join(", ")
    )
}

/// booksync's config (books never marked stale during a run).
pub fn booksync_config(redis_url: &str, metrics_port: u16, sim_port: u16, threads: usize) -> String {
    format!(
        "{}[booksync]\nvenue = \"sim\"\nstale_after_ms = 600000\nweight_limit = 1000000\nthreads = {threads}\n",
        engine_head(redis_url, metrics_port, sim_port)
    )
}

/// The arbitrage's config: triangles through USDT, no cooldown (every change of a mispriced
/// cycle's books is an opportunity to time).
pub fn arbitrage_config(redis_url: &str, metrics_port: u16, sim_port: u16) -> String {
    format!(
        "{}[arbitrage]\nvenue = \"sim\"\nstart_assets = [\"USDT\"]\ncooldown_ms = 0\n",
        engine_head(redis_url, metrics_port, sim_port)
    )
}

/// One running engine (or the sim) and where its metrics are.
pub struct Engine {
    /// Short name for reports (`ingester`, ...).
    pub name: &'static str,
    /// The process (killed on drop).
    pub proc: EngineProcess,
    /// `http://127.0.0.1:<port>/metrics`, when it serves one.
    pub metrics_url: Option<String>,
}

impl Engine {
    /// Starts `bin_dir/<binary>` on `config`.
    pub fn start(
        name: &'static str,
        bin_dir: &Path,
        binary_name: &str,
        config: &str,
        metrics_port: Option<u16>,
    ) -> Result<Self> {
        Self::start_with(name, bin_dir, binary_name, config, &[], metrics_port)
    }

    /// [`Engine::start`] with extra command-line arguments.
    pub fn start_with(
        name: &'static str,
        bin_dir: &Path,
        binary_name: &str,
        config: &str,
        args: &[&str],
        metrics_port: Option<u16>,
    ) -> Result<Self> {
        let proc = EngineProcess::start(&binary(bin_dir, binary_name)?, config, args)
            .with_context(|| format!("start {binary_name}"))?;
        Ok(Self { name, proc, metrics_url: metrics_port.map(|p| format!("http://127.0.0.1:{p}/metrics")) })
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }
}

/// The stack of one run: Redis, the sim, and the engines asked for.
///
/// Fields drop in declaration order: the engines are killed first, then the sim, Redis last, so
/// that no engine sees its Redis or its venue vanish (and logs about it) at the end of a run.
pub struct Stack {
    /// Engines in start order (ingester, booksync, arbitrage).
    pub engines: Vec<Engine>,
    /// The sim process.
    pub sim: Engine,
    /// The throwaway Redis.
    pub redis: RedisServer,
    /// The sim's port.
    pub sim_port: u16,
    /// The sim's symbols (exchangeInfo order).
    pub symbols: Vec<String>,
}

/// The sim's synthetic market.
#[derive(Clone, Copy, Debug)]
pub struct Market {
    /// Depth diffs per second across all symbols.
    pub rate: u64,
    /// Symbols (at least; the universe grows in steps of three).
    pub symbols: usize,
    /// The sim's `levels_per_event`.
    pub levels: usize,
    /// The sim's market clock period, ms: each step sends `rate × step_ms / 1000` diffs at once.
    pub step_ms: u64,
}

/// Which engines run after the ingester and booksync, and how.
#[derive(Clone, Copy, Debug, Default)]
pub struct Engines {
    /// Run the arbitrage too.
    pub arbitrage: bool,
    /// booksync's `threads` (0: a worker per core, 1: one thread).
    pub booksync_threads: usize,
}

/// What the sim plays.
#[derive(Clone, Debug)]
pub enum Feed {
    /// Its synthetic market.
    Synthetic(Market),
    /// Real recordings (`storm-sim --replay`), `speed` times their pace; only `symbols` (those
    /// recorded) are subscribed, since the others never move.
    Replay {
        /// Recording files.
        files: Vec<PathBuf>,
        /// Pace factor (> 0).
        speed: f64,
        /// Symbols to follow.
        symbols: Vec<String>,
    },
}

impl Stack {
    /// Starts Redis and the sim playing `feed`, waits for the sim's exchangeInfo, then starts
    /// the ingester and booksync, and the arbitrage when `which` says so.
    pub async fn start(bin_dir: &Path, feed: &Feed, which: Engines) -> Result<Self> {
        for name in ["storm-sim", "storm-ingester", "storm-booksync", "storm-arbitrage"] {
            binary(bin_dir, name)?;
        }
        if let Feed::Replay { files, .. } = feed {
            if let Some(f) = files.iter().find(|f| !f.is_file()) {
                bail!("recording {} not found", f.display());
            }
        }
        let redis = RedisServer::start().context("start redis-server")?;
        let sim_port = free_port()?;
        let (config, args, wanted) = match feed {
            Feed::Synthetic(market) => (sim_config(sim_port, market, which.arbitrage), Vec::new(), None),
            Feed::Replay { files, speed, symbols } => {
                let mut args = Vec::new();
                for f in files {
                    args.push("--replay".to_owned());
                    args.push(f.to_string_lossy().into_owned());
                }
                args.push("--speed".to_owned());
                args.push(speed.to_string());
                let idle = Market { rate: 1, symbols: 0, levels: 4, step_ms: 10 };
                (sim_config(sim_port, &idle, false), args, Some(symbols.clone()))
            }
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let sim = Engine::start_with("sim", bin_dir, "storm-sim", &config, &args, None)?;
        let mut symbols = wait_symbols(sim_port).await?;
        if let Some(wanted) = wanted {
            if let Some(missing) = wanted.iter().find(|w| !symbols.contains(w)) {
                bail!("{missing} is not a symbol of the sim");
            }
            symbols = wanted;
        }
        let url = redis.url();
        let mut engines = Vec::new();
        let p = free_port()?;
        engines.push(Engine::start(
            "ingester",
            bin_dir,
            "storm-ingester",
            &ingester_config(&url, p, sim_port, &symbols),
            Some(p),
        )?);
        let p = free_port()?;
        engines.push(Engine::start(
            "booksync",
            bin_dir,
            "storm-booksync",
            &booksync_config(&url, p, sim_port, which.booksync_threads),
            Some(p),
        )?);
        if which.arbitrage {
            let p = free_port()?;
            engines.push(Engine::start(
                "arbitrage",
                bin_dir,
                "storm-arbitrage",
                &arbitrage_config(&url, p, sim_port),
                Some(p),
            )?);
        }
        Ok(Self { redis, sim_port, sim, engines, symbols })
    }

    /// The engine called `name`.
    pub fn engine(&self, name: &str) -> Option<&Engine> {
        self.engines.iter().find(|e| e.name == name)
    }

    /// Waits until booksync reports every symbol's book live (`storm_booksync_books{status="live"}`).
    pub async fn wait_books_live(&self, patience: Duration) -> Result<()> {
        let url = self.engine("booksync").and_then(|e| e.metrics_url.clone()).context("no booksync")?;
        let t0 = Instant::now();
        loop {
            let live = scrape(&url)
                .await
                .map(|b| metric(&b, "storm_booksync_books{venue=\"sim\",status=\"live\"}"))
                .unwrap_or(0.0);
            if live as usize >= self.symbols.len() {
                return Ok(());
            }
            for e in std::iter::once(&self.sim).chain(&self.engines) {
                if !alive(e.pid()) {
                    bail!("{} exited (see its log above)", e.name);
                }
            }
            if t0.elapsed() > patience {
                bail!("books live {live} of {} after {patience:?}", self.symbols.len());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// (name, pid) of every measured process: sim, engines, redis.
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        let mut v = vec![("sim", self.sim.pid())];
        v.extend(self.engines.iter().map(|e| (e.name, e.pid())));
        v.push(("redis", self.redis.pid().unwrap_or(0)));
        v
    }
}

/// The sim's symbols from its exchangeInfo (waits up to 20 s for it to answer).
pub async fn wait_symbols(port: u16) -> Result<Vec<String>> {
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/api/v3/exchangeInfo");
    for _ in 0..200 {
        if let Ok(r) = client.get(&url).send().await {
            let info: serde_json::Value = r.json().await?;
            let symbols = info["symbols"]
                .as_array()
                .context("exchangeInfo without symbols")?
                .iter()
                .filter_map(|s| s["symbol"].as_str().map(str::to_owned))
                .collect();
            return Ok(symbols);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("storm-sim did not answer on port {port}")
}

/// A `/metrics` body.
pub async fn scrape(url: &str) -> Result<String> {
    Ok(reqwest::get(url).await?.text().await?)
}

/// Resident memory of `pid`, KiB (`VmRSS` of `/proc/<pid>/status`), 0 when unreadable.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Whether `pid` runs (exists and is not a zombie).
pub fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit(')').next().and_then(|r| r.split_whitespace().next());
    matches!(state, Some(s) if s != "Z" && s != "X")
}

/// CPU seconds (user + system) of `pid` so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    cpu_ticks(pid) as f64 / TICKS_PER_SECOND
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_counts_map_to_extra_assets() {
        assert_eq!(extra_assets_for(29), 0);
        assert_eq!(extra_assets_for(10), 0);
        assert_eq!(extra_assets_for(500), 157); // 29 + 3 × 157 = 500, the benches' universe
        assert_eq!(extra_assets_for(100), 24); // 101 symbols
    }

    #[tokio::test]
    async fn a_missing_binary_or_recording_is_an_error_before_anything_starts() {
        let nowhere = Path::new("/nonexistent-storm-bench-dir");
        let feed = Feed::Synthetic(Market { rate: 1, symbols: 1, levels: 4, step_ms: 10 });
        let err =
            Stack::start(nowhere, &feed, Engines::default()).await.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("not found") && err.contains("cargo build --release --bins"), "{err}");
        let feed = Feed::Replay { files: vec![nowhere.join("x.gz")], speed: 1.0, symbols: vec![] };
        let err = Stack::start(&bin_dir(None), &feed, Engines::default())
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("not found"), "{err}");
    }

    #[test]
    fn configs_name_every_subscription_and_port() {
        let c = ingester_config("redis://127.0.0.1:1/", 9, 8, &["BTCUSDT".into(), "ETHBTC".into()]);
        assert!(c.contains("subscriptions = [\"depth:BTCUSDT\", \"depth:ETHBTC\"]"), "{c}");
        assert!(c.contains("metrics_addr = \"127.0.0.1:9\"") && c.contains("ws://127.0.0.1:8"), "{c}");
        let s = sim_config(8, &Market { rate: 10_000, symbols: 500, levels: 4, step_ms: 1 }, false);
        assert!(
            s.contains("events_per_second = 10000")
                && s.contains("extra_assets = 157")
                && s.contains("every_ms = 0")
                && s.contains("step_ms = 1\n")
        );
        for text in [c, s, booksync_config("r", 1, 2, 1), arbitrage_config("r", 1, 2)] {
            assert!(text.parse::<toml::Table>().is_ok(), "not TOML: {text}");
        }
    }
}
