//! `storm-streamer`: user-data stream → own orders, fills and balances in Redis. See the crate docs.

use std::process::ExitCode;

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

fn main() -> ExitCode {
    // A failure is one line on stderr (the cause first, no backtrace) and exit status 1.
    storm_service::boot::finish(env!("CARGO_BIN_NAME"), run())
}

#[tokio::main]
async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let (cfg, shutdown) =
        storm_service::boot::launch::<StreamerConfig>(&args.common).context("loading configuration")?;
    // SIGTERM while still waiting for Redis is a normal stop (exit 0), not an error.
    let result = storm_streamer::run(cfg, shutdown.clone()).await;
    storm_service::boot::exit_ok_on_shutdown(result, &shutdown).context("streamer")?;
    Ok(())
}
