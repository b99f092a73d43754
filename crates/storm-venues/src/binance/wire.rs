//! Binance Spot wire JSON, in both directions.
//!
//! The ingester parses these types and `storm-sim` serializes them, so they keep every field of
//! the frame in Binance's order: serializing a parsed frame gives back the same bytes. Prices and
//! quantities are storm-core [`Price`]/[`Qty`] (exact decimals that keep their scale, so
//! `"61837.63000000"` is written back as `"61837.63000000"`), and book levels are [`Level`]
//! (`["price","qty"]`). Single-letter wire fields get readable Rust names via `#[serde(rename)]`.
//!
//! Each type converts to the storm-core event the rest of storm uses (`into_diff`, ...) and back
//! (`From<&DepthDiff>`, ...), so the simulator builds frames from the same events it replays.
//! [`parse_frame`] classifies a raw text frame of either stream mode in one call.

mod control;
mod convert;
mod direct;
mod frame;
#[cfg(test)]
mod samples;
mod tag;

use serde::{Deserialize, Serialize};
use storm_core::{Level, Price, Qty, Symbol};

pub use control::{ApiError, ServerShutdown, WsErrorReply, WsReply, WsRequest};
pub use frame::{parse_frame, Frame, ParseError};
pub use tag::{DepthUpdateTag, KlineTag, ServerShutdownTag, TradeTag};

/// A combined-stream frame: `{"stream":"<stream>","data":{...}}` (from `/stream?streams=a/b`).
///
/// `{"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000",
/// "B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Combined<T> {
    /// Stream name, lowercase symbol first (`btcusdt@depth@100ms`).
    pub stream: String,
    /// The payload, exactly as on a raw stream.
    pub data: T,
}

/// Diff-depth event of `<sym>@depth` / `<sym>@depth@100ms`; quantities are absolute and
/// `"0.00000000"` removes the level.
///
/// `{"e":"depthUpdate","E":1723161255308,"s":"BTCUSDT","U":50093239203,"u":50093239207,
/// "b":[["55653.87000000","0.00000000"]],"a":[["61838.04000000","0.32332000"]]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepthUpdate {
    /// Always `depthUpdate`.
    #[serde(rename = "e")]
    pub event: DepthUpdateTag,
    /// Event time, ms since epoch.
    #[serde(rename = "E")]
    pub event_time_ms: u64,
    /// Symbol, upper case.
    #[serde(rename = "s")]
    pub symbol: Symbol,
    /// First update id in the event.
    #[serde(rename = "U")]
    pub first_update_id: u64,
    /// Final update id in the event.
    #[serde(rename = "u")]
    pub final_update_id: u64,
    /// Changed bids.
    #[serde(rename = "b")]
    pub bids: Vec<Level>,
    /// Changed asks.
    #[serde(rename = "a")]
    pub asks: Vec<Level>,
}

/// Best bid/offer of `<sym>@bookTicker`; no event time, and `u` shares the diff stream's ids.
///
/// `{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookTicker {
    /// Order-book update id.
    #[serde(rename = "u")]
    pub update_id: u64,
    /// Symbol, upper case.
    #[serde(rename = "s")]
    pub symbol: Symbol,
    /// Best bid price.
    #[serde(rename = "b")]
    pub bid_price: Price,
    /// Best bid quantity.
    #[serde(rename = "B")]
    pub bid_qty: Qty,
    /// Best ask price.
    #[serde(rename = "a")]
    pub ask_price: Price,
    /// Best ask quantity.
    #[serde(rename = "A")]
    pub ask_qty: Qty,
}

/// Public trade of `<sym>@trade`.
///
/// `{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000",
/// "q":"0.02000000","T":1723161255342,"m":true,"M":true}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeEvent {
    /// Always `trade`.
    #[serde(rename = "e")]
    pub event: TradeTag,
    /// Event time, ms.
    #[serde(rename = "E")]
    pub event_time_ms: u64,
    /// Symbol, upper case.
    #[serde(rename = "s")]
    pub symbol: Symbol,
    /// Trade id.
    #[serde(rename = "t")]
    pub trade_id: u64,
    /// Price.
    #[serde(rename = "p")]
    pub price: Price,
    /// Quantity.
    #[serde(rename = "q")]
    pub qty: Qty,
    /// Trade time, ms.
    #[serde(rename = "T")]
    pub trade_time_ms: u64,
    /// True when the buyer was the maker.
    #[serde(rename = "m")]
    pub buyer_is_maker: bool,
    /// Undocumented, always `true`; kept so frames round-trip.
    #[serde(rename = "M")]
    pub ignore: bool,
}

