//! One market-data connection: its streams, Binance's per-connection limits, and the injected
//! faults, in a single task that owns the socket.
//!
//! Owning everything in one task (no lock, no second writer) keeps the order of frames on the
//! wire the order of the hub's channel. Frames are fed in batches and flushed once, so a busy
//! connection costs one write per batch rather than one per frame. Every wait is one branch of a
//! `select!`; timers live across iterations so a frame costs no timer registration.
//!
//! Limits (from [`WsLimits`]): a ping every `ping_interval_ms`, and the connection is closed when
//! the oldest unanswered ping is `pong_timeout_ms` old (only a pong echoing a ping's payload
//! answers it; unsolicited pongs are allowed but do not count, as on Binance); more than
//! `max_incoming_per_sec` messages (text, binary, ping, pong) within any one second closes it;
//! at `max_connection_age_ms` it gets `{"e":"serverShutdown"}` and is closed. A write that has
//! not completed after `pong_timeout_ms` means the client stopped reading: closed too.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{close_code, CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use serde_json::Value;
use storm_venues::binance::wire::ServerShutdown;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, watch};
use tokio::time::{sleep_until, Instant, MissedTickBehavior};
use tracing::debug;

use super::control::{self, Command, Failure};
use super::hub::{Item, Out, Shared, Subscriptions};
use super::stream::StreamKey;
use crate::config::WsLimits;
use crate::faults::WsFaultState;
use crate::server::SimState;

/// Frames fed before one flush.
const BATCH: usize = 256;

/// What the `malformed` fault sends: the start of a depth frame, cut off.
const MALFORMED: &str = r#"{"e":"depthUpdate","E":"#;

