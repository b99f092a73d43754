//! storm-venues: everything that knows how one exchange speaks.
//!
//! Engines (ingester, booksync, executor) and the simulator should not care which venue is on
//! the other end of a socket: they deal in storm-core events (`DepthDiff`, `Ticker`, ...) and in
//! [`error::VenueError`] outcomes that say whether a retry can help. The venue
//! specifics — JSON field letters, stream names, signing rules, error codes — are kept here, one
//! folder per venue, so that the adapters can sit behind one trait and "where is Binance's
//! depth frame parsed?" has exactly one answer.
//!
//! [`trading`] is the venue-neutral boundary for orders ([`trading::TradingVenue`]); [`error`]
//! the classes of failure every venue's replies are sorted into.
//!
//! [`history`] reads the candles a venue serves over REST, for backfills.
//!
//! [`rest::RestClient`] sends REST requests inside the per-IP weight budget every process on the
//! host shares through Redis.
//!
//! The same wire types serve both directions: the ingester parses them and `storm-sim`
//! serializes them, so a frame the simulator emits is byte-compatible with what the venue sends.

pub mod adapter;
pub mod binance;
pub mod clock;
pub mod error;
pub mod history;
pub mod market;
pub mod rest;
pub mod trading;
