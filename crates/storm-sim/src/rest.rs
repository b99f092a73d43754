//! Binance REST on the simulator: `/api/v3/{ping,time,exchangeInfo,depth,ticker/bookTicker,
//! order,order/test,openOrders,account,myTrades}` with request weights, HMAC-signed endpoints and
//! Binance's error shapes, plus what clients load besides (empty margin, futures and options
//! listings, the wallet's coin list). One dispatcher keeps the route table readable in one place.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use storm_core::{Side, Symbol};

use crate::auth::{verify, Params};
use crate::json;
use crate::orders::{OrderRequest, OrderType, SimError, TimeInForce};
use crate::server::SimState;
use crate::trading::OrderRef;
use crate::weights::{depth_weight, Charge};

fn reply(status: StatusCode, used: u64, extra: Option<(&str, String)>, body: &Value) -> Response {
    let mut b = Response::builder()
        .status(status)
        .header("content-type", "application/json;charset=UTF-8")
        .header("x-mbx-used-weight-1m", used.to_string());
    if let Some((k, v)) = extra {
        b = b.header(k, v);
    }
    b.body(Body::from(body.to_string())).unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn param<T: FromStr>(p: &Params, name: &str) -> Result<Option<T>, SimError> {
    match p.get(name) {
        None | Some("") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            SimError::new(-1100, format!("Illegal characters found in parameter '{name}'; legal range is '{v}'."))
        }),
    }
}

