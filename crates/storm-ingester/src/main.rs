//! `storm-ingester`: exchange market-data WebSocket → Redis streams. See the crate docs.

use std::process::ExitCode;

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

fn main() -> ExitCode {
    // A failure is one line on stderr (the cause first, no backtrace) and exit status 1.
    storm_service::boot::finish(env!("CARGO_BIN_NAME"), run())
}

#[tokio::main]
async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let (cfg, shutdown) =
        storm_service::boot::launch::<IngesterConfig>(&args.common).context("loading configuration")?;
    // SIGTERM while still waiting for Redis is a normal stop (exit 0), not an error.
    let result = storm_ingester::run(cfg, shutdown.clone()).await;
    storm_service::boot::exit_ok_on_shutdown(result, &shutdown).context("ingester")?;
    Ok(())
}
