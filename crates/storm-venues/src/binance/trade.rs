//! The signed REST endpoints an account needs: place, test and query orders, read the account,
//! its open orders and its trades. Used by the executor (orders) and the streamer (reconcile).
//!
//! Every request carries `timestamp` on the venue's clock: [`TradeClient::sync_time`] measures the
//! offset from `GET /api/v3/time`, and a `-1021` ("timestamp outside recvWindow") resynchronises
//! and sends once more — safe, because a `-1021` request was refused before it was processed.
//! Nothing else is retried here: whether an order may be sent again is the caller's decision
//! (a timeout or 5xx is [`VenueError::Unknown`]: query by client order id, never resend blind).
//!
//! The API key and secret live in [`Credentials`], whose `Debug` prints neither; a signed URL is
//! never logged (errors from [`crate::rest::RestClient::send`] carry no URL).

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use storm_core::Symbol;

use super::error::{VenueError, CODE_TIMESTAMP_OUTSIDE_WINDOW};
use super::rest_wire::{parse_book_tickers, BookTickerEntry};
use super::sign::{account_id, sign};
use super::trade_wire::{AccountReply, MyTrade, OrderReply, ServerTime};
use crate::rest::RestClient;
use crate::trading::NewOrder;

/// Weight of `POST /api/v3/order` and `/order/test` (without commission rates).
pub const ORDER_WEIGHT: u32 = 1;
/// Weight of `GET /api/v3/order`.
pub const QUERY_ORDER_WEIGHT: u32 = 4;
/// Weight of `GET /api/v3/account`.
pub const ACCOUNT_WEIGHT: u32 = 20;
/// Weight of `GET /api/v3/myTrades`.
pub const MY_TRADES_WEIGHT: u32 = 20;
/// Weight of `GET /api/v3/openOrders` for one symbol, and for all.
pub const OPEN_ORDERS_WEIGHT: (u32, u32) = (6, 80);
/// Weight of `DELETE /api/v3/order`.
pub const CANCEL_WEIGHT: u32 = 1;
/// Binance error code of a cancel: no such open order ("Unknown order sent.").
pub const CODE_UNKNOWN_ORDER_SENT: i64 = -2011;
/// Binance error code: the order does not exist.
pub const CODE_NO_SUCH_ORDER: i64 = -2013;

/// An API key and its secret. `Debug` shows only the account id.
#[derive(Clone)]
pub struct Credentials {
    api_key: String,
    secret: String,
}

impl Credentials {
    /// Wraps a key pair (read from the environment by the caller).
    pub fn new(api_key: impl Into<String>, secret: impl Into<String>) -> Self {
        Self { api_key: api_key.into(), secret: secret.into() }
    }

    /// The API key, for the `X-MBX-APIKEY` header or the WS-API `apiKey` param. Never log it.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// Signs `payload` (REST query string or WS-API sorted params).
    pub fn sign(&self, payload: &str) -> String {
        sign(&self.secret, payload)
    }

    /// `<acct>` of the Redis keys: first 8 hex chars of SHA-256 of the key.
    pub fn account_id(&self) -> String {
        account_id(&self.api_key)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials(acct {})", self.account_id())
    }
}

/// The query parameters of `order` as a LIMIT order with a FULL reply.
fn order_params(order: &NewOrder) -> Vec<(&'static str, String)> {
    vec![
        ("symbol", order.symbol.as_str().to_owned()),
        ("side", order.side.as_str().to_owned()),
        ("type", "LIMIT".to_owned()),
        ("timeInForce", order.time_in_force.as_str().to_owned()),
        ("quantity", order.quantity.normalize().to_string()),
        ("price", order.price.normalize().to_string()),
        ("newClientOrderId", order.client_order_id.clone()),
        ("newOrderRespType", "FULL".to_owned()),
    ]
}

/// True when `id` is a valid Binance client order id.
pub fn valid_client_order_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 36
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'/' | b'_' | b'-'))
}

