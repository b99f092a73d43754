//! The user-data stream on Binance's WebSocket API: the signed subscription request, the
//! response envelope, and the account events that follow (BINANCE.md, "User data").
//!
//! Since the listenKey endpoints were switched off (2026-02-20) own orders and balances arrive
//! only on a WS-API connection, after `userDataStream.subscribe.signature`, as
//! `{"subscriptionId":0,"event":{..}}`. Responses to requests share the socket and look like
//! `{"id":"..","status":200,"result":{..}}` or `{"id":..,"status":400,"error":{"code":..,"msg":..}}`.
//! [`parse_user_frame`] tells them apart and types every event; amounts are `Decimal`, never
//! `f64`, read exactly, and only a balance delta may be negative. Unknown event types are
//! reported as [`UserEvent::Unknown`] (counted by the caller), a frame that is not what Binance
//! documents is a [`UserWireError`] — neither is ever a panic.

use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};
use storm_core::Side;

use super::sign::ws_api_payload;
use super::trade::Credentials;
use super::trade_wire::{amount, signed_amount, OrderStatus};
use super::wire::ApiError;

/// WS-API method that subscribes the connection to the key's user-data stream (weight 2).
pub const SUBSCRIBE_METHOD: &str = "userDataStream.subscribe.signature";

/// The signed subscription request: `params` = `apiKey`, `timestamp` and the HMAC of the sorted
/// parameters ([`ws_api_payload`]). The text holds the API key: send it, never log it.
pub fn subscribe_request(id: &str, credentials: &Credentials, timestamp_ms: i64) -> String {
    let timestamp = timestamp_ms.to_string();
    let payload = ws_api_payload(&[("apiKey", credentials.api_key()), ("timestamp", &timestamp)]);
    json!({
        "id": id,
        "method": SUBSCRIBE_METHOD,
        "params": { "apiKey": credentials.api_key(), "timestamp": timestamp_ms, "signature": credentials.sign(&payload) },
    })
    .to_string()
}

/// A response to a WS-API request.
///
/// `{"id":"s-1","status":200,"result":{"subscriptionId":0},"rateLimits":[..]}`, or on failure
/// `{"id":"s-1","status":400,"error":{"code":-1022,"msg":"Signature for this request is not valid."}}`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct WsApiResponse {
    /// The request id, echoed.
    #[serde(default)]
    pub id: Value,
    /// HTTP-like status (200 on success).
    pub status: u16,
    /// The result of a successful request.
    #[serde(default)]
    pub result: Option<Value>,
    /// The error of a failed one.
    #[serde(default)]
    pub error: Option<ApiError>,
}

impl WsApiResponse {
    /// The id of the subscription a successful subscribe request created.
    pub fn subscription_id(&self) -> Option<u64> {
        self.result.as_ref()?.get("subscriptionId")?.as_u64()
    }
}

/// What happened to an order (`x` of an executionReport).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionType {
    /// Accepted.
    New,
    /// Cancelled.
    Canceled,
    /// Amended (order.amend.keepPriority).
    Replaced,
    /// Refused.
    Rejected,
    /// Part or all of it executed: a fill.
    Trade,
    /// Ended by time in force or the venue.
    Expired,
    /// Expired by self-trade prevention.
    TradePrevention,
    /// A type this build does not know.
    #[serde(other)]
    Other,
}