/// Why a connection ends; `Some` close frames are sent before the socket is dropped.
struct Disconnect(Option<(u16, &'static str)>);

impl Disconnect {
    fn gone() -> Self {
        Self(None)
    }
    fn close(code: u16, reason: &'static str) -> Self {
        Self(Some((code, reason)))
    }
}

type Step = Result<(), Disconnect>;

/// Limits beyond a year are as good as none; capping them keeps every deadline representable.
const MAX_LIMIT_MS: u64 = 365 * 86_400_000;

/// `now + ms` (capped at [`MAX_LIMIT_MS`]).
fn deadline(now: Instant, ms: u64) -> Instant {
    now.checked_add(Duration::from_millis(ms.min(MAX_LIMIT_MS))).unwrap_or(now)
}

/// Runs a socket write; a client that does not take it within `limit` is gone.
async fn timed(limit: Duration, write: impl std::future::Future<Output = Result<(), axum::Error>>) -> Step {
    match tokio::time::timeout(limit, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) | Err(_) => Err(Disconnect::gone()),
    }
}

struct Conn {
    socket: WebSocket,
    shared: Arc<Shared>,
    subs: Subscriptions,
    combined: bool,
    limits: WsLimits,
    faults: watch::Receiver<WsFaultState>,
    /// The fault state already acted on.
    seen: WsFaultState,
    /// The `gap` fault: drop the next depth frame.
    gap_pending: bool,
    /// The `malformed` fault: send one invalid frame.
    malformed_pending: bool,
    /// Arrival times of the messages of the last second.
    incoming: VecDeque<Instant>,
    /// Payload of the last ping sent; a pong must echo it.
    last_ping: Bytes,
    /// When the oldest unanswered ping was sent (`None` while every ping is answered).
    unanswered_since: Option<Instant>,
    write_timeout: Duration,
}

/// Serves one upgraded connection until it closes; `streams` are the ones named in the URL.
pub async fn run(
    socket: WebSocket,
    state: Arc<SimState>,
    shared: Arc<Shared>,
    streams: Vec<StreamKey>,
    combined: bool,
) {
    // Subscribe to the hub before holding any stream, so no frame of them can be missed.
    let rx = shared.subscribe();
    let mut faults = state.faults.ws_watch();
    let seen = *faults.borrow_and_update();
    let mut subs = Subscriptions::new(shared.clone());
    streams.into_iter().for_each(|k| subs.add(k));
    let limits = state.ws.clone();
    drop(state); // the connection must not keep the simulator alive
    let mut conn = Conn {
        socket,
        shared,
        subs,
        combined,
        write_timeout: Duration::from_millis(limits.pong_timeout_ms.max(1_000)),
        limits,
        faults,
        seen,
        gap_pending: false,
        malformed_pending: false,
        incoming: VecDeque::new(),
        last_ping: Bytes::new(),
        unanswered_since: None,
    };
    if let Err(Disconnect(Some((code, reason)))) = conn.serve(rx).await {
        debug!(code, reason, "closing market-data connection");
        let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
        let _ = tokio::time::timeout(Duration::from_secs(1), conn.socket.send(Message::Close(Some(frame)))).await;
    }
}

impl Conn {
    async fn serve(&mut self, mut rx: broadcast::Receiver<Item>) -> Step {
        let start = Instant::now();
        let age = sleep_until(deadline(start, self.limits.max_connection_age_ms));
        let pong = sleep_until(deadline(start, self.limits.pong_timeout_ms));
        tokio::pin!(age, pong);
        let every = Duration::from_millis(self.limits.ping_interval_ms.clamp(1, MAX_LIMIT_MS));
        let mut ping = tokio::time::interval_at(start + every, every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut faults_open = true;
        loop {
            if let Some(until) = self.seen.stall_until.filter(|u| *u > Instant::now()) {
                // Stalled: send nothing and read nothing; only another fault can cut it short.
                tokio::select! {
                    r = self.faults.changed(), if faults_open => match r {
                        Ok(()) => self.on_fault_change()?,
                        Err(_) => faults_open = false,
                    },
                    _ = sleep_until(until) => {}
                }
                ping.reset();
                if self.unanswered_since.is_some() {
                    self.unanswered_since = Some(Instant::now());
                    pong.as_mut().reset(deadline(Instant::now(), self.limits.pong_timeout_ms));
                }
                continue;
            }
            if std::mem::take(&mut self.malformed_pending) {
                self.send(Message::Text(Utf8Bytes::from_static(MALFORMED))).await?;
            }
            tokio::select! {
                biased;
                r = self.faults.changed(), if faults_open => match r {
                    Ok(()) => self.on_fault_change()?,
                    Err(_) => faults_open = false,
                },
                _ = &mut age => {
                    let bye = ServerShutdown { time_ms: storm_core::time::now_millis(), ..Default::default() };
                    self.send(Message::Text(serde_json::to_string(&bye).unwrap_or_default().into())).await?;
                    return Err(Disconnect::close(close_code::AWAY, "connection age limit"));
                }
                _ = &mut pong, if self.unanswered_since.is_some() => {
                    return Err(Disconnect::close(close_code::POLICY, "pong timeout"));
                }
                _ = ping.tick() => {
                    let now = Instant::now();
                    self.last_ping = Bytes::from(storm_core::time::now_millis().to_string());
                    if self.unanswered_since.is_none() {
                        self.unanswered_since = Some(now);
                        pong.as_mut().reset(deadline(now, self.limits.pong_timeout_ms));
                    }
                    self.send(Message::Ping(self.last_ping.clone())).await?;
                }
                msg = self.socket.recv() => match msg {
                    Some(Ok(msg)) => self.on_message(msg).await?,
                    Some(Err(_)) | None => return Err(Disconnect::gone()),
                },
                item = rx.recv() => self.forward(item, &mut rx).await?,
            }
        }
    }

    /// Acts on fault injections not yet seen.
    fn on_fault_change(&mut self) -> Step {
        let now = *self.faults.borrow_and_update();
        let seen = std::mem::replace(&mut self.seen, now);
        if now.close_generation != seen.close_generation {
            return Err(Disconnect::close(close_code::AWAY, "streams closed by fault injection"));
        }
        if now.gap_generation != seen.gap_generation {
            self.gap_pending = true;
        }
        if now.malformed_generation != seen.malformed_generation {
            self.malformed_pending = true; // sent at the top of the loop, after any stall
        }
        Ok(())
    }

    /// Sends the hub's frame and whatever else is already queued, then flushes once.
    async fn forward(&mut self, first: Result<Item, RecvError>, rx: &mut broadcast::Receiver<Item>) -> Step {
        let mut next = first;
        let mut fed = 0;
        loop {
            match next {
                Ok(Item::Frame(out)) => self.feed(&out).await?,
                Ok(Item::Reset) => return Err(Disconnect::close(close_code::AGAIN, "server reset the streams")),
                Err(RecvError::Lagged(_)) => return Err(Disconnect::close(close_code::POLICY, "slow consumer")),
                Err(RecvError::Closed) => return Err(Disconnect::close(close_code::AWAY, "server shutting down")),
            }
            fed += 1;
            // Take another item only if this batch will send it: an item taken from the channel
            // and not sent would be a silent gap.
            if fed == BATCH {
                break;
            }
            next = match rx.try_recv() {
                Ok(item) => Ok(item),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(TryRecvError::Closed) => Err(RecvError::Closed),
            };
        }
        timed(self.write_timeout, self.socket.flush()).await
    }

    async fn feed(&mut self, out: &Out) -> Step {
        if !self.subs.contains(out.key) {
            return Ok(());
        }
        if self.gap_pending && out.key.kind.is_depth() {
            self.gap_pending = false;
            return Ok(());
        }
        match out.text(self.combined, &self.shared.universe) {
            Some(text) => timed(self.write_timeout, self.socket.feed(Message::Text(text))).await,
            None => Ok(()),
        }
    }

    async fn send(&mut self, msg: Message) -> Step {
        timed(self.write_timeout, self.socket.send(msg)).await
    }

    /// Counts an incoming message against the per-second limit.
    fn count_incoming(&mut self) -> Step {
        let now = Instant::now();
        while self.incoming.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
            self.incoming.pop_front();
        }
        self.incoming.push_back(now);
        if self.incoming.len() > self.limits.max_incoming_per_sec as usize {
            return Err(Disconnect::close(close_code::POLICY, "too many messages"));
        }
        Ok(())
    }

    async fn on_message(&mut self, msg: Message) -> Step {
        match msg {
            Message::Close(_) => Err(Disconnect::gone()),
            Message::Ping(_) => self.count_incoming(), // the pong is answered by the socket
            Message::Pong(payload) => {
                self.count_incoming()?;
                if payload == self.last_ping {
                    self.unanswered_since = None;
                }
                Ok(())
            }
            Message::Text(text) => {
                self.count_incoming()?;
                let reply = self.on_request(text.as_str());
                self.send(Message::Text(reply.into())).await
            }
            Message::Binary(bytes) => {
                self.count_incoming()?;
                let reply = match std::str::from_utf8(&bytes) {
                    Ok(text) => self.on_request(text),
                    Err(e) => control::error(Failure { code: 3, msg: format!("Invalid JSON: {e}"), id: Value::Null }),
                };
                self.send(Message::Text(reply.into())).await
            }
        }
    }

    /// Executes a control request; returns the reply text.
    fn on_request(&mut self, text: &str) -> String {
        let request = match control::parse(text) {
            Ok(r) => r,
            Err(f) => return control::error(f),
        };
        let id = request.id;
        let result = match request.command {
            Command::Subscribe(names) => self.subscribe(&names, &id).map(|()| Value::Null),
            Command::Unsubscribe(names) => self.parse_streams(&names, &id).map(|keys| {
                keys.into_iter().for_each(|k| self.subs.remove(k));
                Value::Null
            }),
            Command::List => Ok(Value::from(self.subs.names())),
            Command::SetCombined(on) => {
                self.combined = on;
                Ok(Value::Null)
            }
            Command::GetCombined => Ok(Value::Bool(self.combined)),
        };
        match result {
            Ok(result) => control::reply(result, id),
            Err(f) => control::error(f),
        }
    }

    fn parse_streams(&self, names: &[String], id: &Value) -> Result<Vec<StreamKey>, Failure> {
        names
            .iter()
            .map(|n| {
                self.shared
                    .universe
                    .parse(n)
                    .ok_or_else(|| Failure::invalid(format!("invalid stream name `{n}`"), id.clone()))
            })
            .collect()
    }

    /// Adds every stream or none.
    fn subscribe(&mut self, names: &[String], id: &Value) -> Result<(), Failure> {
        let keys = self.parse_streams(names, id)?;
        let mut new: Vec<StreamKey> = keys.into_iter().filter(|k| !self.subs.contains(*k)).collect();
        new.sort_by_key(|k| k.slot());
        new.dedup();
        if self.subs.len() + new.len() > self.limits.max_streams {
            let max = self.limits.max_streams;
            return Err(Failure::invalid(format!("too many streams: at most {max} per connection"), id.clone()));
        }
        // Keep the client's order for LIST_SUBSCRIPTIONS.
        for name in names {
            if let Some(k) = self.shared.universe.parse(name) {
                self.subs.add(k);
            }
        }
        Ok(())
    }
}
