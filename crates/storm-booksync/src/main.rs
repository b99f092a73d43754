//! `storm-booksync`: diff streams + REST snapshots → exact books in Redis. See the crate docs.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use storm_booksync::BooksyncConfig;
use storm_service::{CommonArgs, Config};

/// Keeps every subscribed depth stream of a venue as an exact local book, published in Redis.
#[derive(Parser, Debug)]
#[command(name = "storm-booksync", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    // A failure is one line on stderr (the cause first, no backtrace) and exit status 1.
    storm_service::boot::finish(env!("CARGO_BIN_NAME"), run())
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let cfg = Config::<BooksyncConfig>::load(&args.common).context("loading configuration")?;
    cfg.engine.validate().context("loading configuration")?;
    // Sized by `booksync.threads` (one worker per core by default), so it is built here.
    let runtime = storm_service::boot::runtime(cfg.engine.threads).context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let shutdown = storm_service::boot::start(&cfg.common);
        // SIGTERM while still waiting for Redis is a normal stop (exit 0), not an error.
        let result = storm_booksync::run(cfg, shutdown.clone()).await;
        storm_service::boot::exit_ok_on_shutdown(result, &shutdown).context("booksync")?;
        Ok(())
    })
}