/// Signed REST calls for one account on one venue.
#[derive(Clone)]
pub struct TradeClient {
    rest: RestClient,
    base_url: String,
    credentials: Credentials,
    /// Venue clock minus local clock, ms.
    offset_ms: Arc<AtomicI64>,
    recv_window_ms: u64,
    timeout: Duration,
}

impl fmt::Debug for TradeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TradeClient")
            .field("base_url", &self.base_url)
            .field("credentials", &self.credentials)
            .field("offset_ms", &self.offset_ms.load(Ordering::Relaxed))
            .finish()
    }
}

impl TradeClient {
    /// A client for `base_url` (`https://api.binance.com`) whose requests time out after
    /// `timeout` (an order that got no reply in time has an unknown outcome).
    pub fn new(rest: RestClient, base_url: &str, credentials: Credentials, timeout: Duration) -> Self {
        Self {
            rest,
            base_url: base_url.trim_end_matches('/').to_owned(),
            credentials,
            offset_ms: Arc::new(AtomicI64::new(0)),
            recv_window_ms: 5_000,
            timeout,
        }
    }

    /// The credentials (for the account id and WS-API signing).
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The venue clock's offset from ours, ms, as last measured.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// The venue's current time by our clock and the last measured offset, ms.
    pub fn venue_now_ms(&self) -> i64 {
        storm_core::time::now_millis() as i64 + self.offset_ms()
    }

    /// Sets the offset by hand (an operator's known skew, or a test of the `-1021` path).
    pub fn set_offset_ms(&self, offset: i64) {
        self.offset_ms.store(offset, Ordering::Relaxed);
    }

    /// Best bid and ask of `symbol` (`GET /api/v3/ticker/bookTicker`, unsigned).
    pub async fn book_ticker(&self, symbol: &Symbol) -> Result<BookTickerEntry, VenueError> {
        let url = format!("{}/api/v3/ticker/bookTicker?symbol={}", self.base_url, symbol.as_str());
        let body = self.rest.send(Method::GET, &url, 2, &[], self.timeout).await?;
        parse_book_tickers(&body)
            .map_err(|e| VenueError::Parse(format!("bookTicker: {e}")))?
            .into_iter()
            .next()
            .ok_or_else(|| VenueError::Parse("bookTicker: empty reply".into()))
    }

    /// Measures the venue clock's offset (half the round trip assumed each way).
    pub async fn sync_time(&self) -> Result<i64, VenueError> {
        let before = storm_core::time::now_millis() as i64;
        let url = format!("{}{}", self.base_url, super::rest_wire::TIME_PATH);
        let body = self.rest.send(Method::GET, &url, 1, &[], self.timeout).await?;
        let after = storm_core::time::now_millis() as i64;
        let t: ServerTime = serde_json::from_str(&body).map_err(|e| VenueError::Parse(format!("time: {e}")))?;
        let offset = t.server_time - (before + after) / 2;
        self.offset_ms.store(offset, Ordering::Relaxed);
        Ok(offset)
    }

    /// Places a LIMIT order; FULL reply with its fills.
    pub async fn place(&self, order: &NewOrder) -> Result<OrderReply, VenueError> {
        self.place_by(order, None).await
    }

    /// [`TradeClient::place`] that is not sent at all (`RateLimited`) if the weight budget is not
    /// available by `deadline`.
    pub async fn place_by(
        &self,
        order: &NewOrder,
        deadline: Option<std::time::Instant>,
    ) -> Result<OrderReply, VenueError> {
        let body = self.signed_by(Method::POST, "/api/v3/order", order_params(order), ORDER_WEIGHT, deadline).await?;
        parse(&body, "new order")
    }

    /// Validates an order without sending it to the matching engine (`dry-run`).
    pub async fn test(&self, order: &NewOrder) -> Result<(), VenueError> {
        self.signed(Method::POST, "/api/v3/order/test", order_params(order), ORDER_WEIGHT).await.map(|_| ())
    }

