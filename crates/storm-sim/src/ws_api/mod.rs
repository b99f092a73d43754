//! The simulator's WebSocket API at `/ws-api/v3`, in Binance's dialect.
//!
//! Binance switched off the listenKey user-data stream on 2026-02-20: own orders and balances now
//! arrive only on a WS-API connection after `userDataStream.subscribe.signature`, so the streamer
//! and executor need this endpoint to run against the simulator at all. Served here:
//! `ping`, `time`, `userDataStream.subscribe.signature`, `userDataStream.unsubscribe`,
//! `order.place`, `order.status`, `order.cancel`, `openOrders.status` (signed with the sorted-
//! parameter HMAC of [`storm_venues::binance::sign::ws_api_payload`]).
//!
//! Each connection is one task: it answers requests in order, forwards the user events of its
//! subscribed accounts as `{"subscriptionId":N,"event":{..}}`, answers client pings, pings every
//! `ws.ping_interval_ms` and drops a client that has not ponged for `ws.pong_timeout_ms`. If the
//! connection falls behind the event broadcast it is **closed** (code 1013) rather than silently
//! missing an execution: a client reconciles over REST when it reconnects.

pub mod events;
mod methods;
pub mod request;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;
use tracing::{debug, warn};

pub use request::{BadRequest, Request};

use crate::exchange::SimEvent;
use crate::server::SimState;
use methods::Session;

/// `GET /ws-api/v3`: upgrades to a WS-API connection.
pub async fn upgrade(
    State(sim): State<Arc<SimState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.on_upgrade(move |socket| connection(socket, sim, peer.ip()))
}

/// The next broadcast event, or never while nothing is subscribed.
async fn next_event(rx: &mut Option<broadcast::Receiver<Arc<SimEvent>>>) -> Result<Arc<SimEvent>, RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: reason.into() }))
}

fn text(v: &serde_json::Value) -> Message {
    Message::Text(v.to_string().into())
}

/// Serves one connection until the client leaves, stops answering pings, or lags.
async fn connection(mut socket: WebSocket, sim: Arc<SimState>, peer: IpAddr) {
    let mut session = Session::new(sim.clone(), peer);
    let period = Duration::from_millis(sim.ws.ping_interval_ms.max(10));
    let pong_timeout = Duration::from_millis(sim.ws.pong_timeout_ms);
    let mut ping = tokio::time::interval_at(Instant::now() + period, period);
    let mut unanswered_since: Option<Instant> = None;
    debug!(%peer, "ws-api connection opened");
    loop {
        let out = tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => Some(text(&session.handle_text(&t))),
                Some(Ok(Message::Binary(b))) => Some(text(&session.handle_text(&String::from_utf8_lossy(&b)))),
                Some(Ok(Message::Ping(payload))) => Some(Message::Pong(payload)),
                Some(Ok(Message::Pong(_))) => {
                    unanswered_since = None;
                    None
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            },
            ev = next_event(&mut session.events) => match ev {
                Ok(ev) => session.forward(&ev).map(|v| text(&v)),
                Err(RecvError::Lagged(missed)) => {
                    warn!(%peer, missed, "ws-api connection lagged the event broadcast; closing it");
                    Some(close(close_code::AGAIN, "user data stream lagged; reconnect and reconcile"))
                }
                Err(RecvError::Closed) => Some(close(close_code::AWAY, "server shutting down")),
            },
            _ = ping.tick() => {
                if unanswered_since.is_some_and(|t| t.elapsed() >= pong_timeout) {
                    warn!(%peer, "ws-api client did not answer pings; closing");
                    Some(close(close_code::POLICY, "pong timeout"))
                } else {
                    unanswered_since.get_or_insert_with(Instant::now);
                    Some(Message::Ping(Bytes::from(sim.now_ms().to_string())))
                }
            }
        };
        let Some(out) = out else { continue };
        let closing = matches!(out, Message::Close(_));
        if socket.send(out).await.is_err() || closing {
            break;
        }
    }
    debug!(%peer, "ws-api connection closed");
}
