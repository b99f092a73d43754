//! `storm-streamer`: user-data stream → own orders, fills and balances in Redis. See the crate docs.

use anyhow::Context;
use clap::Parser;
use storm_service::CommonArgs;
use storm_streamer::StreamerConfig;

/// Keeps each configured account's orders, fills and balances in Redis.
#[derive(Parser, Debug)]
#[command(name = "storm-streamer", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (cfg, shutdown) =
        storm_service::boot::launch::<StreamerConfig>(&args.common).context("loading configuration")?;
    // SIGTERM while still waiting for Redis is a normal stop (exit 0), not an error.
    let result = storm_streamer::run(cfg, shutdown.clone()).await;
    storm_service::boot::exit_ok_on_shutdown(result, &shutdown).context("streamer")?;
    Ok(())
}
