//! Normalized market-data events: what the ingester writes to `storm:md:<venue>:<channel>` and
//! booksync / arbitrage read back. Field names are the msgpack field names (named encoding), so
//! readers in other languages see `first_update_id`, `bids`, ... and not positional arrays.
//!
//! Times: `time_exchange` is the venue's event time and `time_received` our receive time, both in
//! microseconds since the epoch (see [`crate::time`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Level, Price, Qty, Symbol};

/// The market-data channels a venue stream can carry; the last part of `storm:md:<venue>:<channel>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Incremental order-book diffs.
    Depth,
    /// Best bid/ask updates.
    Ticker,
    /// Public trades.
    Trade,
    /// Candlesticks.
    Kline,
}

impl Channel {
    /// Every channel, in a fixed order.
    pub const ALL: [Channel; 4] = [Channel::Depth, Channel::Ticker, Channel::Trade, Channel::Kline];

    /// The spelling used in keys and subscription members (`depth`, `ticker`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Depth => "depth",
            Channel::Ticker => "ticker",
            Channel::Trade => "trade",
            Channel::Kline => "kline",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown channel {s:?} (expected depth, ticker, trade or kline)"))
    }
}

/// An incremental order-book update: absolute quantities for the levels that changed.
///
/// Binance source: `{"e":"depthUpdate","E":1700000000123,"s":"BNBBTC","U":157,"u":160,
/// "b":[["0.0024","10"]],"a":[["0.0026","100"]]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepthDiff {
    /// Symbol the diff belongs to.
    pub symbol: Symbol,
    /// First update id in the event (`U`).
    pub first_update_id: u64,
    /// Final update id in the event (`u`).
    pub last_update_id: u64,
    /// Changed bid levels (quantity zero removes).
    pub bids: Vec<Level>,
    /// Changed ask levels (quantity zero removes).
    pub asks: Vec<Level>,
    /// Venue event time, µs since epoch.
    pub time_exchange: u64,
    /// Our receive time, µs since epoch.
    pub time_received: u64,
}

impl DepthDiff {
    /// Number of level updates carried.
    pub fn level_count(&self) -> usize {
        self.bids.len() + self.asks.len()
    }
}

/// Best bid and offer.
///
/// Binance source (`@bookTicker`): `{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000",
/// "a":"25.36520000","A":"40.66000000"}`; its `u` shares the diff stream's id space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticker {
    /// Symbol.
    pub symbol: Symbol,
    /// Order-book update id of this best bid/offer.
    pub update_id: u64,
    /// Best bid price.
    pub bid_price: Price,
    /// Quantity at the best bid.
    pub bid_qty: Qty,
    /// Best ask price.
    pub ask_price: Price,
    /// Quantity at the best ask.
    pub ask_qty: Qty,
    /// Venue event time in µs, when the venue sends one (Binance's bookTicker does not: 0).
    pub time_exchange: u64,
    /// Our receive time, µs since epoch.
    pub time_received: u64,
}

/// A public trade.
///
/// Binance source: `{"e":"trade","E":..,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000",
/// "q":"0.02000000","T":1723161255342,"m":true,"M":true}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    /// Symbol.
    pub symbol: Symbol,
    /// Venue trade id.
    pub trade_id: u64,
    /// Trade price.
    pub price: Price,
    /// Trade quantity.
    pub qty: Qty,
    /// True when the buyer was the maker (the taker sold).
    pub buyer_is_maker: bool,
    /// Trade time at the venue, µs.
    pub time_exchange: u64,
    /// Our receive time, µs.
    pub time_received: u64,
}

/// A candlestick.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kline {
    /// Symbol.
    pub symbol: Symbol,
    /// Interval as the venue spells it (`1m`, `1h`, ...).
    pub interval: String,
    /// Open time, µs.
    pub open_time: u64,
    /// Close time, µs.
    pub close_time: u64,
    /// Open price.
    pub open: Price,
    /// High price.
    pub high: Price,
    /// Low price.
    pub low: Price,
    /// Close (last) price.
    pub close: Price,
    /// Base-asset volume.
    pub volume: Qty,
    /// Quote-asset volume.
    pub quote_volume: Qty,
    /// Number of trades.
    pub trades: u64,
    /// True once the candle is final.
    pub closed: bool,
    /// Venue event time, µs.
    pub time_exchange: u64,
    /// Our receive time, µs.
    pub time_received: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_spelling_round_trips() {
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>(), Ok(c));
        }
        assert!("book".parse::<Channel>().is_err());
    }
}

