//! storm-streamer: an account's own orders, fills and balances, from the venue's user-data
//! stream into Redis, complete across disconnects, restarts and `kill -9`.
//!
//! Per account (a `[[venue]]` with `ws_api_url` and key env vars) one task keeps a WS-API
//! connection subscribed (`userDataStream.subscribe.signature`) and writes:
//!
//! - `storm:order:<venue>:<acct>:<SYM>` — order id → latest [`storm_bus::account::OrderState`];
//! - `storm:fills:<venue>:<acct>` — one [`storm_bus::account::Fill`] entry per execution, once;
//! - `storm:balance:<venue>:<acct>` — asset → [`storm_bus::account::Balance`] `{free, locked, time}`.
//!
//! Nothing is missed because every connection subscribes first and then reconciles over REST
//! ([`reconcile`]), and nothing is doubled because every write is idempotent ([`book`],
//! [`store`]). Modules:
//!
//! - [`engine`]: `run(config, shutdown)`, accounts from the config, one [`worker`] each;
//! - [`worker`]: the reconnect loop with jittered backoff; [`session`]: one connection;
//! - [`reconcile`]: the REST snapshot (signed calls through `storm_venues::binance::trade::TradeClient`);
//! - [`recorder`]: applies events and snapshots; [`book`]: the rules; [`store`]: the writes;
//! - [`convert`]: venue shapes → bus shapes; [`stats`]: metrics; [`config`]: `[streamer]`.
//!
//! `<acct>` is the first 8 hex chars of SHA-256 of the API key; the key and secret never reach
//! Redis or the logs.

pub mod book;
pub mod config;
pub mod convert;
pub mod engine;
pub mod reconcile;
pub mod recorder;
pub mod session;
pub mod stats;
pub mod store;
pub mod worker;

pub use config::StreamerConfig;
pub use engine::{run, run_with_metrics, EngineError};
