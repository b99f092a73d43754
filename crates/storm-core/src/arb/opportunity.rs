//! An arbitrage opportunity as published on `storm:opps` and consumed by the executor.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{Asset, Price, Qty, Side, Symbol, VenueId};

/// What kind of arbitrage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OppKind {
    /// Three legs on one venue, back to the start asset.
    Triangular,
    /// The same asset bought on one venue and sold on another (later).
    Cross,
}

impl OppKind {
    /// The spelling on `storm:opps` (`triangular`, `cross`).
    pub fn as_str(self) -> &'static str {
        match self {
            OppKind::Triangular => "triangular",
            OppKind::Cross => "cross",
        }
    }
}

/// One order of an opportunity: a LIMIT IOC at `price` for `qty` (base asset).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OppLeg {
    /// Venue of the order.
    pub venue: VenueId,
    /// Symbol.
    pub symbol: Symbol,
    /// Buy or sell the base asset.
    pub side: Side,
    /// Limit price (the worst level the sizing walked to, on the symbol's tick).
    pub price: Price,
    /// Quantity of the base asset (on the symbol's step).
    pub qty: Qty,
}

/// A distinct opportunity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Opportunity {
    /// Unique id: `<venue>-<cycle>-<update ids>` hashed short, usable in client order ids.
    pub id: String,
    /// Triangular or cross.
    pub kind: OppKind,
    /// Venue of the cycle.
    pub venue: VenueId,
    /// `USDT>BTC>ETH>USDT`.
    pub path: String,
    /// The start (and end) asset.
    pub asset: Asset,
    /// Start amount, in `asset`.
    pub size: Decimal,
    /// Expected profit in `asset` if every leg fills at its limit price, after fees and rounding.
    pub profit: Decimal,
    /// `profit / size` in basis points.
    pub profit_bps: Decimal,
    /// 0..1: how likely the profit survives (book ages, share of visible depth taken).
    pub confidence: f64,
    /// When it was found, ms since the epoch.
    pub created_ms: u64,
    /// After this, it must not be traded.
    pub expires_ms: u64,
    /// The orders, in sequence.
    pub legs: Vec<OppLeg>,
    /// The books' update ids it was computed from, leg by leg.
    pub book_ids: Vec<u64>,
    /// Receive time (µs) of the market event that triggered it, for latency measurement.
    pub time_trigger_us: u64,
}
