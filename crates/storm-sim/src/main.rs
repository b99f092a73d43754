//! `storm-sim`: a local exchange speaking Binance's wire protocol. See the crate docs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use storm_candles::Timeframe;
use storm_service::CommonArgs;
use storm_sim::{config::SimConfig, ReplayOptions, Shift, Window};

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
    /// Play the recording from this many ms after its first frame (the frames before only move the books).
    #[arg(long, default_value_t = 0)]
    replay_from_ms: u64,
    /// Stop the recording this many ms after its first frame.
    #[arg(long)]
    replay_to_ms: Option<u64>,
    /// Play the recording now: move its venue times forward by the smallest whole number of this
    /// timeframe (1m, 5m, 1h, ...) that puts its first frame at or after now, and wait for it.
    #[arg(long, value_parser = parse_align, conflicts_with = "replay_shift_ms")]
    replay_now: Option<u64>,
    /// Move the recording's venue times forward by this many ms (and wait for its first frame).
    #[arg(long)]
    replay_shift_ms: Option<u64>,
}

/// A timeframe of fixed length (`1m`, `5m`, `1h`, `1d`), in ms.
fn parse_align(s: &str) -> Result<u64, String> {
    let tf: Timeframe = s.parse().map_err(|e| format!("{e}"))?;
    tf.fixed_ms().ok_or_else(|| format!("{s} has no fixed length"))
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
    let shift = match (args.replay_now, args.replay_shift_ms) {
        (Some(align_ms), _) => Shift::Now { align_ms },
        (None, Some(ms)) => Shift::By(ms),
        (None, None) => Shift::None,
    };
    let window = Window { from_ms: args.replay_from_ms, to_ms: args.replay_to_ms };
    let replay = ReplayOptions { files: args.replay, speed: args.speed, window, shift };
    storm_sim::run(cfg, replay, shutdown).await?;
    Ok(())
}
