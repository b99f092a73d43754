//! Binance's JSON shapes for REST replies (orders, fills, account, errors), built from the
//! exchange's types. Numbers that are money are decimal strings with 8 decimals, as Binance
//! prints them.

use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::market::rescale;
use crate::orders::{Fill, Order, OrderStatus, OrderType, SimError, TimeInForce};

/// A decimal as Binance prints it: `"0.10000000"`.
pub fn dec(d: Decimal) -> String {
    rescale(d).to_string()
}

fn enum_str<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// `OrderStatus` → `"FILLED"`.
pub fn status(s: OrderStatus) -> String {
    enum_str(&s)
}

/// `OrderType` → `"LIMIT"`.
pub fn kind(k: OrderType) -> String {
    enum_str(&k)
}

/// `TimeInForce` → `"IOC"`.
pub fn tif(t: TimeInForce) -> String {
    enum_str(&t)
}

/// `{"code":-1022,"msg":"..."}`.
pub fn error(e: &SimError) -> Value {
    json!({ "code": e.code, "msg": e.msg })
}

/// One element of a FULL response's `fills`.
pub fn fill(f: &Fill) -> Value {
    json!({
        "price": dec(f.price),
        "qty": dec(f.qty),
        "commission": dec(f.commission),
        "commissionAsset": f.commission_asset.as_str(),
        "tradeId": f.trade_id,
    })
}

/// `POST /api/v3/order` reply in the requested `newOrderRespType` (ACK, RESULT or FULL).
pub fn new_order(o: &Order, resp_type: &str) -> Value {
    let mut v = json!({
        "symbol": o.symbol.as_str(),
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
        "transactTime": o.time_ms,
    });
    if resp_type == "ACK" {
        return v;
    }
    if let Value::Object(m) = &mut v {
        m.insert("price".into(), dec(o.price).into());
        m.insert("origQty".into(), dec(o.orig_qty).into());
        m.insert("executedQty".into(), dec(o.executed_qty).into());
        m.insert("origQuoteOrderQty".into(), dec(o.orig_quote_qty).into());
        m.insert("cummulativeQuoteQty".into(), dec(o.cummulative_quote_qty).into());
        m.insert("status".into(), status(o.status).into());
        m.insert("timeInForce".into(), tif(o.time_in_force).into());
        m.insert("type".into(), kind(o.kind).into());
        m.insert("side".into(), o.side.as_str().into());
        m.insert("workingTime".into(), o.time_ms.into());
        m.insert("selfTradePreventionMode".into(), "NONE".into());
        if resp_type == "FULL" {
            m.insert("fills".into(), o.fills.iter().map(fill).collect::<Vec<_>>().into());
        }
    }
    v
}

/// `GET /api/v3/order` / `openOrders` element.
pub fn order(o: &Order) -> Value {
    json!({
        "symbol": o.symbol.as_str(),
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
        "price": dec(o.price),
        "origQty": dec(o.orig_qty),
        "executedQty": dec(o.executed_qty),
        "cummulativeQuoteQty": dec(o.cummulative_quote_qty),
        "status": status(o.status),
        "timeInForce": tif(o.time_in_force),
        "type": kind(o.kind),
        "side": o.side.as_str(),
        "stopPrice": dec(Decimal::ZERO),
        "icebergQty": dec(Decimal::ZERO),
        "time": o.time_ms,
        "updateTime": o.update_time_ms,
        "isWorking": o.status.is_open(),
        "workingTime": o.time_ms,
        "origQuoteOrderQty": dec(o.orig_quote_qty),
        "selfTradePreventionMode": "NONE",
    })
}

/// The client id of a cancel request: Binance gives the cancel its own id and reports the
/// cancelled order's id as `origClientOrderId` (`C` in the executionReport).
pub fn cancel_client_id(order_id: u64) -> String {
    format!("sim-cancel-{order_id}")
}

/// Reply to a cancel (REST `DELETE /api/v3/order`, WS-API `order.cancel`).
pub fn canceled(o: &Order, now_ms: u64) -> Value {
    json!({
        "symbol": o.symbol.as_str(),
        "origClientOrderId": o.client_order_id,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": cancel_client_id(o.order_id),
        "transactTime": now_ms,
        "price": dec(o.price),
        "origQty": dec(o.orig_qty),
        "executedQty": dec(o.executed_qty),
        "origQuoteOrderQty": dec(o.orig_quote_qty),
        "cummulativeQuoteQty": dec(o.cummulative_quote_qty),
        "status": status(o.status),
        "timeInForce": tif(o.time_in_force),
        "type": kind(o.kind),
        "side": o.side.as_str(),
        "selfTradePreventionMode": "NONE",
    })
}

/// `GET /api/v3/myTrades` element.
pub fn my_trade(f: &Fill) -> Value {
    json!({
        "symbol": f.symbol.as_str(),
        "id": f.trade_id,
        "orderId": f.order_id,
        "orderListId": -1,
        "price": dec(f.price),
        "qty": dec(f.qty),
        "quoteQty": dec(f.quote_qty),
        "commission": dec(f.commission),
        "commissionAsset": f.commission_asset.as_str(),
        "time": f.time_ms,
        "isBuyer": f.side == storm_core::Side::Buy,
        "isMaker": f.is_maker,
        "isBestMatch": true,
    })
}

/// One entry of the order log (`GET /_sim/orders`): the attempt as sent, and the order as it
/// stands now when it was accepted.
pub fn placement(p: &crate::orders::Placement, order: Option<&Order>) -> Value {
    json!({
        "account": p.account,
        "time": p.time_ms,
        "symbol": p.symbol.as_str(),
        "side": p.side.as_str(),
        "type": kind(p.kind),
        "price": p.price.map(dec),
        "quantity": p.quantity.map(dec),
        "clientOrderId": p.client_order_id,
        "orderId": p.order_id,
        "status": order.map(|o| status(o.status)),
        "executedQty": order.map(|o| dec(o.executed_qty)),
        "error": p.error.as_ref().map(|(code, msg)| json!({ "code": code, "msg": msg })),
    })
}
