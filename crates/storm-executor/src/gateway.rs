//! Where orders go: the venue (live and dry-run, through the signed REST client) or the local
//! paper book. The chain logic talks to [`Gateway`] only, so every mode runs the same journal,
//! risk and unwind code.
//!
//! Results come back as [`LegFill`]s (filled quantities and commissions by asset) from the
//! venue's [`storm_venues::trading::OrderReport`] of a placement or, when a placement's outcome is
//! unknown, of a query by client order id. Which venue, and how it spells any of this, is behind
//! [`TradingVenue`].

use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use storm_core::{Instrument, Symbol};
use storm_venues::error::VenueError;
use storm_venues::trading::{NewOrder, OrderReport, TradingVenue};

use crate::journal::LegFill;
use crate::paper::Paper;

/// An order destination.
pub enum Gateway {
    /// The real venue (`live`, or `dry-run` which only validates).
    Venue(Arc<dyn TradingVenue>),
    /// Local fills against the book hashes.
    Paper(Box<Paper>),
}

impl Gateway {
    /// Places `order`. `Err` with [`VenueError::outcome_unknown`] means the order may exist.
    /// With `deadline`, a venue order waiting for the request budget past it is not sent at all.
    pub async fn place(
        &self,
        order: &NewOrder,
        inst: &Instrument,
        deadline: Option<std::time::Instant>,
    ) -> Result<LegFill, VenueError> {
        match self {
            Gateway::Venue(venue) => fill(venue.place(order, deadline).await?),
            Gateway::Paper(paper) => paper.place(order, inst).await,
        }
    }

    /// Validates `order` without trading (`dry-run`).
    pub async fn test(&self, order: &NewOrder, inst: &Instrument) -> Result<(), VenueError> {
        match self {
            Gateway::Venue(venue) => venue.test(order).await,
            Gateway::Paper(_) => inst
                .check_limit(storm_core::Price(order.price), storm_core::Qty(order.quantity))
                .map_err(|e| VenueError::refused(e.to_string())),
        }
    }

    /// What became of the order with `client_id`: `Ok(None)` when the venue has no such order.
    pub async fn find(&self, symbol: &Symbol, client_id: &str) -> Result<Option<LegFill>, VenueError> {
        match self {
            Gateway::Paper(paper) => Ok(paper.find(client_id)),
            Gateway::Venue(venue) => venue.query(symbol, client_id).await?.map(fill).transpose(),
        }
    }

    /// The venue's best price for an order on `side` (asks for a buy), read now; paper has no
    /// venue to ask.
    pub async fn best_price(&self, symbol: &Symbol, side: storm_core::Side) -> Option<Decimal> {
        let Gateway::Venue(venue) = self else { return None };
        let q = venue.book_ticker(symbol).await.ok()?;
        let p = match side {
            storm_core::Side::Buy => q.ask,
            storm_core::Side::Sell => q.bid,
        };
        (!p.is_zero()).then_some(p)
    }

    /// The venue's receive window plus margin: an order unknown to the venue this long after
    /// its intent was written can no longer appear.
    pub fn settle_after(&self) -> Duration {
        match self {
            Gateway::Paper(_) => Duration::ZERO,
            Gateway::Venue(venue) => venue.settle_window(),
        }
    }

    /// Venue time now, ms.
    pub fn venue_now_ms(&self) -> i64 {
        match self {
            Gateway::Venue(venue) => venue.venue_now_ms(),
            Gateway::Paper(_) => storm_core::time::now_millis() as i64,
        }
    }
}

/// A venue's report as the journal's [`LegFill`].
fn fill(r: OrderReport) -> Result<LegFill, VenueError> {
    LegFill::from_report(r).map_err(VenueError::Parse)
}
