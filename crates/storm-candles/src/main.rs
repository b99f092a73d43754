//! `storm-candles`: trades → candles per symbol × timeframe, closed on time. See the crate docs.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use storm_candles::CandlesConfig;
use storm_service::CommonArgs;

/// Builds OHLCV candles from the trade stream and closes them on storm's own clock.
#[derive(Parser, Debug)]
#[command(name = "storm-candles", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    // A failure is one line on stderr (the cause first, no backtrace) and exit status 1.
    storm_service::boot::finish(env!("CARGO_BIN_NAME"), run())
}

// One thread: one reader folds trades into series in order; nothing here runs in parallel.
#[tokio::main(flavor = "current_thread")]
async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let (cfg, shutdown) =
        storm_service::boot::launch::<CandlesConfig>(&args.common).context("loading configuration")?;
    let result = storm_candles::run(cfg, shutdown.clone()).await;
    storm_service::boot::exit_ok_on_shutdown(result, &shutdown).context("candles")?;
    Ok(())
}
