//! An account's own orders, balances and fills as they sit in Redis: the one place that defines
//! their shapes, so the streamer (the only writer), the executor and stormctl (readers) agree.
//!
//! * `storm:order:<venue>:<acct>:<SYM>` — HASH, field = exchange order id (decimal text), value =
//!   JSON [`OrderState`]: the latest known state of that order. A state never goes back:
//!   [`OrderState::supersedes`] is the rule that decides which of two reports is newer.
//! * `storm:balance:<venue>:<acct>` — HASH, field = asset (`BTC`), value = JSON [`Balance`]
//!   `{"free":"0.5","locked":"0","time":1700000000000}` (decimal strings, `time` in ms).
//! * `storm:fills:<venue>:<acct>` — STREAM, one entry per execution of an own order ([`Fill`]):
//!   plain fields for `redis-cli XREVRANGE` (`sym`, `order_id`, `trade_id`, `side`, `price`, `qty`,
//!   `quote_qty`, `fee`, `fee_asset`, `maker`, `time`) plus `v` and `m` (msgpack of the [`Fill`]).
//!
//! Amounts are exact decimals ([`Price`], [`Qty`]) written as strings; times are venue
//! milliseconds. JSON readers ignore fields they do not know, so fields can be added later.

use serde::{Deserialize, Serialize};
use storm_core::{Asset, Price, Qty, Side, Symbol};

use crate::codec::{Entry, StreamEntry};
use crate::error::CodecError;
use crate::keys::Keys;

/// Status of an order: defined in storm-core, shared with the venue adapters.
pub use storm_core::OrderStatus;

/// Who last wrote an order state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A user-data stream event (`executionReport`).
    Ws,
    /// A REST reconciliation (`openOrders`, `order`, `myTrades`).
    Rest,
}

/// The latest state of one order: the value of `storm:order:<venue>:<acct>:<SYM>` field
/// `<order_id>`.
///
/// ```json
/// {"symbol":"BTCUSDT","order_id":42,"client_order_id":"st-1","side":"SELL","order_type":"LIMIT",
///  "time_in_force":"GTC","price":"60000.00","orig_qty":"0.010","status":"PARTIALLY_FILLED",
///  "executed_qty":"0.004","cumulative_quote_qty":"240.00000","avg_price":"60000",
///  "created_ms":1700000000000,"update_ms":1700000000500,"last_trade_id":9001,"source":"ws"}
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderState {
    /// Venue symbol.
    pub symbol: Symbol,
    /// Exchange order id.
    pub order_id: u64,
    /// Client order id (the original one, also after a cancel).
    pub client_order_id: String,
    /// Side.
    pub side: Side,
    /// `LIMIT`, `MARKET`, `LIMIT_MAKER`, ...
    pub order_type: String,
    /// `GTC`, `IOC`, `FOK`.
    pub time_in_force: String,
    /// Limit price (0 for market orders).
    pub price: Price,
    /// Ordered base quantity.
    pub orig_qty: Qty,
    /// Status.
    pub status: OrderStatus,
    /// Cumulative filled base quantity (Binance `z` / `executedQty`).
    pub executed_qty: Qty,
    /// Cumulative filled quote quantity (Binance `Z` / `cummulativeQuoteQty`).
    pub cumulative_quote_qty: Qty,
    /// `cumulative_quote_qty / executed_qty`; `null` while nothing is filled.
    #[serde(default)]
    pub avg_price: Option<Price>,
    /// Creation time, ms (0 when the source did not say).
    #[serde(default)]
    pub created_ms: u64,
    /// Time of the last change, ms.
    pub update_ms: u64,
    /// Highest trade id of this order already on `storm:fills` (the streamer's de-duplication
    /// mark; trade ids of one order only grow).
    #[serde(default)]
    pub last_trade_id: Option<u64>,
    /// Who wrote this state.
    pub source: Source,
}

/// `quote / qty`, or `None` when nothing is filled (or the division does not fit a decimal).
pub fn avg_price(executed_qty: Qty, cumulative_quote_qty: Qty) -> Option<Price> {
    if executed_qty.is_zero() {
        return None;
    }
    cumulative_quote_qty.0.checked_div(executed_qty.0).map(|p| Price(p.normalize()))
}

impl OrderState {
    /// True when `self`, a report about the same order, is newer than `current` and should
    /// replace it: a final status is never replaced by an open one and wins over any open one;
    /// otherwise more filled quantity wins, then a later update time. Equal states do not
    /// supersede each other, so replaying a report changes nothing.
    pub fn supersedes(&self, current: &OrderState) -> bool {
        match (current.status.is_final(), self.status.is_final()) {
            (true, false) => false,
            (false, true) => true,
            _ => (self.executed_qty, self.update_ms) > (current.executed_qty, current.update_ms),
        }
    }