fn required<T: FromStr>(p: &Params, name: &str) -> Result<T, SimError> {
    param(p, name)?.ok_or_else(|| {
        SimError::new(-1102, format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."))
    })
}

fn symbol(p: &Params) -> Result<Symbol, SimError> {
    required::<String>(p, "symbol").map(Symbol::new)
}

/// Weight and whether the endpoint is signed, by (method, path).
fn route(method: &Method, path: &str, p: &Params) -> Option<(u64, bool)> {
    Some(match (method.as_str(), path) {
        ("GET", "/api/v3/ping") | ("GET", "/api/v3/time") => (1, false),
        ("GET", "/api/v3/exchangeInfo") => (20, false),
        ("GET", "/api/v3/depth") => (depth_weight(param::<usize>(p, "limit").ok().flatten().unwrap_or(100)), false),
        ("GET", "/api/v3/ticker/bookTicker") => (if p.get("symbol").is_some() { 2 } else { 4 }, false),
        ("GET", "/api/v3/klines") => (2, false),
        ("GET", "/api/v3/ticker/24hr") => (if p.get("symbol").is_some() { 2 } else { 80 }, false),
        ("POST", "/api/v3/order") | ("POST", "/api/v3/order/test") | ("DELETE", "/api/v3/order") => (1, true),
        ("GET", "/api/v3/order") => (4, true),
        ("GET", "/api/v3/openOrders") => (if p.get("symbol").is_some() { 6 } else { 80 }, true),
        ("GET", "/api/v3/account") | ("GET", "/api/v3/myTrades") => (20, true),
        // What clients (ccxt's load_markets) load besides the spot listing (crate::info): the sim
        // has no margin, futures or options and answers those listings empty; the coin list.
        ("GET", "/sapi/v1/margin/allPairs") | ("GET", "/sapi/v1/margin/isolated/allPairs") => (1, false),
        ("GET", "/fapi/v1/exchangeInfo") | ("GET", "/dapi/v1/exchangeInfo") => (1, false),
        ("GET", "/eapi/v1/exchangeInfo") => (1, false),
        ("GET", "/sapi/v1/capital/config/getall") => (10, true),
        _ => return None,
    })
}

/// Parses new-order parameters (shared with the WS-API).
pub fn order_request(p: &Params) -> Result<OrderRequest, SimError> {
    let side = match required::<String>(p, "side")?.as_str() {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        _ => return Err(SimError::new(-1100, "Illegal characters found in parameter 'side'.")),
    };
    let kind = match required::<String>(p, "type")?.as_str() {
        "LIMIT" => OrderType::Limit,
        "MARKET" => OrderType::Market,
        "LIMIT_MAKER" => OrderType::LimitMaker,
        _ => return Err(SimError::new(-1116, "Invalid orderType.")),
    };
    let time_in_force = match param::<String>(p, "timeInForce")?.as_deref() {
        None => None,
        Some("GTC") => Some(TimeInForce::Gtc),
        Some("IOC") => Some(TimeInForce::Ioc),
        Some("FOK") => Some(TimeInForce::Fok),
        Some(_) => return Err(SimError::new(-1115, "Invalid timeInForce.")),
    };
    Ok(OrderRequest {
        symbol: symbol(p)?,
        side,
        kind,
        time_in_force,
        quantity: param::<Decimal>(p, "quantity")?,
        quote_order_qty: param::<Decimal>(p, "quoteOrderQty")?,
        price: param::<Decimal>(p, "price")?,
        client_order_id: param::<String>(p, "newClientOrderId")?,
    })
}

/// `orderId` or `origClientOrderId`.
pub fn order_ref(p: &Params) -> Result<OrderRef, SimError> {
    if let Some(id) = param::<u64>(p, "orderId")? {
        return Ok(OrderRef::Id(id));
    }
    param::<String>(p, "origClientOrderId")?.map(OrderRef::ClientId).ok_or_else(|| {
        SimError::new(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
    })
}

fn level_pairs(levels: &[storm_core::Level]) -> Value {
    levels.iter().map(|l| json!([json::dec(l.price.0), json::dec(l.qty.0)])).collect()
}

/// Serves one REST request.
pub async fn dispatch(
    State(sim): State<Arc<SimState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: String,
) -> Response {
    let p = Params::parse(query.as_deref(), &body);
    let now = sim.now_ms();
    let Some((weight, signed)) = route(&method, uri.path(), &p) else {
        return reply(StatusCode::NOT_FOUND, 0, None, &json::error(&SimError::new(-1000, "Unknown endpoint.")));
    };
    if let Some(delay) = sim.faults.rest_latency() {
        tokio::time::sleep(delay).await;
    }
    if let Some(secs) = sim.faults.take_rate_limit() {
        // An injected 429 (`rate_limit` fault): nothing executed, no weight charged, no ban.
        let e = SimError::new(-1003, format!("Too much request weight used; current limit is {} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.", sim.weight_limit));
        return reply(
            StatusCode::TOO_MANY_REQUESTS,
            sim.weight_limit,
            Some(("retry-after", secs.to_string())),
            &json::error(&e),
        );
    }
    let charge = sim.weights.lock().unwrap_or_else(|e| e.into_inner()).charge(peer.ip(), weight, now);
    let used = match charge {
        Charge::Ok(used) => used,
        Charge::Limited(secs) => {
            let e = SimError::new(-1003, format!("Too much request weight used; current limit is {} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.", sim.weight_limit));
            return reply(
                StatusCode::TOO_MANY_REQUESTS,
                sim.weight_limit,
                Some(("retry-after", secs.to_string())),
                &json::error(&e),
            );
        }
        Charge::Banned(secs) => {
            let e = SimError::new(-1003, format!("Way too much request weight used; IP banned until {}. Please use WebSocket Streams for live updates to avoid bans.", now + secs * 1000));
            return reply(
                StatusCode::IM_A_TEAPOT,
                sim.weight_limit,
                Some(("retry-after", secs.to_string())),
                &json::error(&e),
            );
        }
    };
    let api_key = headers.get("x-mbx-apikey").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let result = if signed { authorize(&sim, &api_key, &p, now) } else { Ok(()) }
        .and_then(|()| handle(&sim, &method, uri.path(), &p, &api_key, now));
    match result {
        Ok(v) => reply(StatusCode::OK, used, None, &v),
        Err(e) => reply(StatusCode::from_u16(e.http).unwrap_or(StatusCode::BAD_REQUEST), used, None, &json::error(&e)),
    }
}

fn authorize(sim: &SimState, api_key: &str, p: &Params, now: u64) -> Result<(), SimError> {
    if api_key.is_empty() {
        return Err(SimError { code: -2014, msg: "API-key format invalid.".into(), http: 401 });
    }
    let secret = sim.exchange().secret(api_key).map(str::to_owned).ok_or_else(SimError::bad_api_key)?;
    verify(p, &secret, now)
}

fn handle(sim: &SimState, method: &Method, path: &str, p: &Params, key: &str, now: u64) -> Result<Value, SimError> {
    match (method.as_str(), path) {
        ("GET", "/api/v3/ping") => Ok(json!({})),
        ("GET", "/api/v3/time") => Ok(json!({ "serverTime": now })),
        ("GET", "/api/v3/exchangeInfo") => Ok(crate::info::exchange_info(&sim.exchange(), sim.weight_limit, now)),
        ("GET", "/api/v3/depth") => {
            let limit = param::<usize>(p, "limit")?.unwrap_or(100);
            if limit == 0 || limit > 5000 {
                return Err(SimError::new(
                    -1100,
                    "Illegal characters found in parameter 'limit'; legal range is '1-5000'.",
                ));
            }
            let (id, bids, asks) = sim.exchange().depth(&symbol(p)?, limit).ok_or_else(SimError::bad_symbol)?;
            Ok(json!({ "lastUpdateId": id, "bids": level_pairs(&bids), "asks": level_pairs(&asks) }))
        }
        ("GET", "/api/v3/ticker/bookTicker") => {
            let ex = sim.exchange();
            let one = |s: &Symbol| {
                ex.book_ticker(s).map(|(b, a)| {
                    json!({ "symbol": s.as_str(), "bidPrice": json::dec(b.price.0), "bidQty": json::dec(b.qty.0),
                            "askPrice": json::dec(a.price.0), "askQty": json::dec(a.qty.0) })
                })
            };
            match p.get("symbol") {
                Some(_) => one(&symbol(p)?).ok_or_else(SimError::bad_symbol),
                None => Ok(ex.instruments().filter_map(|i| one(&i.symbol)).collect()),
            }
        }
        ("GET", "/api/v3/klines") => crate::klines::klines(sim, p, now),
        ("GET", "/api/v3/ticker/24hr") => crate::klines::ticker_24hr(sim, p, now),
        ("POST", "/api/v3/order/test") => {
            let req = order_request(p)?;
            let ex = sim.exchange();
            let inst = ex.instrument(&req.symbol).ok_or_else(SimError::bad_symbol)?;
            if let (Some(price), Some(q)) = (req.price, req.quantity) {
                inst.check_limit(storm_core::Price(price), storm_core::Qty(q))
                    .map_err(|e| SimError::new(-1013, e.to_string()))?;
            }
            Ok(json!({}))
        }
        ("POST", "/api/v3/order") => {
            let req = order_request(p)?;
            let resp_type = p.get("newOrderRespType").unwrap_or("FULL").to_owned();
            let order = sim.act(|ex| ex.place(key, req, now))?;
            sim.faults.after_order()?;
            Ok(json::new_order(&order, &resp_type))
        }
        ("GET", "/api/v3/order") => Ok(json::order(&sim.exchange().query(key, &symbol(p)?, &order_ref(p)?)?)),
        ("DELETE", "/api/v3/order") => {
            let (sym, r) = (symbol(p)?, order_ref(p)?);
            let order = sim.act(|ex| ex.cancel(key, &sym, &r, now))?;
            Ok(json::canceled(&order, now))
        }
        ("GET", "/api/v3/openOrders") => {
            let sym = param::<String>(p, "symbol")?.map(Symbol::new);
            Ok(sim.exchange().open_orders(key, sym.as_ref())?.iter().map(json::order).collect())
        }
        ("GET", "/api/v3/account") => {
            let balances: Vec<Value> = sim
                .exchange()
                .balances(key)?
                .iter()
                .map(|(a, b)| json!({ "asset": a.as_str(), "free": json::dec(b.free), "locked": json::dec(b.locked) }))
                .collect();
            Ok(json!({
                "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
                "canTrade": true, "canWithdraw": false, "canDeposit": false, "brokered": false,
                "requireSelfTradePrevention": false, "preventSor": false, "updateTime": now,
                "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"], "uid": 1,
            }))
        }
        ("GET", "/api/v3/myTrades") => {
            let sym = symbol(p)?;
            let ex = sim.exchange();
            let acct = ex.account(key).ok_or_else(SimError::bad_api_key)?;
            Ok(acct.trades.iter().filter(|f| f.symbol == sym).map(json::my_trade).collect())
        }
        ("GET", "/sapi/v1/margin/allPairs") | ("GET", "/sapi/v1/margin/isolated/allPairs") => Ok(json!([])),
        ("GET", "/fapi/v1/exchangeInfo") => Ok(crate::info::futures_exchange_info(true, now)),
        ("GET", "/dapi/v1/exchangeInfo") => Ok(crate::info::futures_exchange_info(false, now)),
        ("GET", "/eapi/v1/exchangeInfo") => Ok(crate::info::options_exchange_info(now)),
        ("GET", "/sapi/v1/capital/config/getall") => crate::info::coin_list(&sim.exchange(), key),
        _ => Err(SimError::new(-1000, "Unknown endpoint.")),
    }
}