/// Why a stream's continuity is broken (carried by [`MdEvent::Reset`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamReset {
    /// Symbol whose stream restarted.
    pub symbol: Symbol,
    /// What happened (`reconnect`, `rotation`, `stall`, ...), for people reading the stream.
    pub reason: String,
    /// When the ingester noticed, µs since epoch.
    pub time_received: u64,
}

/// A connection's liveness, written on the depth stream (carried by [`MdEvent::Alive`]) every
/// liveness interval while the connection is healthy: it heard from the venue recently (data or
/// an answer to its ping), and the venue acknowledged the SUBSCRIBE of each of these depth
/// symbols. Every diff the connection received before is on the stream before this entry, so a
/// book following it is still the venue's as of `time_received`, even when the symbol is quiet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepthAlive {
    /// The ingester's connection (`conn-3`), for people reading the stream.
    pub conn: String,
    /// The depth symbols the connection carries and the venue acknowledged.
    pub symbols: Vec<Symbol>,
    /// When the ingester vouched for them, µs since epoch.
    pub time_received: u64,
}

/// A depth subscription was removed (carried by [`MdEvent::Unsubscribed`]): no diff of the
/// symbol follows, so its book is no longer maintained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamUnsubscribed {
    /// Symbol whose depth stream was unsubscribed.
    pub symbol: Symbol,
    /// When the ingester dropped it, µs since epoch.
    pub time_received: u64,
}

/// Everything that travels on `storm:md:<venue>:<channel>`: market events, and on the depth
/// stream three markers: a reset after any reconnect, so that booksync knows the diffs before
/// and after it do not join up and must resynchronize; a connection's liveness; and the removal
/// of a depth subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MdEvent {
    /// An order-book diff.
    Depth(DepthDiff),
    /// A best bid/offer.
    Ticker(Ticker),
    /// A trade.
    Trade(Trade),
    /// A candle.
    Kline(Kline),
    /// Continuity is broken for a symbol (written on the depth stream).
    Reset(StreamReset),
    /// A healthy connection vouches for its depth symbols (written on the depth stream).
    Alive(DepthAlive),
    /// A depth subscription was removed (written on the depth stream).
    Unsubscribed(StreamUnsubscribed),
}

impl MdEvent {
    /// The symbol it concerns (`None` for a liveness entry, which covers several).
    pub fn symbol(&self) -> Option<&Symbol> {
        Some(match self {
            MdEvent::Depth(d) => &d.symbol,
            MdEvent::Ticker(t) => &t.symbol,
            MdEvent::Trade(t) => &t.symbol,
            MdEvent::Kline(k) => &k.symbol,
            MdEvent::Reset(r) => &r.symbol,
            MdEvent::Unsubscribed(u) => &u.symbol,
            MdEvent::Alive(_) => return None,
        })
    }

    /// The channel (stream) it is written to; the markers go with the depth diffs they concern.
    pub fn channel(&self) -> Channel {
        match self {
            MdEvent::Depth(_) | MdEvent::Reset(_) | MdEvent::Alive(_) | MdEvent::Unsubscribed(_) => Channel::Depth,
            MdEvent::Ticker(_) => Channel::Ticker,
            MdEvent::Trade(_) => Channel::Trade,
            MdEvent::Kline(_) => Channel::Kline,
        }
    }

    /// The kind tag written in the entry's `k` field.
    pub fn kind(&self) -> &'static str {
        match self {
            MdEvent::Depth(_) => "depth",
            MdEvent::Ticker(_) => "ticker",
            MdEvent::Trade(_) => "trade",
            MdEvent::Kline(_) => "kline",
            MdEvent::Reset(_) => "reset",
            MdEvent::Alive(_) => "alive",
            MdEvent::Unsubscribed(_) => "unsub",
        }
    }
}
