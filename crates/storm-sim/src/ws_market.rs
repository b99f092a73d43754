//! The simulator's market-data WebSocket, as Binance serves it: raw streams on `/ws/<stream>`
//! (several as `/ws/<a>/<b>`), combined streams on `/stream?streams=<a>/<b>` (each frame
//! `{"stream":"<name>","data":{..}}`), and a bare `/ws` to subscribe on later; live
//! `SUBSCRIBE` / `UNSUBSCRIBE` / `LIST_SUBSCRIPTIONS` / `SET_PROPERTY` / `GET_PROPERTY` on all.
//!
//! Streams (lowercase symbol): `<sym>@depth@100ms` (every diff the exchange makes),
//! `<sym>@depth` (diffs merged per second, ids contiguous across events), `<sym>@bookTicker`,
//! `<sym>@trade` and `<sym>@kline_<interval>` (candles from the simulator's own trades).
//!
//! The ingester and booksync are written against this instead of Binance, so it is strict where
//! Binance is: per-connection limits from [`crate::config::WsLimits`] (pings and pong timeout,
//! incoming messages per second, streams per connection, connection age with `serverShutdown`),
//! a slow consumer is disconnected instead of silently missing diffs, and the faults of
//! [`crate::faults`] (`close_streams`, `stall`, `gap`, `malformed`) make the failure paths
//! testable. Every frame is built from the wire types of `storm_venues::binance::wire`, so the
//! simulator cannot drift from the format the adapter parses.
//!
//! Layout: [`stream`] names streams, [`hub`] turns exchange events into shared frames (and
//! keeps the one-second [`depth`] windows and [`kline`] candles), [`conn`] serves one
//! connection, [`control`] reads control messages.
//!
//! As on Binance, an unknown stream name in the URL is ignored: the connection opens and carries
//! nothing for it (ccxt opens `/ws/0` and subscribes afterwards). Differences from Binance, on
//! purpose: an unknown stream in `SUBSCRIBE` is an error reply (code 2), and a symbol's klines
//! start with its first trade (see [`kline`]).

pub mod conn;
pub mod control;
pub mod depth;
pub mod hub;
pub mod kline;
pub mod stream;

use std::sync::{Arc, OnceLock};

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use storm_venues::binance::wire::ApiError;

use crate::server::SimState;
use hub::Shared;
use stream::StreamKey;

/// The market-data WebSocket's state: the simulator and its hub, started on first use.
#[derive(Clone)]
pub struct MarketWs {
    state: Arc<SimState>,
    hub: Arc<OnceLock<Arc<Shared>>>,
}

impl MarketWs {
    /// The hub, started now if it is not running (needs a Tokio runtime).
    fn hub(&self) -> Arc<Shared> {
        self.hub.get_or_init(|| hub::start(&self.state)).clone()
    }

    /// Reads the URL's streams (unknown names are ignored, as Binance does) and upgrades.
    fn open<'a>(&self, upgrade: WebSocketUpgrade, names: impl Iterator<Item = &'a str>, combined: bool) -> Response {
        let hub = self.hub();
        let mut keys: Vec<StreamKey> = Vec::new();
        for name in names.filter(|n| !n.is_empty()) {
            match hub.universe.parse(name) {
                Some(key) if !keys.contains(&key) => keys.push(key),
                Some(_) => {}
                None => tracing::debug!(stream = name, "unknown stream in URL ignored"),
            }
        }
        let max = self.state.ws.max_streams;
        if keys.len() > max {
            return bad_request(format!("Invalid request: too many streams: at most {max} per connection"));
        }
        let state = self.state.clone();
        upgrade.on_upgrade(move |socket| conn::run(socket, state, hub, keys, combined))
    }
}

fn bad_request(msg: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(ApiError { code: 2, msg })).into_response()
}

/// The `streams` query parameter of `/stream`.
#[derive(Debug, Deserialize)]
pub struct StreamsQuery {
    /// `a/b/c`.
    #[serde(default)]
    pub streams: String,
}

async fn bare(State(ws): State<MarketWs>, upgrade: WebSocketUpgrade) -> Response {
    ws.open(upgrade, std::iter::empty(), false)
}

async fn raw(State(ws): State<MarketWs>, Path(streams): Path<String>, upgrade: WebSocketUpgrade) -> Response {
    ws.open(upgrade, streams.split('/'), false)
}

async fn combined(State(ws): State<MarketWs>, Query(q): Query<StreamsQuery>, upgrade: WebSocketUpgrade) -> Response {
    ws.open(upgrade, q.streams.split('/'), true)
}

/// The routes `/ws`, `/ws/{streams}` and `/stream`, to merge into the simulator's router. The
/// hub starts here when a runtime is running, else on the first connection.
pub fn routes<S: Clone + Send + Sync + 'static>(state: Arc<SimState>) -> Router<S> {
    let ws = MarketWs { state, hub: Arc::new(OnceLock::new()) };
    if tokio::runtime::Handle::try_current().is_ok() {
        ws.hub();
    }
    Router::new()
        .route("/ws", get(bare))
        .route("/ws/{*streams}", get(raw))
        .route("/stream", get(combined))
        .with_state(ws)
}
