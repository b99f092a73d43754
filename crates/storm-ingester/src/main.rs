//! `storm-ingester`: exchange market-data WebSocket → Redis streams. See the crate docs.

use anyhow::Context;
use clap::Parser;
use storm_ingester::IngesterConfig;
use storm_service::CommonArgs;

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
    let (cfg, shutdown) =
        storm_service::boot::launch::<IngesterConfig>(&args.common).context("loading configuration")?;
    // SIGTERM while still waiting for Redis is a normal stop (exit 0), not an error.
    let result = storm_ingester::run(cfg, shutdown.clone()).await;
    storm_service::boot::exit_ok_on_shutdown(result, &shutdown).context("ingester")?;
    Ok(())
}
