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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (cfg, shutdown) =
        storm_service::boot::launch::<BooksyncConfig>(&args.common).context("loading configuration")?;
    storm_booksync::run(cfg, shutdown).await.context("booksync")?;
    Ok(())
}
