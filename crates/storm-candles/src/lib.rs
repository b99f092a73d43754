//! storm-candles: OHLCV candles per venue × symbol × timeframe, built from the trade stream and
//! closed on storm's own clock.
//!
//! Neither venue closes a candle on time (Binance's closed kline can come seconds late; KuCoin's
//! has no closed flag and shows only with the next trade), so storm builds candles itself from
//! the trades it already carries, closes each at its boundary plus a short grace whether or not
//! a trade came, and rolls the longer timeframes up from the shortest so they always agree.
//! This crate is the pure part: [`timeframe`] (UTC boundaries, weeks from Monday, calendar
//! months), [`candle`] (an order-independent aggregate of trades) and [`series`] (one symbol's
//! timeframes on a clock, late trades as amendments); [`engine`] reads the trade stream and writes
//! candles to Redis ([`store`], [`wire`]).

pub mod backfill;
pub mod candle;
pub mod config;
pub mod crosscheck;
pub mod engine;
pub mod series;
pub mod store;
pub mod ticker;
pub mod timeframe;
pub mod wire;

pub use candle::{Candle, Edge, Tick, TickError};
pub use config::CandlesConfig;
pub use engine::{run, run_with_metrics, EngineError};
pub use series::{Emitted, Gap, IdCheck, Plan, Refused, Series};
pub use timeframe::Timeframe;
