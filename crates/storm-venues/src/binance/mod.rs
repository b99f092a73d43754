//! Binance Spot: wire format, signing and error classification.
//!
//! Facts follow `docs/venues/BINANCE.md`: market-data WebSocket frames, the REST depth
//! snapshot, HMAC-SHA256 signing for REST and the WebSocket API, and the REST error codes.
//!
//! - [`wire`]: serde types for every frame, conversions to and from storm-core events, and the
//!   ingester's frame classifier [`wire::parse_frame`].
//! - [`sign`]: request signatures and the account id used in Redis keys.
//! - [`error`]: [`error::classify`], Binance's HTTP replies as [`VenueError`]s.
//! - [`rest_wire`]: REST URLs, request weights and reply parsers (depth snapshot, exchangeInfo
//!   with filters and rate limits, bookTicker).
//! - [`klines`]: REST `GET /api/v3/klines` (history for backfills).
//! - [`trade`], [`trade_wire`]: signed account endpoints (orders, account, trades) and their
//!   replies, with [`trade::Credentials`] that never print the key; [`trading`]: the client
//!   behind the venue-neutral [`crate::trading::TradingVenue`].
//! - [`sequencer`]: [`sequencer::BinanceSequencer`], the order-book sync rule.

pub mod adapter;
pub mod error;
pub mod klines;
pub mod rest_wire;
pub mod sequencer;
pub mod sign;
pub mod trade;
pub mod trade_wire;
pub mod trading;
pub mod user_wire;
pub mod wire;

pub use error::VenueError;
pub use wire::{parse_frame, Frame, ParseError};