/// One update of an own order.
///
/// A real one (Binance.US, `testdata/orders/ws_spot_execution_report_binance_us.json`):
/// ```json
/// {"e":"executionReport","E":1759347763167,"s":"BTCUSD","c":"T0ESHzso0banw0QiPFZYgj","S":"SELL",
///  "o":"LIMIT","f":"GTC","q":"0.00042000","p":"117290.77000000","P":"0.00000000","F":"0.00000000",
///  "g":-1,"C":"","x":"TRADE","X":"FILLED","r":"NONE","i":2281896601,"l":"0.00042000",
///  "z":"0.00042000","L":"117290.77000000","n":"0.00492621","N":"USD","T":1759347763167,
///  "t":88685053,"I":4644480641,"w":false,"m":false,"M":true,"O":1759347763167,"Z":"49.26212340",
///  "Y":"49.26212340","Q":"0.00000000","W":1759347763167,"V":"EXPIRE_MAKER"}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ExecutionReport {
    /// Event time, ms.
    #[serde(rename = "E")]
    pub event_time: u64,
    /// Symbol.
    #[serde(rename = "s")]
    pub symbol: String,
    /// Client order id (of the cancel request, on a cancel).
    #[serde(rename = "c")]
    pub client_order_id: String,
    /// Side.
    #[serde(rename = "S")]
    pub side: Side,
    /// `LIMIT`, `MARKET`, ...
    #[serde(rename = "o")]
    pub order_type: String,
    /// `GTC`, `IOC`, `FOK`.
    #[serde(rename = "f")]
    pub time_in_force: String,
    /// Ordered quantity.
    #[serde(rename = "q", deserialize_with = "amount")]
    pub quantity: Decimal,
    /// Limit price.
    #[serde(rename = "p", deserialize_with = "amount")]
    pub price: Decimal,
    /// Original client order id (set on a cancel, else empty).
    #[serde(rename = "C", default)]
    pub orig_client_order_id: Option<String>,
    /// Execution type.
    #[serde(rename = "x")]
    pub execution_type: ExecutionType,
    /// Order status after this execution.
    #[serde(rename = "X")]
    pub status: OrderStatus,
    /// Reject reason (`NONE`).
    #[serde(rename = "r", default)]
    pub reject_reason: String,
    /// Exchange order id.
    #[serde(rename = "i")]
    pub order_id: u64,
    /// Quantity of this fill.
    #[serde(rename = "l", deserialize_with = "amount")]
    pub last_qty: Decimal,
    /// Cumulative filled quantity.
    #[serde(rename = "z", deserialize_with = "amount")]
    pub cumulative_qty: Decimal,
    /// Price of this fill.
    #[serde(rename = "L", deserialize_with = "amount")]
    pub last_price: Decimal,
    /// Commission of this fill.
    #[serde(rename = "n", deserialize_with = "amount")]
    pub commission: Decimal,
    /// Commission asset (`null` without a fill).
    #[serde(rename = "N", default)]
    pub commission_asset: Option<String>,
    /// Transaction time, ms.
    #[serde(rename = "T")]
    pub transaction_time: u64,
    /// Trade id (-1 without a fill).
    #[serde(rename = "t")]
    pub trade_id: i64,
    /// True while the order is on the book.
    #[serde(rename = "w", default)]
    pub on_book: bool,
    /// True when this fill was as maker.
    #[serde(rename = "m")]
    pub maker: bool,
    /// Order creation time, ms.
    #[serde(rename = "O")]
    pub created_time: u64,
    /// Cumulative quote quantity.
    #[serde(rename = "Z", deserialize_with = "amount")]
    pub cumulative_quote_qty: Decimal,
    /// Quote quantity of this fill.
    #[serde(rename = "Y", deserialize_with = "amount")]
    pub last_quote_qty: Decimal,
    /// Expiry reason of an expired order.
    #[serde(rename = "eR", default)]
    pub expiry_reason: Option<String>,
}

impl ExecutionReport {
    /// The order's own client id: `C` on a cancel, `c` otherwise.
    pub fn order_client_id(&self) -> &str {
        match self.orig_client_order_id.as_deref() {
            Some(orig) if !orig.is_empty() => orig,
            _ => &self.client_order_id,
        }
    }

    /// The trade id when this report is a fill (`x` = `TRADE`).
    pub fn fill_trade_id(&self) -> Option<u64> {
        if self.execution_type == ExecutionType::Trade {
            u64::try_from(self.trade_id).ok()
        } else {
            None
        }
    }
}

/// One balance in an [`AccountPosition`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PositionBalance {
    /// Asset.
    #[serde(rename = "a")]
    pub asset: String,
    /// Free.
    #[serde(rename = "f", deserialize_with = "amount")]
    pub free: Decimal,
    /// Locked.
    #[serde(rename = "l", deserialize_with = "amount")]
    pub locked: Decimal,
}

/// The new balances of the assets that changed.
///
/// `{"e":"outboundAccountPosition","E":1564034571105,"u":1564034571073,"B":[{"a":"ETH","f":"10000.000000","l":"0.000000"}]}`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct AccountPosition {
    /// Event time, ms.
    #[serde(rename = "E")]
    pub event_time: u64,
    /// Time of the account update, ms.
    #[serde(rename = "u")]
    pub update_time: u64,
    /// Changed balances.
    #[serde(rename = "B")]
    pub balances: Vec<PositionBalance>,
}

