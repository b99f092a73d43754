//! `storm-sim`: a local exchange speaking Binance's wire protocol. See the crate docs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use storm_service::CommonArgs;
use storm_sim::{config::SimConfig, ReplayOptions};

/// A local exchange speaking Binance's REST, market-data WebSocket and WS-API on one port.
#[derive(Parser, Debug)]
#[command(name = "storm-sim", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Address to listen on (overrides sim.listen).
    #[arg(long)]
    listen: Option<String>,
    /// Seed of the synthetic market (overrides sim.seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Replay recorded data instead of simulating (repeatable; hftbacktest .gz or cryptofeed BINANCE.ws.*).
    #[arg(long)]
    replay: Vec<PathBuf>,
    /// Replay speed: 1 recorded pace, 10 ten times faster, 0 as fast as possible.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
}

fn main() -> ExitCode {
    // A failure is one line on stderr (the cause first, no backtrace) and exit status 1.
    storm_service::boot::finish(env!("CARGO_BIN_NAME"), run())
}

#[tokio::main]
async fn run() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if let Some(l) = &args.listen {
        args.common.set.push(format!("sim.listen={l}"));
    }
    if let Some(s) = args.seed {
        args.common.set.push(format!("sim.seed={s}"));
    }
    let (cfg, shutdown) = storm_service::boot::launch::<SimConfig>(&args.common).context("loading configuration")?;
    storm_sim::run(cfg, ReplayOptions { files: args.replay, speed: args.speed }, shutdown).await?;
    Ok(())
}