/// Candlestick event of `<sym>@kline_<interval>`.
///
/// `{"e":"kline","E":1633998523963,"s":"NKNUSDT","k":{"t":1633998480000,"T":1633998539999,
/// "s":"NKNUSDT","i":"1m","f":19862761,"L":19862790,"o":"0.35270000","c":"0.35280000",
/// "h":"0.35280000","l":"0.35220000","v":"25877.00000000","n":30,"x":false,
/// "q":"9116.04600000","V":"58.00000000","Q":"20.46240000","B":"0"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KlineEvent {
    /// Always `kline`.
    #[serde(rename = "e")]
    pub event: KlineTag,
    /// Event time, ms.
    #[serde(rename = "E")]
    pub event_time_ms: u64,
    /// Symbol, upper case.
    #[serde(rename = "s")]
    pub symbol: Symbol,
    /// The candle.
    #[serde(rename = "k")]
    pub kline: KlineData,
}

/// The `k` object of a [`KlineEvent`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KlineData {
    /// Open time, ms.
    #[serde(rename = "t")]
    pub open_time_ms: u64,
    /// Close time, ms (last millisecond of the interval).
    #[serde(rename = "T")]
    pub close_time_ms: u64,
    /// Symbol, upper case.
    #[serde(rename = "s")]
    pub symbol: Symbol,
    /// Interval (`1s`, `1m`, ... `1M`).
    #[serde(rename = "i")]
    pub interval: String,
    /// First trade id (`-1` when the candle has no trade).
    #[serde(rename = "f")]
    pub first_trade_id: i64,
    /// Last trade id (`-1` when the candle has no trade).
    #[serde(rename = "L")]
    pub last_trade_id: i64,
    /// Open price.
    #[serde(rename = "o")]
    pub open: Price,
    /// Close price.
    #[serde(rename = "c")]
    pub close: Price,
    /// High price.
    #[serde(rename = "h")]
    pub high: Price,
    /// Low price.
    #[serde(rename = "l")]
    pub low: Price,
    /// Base-asset volume.
    #[serde(rename = "v")]
    pub volume: Qty,
    /// Number of trades.
    #[serde(rename = "n")]
    pub trades: u64,
    /// True once the candle is closed.
    #[serde(rename = "x")]
    pub closed: bool,
    /// Quote-asset volume.
    #[serde(rename = "q")]
    pub quote_volume: Qty,
    /// Taker-buy base-asset volume.
    #[serde(rename = "V")]
    pub taker_buy_volume: Qty,
    /// Taker-buy quote-asset volume.
    #[serde(rename = "Q")]
    pub taker_buy_quote_volume: Qty,
    /// Undocumented, always `"0"`; kept so frames round-trip.
    #[serde(rename = "B")]
    pub ignore: String,
}

/// REST `GET /api/v3/depth` reply: the book at `lastUpdateId`, best levels first.
///
/// `{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DepthSnapshot {
    /// Update id the snapshot is consistent with.
    pub last_update_id: u64,
    /// Bids, best (highest) first.
    pub bids: Vec<Level>,
    /// Asks, best (lowest) first.
    pub asks: Vec<Level>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::samples::{round_trip, DEPTH, KLINE, TICKER, TRADE};
    use super::*;

    #[test]
    fn documented_and_recorded_frames_round_trip_byte_for_byte() {
        round_trip::<DepthUpdate>(
            r#"{"e":"depthUpdate","E":1700000000123,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}"#,
        );
        round_trip::<DepthUpdate>(DEPTH);
        round_trip::<BookTicker>(TICKER);
        round_trip::<TradeEvent>(TRADE);
        round_trip::<KlineEvent>(KLINE);
        round_trip::<DepthSnapshot>(r#"{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[]}"#);
        let combined = format!(r#"{{"stream":"bnbusdt@bookTicker","data":{TICKER}}}"#);
        round_trip::<Combined<BookTicker>>(&combined);
    }
}
