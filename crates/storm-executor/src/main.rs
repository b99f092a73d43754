//! `storm-executor`: `storm:opps` → orders, journaled and idempotent. See the crate docs.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use storm_executor::ExecutorConfig;
use storm_service::CommonArgs;

/// Turns opportunities into orders without ever sending a leg twice.
#[derive(Parser, Debug)]
#[command(name = "storm-executor", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    // A failure is one line on stderr (the cause first, no backtrace) and exit status 1.
    storm_service::boot::finish(env!("CARGO_BIN_NAME"), run())
}

#[tokio::main(flavor = "current_thread")]
async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let (cfg, shutdown) =
        storm_service::boot::launch::<ExecutorConfig>(&args.common).context("loading configuration")?;
    // SIGTERM while still waiting for Redis is a normal stop (exit 0), not an error.
    let result = storm_executor::run(cfg, shutdown.clone()).await;
    storm_service::boot::exit_ok_on_shutdown(result, &shutdown).context("executor")?;
    Ok(())
}
