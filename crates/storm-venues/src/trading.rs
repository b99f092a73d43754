//! Trading through any venue: the orders an engine sends and the reports it gets back, in words
//! every venue shares, behind one trait.
//!
//! The executor holds a [`TradingVenue`] per venue and never learns which dialect is on the
//! other end: a leg is a [`NewOrder`] (a LIMIT order with a time in force and a deterministic
//! client order id), its result an [`OrderReport`] (a string order id, a
//! [`storm_core::OrderStatus`], filled quantities and the commissions by asset), its failure a
//! [`VenueError`] classified by the venue's folder. [`connect`] builds the venue's client from
//! its [`VenueKind`]; adding a venue is a new folder implementing the trait and one arm there.
//!
//! Client order ids stay inside what every venue accepts ([`portable_client_order_id`]):
//! letters, digits, `-` and `_`, at most 36 characters (Binance allows 36 of a wider set, KuCoin
//! 40 of this one), so a journal's ids are valid whichever venue a leg goes to.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use storm_core::{OrderStatus, Side, Symbol, VenueKind};

use crate::error::VenueError;
use crate::rest::RestClient;

/// A venue call in flight.
pub type VenueFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, VenueError>> + Send + 'a>>;

/// How long a LIMIT order may rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeInForce {
    /// Good till cancelled.
    Gtc,
    /// Immediate or cancel: what fills now, the rest expires.
    Ioc,
    /// Fill or kill: all now or nothing.
    Fok,
}

impl TimeInForce {
    /// The common spelling (`GTC`, `IOC`, `FOK`), as journals record it.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeInForce::Gtc => "GTC",
            TimeInForce::Ioc => "IOC",
            TimeInForce::Fok => "FOK",
        }
    }
}

/// A LIMIT order to place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrder {
    /// Symbol, in the venue's spelling.
    pub symbol: Symbol,
    /// Side.
    pub side: Side,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// Base quantity (already on the step).
    pub quantity: Decimal,
    /// Limit price (already on the tick).
    pub price: Decimal,
    /// The client's id of the order ([`portable_client_order_id`]): the key to find it again.
    pub client_order_id: String,
}

/// What the venue says of one order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderReport {
    /// The venue's order id (numbers on Binance, hex strings on KuCoin).
    pub order_id: String,
    /// Status.
    pub status: OrderStatus,
    /// Filled base quantity.
    pub executed_qty: Decimal,
    /// Filled quote quantity.
    pub quote_qty: Decimal,
    /// Commissions by asset, as the venue charged them.
    pub commissions: Vec<(String, Decimal)>,
}

/// The best bid and ask of a symbol (0 where a side is empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    /// Best bid price.
    pub bid: Decimal,
    /// Best ask price.
    pub ask: Decimal,
}

/// One account's orders on one venue.
pub trait TradingVenue: Send + Sync + fmt::Debug {
    /// Places `order`. `Err` with [`VenueError::outcome_unknown`] means the order may exist:
    /// find it with [`TradingVenue::query`], never send it again blind. With `deadline`, an
    /// order still waiting for the request budget past it is not sent at all
    /// ([`VenueError::RateLimited`]).
    fn place<'a>(&'a self, order: &'a NewOrder, deadline: Option<Instant>) -> VenueFuture<'a, OrderReport>;

    /// Validates `order` without trading (the executor's `dry-run`).
    fn test<'a>(&'a self, order: &'a NewOrder) -> VenueFuture<'a, ()>;

    /// The order with `client_order_id`, with its commissions; `Ok(None)` when the venue has no
    /// such order.
    fn query<'a>(&'a self, symbol: &'a Symbol, client_order_id: &'a str) -> VenueFuture<'a, Option<OrderReport>>;

    /// Cancels the open order with `client_order_id`; `Ok(None)` when the venue has no such open
    /// order (unknown, or already final).
    fn cancel<'a>(&'a self, symbol: &'a Symbol, client_order_id: &'a str) -> VenueFuture<'a, Option<OrderReport>>;

    /// The venue's best bid and ask of `symbol`, read now.
    fn book_ticker<'a>(&'a self, symbol: &'a Symbol) -> VenueFuture<'a, Quote>;

    /// Measures the venue clock's offset from ours (ms) and keeps it for signing.
    fn sync_time(&self) -> VenueFuture<'_, i64>;

    /// The venue's time now by our clock and the last measured offset, ms.
    fn venue_now_ms(&self) -> i64;

    /// How long after a request was signed the venue may still accept it (its receive window,
    /// plus margin): an order unknown to the venue this long after its intent can no longer
    /// appear.
    fn settle_window(&self) -> Duration;

    /// The `<acct>` of the account's Redis keys (a hash of the API key, never the key).
    fn account_id(&self) -> String;
}

/// An account's API keys, read from the environment by the caller. `Debug` shows none of them.
#[derive(Clone)]
pub struct ApiKeys {
    /// API key.
    pub key: String,
    /// API secret.
    pub secret: String,
    /// Passphrase, for venues that have one.
    pub passphrase: Option<String>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeys(..)")
    }
}

/// The trading client of a venue of `kind` at `rest_url`, sending through `rest` (its request
/// budget), each request timing out after `timeout` (an order without a reply in time has an
/// unknown outcome).
pub fn connect(
    kind: VenueKind,
    rest: RestClient,
    rest_url: &str,
    keys: ApiKeys,
    timeout: Duration,
) -> Result<Arc<dyn TradingVenue>, VenueError> {
    match kind {
        VenueKind::Binance => {
            let creds = crate::binance::trade::Credentials::new(keys.key, keys.secret);
            Ok(Arc::new(crate::binance::trade::TradeClient::new(rest, rest_url, creds, timeout)))
        }
    }
}

/// True when `id` is a client order id every venue accepts: 1–36 letters, digits, `-` or `_`.
pub fn portable_client_order_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 36 && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portable_client_order_ids_fit_every_venue() {
        assert!(portable_client_order_id("st0123456789abcdef-u1"));
        assert!(!portable_client_order_id(""));
        assert!(!portable_client_order_id(&"x".repeat(37)));
        assert!(!portable_client_order_id("a.b"), "Binance takes '.', KuCoin does not");
        assert!(!portable_client_order_id("has space"));
    }

    #[test]
    fn api_keys_never_print() {
        let k = ApiKeys { key: "k-123".into(), secret: "s-456".into(), passphrase: Some("p-789".into()) };
        let shown = format!("{k:?}");
        assert!(!shown.contains("123") && !shown.contains("456") && !shown.contains("789"), "{shown}");
    }
}
