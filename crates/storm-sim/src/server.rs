//! The simulator's process state and its HTTP server: one port for REST (and, as they land,
//! the market-data WebSocket and the WS-API), the admin endpoint, and the market clock that
//! steps the exchange.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::WsLimits;
use crate::exchange::{Exchange, SimEvent};
use crate::faults::{FaultRequest, Faults};
use crate::weights::WeightLimiter;

/// Everything the request handlers share. The exchange sits behind a plain mutex that is never
/// held across an `.await`.
pub struct SimState {
    exchange: Mutex<Exchange>,
    /// Per-IP request weights.
    pub weights: Mutex<WeightLimiter>,
    /// REQUEST_WEIGHT per minute.
    pub weight_limit: u64,
    /// Injected faults.
    pub faults: Faults,
    /// Market-data WebSocket limits.
    pub ws: WsLimits,
    events: broadcast::Sender<Arc<SimEvent>>,
    /// One-minute candles of the public trades (REST klines and 24 h tickers).
    tape: Mutex<crate::tape::Tape>,
}

impl SimState {
    /// Wraps an exchange; `weight_limit` is the per-IP REQUEST_WEIGHT per minute (Binance: 6000).
    pub fn new(exchange: Exchange, weight_limit: u64, ws: WsLimits) -> Arc<Self> {
        let (events, _) = broadcast::channel(65_536);
        Arc::new(Self {
            exchange: Mutex::new(exchange),
            weights: Mutex::new(WeightLimiter::new(weight_limit)),
            weight_limit,
            faults: Faults::default(),
            ws,
            events,
            tape: Mutex::default(),
        })
    }

    /// The exchange, locked. Do not hold the guard across an `.await`.
    pub fn exchange(&self) -> MutexGuard<'_, Exchange> {
        self.exchange.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The trade tape, locked (taken after the exchange's lock, never before it).
    pub fn tape(&self) -> MutexGuard<'_, crate::tape::Tape> {
        self.tape.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Server time, ms.
    pub fn now_ms(&self) -> u64 {
        storm_core::time::now_millis()
    }

    /// Runs `f` on the exchange and publishes the events it returns **while still holding the
    /// lock**. Several tasks change the exchange (the market clock, REST and WS-API orders); if
    /// each published after unlocking, a clock diff (ids 11–15) could overtake an order's diff
    /// (ids 6–10) of the same symbol and every client would see a gap that never happened.
    pub fn act<T, E>(&self, f: impl FnOnce(&mut Exchange) -> Result<(T, Vec<SimEvent>), E>) -> Result<T, E> {
        let mut ex = self.exchange();
        let (value, events) = f(&mut ex)?;
        self.publish_locked(events, &ex);
        Ok(value)
    }

    /// Sends events to every subscriber (dropped when nobody listens). The exchange guard proves
    /// the caller holds the lock, so events go out in the order they happened.
    pub fn publish_locked(&self, events: Vec<SimEvent>, _held: &MutexGuard<'_, Exchange>) {
        let mut tape = self.tape();
        for e in &events {
            if let SimEvent::Trade(t) = e {
                tape.on_trade(t);
            }
        }
        drop(tape);
        for e in events {
            let _ = self.events.send(Arc::new(e));
        }
    }

    /// A receiver of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<SimEvent>> {
        self.events.subscribe()
    }
}

async fn fault(State(sim): State<Arc<SimState>>, Json(req): Json<FaultRequest>) -> StatusCode {
    info!(?req, "fault injected");
    sim.faults.apply(&req);
    StatusCode::NO_CONTENT
}

/// `GET /_sim/orders[?account=<acct>]`: the order log, every placement attempt since start,
/// oldest first: `{"orders":[{"account","time","symbol","side","type","price","quantity",
/// "clientOrderId","orderId","status","executedQty","error"}]}` (status and executed quantity
/// as they stand now; `orderId`/`status` null and `error` {code, msg} for a rejected attempt).
/// An admin endpoint of the simulator, like `/_sim/fault`: no signature, no request weight.
async fn orders(State(sim): State<Arc<SimState>>, Query(q): Query<OrdersQuery>) -> Json<serde_json::Value> {
    let ex = sim.exchange();
    let mut keys: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
    for key in ex.accounts.keys() {
        keys.insert(storm_venues::binance::sign::account_id(key), key.as_str());
    }
    let list: Vec<serde_json::Value> = ex
        .placements()
        .iter()
        .filter(|p| q.account.as_deref().is_none_or(|a| a == p.account))
        .map(|p| {
            let order = p.order_id.and_then(|id| ex.accounts.get(*keys.get(&p.account)?)?.orders.get(&id));
            crate::json::placement(p, order)
        })
        .collect();
    Json(serde_json::json!({ "orders": list }))
}

/// Query of `GET /_sim/orders`.
#[derive(Debug, Default, serde::Deserialize)]
struct OrdersQuery {
    /// Only this account id.
    account: Option<String>,
}

/// The HTTP routes: admin endpoint, then every other path to the REST dispatcher.
pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/_sim/fault", post(fault))
        .route("/_sim/orders", get(orders))
        .merge(crate::ws_market::routes(state.clone()))
        .route("/ws-api/v3", axum::routing::get(crate::ws_api::upgrade))
        .fallback(crate::rest::dispatch)
        .with_state(state)
}

/// Serves on `listener` until shutdown.
///
/// Every accepted socket gets `TCP_NODELAY`: a market-data connection writes a burst of frames
/// per flush, and with Nagle on, a write while one segment is unacknowledged waits for the
/// client's delayed ACK (on loopback, where a segment can be 64 KiB, every write is "small"):
/// measured at 20–40 ms on one of three connections at a time.
pub async fn serve(listener: TcpListener, state: Arc<SimState>, shutdown: CancellationToken) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on an accepted socket");
        }
    });
    axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await
}

/// Steps the market every `interval`, `events_per_step` symbol updates each time, until shutdown.
pub async fn market_clock(
    state: Arc<SimState>,
    interval: Duration,
    events_per_step: usize,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        if state.faults.paused() {
            continue;
        }
        let now = state.now_ms();
        let _ = state.act(|ex| Ok::<_, std::convert::Infallible>(((), ex.step(now, events_per_step))));
    }
}
