//! `storm-bench`: the proof suite's load and latency tool (issue 9). See the modules:
//! [`procs`] starts Redis, the sim and the engines; [`reader`] observes the output streams;
//! [`pipeline`] runs and sweeps; [`ccxt`] compares with ccxt; [`report`] prints; [`candles`]
//! times the candle engine ([`trades`] feeds it, [`closes`] watches its output,
//! [`redis_stats`] reads what Redis spent).

mod candles;
mod ccxt;
mod cli;
mod closes;
mod pipeline;
mod procs;
mod reader;
mod redis_stats;
mod report;
mod stats;
mod trades;

use anyhow::Result;
use clap::Parser;

use crate::cli::{Cli, Cmd, ObserverMode};
use crate::pipeline::{RunArgs, SweepArgs};

fn print<T: serde::Serialize>(json: bool, value: &T, table: impl FnOnce() -> String) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(value)?);
    } else {
        println!("{}", table());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let bin_dir = procs::bin_dir(cli.bin_dir.as_deref());
    match cli.cmd {
        Cmd::Run(o) => {
            let args = RunArgs {
                rate: o.rate,
                symbols: o.common.symbols,
                levels_per_event: o.common.levels_per_event.into(),
                step_ms: o.common.step_ms,
                booksync_threads: o.common.booksync_threads,
                duration_s: o.common.duration,
                warmup_s: o.common.warmup,
                arbitrage: !o.common.no_arbitrage,
                live_tops: o.common.observer != Some(ObserverMode::Sampled),
            };
            for _ in 0..o.repeat.max(1) {
                let r = pipeline::measure(&bin_dir, &args).await?;
                print(cli.json, &r, || report::run_table(&r))?;
            }
        }
        Cmd::Sweep(o) => {
            let base = RunArgs {
                rate: o.from,
                symbols: o.common.symbols,
                levels_per_event: o.common.levels_per_event.into(),
                step_ms: o.common.step_ms,
                booksync_threads: o.common.booksync_threads,
                duration_s: o.common.duration,
                warmup_s: o.common.warmup,
                arbitrage: !o.common.no_arbitrage,
                live_tops: o.common.observer == Some(ObserverMode::Live),
            };
            let s = SweepArgs { from: o.from, step: o.step, max: o.max, refine: !o.no_refine };
            let json = cli.json;
            let r = pipeline::sweep(&bin_dir, &base, &s, |r| {
                if !json {
                    println!("{}", report::run_table(r));
                }
            })
            .await?;
            print(json, &r, || report::sweep_table(&r))?;
        }
        Cmd::VsCcxt(o) => {
            let args = ccxt::VsArgs {
                rate: o.rate,
                symbols: o.symbols,
                levels_per_event: o.levels_per_event.into(),
                duration_s: o.duration,
                warmup_s: o.warmup,
                venv: o.venv.unwrap_or_else(|| procs::workspace_root().join("target").join("ccxt-venv")),
                ccxt_version: o.ccxt_version,
                replay: o.replay,
                speed: o.speed,
                replay_symbols: o.replay_symbols,
            };
            for _ in 0..o.repeat.max(1) {
                let r = ccxt::vs_ccxt(&bin_dir, &args).await?;
                print(cli.json, &r, || ccxt::vs_table(&r))?;
            }
        }
        Cmd::Candles(o) => {
            let args = candles::CandlesArgs {
                symbols: o.symbols,
                rate: o.rate,
                seconds: o.seconds,
                warmup_s: o.warmup,
                timeframes: closes::parse_timeframes(&o.timeframes)?,
                grace_ms: o.grace_ms,
                forming_every_ms: o.forming_every_ms,
            };
            for _ in 0..o.repeat.max(1) {
                let r = candles::measure(&bin_dir, &args).await?;
                print(cli.json, &r, || report::candles_table(&r))?;
            }
        }
    }
    Ok(())
}
