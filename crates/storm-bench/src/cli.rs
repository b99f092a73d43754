//! Command line: `run`, `sweep`, `vs-ccxt`, `candles`. Defaults are the headline case (500 symbols,
//! 10,000 events/s) so that `storm-bench run` alone reproduces the documented numbers.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Drives storm-sim through the real storm pipeline (release binaries, a throwaway Redis) and
/// reports throughput, CPU per engine, memory and latency percentiles; or compares storm with
/// ccxt on the same feed.
#[derive(Debug, Parser)]
#[command(name = "storm-bench", version)]
pub struct Cli {
    /// Folder of the release binaries (storm-sim, storm-ingester, storm-booksync, storm-arbitrage);
    /// default `<workspace>/target/release`. Build them with `cargo build --release --bins`.
    #[arg(long, global = true, env = "STORM_BIN_DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Print the report as JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// One measurement at a fixed rate: sim → ingester → booksync → arbitrage.
    Run(RunOpts),
    /// Raise the rate until the pipeline no longer keeps up; report the highest sustained.
    Sweep(SweepOpts),
    /// ccxt.pro (Python) and storm's ingester + booksync on the same feed at the same time.
    VsCcxt(VsOpts),
    /// storm-candles on live synthetic trades: boundary → closed candle in Redis, CPU per trade.
    Candles(CandlesOpts),
}

/// A finite number above zero.
fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number above 0")),
    }
}

/// Shared by `run` and `sweep`.
#[derive(Debug, Args, Clone)]
pub struct Common {
    /// Symbols in the sim, all subscribed (the sim's universe grows in steps of three from 29).
    #[arg(long, default_value_t = 500, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=20_000))]
    pub symbols: usize,
    /// Measured seconds (after every book is live and the warm-up).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub duration: u64,
    /// Warm-up seconds.
    #[arg(long, default_value_t = 5)]
    pub warmup: u64,
    /// Most random level changes near the top per sim event (the sim's `levels_per_event`):
    /// the default 4 gives diffs of about 5 levels, 90 about 46 like the real BTCUSDT feed.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=150))]
    pub levels_per_event: u16,
    /// The sim's market clock period, ms: every step sends `rate × step-ms / 1000` diffs at
    /// once, so a longer step makes bigger bursts (10: ~100 diffs together at 10,000/s).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub step_ms: u64,
    /// booksync's `threads`: 0 a worker per core (its default), 1 everything on one thread.
    #[arg(long, default_value_t = 0, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=64))]
    pub booksync_threads: usize,
    /// Leave the arbitrage out (no opportunities, its CPU not counted).
    #[arg(long)]
    pub no_arbitrage: bool,
    /// How tops entries are observed: `live` reads every entry with XREAD (µs arrival times;
    /// costs CPU at high rates), `sampled` reads back 1,000 a second (Redis write time, ms).
    /// Default: live for `run`, sampled for `sweep`.
    #[arg(long, value_enum)]
    pub observer: Option<ObserverMode>,
}

/// See [`Common::observer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ObserverMode {
    /// Every tops entry, XREAD.
    Live,
    /// 1,000 tops entries a second, XREVRANGE.
    Sampled,
}

/// `run`.
#[derive(Debug, Args)]
pub struct RunOpts {
    /// Sim events (depth diffs) per second across all symbols.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: u64,
    /// Repeat the run this many times (each from a fresh Redis, sim and engines).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    #[command(flatten)]
    pub common: Common,
}

/// `sweep`.
#[derive(Debug, Args)]
pub struct SweepOpts {
    /// First rate.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub from: u64,
    /// Increment.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub step: u64,
    /// Highest rate tried.
    #[arg(long, default_value_t = 150_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max: u64,
    /// Skip the extra run halfway between the last sustained and the first failed rate.
    #[arg(long)]
    pub no_refine: bool,
    #[command(flatten)]
    pub common: Common,
}

