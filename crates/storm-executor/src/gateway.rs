//! Where orders go: the venue (live and dry-run, through the signed REST client) or the local
//! paper book. The chain logic talks to [`Gateway`] only, so every mode runs the same journal,
//! risk and unwind code.
//!
//! Results come back as [`LegFill`]s (filled quantities and commissions by asset), from the FULL
//! reply of a placement or, when a placement's outcome is unknown, from a query by client order id
//! plus the order's trades (a query reply carries no commissions).

use std::time::Duration;

use rust_decimal::Decimal;
use storm_core::{Instrument, Symbol};
use storm_venues::binance::trade::{NewOrder, TradeClient};
use storm_venues::binance::trade_wire::OrderReply;
use storm_venues::binance::VenueError;

use crate::journal::LegFill;
use crate::paper::Paper;

/// An order destination.
pub enum Gateway {
    /// The real venue (`live`, or `dry-run` which only validates).
    Venue(TradeClient),
    /// Local fills against the book hashes.
    Paper(Box<Paper>),
}

impl Gateway {
    /// Places `order`. `Err` with [`VenueError::outcome_unknown`] means the order may exist.
    /// With `deadline`, a venue order waiting for the weight budget past it is not sent at all.
    pub async fn place(
        &self,
        order: &NewOrder,
        inst: &Instrument,
        deadline: Option<std::time::Instant>,
    ) -> Result<LegFill, VenueError> {
        match self {
            Gateway::Venue(client) => from_reply(&client.place_by(order, deadline).await?),
            Gateway::Paper(paper) => paper.place(order, inst).await,
        }
    }

    /// Validates `order` without trading (`dry-run`).
    pub async fn test(&self, order: &NewOrder, inst: &Instrument) -> Result<(), VenueError> {
        match self {
            Gateway::Venue(client) => client.test(order).await,
            Gateway::Paper(_) => inst
                .check_limit(storm_core::Price(order.price), storm_core::Qty(order.quantity))
                .map_err(|e| VenueError::Rejected { code: -1013, msg: e.to_string() }),
        }
    }

    /// What became of the order with `client_id`: `Ok(None)` when the venue has no such order.
    pub async fn find(&self, symbol: &Symbol, client_id: &str) -> Result<Option<LegFill>, VenueError> {
        match self {
            Gateway::Paper(paper) => Ok(paper.find(client_id)),
            Gateway::Venue(client) => {
                let Some(reply) = client.query(symbol, client_id).await? else {
                    return Ok(None);
                };
                let mut fill = from_reply(&reply)?;
                if !reply.executed_qty.is_zero() && reply.fills.is_empty() {
                    for t in client.order_trades(symbol, reply.order_id).await? {
                        add_commission(&mut fill, t.commission_asset, t.commission)?;
                    }
                }
                Ok(Some(fill))
            }
        }
    }

    /// The venue's best price for an order on `side` (asks for a buy), read by REST; paper has
    /// no venue to ask.
    pub async fn best_price(&self, symbol: &Symbol, side: storm_core::Side) -> Option<Decimal> {
        let Gateway::Venue(client) = self else { return None };
        let t = client.book_ticker(symbol).await.ok()?;
        let p = match side {
            storm_core::Side::Buy => t.ask_price.0,
            storm_core::Side::Sell => t.bid_price.0,
        };
        (!p.is_zero()).then_some(p)
    }

    /// The venue's `recvWindow` plus margin: an order unknown to the venue this long after its
    /// intent was written can no longer appear.
    pub fn settle_after(&self) -> Duration {
        match self {
            Gateway::Paper(_) => Duration::ZERO,
            Gateway::Venue(_) => Duration::from_millis(5_000 + 2_000),
        }
    }

    /// Venue time now, ms.
    pub fn venue_now_ms(&self) -> i64 {
        match self {
            Gateway::Venue(client) => client.venue_now_ms(),
            Gateway::Paper(_) => storm_core::time::now_millis() as i64,
        }
    }
}

/// A FULL/RESULT reply as a [`LegFill`]; commissions that do not add up in a `Decimal` make the
/// reply unreadable.
pub fn from_reply(r: &OrderReply) -> Result<LegFill, VenueError> {
    let mut fill = LegFill {
        order_id: Some(r.order_id),
        status: serde_json::to_value(r.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
        executed_qty: r.executed_qty,
        quote_qty: r.cummulative_quote_qty,
        ..Default::default()
    };
    for f in &r.fills {
        add_commission(&mut fill, f.commission_asset.clone(), f.commission)?;
    }
    Ok(fill)
}

fn add_commission(fill: &mut LegFill, asset: String, fee: Decimal) -> Result<(), VenueError> {
    let slot = fill.commission.entry(asset).or_default();
    *slot = slot
        .checked_add(fee)
        .ok_or_else(|| VenueError::Parse(format!("commission total overflows: {slot} + {fee}")))?;
    Ok(())
}
