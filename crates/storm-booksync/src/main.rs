//! `storm-booksync`: diff streams + REST snapshots → exact books in Redis. See the crate docs.

use anyhow::Context;
use clap::Parser;
use storm_booksync::BooksyncConfig;
use storm_service::CommonArgs;

/// Keeps every subscribed depth stream of a venue as an exact local book, published in Redis.
#[derive(Parser, Debug)]
#[command(name = "storm-booksync", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

// One thread: the engine's stages (read, decode, apply, write) hand each batch to the next, and
// on one thread a hand-off is a queue push, not a cross-thread wake-up; storm-bench measured less
// CPU per event and a shorter path to the tops reader (docs/BENCHMARKS.md, "One thread").
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (cfg, shutdown) =
        storm_service::boot::launch::<BooksyncConfig>(&args.common).context("loading configuration")?;
    // SIGTERM while still waiting for Redis is a normal stop (exit 0), not an error.
    let result = storm_booksync::run(cfg, shutdown.clone()).await;
    storm_service::boot::exit_ok_on_shutdown(result, &shutdown).context("booksync")?;
    Ok(())
}
