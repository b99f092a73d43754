//! The WS-API methods and one connection's state (its user-data subscriptions).
//!
//! Every method runs synchronously under the exchange lock and returns a JSON response, so the
//! connection task only moves frames; order methods reuse the REST parameter parsing
//! ([`crate::rest::order_request`], [`crate::rest::order_ref`]) and reply shapes
//! ([`crate::json`]) so both transports behave identically.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{json, Value};
use storm_core::Symbol;
use tokio::sync::broadcast;

use super::events;
use super::request::{self, Request};
use crate::auth::{verify, Params};
use crate::exchange::SimEvent;
use crate::json;
use crate::orders::SimError;
use crate::rest::{order_ref, order_request};
use crate::server::SimState;
use crate::weights::Charge;

/// Request weight of a method, `None` for an unknown method.
fn weight(method: &str, p: &Params) -> Option<u64> {
    Some(match method {
        "ping" | "time" | "order.place" | "order.cancel" => 1,
        "userDataStream.subscribe.signature" | "userDataStream.unsubscribe" => 2,
        "order.status" => 4,
        "openOrders.status" => {
            if p.get("symbol").is_some() {
                6
            } else {
                80
            }
        }
        _ => return None,
    })
}

fn symbol(p: &Params) -> Result<Symbol, SimError> {
    match p.get("symbol") {
        Some(s) if !s.is_empty() => Ok(Symbol::new(s)),
        _ => Err(SimError::new(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")),
    }
}

/// One WS-API connection: its peer (for request weights) and its user-data subscriptions.
pub(super) struct Session {
    sim: Arc<SimState>,
    peer: IpAddr,
    /// Subscription id → API key; at most one per account.
    subs: BTreeMap<u64, String>,
    next_sub: u64,
    /// The event broadcast, held only while something is subscribed (so an idle connection can
    /// never lag).
    pub(super) events: Option<broadcast::Receiver<Arc<SimEvent>>>,
}

impl Session {
    pub(super) fn new(sim: Arc<SimState>, peer: IpAddr) -> Self {
        Self { sim, peer, subs: BTreeMap::new(), next_sub: 0, events: None }
    }

    /// Answers one text frame.
    pub(super) fn handle_text(&mut self, text: &str) -> Value {
        let req = match Request::parse(text) {
            Ok(r) => r,
            Err(bad) => return request::error(&bad.id, &bad.error, None),
        };
        let Some(weight) = weight(&req.method, &req.params) else {
            return request::error(&req.id, &SimError::new(-1020, "This operation is not supported."), None);
        };
        let now = self.sim.now_ms();
        let limit = self.sim.weight_limit;
        let charge = self.sim.weights.lock().unwrap_or_else(|e| e.into_inner()).charge(self.peer, weight, now);
        let used = match charge {
            Charge::Ok(used) => used,
            Charge::Limited(secs) | Charge::Banned(secs) => {
                let banned = matches!(charge, Charge::Banned(_));
                let msg = if banned {
                    format!("Way too much request weight used; IP banned until {}. Please use WebSocket Streams for live updates to avoid bans.", now + secs * 1000)
                } else {
                    format!("Too much request weight used; current limit is {limit} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.")
                };
                let e = SimError { code: -1003, msg, http: if banned { 418 } else { 429 } };
                let mut v = request::error(&req.id, &e, Some(request::rate_limits(limit, limit)));
                v["error"]["data"] = json!({ "serverTime": now, "retryAfter": now + secs * 1000 });
                return v;
            }
        };
        let limits = request::rate_limits(used, limit);
        match self.call(&req, now) {
            Ok(result) => request::ok(&req.id, result, limits),
            Err(e) => request::error(&req.id, &e, Some(limits)),
        }
    }

    /// Checks `apiKey`, `signature` and the timestamp window; returns the API key.
    fn authenticate(&self, p: &Params, now: u64) -> Result<String, SimError> {
        let key = match p.get("apiKey") {
            Some(k) if !k.is_empty() => k,
            _ => {
                return Err(SimError::new(
                    -1102,
                    "Mandatory parameter 'apiKey' was not sent, was empty/null, or malformed.",
                ))
            }
        };
        let secret = self.sim.exchange().secret(key).map(str::to_owned).ok_or_else(SimError::bad_api_key)?;
        verify(p, &secret, now)?;
        Ok(key.to_owned())
    }

    fn call(&mut self, req: &Request, now: u64) -> Result<Value, SimError> {
        let p = &req.params;
        match req.method.as_str() {
            "ping" => Ok(json!({})),
            "time" => Ok(json!({ "serverTime": now })),
            "userDataStream.subscribe.signature" => {
                let key = self.authenticate(p, now)?;
                self.subscribe(key)
            }
            "userDataStream.unsubscribe" => self.unsubscribe(p),
            "order.place" => {
                let key = self.authenticate(p, now)?;
                let order = order_request(p)?;
                let resp_type = p.get("newOrderRespType").unwrap_or("FULL").to_owned();
                let placed = self.sim.act(|ex| ex.place(&key, order, now))?;
                self.sim.faults.after_order()?;
                Ok(json::new_order(&placed, &resp_type))
            }
            "order.status" => {
                let key = self.authenticate(p, now)?;
                Ok(json::order(&self.sim.exchange().query(&key, &symbol(p)?, &order_ref(p)?)?))
            }
            "order.cancel" => {
                let key = self.authenticate(p, now)?;
                let (sym, r) = (symbol(p)?, order_ref(p)?);
                let order = self.sim.act(|ex| ex.cancel(&key, &sym, &r, now))?;
                Ok(json::canceled(&order, now))
            }
            "openOrders.status" => {
                let key = self.authenticate(p, now)?;
                let sym = p.get("symbol").filter(|s| !s.is_empty()).map(Symbol::new);
                Ok(self.sim.exchange().open_orders(&key, sym.as_ref())?.iter().map(json::order).collect())
            }
            _ => Err(SimError::new(-1020, "This operation is not supported.")),
        }
    }

    fn subscribe(&mut self, key: String) -> Result<Value, SimError> {
        if self.subs.values().any(|k| *k == key) {
            return Err(SimError::new(-2035, "User Data Stream subscription already active."));
        }
        let id = self.next_sub;
        self.next_sub += 1;
        self.subs.insert(id, key);
        if self.events.is_none() {
            self.events = Some(self.sim.subscribe());
        }
        Ok(json!({ "subscriptionId": id }))
    }

    fn unsubscribe(&mut self, p: &Params) -> Result<Value, SimError> {
        match p.get("subscriptionId") {
            None => self.subs.clear(),
            Some(id) => {
                let removed = id.parse::<u64>().ok().and_then(|id| self.subs.remove(&id));
                if removed.is_none() {
                    return Err(SimError::new(-2036, "User Data Stream subscription not active."));
                }
            }
        }
        if self.subs.is_empty() {
            self.events = None;
        }
        Ok(json!({}))
    }

    /// The frame for a broadcast event, if this connection subscribed to its account:
    /// `{"subscriptionId":N,"event":{..}}`.
    pub(super) fn forward(&self, ev: &SimEvent) -> Option<Value> {
        let account = events::account_of(ev)?;
        let (id, _) = self.subs.iter().find(|(_, k)| k.as_str() == account)?;
        Some(json!({ "subscriptionId": id, "event": events::user_event(ev)? }))
    }
}
