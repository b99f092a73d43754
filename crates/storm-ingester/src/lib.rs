//! storm-ingester: the only process that reads market data from an exchange.
//!
//! It keeps the wanted set (`storm:subs:<venue>` ∪ config) subscribed over as many WebSocket
//! connections as the venue's limits require, and writes every frame as a normalized event to
//! `storm:md:<venue>:<channel>` (see DESIGN.md, "ingester").
//!
//! **A library only, for now.** This crate holds the ingester's pure, I/O-free core — every
//! decision about *what* to subscribe, *where* and *when a message may be sent* — so that each
//! rule is unit- and property-tested without sockets, Redis or a clock:
//!
//! - [`wanted`]: the wanted set (config ∪ Redis members) and the diff between two of them;
//! - [`shard`]: which connection carries which stream, within the per-connection cap, stable
//!   under change, and the open/close/subscribe/unsubscribe steps that get there;
//! - [`bucket`]: the client-message budget of one connection (Binance: 5 per second, pongs too);
//! - [`conn_budget`]: the new-connection budget (Binance: 300 per 5 minutes);
//! - [`config`]: the `[ingester]` section of `storm.toml`;
//! - [`markets`]: "all USDT, BTC and BNB markets" from the venue's instrument listing;
//! - [`writer`]: parsed events → `storm:md:*` in pipelined batches, bounded while Redis is away.
//!
//! Everything venue-specific (stream names, control messages, limits, frame parsing) comes from a
//! [`storm_venues::adapter::VenueAdapter`]. The networked engine (`run(config, shutdown)`) and the
//! thin `main.rs` binary are built on these pieces next; time enters only as explicit `now`
//! arguments, so the same code runs under `tokio::time::pause` in tests.

pub mod bucket;
pub mod config;
pub mod conn_budget;
pub mod markets;
pub mod shard;
pub mod wanted;
pub mod writer;

pub use bucket::TokenBucket;
pub use config::{IngesterConfig, IngesterConfigError};
pub use conn_budget::ConnectBudget;
pub use markets::{select_markets, MarketChannel};
pub use shard::{ConnChanges, ConnId, ShardPlan, ShardPlanner};
pub use wanted::{WantedDiff, WantedSet};
