//! storm-booksync: exact local order books from the venue's diff stream and REST snapshots,
//! published in Redis for people (`redis-cli HGETALL storm:book:binance:BTCUSDT`) and for the
//! arbitrage finder (`storm:tops:<venue>`).
//!
//! - [`symbol`]: one symbol's state machine (buffering → snapshotting → live) around the venue's
//!   sequencing rule ([`storm_venues::adapter::DepthSequencer`]); pure, tested on real recordings;
//! - [`rest_worker`]: exchangeInfo and snapshots, one by one, inside the host's shared weight budget;
//! - [`freshness`]: when each book was last known to be the venue's, and whether it is stale;
//! - [`engine`]: `run(config, shutdown)` — reads the depth stream, drives every book, publishes;
//! - [`outputs`]: the tops entries and book hashes of one batch, in one transaction;
//! - [`config`]: the `[booksync]` section; [`stats`]: metrics.

pub mod config;
pub mod engine;
pub mod freshness;
pub mod outputs;
mod reader;
pub mod rest_worker;
pub mod stats;
pub mod symbol;

pub use config::BooksyncConfig;
pub use engine::{run, run_with_metrics, EngineError};
