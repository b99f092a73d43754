//! `storm-arbitrage`: book tops → triangular opportunities on `storm:opps`. See the crate docs.

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (cfg, shutdown) =
        storm_service::boot::launch::<ArbitrageConfig>(&args.common).context("loading configuration")?;
    // SIGTERM while still waiting for Redis is a normal stop (exit 0), not an error.
    let result = storm_arbitrage::run(cfg, shutdown.clone()).await;
    storm_service::boot::exit_ok_on_shutdown(result, &shutdown).context("arbitrage")?;
    Ok(())
}
