//! Venue-neutral market history: candles as a venue's REST serves them, for engines that fill
//! holes in what they saw live (storm-candles), without knowing which venue they talk to.
//!
//! [`KlineHistory`] picks the venue's endpoint, weight and parser from the venue kind;
//! [`trade_ids_are_consecutive`] says whether a jump in a symbol's trade ids proves that trades
//! were missed (Binance numbers each symbol's trades 1, 2, 3, ...; a venue with opaque trade ids
//! does not, and a gap there must be found another way).

use rust_decimal::Decimal;
use storm_core::{Symbol, VenueKind};

use crate::binance::klines as binance;
use crate::binance::rest_wire::RestWireError;

/// One interval as the venue reports it (no trade ids: REST klines do not carry them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoricalCandle {
    /// Open time, ms.
    pub open_ms: u64,
    /// Open price.
    pub open: Decimal,
    /// High.
    pub high: Decimal,
    /// Low.
    pub low: Decimal,
    /// Close.
    pub close: Decimal,
    /// Base volume.
    pub volume: Decimal,
    /// Quote volume.
    pub quote_volume: Decimal,
    /// Number of trades.
    pub trades: u64,
}

/// Where and how to ask one venue for candles.
#[derive(Clone, Debug)]
pub struct KlineHistory {
    rest_url: String,
}

impl KlineHistory {
    /// The history of a venue of `kind` at `rest_url`.
    pub fn new(kind: VenueKind, rest_url: &str) -> Self {
        match kind {
            VenueKind::Binance => Self { rest_url: rest_url.to_owned() },
        }
    }

    /// Most intervals one request returns.
    pub fn max_per_request(&self) -> u32 {
        binance::MAX_KLINES
    }

    /// Request weight of one request.
    pub fn weight(&self) -> u32 {
        binance::KLINES_WEIGHT
    }

    /// The URL for the intervals of `interval` (the venue's spelling, e.g. `1m`) opening in
    /// `[start_ms, end_ms]`.
    pub fn url(&self, symbol: &Symbol, interval: &str, start_ms: u64, end_ms: u64) -> String {
        binance::klines_url(&self.rest_url, symbol, interval, start_ms, end_ms)
    }

    /// The candles of a reply, oldest first.
    pub fn parse(&self, body: &str) -> Result<Vec<HistoricalCandle>, RestWireError> {
        binance::parse_klines(body)
    }
}

/// True when the venue of `kind` numbers each symbol's trades without holes.
pub fn trade_ids_are_consecutive(kind: VenueKind) -> bool {
    match kind {
        VenueKind::Binance => true,
    }
}
