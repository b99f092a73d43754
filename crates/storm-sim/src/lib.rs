//! storm-sim: a local exchange that speaks Binance's wire protocol.
//!
//! The machines that build and test storm have no internet, and users want paper trading before
//! risking money, so the same ingester, booksync, streamer and executor code that talks to
//! Binance runs against this simulator with only the base URLs changed.
//!
//! Layers: [`exchange::Exchange`] is a pure, seeded state machine (universe, random-walk fair
//! values with consistent cross rates, ≥ 100-level books moved by random order flow, injected
//! mispricings, price-time matching with fees and balances); the transport layers turn its
//! [`exchange::SimEvent`]s into Binance frames.

pub mod app;
pub mod auth;
pub mod config;
pub mod exchange;
pub mod faults;
pub mod info;
pub mod json;
pub mod klines;
pub mod market;
pub mod matching;
pub mod orders;
pub mod replay;
pub mod rest;
pub mod schedule;
pub mod server;
pub mod tape;
pub mod trading;
pub mod universe;
pub mod weights;
pub mod ws_api;
pub mod ws_market;

pub use app::{run, ReplayOptions, RunError};
pub use exchange::{Exchange, ExecutionReport, ModelConfig, SimEvent};
pub use orders::{Order, OrderRequest, OrderStatus, OrderType, SimError, TimeInForce};
pub use schedule::{Shift, Window};
pub use trading::OrderRef;