    /// The latest order with `client_order_id`; `Ok(None)` when the venue has none (-2013).
    pub async fn query(&self, symbol: &Symbol, client_order_id: &str) -> Result<Option<OrderReply>, VenueError> {
        let params = vec![("symbol", symbol.as_str().to_owned()), ("origClientOrderId", client_order_id.to_owned())];
        self.one_order(Method::GET, params, QUERY_ORDER_WEIGHT, CODE_NO_SUCH_ORDER).await
    }

    /// The order `order_id` on `symbol` (a trade from `/myTrades` names only its order id);
    /// `Ok(None)` when the venue has none (-2013).
    pub async fn query_by_id(&self, symbol: &Symbol, order_id: u64) -> Result<Option<OrderReply>, VenueError> {
        let params = vec![("symbol", symbol.as_str().to_owned()), ("orderId", order_id.to_string())];
        self.one_order(Method::GET, params, QUERY_ORDER_WEIGHT, CODE_NO_SUCH_ORDER).await
    }

    /// Balances.
    pub async fn account(&self) -> Result<AccountReply, VenueError> {
        let body = self.signed(Method::GET, "/api/v3/account", Vec::new(), ACCOUNT_WEIGHT).await?;
        parse(&body, "account")
    }

    /// Open orders of one symbol, or of all.
    pub async fn open_orders(&self, symbol: Option<&Symbol>) -> Result<Vec<OrderReply>, VenueError> {
        let (params, weight) = match symbol {
            Some(s) => (vec![("symbol", s.as_str().to_owned())], OPEN_ORDERS_WEIGHT.0),
            None => (Vec::new(), OPEN_ORDERS_WEIGHT.1),
        };
        let body = self.signed(Method::GET, "/api/v3/openOrders", params, weight).await?;
        parse(&body, "open orders")
    }

    /// The account's trades on `symbol`, from trade id `from_id` when given (at most `limit`).
    pub async fn my_trades(
        &self,
        symbol: &Symbol,
        from_id: Option<u64>,
        limit: u32,
    ) -> Result<Vec<MyTrade>, VenueError> {
        let mut params = vec![("symbol", symbol.as_str().to_owned()), ("limit", limit.to_string())];
        if let Some(id) = from_id {
            params.push(("fromId", id.to_string()));
        }
        let body = self.signed(Method::GET, "/api/v3/myTrades", params, MY_TRADES_WEIGHT).await?;
        parse(&body, "my trades")
    }

    /// The account's trades of one order (`myTrades?orderId=`), for its commissions after a
    /// query (a query reply has no fills).
    pub async fn order_trades(&self, symbol: &Symbol, order_id: u64) -> Result<Vec<MyTrade>, VenueError> {
        let params = vec![("symbol", symbol.as_str().to_owned()), ("orderId", order_id.to_string())];
        let body = self.signed(Method::GET, "/api/v3/myTrades", params, MY_TRADES_WEIGHT).await?;
        let trades: Vec<MyTrade> = parse(&body, "order trades")?;
        Ok(trades.into_iter().filter(|t| t.order_id == order_id).collect())
    }

    /// Cancels the open order with `client_order_id`; `Ok(None)` when the venue has no such open
    /// order (-2011).
    pub async fn cancel(&self, symbol: &Symbol, client_order_id: &str) -> Result<Option<OrderReply>, VenueError> {
        let params = vec![("symbol", symbol.as_str().to_owned()), ("origClientOrderId", client_order_id.to_owned())];
        self.one_order(Method::DELETE, params, CANCEL_WEIGHT, CODE_UNKNOWN_ORDER_SENT).await
    }

