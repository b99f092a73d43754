//! storm-ingester: the only process that reads market data from an exchange.
//!
//! It keeps the wanted set (`storm:subs:<venue>` ∪ config) subscribed over as many WebSocket
//! connections as the venue's limits require, and writes every frame as a normalized event to
//! `storm:md:<venue>:<channel>` (see DESIGN.md, "Engines, in one paragraph each").
//!
//! The crate is the engine as a library, plus a thin `main.rs`, so tests run it in-process
//! against a real Redis and `storm-sim`. The pure, I/O-free core decides *what* to subscribe,
//! *where* and *when a message may be sent*, so each rule is unit- and property-tested without
//! sockets, Redis or a clock:
//!
//! - [`wanted`]: the wanted set (config ∪ Redis members) and the diff between two of them;
//! - [`shard`]: which connection carries which stream, within the per-connection cap, stable
//!   under change, and the open/close/subscribe/unsubscribe steps that get there;
//! - [`bucket`]: the client-message budget of one connection (Binance: 5 per second, pongs too);
//! - [`conn_budget`]: the new-connection budget (Binance: 300 per 5 minutes);
//! - [`config`]: the `[ingester]` section of `storm.toml`;
//! - [`markets`]: "all USDT, BTC and BNB markets" from the venue's instrument listing.
//!
//! The networked part is built on it:
//!
//! - [`engine`]: `run(config, shutdown)` — polls `storm:subs:<venue>`, plans, starts and steers
//!   the connection tasks, and shuts down within 5 s;
//! - [`connection`] (with the private `session` loop): one WebSocket connection that keeps its
//!   streams flowing across reconnects, within the message budget;
//! - [`handover`]: the overlap of a rotation, forwarding each event exactly once;
//! - `liveness` (private): the `alive` and `unsub` markers a connection writes on the depth
//!   stream, so booksync judges each book by the health of the connection carrying it;
//! - [`listing`]: the venue listing behind `all_markets_quotes`, re-read periodically;
//! - [`conn_stats`]: the connections' counters;
//! - [`writer`]: parsed events → `storm:md:*` in pipelined batches, bounded while Redis is away.
//!
//! Everything venue-specific (stream names, control messages, limits, frame parsing) comes from a
//! [`storm_venues::adapter::VenueAdapter`]. Time enters the pure core only as explicit `now`
//! arguments, so the same code runs under `tokio::time::pause` in tests.

pub mod bucket;
pub mod config;
pub mod conn_budget;
pub mod conn_stats;
pub mod connection;
pub mod engine;
pub mod handover;
pub mod listing;
mod liveness;
pub mod markets;
mod session;
pub mod shard;
pub mod wanted;
pub mod writer;

pub use bucket::TokenBucket;
pub use config::{IngesterConfig, IngesterConfigError};
pub use conn_budget::ConnectBudget;
pub use engine::{run, run_with_metrics, EngineError};
pub use markets::{select_markets, MarketChannel};
pub use shard::{ConnChanges, ConnId, ShardPlan, ShardPlanner};
pub use wanted::{WantedDiff, WantedSet};
