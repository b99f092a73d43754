//! `storm-ingester`: exchange market-data WebSocket → Redis streams. See the crate docs.

use anyhow::Context;
use clap::Parser;
use storm_ingester::IngesterConfig;
use storm_service::{telemetry, CommonArgs, Config};

/// Keeps `storm:subs:<venue>` ∪ config subscribed and writes every frame to `storm:md:*`.
#[derive(Parser, Debug)]
#[command(name = "storm-ingester", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cfg = Config::<IngesterConfig>::load(&args.common).context("loading configuration")?;
    telemetry::init(&cfg.common.log_level, cfg.common.log_format);
    let shutdown = storm_service::shutdown::install();
    storm_ingester::run(cfg, shutdown).await.context("ingester")?;
    Ok(())
}