    /// `method /api/v3/order` for one order; `Ok(None)` when the venue answers `none_code` (it
    /// has no such order).
    async fn one_order(
        &self,
        method: Method,
        params: Vec<(&'static str, String)>,
        weight: u32,
        none_code: i64,
    ) -> Result<Option<OrderReply>, VenueError> {
        match self.signed(method, "/api/v3/order", params, weight).await {
            Ok(body) => parse(&body, "order").map(Some),
            Err(VenueError::Rejected { code, .. }) if code == none_code => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The receive window every signed request carries, ms.
    pub fn recv_window_ms(&self) -> u64 {
        self.recv_window_ms
    }

    /// Sends a signed request; on -1021 resynchronises the clock and sends once more.
    async fn signed(
        &self,
        method: Method,
        path: &str,
        params: Vec<(&'static str, String)>,
        weight: u32,
    ) -> Result<String, VenueError> {
        self.signed_by(method, path, params, weight, None).await
    }

    async fn signed_by(
        &self,
        method: Method,
        path: &str,
        params: Vec<(&'static str, String)>,
        weight: u32,
        deadline: Option<std::time::Instant>,
    ) -> Result<String, VenueError> {
        match self.signed_once(method.clone(), path, &params, weight, deadline).await {
            Err(VenueError::Rejected { code: CODE_TIMESTAMP_OUTSIDE_WINDOW, .. }) => {
                self.sync_time().await?;
                self.signed_once(method, path, &params, weight, deadline).await
            }
            other => other,
        }
    }

    async fn signed_once(
        &self,
        method: Method,
        path: &str,
        params: &[(&'static str, String)],
        weight: u32,
        deadline: Option<std::time::Instant>,
    ) -> Result<String, VenueError> {
        let mut query = String::with_capacity(256);
        for (k, v) in params {
            query.push_str(k);
            query.push('=');
            push_encoded(&mut query, v);
            query.push('&');
        }
        query.push_str(&format!("recvWindow={}&timestamp={}", self.recv_window_ms, self.venue_now_ms()));
        let signature = self.credentials.sign(&query);
        let url = format!("{}{path}?{query}&signature={signature}", self.base_url);
        let headers = [(super::rest_wire::API_KEY_HEADER, self.credentials.api_key())];
        self.rest.send_by(method, &url, weight, &headers, self.timeout, deadline).await
    }
}

/// Percent-encodes what a query value may not carry verbatim (client ids may hold `:` and `/`,
/// which are legal; anything else outside the unreserved set is encoded).
fn push_encoded(out: &mut String, v: &str) {
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &str, what: &str) -> Result<T, VenueError> {
    serde_json::from_str(body).map_err(|e| VenueError::Parse(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_order_ids_follow_binance_charset_and_length() {
        assert!(valid_client_order_id("st-0123456789abcdef-1"));
        assert!(valid_client_order_id("a.b:c/d_e-f"));
        assert!(!valid_client_order_id(""));
        assert!(!valid_client_order_id(&"x".repeat(37)));
        assert!(!valid_client_order_id("has space"));
    }

    #[test]
    fn debug_of_credentials_shows_neither_key_nor_secret() {
        let c = Credentials::new("my-api-key-123", "my-secret-456");
        let shown = format!("{c:?}");
        assert!(!shown.contains("my-api-key-123") && !shown.contains("my-secret-456"), "{shown}");
        assert!(shown.contains(&account_id("my-api-key-123")));
    }

    use rust_decimal::Decimal;
    use storm_core::Side;

    use crate::trading::TimeInForce;

    #[test]
    fn order_params_are_normalized_decimals() {
        let o = NewOrder {
            symbol: Symbol::new("ETHBTC"),
            side: Side::Buy,
            time_in_force: TimeInForce::Ioc,
            quantity: Decimal::new(1_500_000, 8),
            price: Decimal::new(5_000_000, 8),
            client_order_id: "st-x-1".into(),
        };
        let p = order_params(&o);
        assert!(p.contains(&("quantity", "0.015".to_owned())));
        assert!(p.contains(&("price", "0.05".to_owned())));
        assert!(p.contains(&("timeInForce", "IOC".to_owned())));
    }

    #[test]
    fn values_outside_the_unreserved_set_are_percent_encoded() {
        let mut s = String::new();
        push_encoded(&mut s, "a b&c=d:e/f");
        assert_eq!(s, "a%20b%26c%3Dd:e/f");
    }
}