/// `vs-ccxt`.
#[derive(Debug, Args)]
pub struct VsOpts {
    /// Sim events per second (across all symbols); ccxt must keep up.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: u64,
    /// Symbols (the sim's default universe is 29).
    #[arg(long, default_value_t = 29, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=20_000))]
    pub symbols: usize,
    /// Most random level changes near the top per sim event (the sim's `levels_per_event`):
    /// the default 4 gives diffs of about 5 levels, 90 about 46 like the real BTCUSDT feed.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=150))]
    pub levels_per_event: u16,
    /// Measured seconds.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub duration: u64,
    /// Warm-up seconds after both sides have every book.
    #[arg(long, default_value_t = 5)]
    pub warmup: u64,
    /// Repeat this many times.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Virtualenv for ccxt (created if missing); default `<workspace>/target/ccxt-venv`.
    #[arg(long)]
    pub venv: Option<PathBuf>,
    /// ccxt version installed from PyPI.
    #[arg(long, default_value = crate::ccxt::CCXT_VERSION)]
    pub ccxt_version: String,
    /// Replay a real recording instead of the synthetic market (repeatable; hftbacktest .gz or
    /// cryptofeed BINANCE.ws.*, e.g. testdata/binance-spot-replay/spot_btcusdt_20240808.gz):
    /// real-sized diffs (~46 levels). `--rate` and `--symbols` are then ignored; the latency
    /// is not measured (the events carry their recorded time).
    #[arg(long)]
    pub replay: Vec<PathBuf>,
    /// Replay pace factor (10: ten times the recorded pace); the recording must last through
    /// the warm-up and the window.
    #[arg(long, default_value_t = 10.0, value_parser = positive)]
    pub speed: f64,
    /// Symbols followed in a replay (the recorded ones), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "BTCUSDT,ETHUSDT")]
    pub replay_symbols: Vec<String>,
}

/// `candles`.
#[derive(Debug, Args)]
pub struct CandlesOpts {
    /// Symbols traded (each gets a series in every timeframe).
    #[arg(long, default_value_t = 1_000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub symbols: usize,
    /// Trades per second across all symbols.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: u64,
    /// Measured seconds (every boundary inside counts).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    pub seconds: u64,
    /// Seconds after the engine's first trade before the window (every symbol has traded).
    #[arg(long, default_value_t = 5)]
    pub warmup: u64,
    /// Timeframes built; the shortest is built from trades, the rest rolled up from it.
    #[arg(long, value_delimiter = ',', default_value = "1s,1m,5m,15m,1h,4h")]
    pub timeframes: Vec<String>,
    /// The engine's `grace_ms`: a candle closes this long after its boundary.
    #[arg(long, default_value_t = 250)]
    pub grace_ms: u64,
    /// The engine's `forming_every_ms` (how often it writes the forming candles' hashes, the
    /// tickers and its restart point); default: the engine's own (1,000). A large value leaves
    /// the closes alone in their commits, to see what the periodic save costs them.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub forming_every_ms: Option<u64>,
    /// Repeat the run this many times (each from a fresh Redis and engine).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn defaults_are_the_headline_case() {
        let Ok(cli) = Cli::try_parse_from(["storm-bench", "run"]) else { panic!("run parses") };
        let Cmd::Run(o) = cli.cmd else { panic!("run") };
        assert_eq!((o.rate, o.common.symbols, o.common.duration), (10_000, 500, 20));
        let Ok(cli) = Cli::try_parse_from(["storm-bench", "candles"]) else { panic!("candles parses") };
        let Cmd::Candles(o) = cli.cmd else { panic!("candles") };
        assert_eq!((o.symbols, o.rate, o.seconds, o.grace_ms), (1_000, 2_000, 120, 250));
        assert_eq!(o.timeframes, ["1s", "1m", "5m", "15m", "1h", "4h"]);
    }

    #[test]
    fn nonsense_is_refused_not_run() {
        for args in [
            &["storm-bench", "run", "--rate", "0"][..],
            &["storm-bench", "run", "--duration", "0"],
            &["storm-bench", "run", "--symbols", "0"],
            &["storm-bench", "run", "--rate", "-5"],
            &["storm-bench", "run", "--rate", "ten"],
            &["storm-bench", "sweep", "--step", "0"],
            &["storm-bench", "vs-ccxt", "--symbols", "100000"],
            &["storm-bench", "run", "--observer", "sometimes"],
            &["storm-bench", "vs-ccxt", "--speed", "0"],
            &["storm-bench", "vs-ccxt", "--speed", "NaN"],
            &["storm-bench", "candles", "--rate", "0"],
            &["storm-bench", "candles", "--symbols", "0"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?} accepted");
        }
    }
}
