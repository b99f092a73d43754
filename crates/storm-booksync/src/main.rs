//! `storm-booksync`: diff streams + REST snapshots → exact books in Redis. See the crate docs.

use anyhow::Context;
use clap::Parser;
use storm_booksync::BooksyncConfig;
use storm_service::{telemetry, CommonArgs, Config};

/// Keeps every subscribed depth stream of a venue as an exact local book, published in Redis.
#[derive(Parser, Debug)]
#[command(name = "storm-booksync", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cfg = Config::<BooksyncConfig>::load(&args.common).context("loading configuration")?;
    telemetry::init(&cfg.common.log_level, cfg.common.log_format);
    let shutdown = storm_service::shutdown::install();
    storm_booksync::run(cfg, shutdown).await.context("booksync")?;
    Ok(())
}
