//! The side of an order or a trade.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Buy or sell, spelled as Binance spells it on the wire (`BUY`, `SELL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Side {
    /// Buy the base asset, paying the quote asset; takes liquidity from the asks.
    Buy,
    /// Sell the base asset for the quote asset; takes liquidity from the bids.
    Sell,
}

impl Side {
    /// The opposite side.
    pub fn opposite(self) -> Self {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// Wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
