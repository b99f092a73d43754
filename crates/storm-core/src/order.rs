//! The status of an order, as every venue's reports are read into and as Redis stores it.
//!
//! One type for the venue adapter (which parses it from Binance's replies and events), the bus
//! (`storm:order:*` hashes), their readers and storm-sim (which writes it), so that no layer
//! translates one spelling into another.

use serde::{Deserialize, Serialize};

/// Status of an order (Binance's spelling, `NEW` … `EXPIRED_IN_MATCH`, which storm uses for
/// every venue).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Accepted, nothing filled.
    New,
    /// Partly filled, still working.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Cancelled by the user.
    Canceled,
    /// Being cancelled.
    PendingCancel,
    /// Refused by the venue.
    Rejected,
    /// Ended by its time in force (IOC/FOK remainder) or by the venue.
    Expired,
    /// Expired by self-trade prevention.
    ExpiredInMatch,
}

impl OrderStatus {
    /// True while the order can still fill.
    pub fn is_open(self) -> bool {
        matches!(self, OrderStatus::New | OrderStatus::PartiallyFilled | OrderStatus::PendingCancel)
    }

    /// True when nothing can happen to the order any more.
    pub fn is_final(self) -> bool {
        !self.is_open()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_spelling_and_finality() {
        let s: OrderStatus = serde_json::from_str("\"EXPIRED_IN_MATCH\"").expect("parse");
        assert_eq!(s, OrderStatus::ExpiredInMatch);
        assert_eq!(serde_json::to_string(&OrderStatus::PartiallyFilled).expect("json"), "\"PARTIALLY_FILLED\"");
        assert!(OrderStatus::PendingCancel.is_open() && !OrderStatus::PendingCancel.is_final());
        assert!(OrderStatus::Expired.is_final() && OrderStatus::Rejected.is_final());
    }
}
