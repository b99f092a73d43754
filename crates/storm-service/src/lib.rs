//! storm-service: what every storm process shares.
//!
//! * [`boot`] — the Redis connection and `/metrics` endpoint every engine starts with.
//! * [`config`] — one `storm.toml` for the suite, each engine reading the common keys, the venue
//!   list and its own section; env overrides (`STORM_REDIS_URL`, `STORM_BOOKSYNC_TOP_N`, ...) and
//!   `--set path=value` flags; unknown keys rejected; secrets only from env vars the file names.
//! * [`telemetry`] — tracing init (text or JSON).
//! * [`shutdown`] — one cancellation token fired by SIGTERM (what supervisord sends) or SIGINT.
//! * [`metrics`] — counters, gauges and histograms served on `/metrics` in Prometheus text format,
//!   and mirrored into the `storm:health:*` heartbeat.
//!
//! Every storm process also gets mimalloc as its allocator from here: the engines allocate an
//! event on one thread and free it on another at the rate of the feeds (reader → decoder →
//! engine → writer), and glibc's malloc spent 22 % of booksync's CPU on that; with
//! mimalloc booksync went from 84 k to 106 k diffs/s (docs/BENCHMARKS.md, Booksync).

pub mod boot;
pub mod config;
pub mod metrics;
pub mod shutdown;
pub mod telemetry;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub use boot::BootError;
pub use config::{Common, CommonArgs, Config, ConfigError, EngineSection, Secret, VenueConfig};
pub use metrics::Metrics;
