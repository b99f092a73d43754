//! `storm-arbitrage`: book tops → triangular opportunities on `storm:opps`. See the crate docs.

use anyhow::Context;
use clap::Parser;
use storm_arbitrage::ArbitrageConfig;
use storm_service::{telemetry, CommonArgs, Config};

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
    let cfg = Config::<ArbitrageConfig>::load(&args.common).context("loading configuration")?;
    telemetry::init(&cfg.common.log_level, cfg.common.log_format);
    let shutdown = storm_service::shutdown::install();
    storm_arbitrage::run(cfg, shutdown).await.context("arbitrage")?;
    Ok(())
}
