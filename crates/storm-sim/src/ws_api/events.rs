//! User-data events as Binance sends them on a WS-API user-data subscription:
//! `executionReport` and `outboundAccountPosition`, built from the exchange's [`SimEvent`]s.
//! They live here, in one place, because the streamer is written against these exact frames.
//!
//! A real `executionReport` (Binance.US, a taker fill; `testdata/orders/
//! ws_spot_execution_report_binance_us.json`):
//!
//! ```json
//! {"e":"executionReport","E":1759347763167,"s":"BTCUSD","c":"T0ESHzso0banw0QiPFZYgj","S":"SELL",
//!  "o":"LIMIT","f":"GTC","q":"0.00042000","p":"117290.77000000","P":"0.00000000","F":"0.00000000",
//!  "g":-1,"C":"","x":"TRADE","X":"FILLED","r":"NONE","i":2281896601,"l":"0.00042000",
//!  "z":"0.00042000","L":"117290.77000000","n":"0.00492621","N":"USD","T":1759347763167,
//!  "t":88685053,"I":4644480641,"w":false,"m":false,"M":true,"O":1759347763167,"Z":"49.26212340",
//!  "Y":"49.26212340","Q":"0.00000000","W":1759347763167,"V":"EXPIRE_MAKER"}
//! ```
//!
//! and an `outboundAccountPosition` (only the assets that changed):
//!
//! ```json
//! {"e":"outboundAccountPosition","E":1564034571105,"u":1564034571073,
//!  "B":[{"a":"ETH","f":"10000.00000000","l":"0.00000000"}]}
//! ```

use rust_decimal::Decimal;
use serde_json::{json, Value};
use storm_core::Asset;

use crate::exchange::{ExecutionReport, SimEvent};
use crate::json::{dec, kind, status, tif};
use crate::orders::{Balance, OrderStatus, OrderType, TimeInForce};

/// Binance's expiry reason (`eR`) of an expired order.
fn expiry_reason(kind: OrderType, tif: TimeInForce) -> &'static str {
    match (kind, tif) {
        (OrderType::Market, _) => "INSUFFICIENT_LIQUIDITY",
        (_, TimeInForce::Fok) => "UNFILLED_FOK_ORDER_EXPIRED",
        _ => "UNFILLED_IOC_QUANTITY_EXPIRED",
    }
}

/// The `executionReport` of one execution (field meanings in BINANCE.md, "User data").
pub fn execution_report(r: &ExecutionReport) -> Value {
    let o = &r.order;
    let canceled = r.exec_type == "CANCELED";
    let (c, orig) = if canceled {
        (crate::json::cancel_client_id(o.order_id), o.client_order_id.clone())
    } else {
        (o.client_order_id.clone(), String::new())
    };
    let last = r.last.as_ref();
    let zero = dec(Decimal::ZERO);
    let on_book = o.status.is_open() && o.kind != OrderType::Market && o.time_in_force == TimeInForce::Gtc;
    let mut v = json!({
        "e": "executionReport",
        "E": r.time_ms,
        "s": o.symbol.as_str(),
        "c": c,
        "S": o.side.as_str(),
        "o": kind(o.kind),
        "f": tif(o.time_in_force),
        "q": dec(o.orig_qty),
        "p": dec(o.price),
        "P": zero,
        "F": zero,
        "g": -1,
        "C": orig,
        "x": r.exec_type,
        "X": status(o.status),
        "r": "NONE",
        "i": o.order_id,
        "l": last.map_or_else(|| zero.clone(), |f| dec(f.qty)),
        "z": dec(o.executed_qty),
        "L": last.map_or_else(|| zero.clone(), |f| dec(f.price)),
        "n": last.map_or_else(|| "0".to_owned(), |f| dec(f.commission)),
        "N": last.map(|f| f.commission_asset.as_str()),
        "T": r.time_ms,
        "t": last.map_or(-1, |f| i64::try_from(f.trade_id).unwrap_or(i64::MAX)),
        "I": o.order_id, // "ignore" in Binance's docs; an integer there too
        "w": on_book,
        "m": last.is_some_and(|f| f.is_maker),
        "M": true,
        "O": o.time_ms,
        "Z": dec(o.cummulative_quote_qty),
        "Y": last.map_or_else(|| zero.clone(), |f| dec(f.quote_qty)),
        "Q": dec(o.orig_quote_qty),
        "W": o.time_ms,
        "V": "NONE",
    });
    if o.status == OrderStatus::Expired {
        if let Value::Object(m) = &mut v {
            m.insert("eR".into(), expiry_reason(o.kind, o.time_in_force).into());
        }
    }
    v
}

/// The `outboundAccountPosition` of changed balances.
pub fn account_position(time_ms: u64, balances: &[(Asset, Balance)]) -> Value {
    let b: Vec<Value> =
        balances.iter().map(|(a, bal)| json!({ "a": a.as_str(), "f": dec(bal.free), "l": dec(bal.locked) })).collect();
    json!({ "e": "outboundAccountPosition", "E": time_ms, "u": time_ms, "B": b })
}

/// The account a user event belongs to (`None` for market events), cheap enough to filter the
/// whole event broadcast with.
pub fn account_of(ev: &SimEvent) -> Option<&str> {
    match ev {
        SimEvent::Execution { api_key, .. } | SimEvent::Position { api_key, .. } => Some(api_key),
        _ => None,
    }
}

/// The Binance frame of a user event (`None` for market events).
pub fn user_event(ev: &SimEvent) -> Option<Value> {
    match ev {
        SimEvent::Execution { report, .. } => Some(execution_report(report)),
        SimEvent::Position { time_ms, balances, .. } => Some(account_position(*time_ms, balances)),
        _ => None,
    }
}