    /// The hash field of this order (`order_id` as text).
    pub fn field(&self) -> String {
        self.order_id.to_string()
    }
}

/// JSON of an order state, the hash value.
pub fn encode_order(order: &OrderState) -> Result<String, serde_json::Error> {
    serde_json::to_string(order)
}

/// Reads an order hash value back; a negative price, quantity or average price is an error.
pub fn decode_order(json: &str) -> Result<OrderState, serde_json::Error> {
    let o: OrderState = serde_json::from_str(json)?;
    let prices = [o.price, o.avg_price.unwrap_or(Price::ZERO)];
    let amounts = [o.orig_qty, o.executed_qty, o.cumulative_quote_qty];
    if prices.iter().any(|p| *p < Price::ZERO) || amounts.iter().any(|q| *q < Qty::ZERO) {
        return Err(serde::de::Error::custom("negative price or quantity in an order state"));
    }
    Ok(o)
}

/// One asset's balance: the value of `storm:balance:<venue>:<acct>` field `<ASSET>`.
///
/// ```json
/// {"free":"0.50000000","locked":"0.01000000","time":1700000000000}
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// Available.
    pub free: Qty,
    /// Held by open orders.
    pub locked: Qty,
    /// Venue time of the account update this comes from, ms.
    pub time: u64,
}

/// JSON of a balance, the hash value.
pub fn encode_balance(balance: &Balance) -> Result<String, serde_json::Error> {
    serde_json::to_string(balance)
}

/// Reads a balance hash value back; a negative free or locked amount is an error.
pub fn decode_balance(json: &str) -> Result<Balance, serde_json::Error> {
    let b: Balance = serde_json::from_str(json)?;
    if b.free < Qty::ZERO || b.locked < Qty::ZERO {
        return Err(serde::de::Error::custom("negative balance"));
    }
    Ok(b)
}

/// One execution of an own order, an entry of `storm:fills:<venue>:<acct>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// Venue symbol.
    pub symbol: Symbol,
    /// Exchange order id.
    pub order_id: u64,
    /// Client order id of the order ("" when the source did not say).
    pub client_order_id: String,
    /// Venue trade id.
    pub trade_id: u64,
    /// Side of the order.
    pub side: Side,
    /// Execution price.
    pub price: Price,
    /// Base quantity.
    pub qty: Qty,
    /// Quote quantity.
    pub quote_qty: Qty,
    /// Commission charged.
    pub commission: Qty,
    /// Asset of the commission.
    pub commission_asset: Asset,
    /// True when the order was resting (maker).
    pub maker: bool,
    /// Trade time, ms.
    pub time_ms: u64,
    /// Where the streamer learned of it.
    pub source: Source,
}

/// The stream entry for `fill` on `storm:fills:<venue>:<acct>`, trimmed to about `maxlen`.
pub fn fill_entry(keys: &Keys, venue: &str, acct: &str, maxlen: usize, fill: &Fill) -> Result<Entry, CodecError> {
    Ok(Entry::record(keys.fills(venue, acct), maxlen, Some(fill.symbol.as_str()), fill)?
        .field("order_id", fill.order_id.to_string())
        .field("trade_id", fill.trade_id.to_string())
        .field("side", fill.side.as_str())
        .field("price", fill.price.to_string())
        .field("qty", fill.qty.to_string())
        .field("quote_qty", fill.quote_qty.to_string())
        .field("fee", fill.commission.to_string())
        .field("fee_asset", fill.commission_asset.as_str())
        .field("maker", if fill.maker { "1" } else { "0" })
        .field("time", fill.time_ms.to_string()))
}

