//! storm-arbitrage: triangular opportunities that survive fees, tick/step rounding, depth and
//! book age, found incrementally as books change, published once each on `storm:opps`.
//!
//! The math (cycle graph, sizing, rounding, profit) is pure and lives in [`storm_core::arb`];
//! this crate wires it to Redis:
//!
//! - [`finder`]: the latest top of every book, re-evaluation of only the cycles through a changed
//!   symbol, trust rules (live, fresh, complete), de-duplication and cooldown;
//! - [`engine`]: `run(config, shutdown)` — tops stream in, opportunities out, instruments and
//!   balances refreshed;
//! - [`scout`]: REST scan of every book ticker, following near-profitable cycles on demand;
//! - [`config`]: the `[arbitrage]` section.

pub mod config;
pub mod engine;
pub mod finder;
pub mod scout;

pub use config::ArbitrageConfig;
pub use engine::{run, run_with_metrics, EngineError};
