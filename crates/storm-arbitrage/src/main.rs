//! `storm-arbitrage`: book tops → triangular opportunities on `storm:opps`. See the crate docs.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use storm_arbitrage::ArbitrageConfig;
use storm_service::CommonArgs;

/// Finds triangular opportunities that survive fees, rounding, depth and book age.
#[derive(Parser, Debug)]
#[command(name = "storm-arbitrage", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

// One thread: the tops reader hands each batch to the finder, and on one thread a hand-off is a
// queue push, not a cross-thread wake-up; storm-bench measured 10.2 instead of 11.8-12.1 µs of
// CPU per event (docs/BENCHMARKS.md, "One thread"). The finder is sequential anyway.
fn main() -> ExitCode {
    // A failure is one line on stderr (the cause first, no backtrace) and exit status 1.
    storm_service::boot::finish(env!("CARGO_BIN_NAME"), run())
}

#[tokio::main(flavor = "current_thread")]
async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let (cfg, shutdown) =
        storm_service::boot::launch::<ArbitrageConfig>(&args.common).context("loading configuration")?;
    // SIGTERM while still waiting for Redis is a normal stop (exit 0), not an error.
    let result = storm_arbitrage::run(cfg, shutdown.clone()).await;
    storm_service::boot::exit_ok_on_shutdown(result, &shutdown).context("arbitrage")?;
    Ok(())
}
