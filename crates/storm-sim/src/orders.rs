//! Orders, fills and accounts of the simulated exchange, named as Binance names them.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use storm_core::{Asset, Side, Symbol};

/// Binance order types the sim matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderType {
    /// Limit order (needs price, quantity, timeInForce).
    Limit,
    /// Market order (quantity or quoteOrderQty).
    Market,
    /// Post-only limit: rejected if it would take.
    LimitMaker,
}

/// Time in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TimeInForce {
    /// Good till cancelled: the rest rests on the book.
    Gtc,
    /// Immediate or cancel: the rest expires.
    Ioc,
    /// Fill or kill: all or nothing.
    Fok,
}

/// Order status: storm-core's, the spelling the clients read (the sim never produces
/// `PENDING_CANCEL`, `REJECTED` or `EXPIRED_IN_MATCH`).
pub use storm_core::OrderStatus;

/// A new-order request, already parsed from REST or WS-API parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderRequest {
    /// Symbol.
    pub symbol: Symbol,
    /// Side.
    pub side: Side,
    /// Type.
    pub kind: OrderType,
    /// Time in force (LIMIT).
    pub time_in_force: Option<TimeInForce>,
    /// Base quantity.
    pub quantity: Option<Decimal>,
    /// Quote quantity (MARKET only).
    pub quote_order_qty: Option<Decimal>,
    /// Limit price.
    pub price: Option<Decimal>,
    /// Client order id (generated when absent).
    pub client_order_id: Option<String>,
}

/// One fill of an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// Trade id.
    pub trade_id: u64,
    /// Order it belongs to.
    pub order_id: u64,
    /// Symbol.
    pub symbol: Symbol,
    /// Side of the order.
    pub side: Side,
    /// Price.
    pub price: Decimal,
    /// Base quantity.
    pub qty: Decimal,
    /// Quote quantity.
    pub quote_qty: Decimal,
    /// Fee charged.
    pub commission: Decimal,
    /// Asset of the fee (the received asset).
    pub commission_asset: Asset,
    /// True when the order was the maker.
    pub is_maker: bool,
    /// Trade time, ms.
    pub time_ms: u64,
}

/// An order and its state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Exchange order id.
    pub order_id: u64,
    /// Client order id.
    pub client_order_id: String,
    /// Symbol.
    pub symbol: Symbol,
    /// Side.
    pub side: Side,
    /// Type.
    pub kind: OrderType,
    /// Time in force (GTC for MARKET/LIMIT_MAKER, as Binance reports).
    pub time_in_force: TimeInForce,
    /// Limit price (0 for MARKET).
    pub price: Decimal,
    /// Ordered base quantity.
    pub orig_qty: Decimal,
    /// Ordered quote quantity (MARKET by quote).
    pub orig_quote_qty: Decimal,
    /// Filled base quantity.
    pub executed_qty: Decimal,
    /// Filled quote quantity.
    pub cummulative_quote_qty: Decimal,
    /// Status.
    pub status: OrderStatus,
    /// Creation time, ms.
    pub time_ms: u64,
    /// Last update time, ms.
    pub update_time_ms: u64,
    /// Fills of this order, in order.
    pub fills: Vec<Fill>,
}

impl Order {
    /// Base quantity still open.
    pub fn remaining(&self) -> Decimal {
        (self.orig_qty - self.executed_qty).max(Decimal::ZERO)
    }
}

/// Longest placement log kept (a chaos run places a few thousand orders at most).
pub const MAX_PLACEMENTS: usize = 1_000_000;

/// One order placement attempt as the exchange received it, accepted or not: the sim's order
/// log (`GET /_sim/orders`), where a client order id sent twice or a leg placed twice shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Account id (first 8 hex chars of SHA-256 of the API key), never the key.
    pub account: String,
    /// Client order id as sent (or assigned, when the order was accepted without one).
    pub client_order_id: Option<String>,
    /// Symbol.
    pub symbol: Symbol,
    /// Side.
    pub side: Side,
    /// Type.
    pub kind: OrderType,
    /// Limit price as sent.
    pub price: Option<Decimal>,
    /// Base quantity as sent.
    pub quantity: Option<Decimal>,
    /// When it arrived, ms.
    pub time_ms: u64,
    /// The exchange order id, when accepted.
    pub order_id: Option<u64>,
    /// Binance code and message, when rejected.
    pub error: Option<(i64, String)>,
}

/// Free and locked amounts of one asset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// Available.
    pub free: Decimal,
    /// Held by open orders.
    pub locked: Decimal,
}

/// One API key's account.
#[derive(Clone, Debug, Default)]
pub struct Account {
    /// HMAC secret of the key.
    pub secret: String,
    /// Balances by asset.
    pub balances: BTreeMap<Asset, Balance>,
    /// Every order of the account by id.
    pub orders: BTreeMap<u64, Order>,
    /// Every fill, in order.
    pub trades: Vec<Fill>,
}

impl Account {
    /// Free amount of an asset.
    pub fn free(&self, asset: &Asset) -> Decimal {
        self.balances.get(asset).map_or(Decimal::ZERO, |b| b.free)
    }

    /// Adds (or with a negative amount, removes) free balance.
    pub fn credit(&mut self, asset: &Asset, amount: Decimal) {
        self.balances.entry(asset.clone()).or_default().free += amount;
    }

    /// Moves an amount from free to locked (negative: back).
    pub fn lock(&mut self, asset: &Asset, amount: Decimal) {
        let b = self.balances.entry(asset.clone()).or_default();
        b.free -= amount;
        b.locked += amount;
    }

    /// Removes from locked (a resting order's fill spends its locked funds).
    pub fn spend_locked(&mut self, asset: &Asset, amount: Decimal) {
        self.balances.entry(asset.clone()).or_default().locked -= amount;
    }

    /// The open order with this client id, if any (Binance rejects duplicates among open orders
    /// only).
    pub fn open_by_client_id(&self, client_id: &str) -> Option<&Order> {
        self.orders.values().find(|o| o.status.is_open() && o.client_order_id == client_id)
    }

    /// The most recent order with this client id, open or not.
    pub fn latest_by_client_id(&self, client_id: &str) -> Option<&Order> {
        self.orders.values().rev().find(|o| o.client_order_id == client_id)
    }
}

/// A Binance error: `{"code":-2010,"msg":"..."}`, with the HTTP status REST answers with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimError {
    /// Binance error code.
    pub code: i64,
    /// Message.
    pub msg: String,
    /// HTTP status for REST.
    pub http: u16,
}

impl SimError {
    /// A 400 with code and message.
    pub fn new(code: i64, msg: impl Into<String>) -> Self {
        Self { code, msg: msg.into(), http: 400 }
    }
    /// -2010 insufficient balance.
    pub fn insufficient_balance() -> Self {
        Self::new(-2010, "Account has insufficient balance for requested action.")
    }
    /// -2015 unknown key.
    pub fn bad_api_key() -> Self {
        Self { code: -2015, msg: "Invalid API-key, IP, or permissions for action.".into(), http: 401 }
    }
    /// -2013 unknown order.
    pub fn no_such_order() -> Self {
        Self::new(-2013, "Order does not exist.")
    }
    /// -1121 unknown symbol.
    pub fn bad_symbol() -> Self {
        Self::new(-1121, "Invalid symbol.")
    }
}