/// Reads a fill entry back (schema version checked; price, quantities and commission
/// non-negative).
pub fn decode_fill(entry: &StreamEntry) -> Result<Fill, CodecError> {
    let f: Fill = entry.decode()?;
    if f.price < Price::ZERO || [f.qty, f.quote_qty, f.commission].iter().any(|q| *q < Qty::ZERO) {
        return Err(CodecError::BadField { field: "m", value: format!("negative amount in fill {}", f.trade_id) });
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::tests::as_read;

    fn order(status: OrderStatus, executed: &str, update_ms: u64) -> OrderState {
        let executed: Qty = executed.parse().expect("qty");
        let quote = Qty(executed.0 * Price(60_000.into()).0);
        OrderState {
            symbol: Symbol::new("BTCUSDT"),
            order_id: 42,
            client_order_id: "st-1".into(),
            side: Side::Sell,
            order_type: "LIMIT".into(),
            time_in_force: "GTC".into(),
            price: "60000.00".parse().expect("price"),
            orig_qty: "0.010".parse().expect("qty"),
            status,
            executed_qty: executed,
            cumulative_quote_qty: quote,
            avg_price: avg_price(executed, quote),
            created_ms: 1,
            update_ms,
            last_trade_id: None,
            source: Source::Ws,
        }
    }

    #[test]
    fn newer_states_supersede_and_final_status_wins() {
        use OrderStatus::*;
        let new = order(New, "0", 10);
        let partial = order(PartiallyFilled, "0.004", 11);
        let filled = order(Filled, "0.010", 12);
        assert!(partial.supersedes(&new));
        assert!(!new.supersedes(&partial), "an older report never goes back");
        assert!(filled.supersedes(&partial));
        assert!(!partial.supersedes(&filled), "a final status is never undone");
        assert!(!filled.supersedes(&filled.clone()), "a replay changes nothing");
        let canceled_late = order(Canceled, "0.004", 9);
        assert!(canceled_late.supersedes(&partial), "a final status wins even with an older time");
        let later_same_fill = order(PendingCancel, "0.004", 13);
        assert!(later_same_fill.supersedes(&partial));
    }

    #[test]
    fn order_state_round_trips_as_json_with_decimal_strings() {
        let o = order(OrderStatus::PartiallyFilled, "0.004", 11);
        let json = encode_order(&o).expect("encode");
        assert!(json.contains(r#""status":"PARTIALLY_FILLED""#), "{json}");
        assert!(json.contains(r#""executed_qty":"0.004""#) && json.contains(r#""avg_price":"60000""#), "{json}");
        assert_eq!(decode_order(&json).expect("decode"), o);
        assert_eq!(o.field(), "42");
        assert!(decode_order("{\"order_id\":1}").is_err());
    }

    #[test]
    fn average_price_is_quote_over_base_and_absent_when_unfilled() {
        let q = |s: &str| s.parse::<Qty>().expect("qty");
        assert_eq!(avg_price(q("0.00042000"), q("49.26212340")), Some("117290.77".parse().expect("price")));
        assert_eq!(avg_price(q("0"), q("0")), None);
        assert_eq!(avg_price(q("3"), q("1")).map(|p| p.0.round_dp(4).to_string()), Some("0.3333".into()));
    }

    #[test]
    fn balance_keeps_the_shape_arbitrage_reads() {
        let b = Balance { free: "0.50000000".parse().expect("qty"), locked: Qty::ZERO, time: 7 };
        let json = encode_balance(&b).expect("encode");
        assert_eq!(json, r#"{"free":"0.50000000","locked":"0","time":7}"#);
        assert_eq!(decode_balance(&json).expect("decode"), b);
    }

    #[test]
    fn fill_entry_has_plain_fields_and_round_trips() {
        let fill = Fill {
            symbol: Symbol::new("BTCUSD"),
            order_id: 2_281_896_601,
            client_order_id: "T0ESHzso0banw0QiPFZYgj".into(),
            trade_id: 88_685_053,
            side: Side::Sell,
            price: "117290.77000000".parse().expect("price"),
            qty: "0.00042000".parse().expect("qty"),
            quote_qty: "49.26212340".parse().expect("qty"),
            commission: "0.00492621".parse().expect("qty"),
            commission_asset: Asset::new("USD"),
            maker: false,
            time_ms: 1_759_347_763_167,
            source: Source::Ws,
        };
        let e = fill_entry(&Keys::default(), "binance", "1a2b3c4d", 1000, &fill).expect("encode");
        assert_eq!(e.key, "storm:fills:binance:1a2b3c4d");
        let back = as_read(&e);
        for (field, value) in [
            ("sym", "BTCUSD"),
            ("order_id", "2281896601"),
            ("trade_id", "88685053"),
            ("side", "SELL"),
            ("price", "117290.77000000"),
            ("qty", "0.00042000"),
            ("quote_qty", "49.26212340"),
            ("fee", "0.00492621"),
            ("fee_asset", "USD"),
            ("maker", "0"),
            ("time", "1759347763167"),
        ] {
            assert_eq!(back.get_str(field), Some(value), "{field}");
        }
        assert_eq!(decode_fill(&back).expect("decode"), fill);
    }
}
