//! Binance behind [`TradingVenue`]: the signed REST calls of [`TradeClient`], their replies as
//! [`OrderReport`]s.
//!
//! A FULL placement reply carries its fills and their commissions; a query reply carries none,
//! so [`TradingVenue::query`] of an order that filled also reads the order's trades
//! (`myTrades?orderId=`) for them. Commissions that do not add up in a `Decimal` make the reply
//! unreadable ([`VenueError::Parse`]), never a wrong total.

use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use storm_core::Symbol;

use super::trade::TradeClient;
use super::trade_wire::OrderReply;
use crate::error::VenueError;
use crate::trading::{NewOrder, OrderReport, Quote, TradingVenue, VenueFuture};

/// Margin past `recvWindow` before an order unknown to Binance is taken as never placed.
const SETTLE_MARGIN: Duration = Duration::from_millis(2_000);

impl TradingVenue for TradeClient {
    fn place<'a>(&'a self, order: &'a NewOrder, deadline: Option<Instant>) -> VenueFuture<'a, OrderReport> {
        Box::pin(async move { report(&self.place_by(order, deadline).await?) })
    }

    fn test<'a>(&'a self, order: &'a NewOrder) -> VenueFuture<'a, ()> {
        Box::pin(TradeClient::test(self, order))
    }

    fn query<'a>(&'a self, symbol: &'a Symbol, client_order_id: &'a str) -> VenueFuture<'a, Option<OrderReport>> {
        Box::pin(async move {
            let Some(reply) = TradeClient::query(self, symbol, client_order_id).await? else {
                return Ok(None);
            };
            let mut out = report(&reply)?;
            if !reply.executed_qty.is_zero() && reply.fills.is_empty() {
                let trades = self.order_trades(symbol, reply.order_id).await?;
                out.commissions = total(trades.into_iter().map(|t| (t.commission_asset, t.commission)))?;
            }
            Ok(Some(out))
        })
    }

    fn cancel<'a>(&'a self, symbol: &'a Symbol, client_order_id: &'a str) -> VenueFuture<'a, Option<OrderReport>> {
        Box::pin(
            async move { TradeClient::cancel(self, symbol, client_order_id).await?.as_ref().map(report).transpose() },
        )
    }

    fn book_ticker<'a>(&'a self, symbol: &'a Symbol) -> VenueFuture<'a, Quote> {
        Box::pin(async move {
            let t = TradeClient::book_ticker(self, symbol).await?;
            Ok(Quote { bid: t.bid_price.0, ask: t.ask_price.0 })
        })
    }

    fn sync_time(&self) -> VenueFuture<'_, i64> {
        Box::pin(TradeClient::sync_time(self))
    }

    fn venue_now_ms(&self) -> i64 {
        TradeClient::venue_now_ms(self)
    }

    fn settle_window(&self) -> Duration {
        Duration::from_millis(self.recv_window_ms()) + SETTLE_MARGIN
    }

    fn account_id(&self) -> String {
        self.credentials().account_id()
    }
}

/// A FULL/RESULT/query reply as a report, with the commissions of its fills.
pub fn report(r: &OrderReply) -> Result<OrderReport, VenueError> {
    Ok(OrderReport {
        order_id: r.order_id.to_string(),
        status: r.status,
        executed_qty: r.executed_qty,
        quote_qty: r.cummulative_quote_qty,
        commissions: total(r.fills.iter().map(|f| (f.commission_asset.clone(), f.commission)))?,
    })
}

/// Commissions summed per asset, in the order the assets first appear.
fn total(fees: impl Iterator<Item = (String, Decimal)>) -> Result<Vec<(String, Decimal)>, VenueError> {
    let mut out: Vec<(String, Decimal)> = Vec::new();
    for (asset, fee) in fees {
        match out.iter_mut().find(|(a, _)| *a == asset) {
            Some((_, sum)) => {
                *sum = sum
                    .checked_add(fee)
                    .ok_or_else(|| VenueError::Parse(format!("commission total overflows: {sum} + {fee}")))?;
            }
            None => out.push((asset, fee)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commissions_add_up_per_asset_and_overflow_is_an_error() {
        let fees =
            [("BNB".to_owned(), Decimal::new(1, 3)), ("USDT".into(), Decimal::ONE), ("BNB".into(), Decimal::new(2, 3))];
        let sums = total(fees.into_iter()).unwrap_or_default();
        assert_eq!(sums, vec![("BNB".to_owned(), Decimal::new(3, 3)), ("USDT".to_owned(), Decimal::ONE)]);
        let huge = [("BNB".to_owned(), Decimal::MAX), ("BNB".to_owned(), Decimal::MAX)];
        assert!(matches!(total(huge.into_iter()), Err(VenueError::Parse(_))));
    }
}
