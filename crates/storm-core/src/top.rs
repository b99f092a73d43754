//! What booksync publishes about a book: its status and its top levels.
//!
//! [`BookTop`] is the payload of a `storm:tops:<venue>` entry (one per change of the top K levels)
//! and the content of the `storm:book:<venue>:<SYM>` hash; [`BookStatus`] is the one word that
//! says whether anyone may trade on it. Both live here, not in booksync, because the arbitrage
//! finder, the executor's paper mode and stormctl read them back.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Level, Symbol};

/// Whether a published book can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BookStatus {
    /// Not (yet, or no longer) in sync: waiting for or applying a snapshot. Never trade on it.
    Syncing,
    /// In sync with the venue's diff stream.
    Live,
    /// Was in sync, but the venue's data stopped arriving: the book may be out of date.
    Stale,
}

impl BookStatus {
    /// The spelling in Redis (`syncing`, `live`, `stale`).
    pub fn as_str(self) -> &'static str {
        match self {
            BookStatus::Syncing => "syncing",
            BookStatus::Live => "live",
            BookStatus::Stale => "stale",
        }
    }
}

impl fmt::Display for BookStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BookStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "syncing" => Ok(BookStatus::Syncing),
            "live" => Ok(BookStatus::Live),
            "stale" => Ok(BookStatus::Stale),
            other => Err(format!("unknown book status {other:?} (expected syncing, live or stale)")),
        }
    }
}

/// The top levels of one book at one update id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookTop {
    /// Venue symbol.
    pub symbol: Symbol,
    /// Best bids, best first.
    pub bids: Vec<Level>,
    /// Best asks, best first.
    pub asks: Vec<Level>,
    /// The venue update id the book reflects (`u` of the last diff applied).
    pub update_id: u64,
    /// Venue event time of the last diff applied, µs.
    pub time_exchange: u64,
    /// When the ingester received that diff, µs (for end-to-end latency).
    pub time_received: u64,
    /// When booksync published this state, µs.
    pub time_local: u64,
    /// Whether the book can be trusted.
    pub status: BookStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_spells_and_parses_back() {
        for s in [BookStatus::Syncing, BookStatus::Live, BookStatus::Stale] {
            assert_eq!(s.as_str().parse::<BookStatus>(), Ok(s));
            assert_eq!(s.to_string(), s.as_str());
        }
        assert!("LIVE".parse::<BookStatus>().is_err());
    }
}
