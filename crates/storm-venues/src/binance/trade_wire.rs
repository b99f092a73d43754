//! Binance's signed-endpoint replies as typed values: orders (new order in FULL, query,
//! openOrders), the account's balances and its own trades.
//!
//! Every amount is a `Decimal` read exactly from Binance's decimal strings (`amount`: a
//! negative price, quantity or commission is an error, not a value); unknown fields are ignored
//! (Binance adds fields without notice), missing optional ones default. Shapes follow
//! BINANCE.md, "Orders", and `testdata/orders/ccxt_binance_order_rest_responses.json`.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use storm_core::Qty;

/// An order's status (`X` in an executionReport, `status` in REST replies), storm-core's type.
pub use storm_core::OrderStatus;

/// An amount that cannot be negative (price, quantity, commission, balance), read exactly as
/// storm-core reads decimal strings: `"-1.5"`, `"1e5"` or 30 fractional digits are errors.
pub(crate) fn amount<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    let value = Qty::deserialize(deserializer)?.0;
    if value.is_sign_negative() && !value.is_zero() {
        return Err(serde::de::Error::custom(format!("negative amount {value}")));
    }
    Ok(value)
}

/// A signed amount (a balance delta), read exactly like [`amount`].
pub(crate) fn signed_amount<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    Ok(Qty::deserialize(deserializer)?.0)
}

/// One fill inside a FULL new-order reply.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderFill {
    /// Execution price.
    #[serde(deserialize_with = "amount")]
    pub price: Decimal,
    /// Base quantity.
    #[serde(deserialize_with = "amount")]
    pub qty: Decimal,
    /// Commission charged.
    #[serde(deserialize_with = "amount")]
    pub commission: Decimal,
    /// Asset the commission is charged in.
    pub commission_asset: String,
    /// Trade id.
    #[serde(default)]
    pub trade_id: u64,
}

/// An order as `POST /api/v3/order` (RESULT/FULL), `GET /api/v3/order` and `openOrders` return it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderReply {
    /// Symbol.
    pub symbol: String,
    /// Exchange order id.
    pub order_id: u64,
    /// Client order id.
    pub client_order_id: String,
    /// Limit price.
    #[serde(default, deserialize_with = "amount")]
    pub price: Decimal,
    /// Ordered quantity.
    #[serde(default, deserialize_with = "amount")]
    pub orig_qty: Decimal,
    /// Filled base quantity.
    #[serde(default, deserialize_with = "amount")]
    pub executed_qty: Decimal,
    /// Filled quote quantity.
    #[serde(default, deserialize_with = "amount")]
    pub cummulative_quote_qty: Decimal,
    /// Status.
    pub status: OrderStatus,
    /// `BUY` or `SELL`.
    pub side: String,
    /// `LIMIT`, `MARKET`, ...
    #[serde(rename = "type", default)]
    pub kind: String,
    /// `GTC`, `IOC`, `FOK`.
    #[serde(default)]
    pub time_in_force: String,
    /// Fills (FULL replies only).
    #[serde(default)]
    pub fills: Vec<OrderFill>,
    /// Time of the new-order transaction, ms.
    #[serde(default)]
    pub transact_time: Option<u64>,
    /// Last update, ms (queries).
    #[serde(default)]
    pub update_time: Option<u64>,
}

/// One balance of `GET /api/v3/account`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct AccountBalance {
    /// Asset.
    pub asset: String,
    /// Available.
    #[serde(deserialize_with = "amount")]
    pub free: Decimal,
    /// In open orders.
    #[serde(deserialize_with = "amount")]
    pub locked: Decimal,
}

/// `GET /api/v3/account`, the parts storm reads.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountReply {
    /// Every balance.
    pub balances: Vec<AccountBalance>,
    /// Time of the last change, ms.
    #[serde(default)]
    pub update_time: u64,
    /// Whether the key may trade.
    #[serde(default = "yes")]
    pub can_trade: bool,
}

fn yes() -> bool {
    true
}

/// One of the account's trades (`GET /api/v3/myTrades`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MyTrade {
    /// Symbol.
    pub symbol: String,
    /// Trade id.
    pub id: u64,
    /// Order it belongs to.
    pub order_id: u64,
    /// Price.
    #[serde(deserialize_with = "amount")]
    pub price: Decimal,
    /// Base quantity.
    #[serde(deserialize_with = "amount")]
    pub qty: Decimal,
    /// Quote quantity.
    #[serde(deserialize_with = "amount")]
    pub quote_qty: Decimal,
    /// Commission.
    #[serde(deserialize_with = "amount")]
    pub commission: Decimal,
    /// Commission asset.
    pub commission_asset: String,
    /// Trade time, ms.
    pub time: u64,
    /// True when the account bought.
    pub is_buyer: bool,
    /// True when the account's order was resting.
    pub is_maker: bool,
}

/// `GET /api/v3/time`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTime {
    /// The exchange's clock, ms since the epoch.
    pub server_time: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_new_order_reply_parses_with_its_fills() {
        let body = r#"{"symbol":"BTCUSDT","orderId":28,"orderListId":-1,"clientOrderId":"6gCrw2kRUAF9CvJDGP16IP",
            "transactTime":1507725176595,"price":"0.00000000","origQty":"10.00000000","executedQty":"10.00000000",
            "origQuoteOrderQty":"0.000000","cummulativeQuoteQty":"10.00000000","status":"FILLED","timeInForce":"GTC",
            "type":"MARKET","side":"SELL","workingTime":1507725176595,"selfTradePreventionMode":"NONE",
            "fills":[{"price":"4000.00000000","qty":"1.00000000","commission":"4.00000000","commissionAsset":"USDT","tradeId":56}]}"#;
        let o: OrderReply = serde_json::from_str(body).expect("parses");
        assert_eq!(o.status, OrderStatus::Filled);
        assert_eq!(o.executed_qty, Decimal::from(10));
        assert_eq!(o.fills.len(), 1);
        assert_eq!(o.fills[0].commission_asset, "USDT");
        assert!(!o.status.is_open());
    }

    #[test]
    fn an_expired_ioc_query_reply_parses_without_fills() {
        let body = r#"{"symbol":"ETHBTC","orderId":7,"orderListId":-1,"clientOrderId":"st-ab-1","price":"0.05000000",
            "origQty":"1.00000000","executedQty":"0.00000000","cummulativeQuoteQty":"0.00000000","status":"EXPIRED",
            "timeInForce":"IOC","type":"LIMIT","side":"BUY","time":1,"updateTime":2,"isWorking":false}"#;
        let o: OrderReply = serde_json::from_str(body).expect("parses");
        assert_eq!(o.status, OrderStatus::Expired);
        assert!(o.fills.is_empty());
        assert_eq!(o.update_time, Some(2));
    }

    #[test]
    fn a_status_binance_does_not_have_is_an_error() {
        let body = r#"{"symbol":"X","orderId":1,"clientOrderId":"a","status":"MAYBE","side":"BUY"}"#;
        assert!(serde_json::from_str::<OrderReply>(body).is_err());
    }
}