/// A deposit, withdrawal or transfer: only the delta.
///
/// `{"e":"balanceUpdate","E":1573200697110,"a":"BTC","d":"100.00000000","T":1573200697068}`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct BalanceUpdate {
    /// Event time, ms.
    #[serde(rename = "E")]
    pub event_time: u64,
    /// Asset.
    #[serde(rename = "a")]
    pub asset: String,
    /// Balance delta.
    #[serde(rename = "d", deserialize_with = "signed_amount")]
    pub delta: Decimal,
    /// Clear time, ms.
    #[serde(rename = "T")]
    pub clear_time: u64,
}

/// The subscription ended (the key was revoked, the session logged out): subscribe again.
///
/// `{"e":"eventStreamTerminated","E":1728973001334}`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct StreamTerminated {
    /// Event time, ms.
    #[serde(rename = "E")]
    pub event_time: u64,
}

/// A user-data event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserEvent {
    /// `executionReport`.
    Execution(Box<ExecutionReport>),
    /// `outboundAccountPosition`.
    Position(AccountPosition),
    /// `balanceUpdate`.
    BalanceDelta(BalanceUpdate),
    /// `eventStreamTerminated`.
    Terminated(StreamTerminated),
    /// An event type this build does not handle (its `e`), e.g. `listStatus`.
    Unknown(String),
}

/// One text frame of a WS-API connection.
#[derive(Clone, Debug, PartialEq)]
pub enum UserFrame {
    /// A response to one of our requests.
    Response(WsApiResponse),
    /// An event of a subscription.
    Event {
        /// The subscription it belongs to.
        subscription_id: u64,
        /// The event.
        event: UserEvent,
    },
}

/// A frame that is not what Binance documents.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UserWireError {
    /// Not a JSON object.
    #[error("not a JSON object: {0}")]
    NotJson(String),
    /// JSON, but neither an event nor a response.
    #[error("neither an event nor a response")]
    Unrecognized,
    /// An event of a known type with missing or unreadable fields.
    #[error("unreadable {event}: {error}")]
    BadEvent {
        /// Its `e`.
        event: String,
        /// What serde said.
        error: String,
    },
}

/// Classifies and parses one text frame of a WS-API connection.
pub fn parse_user_frame(text: &str) -> Result<UserFrame, UserWireError> {
    let mut v: Value = serde_json::from_str(text).map_err(|e| UserWireError::NotJson(e.to_string()))?;
    let Some(obj) = v.as_object_mut() else { return Err(UserWireError::NotJson("not an object".into())) };
    if let Some(event) = obj.remove("event") {
        let subscription_id = obj.get("subscriptionId").and_then(Value::as_u64).ok_or(UserWireError::Unrecognized)?;
        return Ok(UserFrame::Event { subscription_id, event: parse_event(event)? });
    }
    if obj.contains_key("status") {
        return serde_json::from_value(v)
            .map(UserFrame::Response)
            .map_err(|e| UserWireError::BadEvent { event: "response".into(), error: e.to_string() });
    }
    Err(UserWireError::Unrecognized)
}

/// Parses the `event` object of a user-data frame.
pub fn parse_event(event: Value) -> Result<UserEvent, UserWireError> {
    let kind = match event.get("e").and_then(Value::as_str) {
        Some(k) => k.to_owned(),
        None => return Err(UserWireError::BadEvent { event: "?".into(), error: "no event type \"e\"".into() }),
    };
    let bad = |e: serde_json::Error| UserWireError::BadEvent { event: kind.clone(), error: e.to_string() };
    Ok(match kind.as_str() {
        "executionReport" => UserEvent::Execution(Box::new(serde_json::from_value(event).map_err(bad)?)),
        "outboundAccountPosition" => UserEvent::Position(serde_json::from_value(event).map_err(bad)?),
        "balanceUpdate" => UserEvent::BalanceDelta(serde_json::from_value(event).map_err(bad)?),
        "eventStreamTerminated" => UserEvent::Terminated(serde_json::from_value(event).map_err(bad)?),
        _ => UserEvent::Unknown(kind),
    })
}

#[cfg(test)]
mod tests;
