//! One WS-API connection of an account: connect, subscribe, reconcile, then apply events live.
//!
//! - **Subscribe first, then reconcile.** Events that arrive while the REST snapshot is read are
//!   buffered and applied after it (see [`crate::reconcile`]); a failed reconcile is retried with
//!   backoff while the buffer keeps filling (bounded: beyond [`MAX_BUFFER`] the session restarts).
//! - **Pings.** tungstenite answers the venue's pings by itself on the next read; our own pings
//!   every `ping_interval_ms` draw pongs, so `silence_timeout_ms` without any frame means a dead
//!   socket and the session ends.
//! - **Retention.** Every `prune_interval_ms`, between reconciles, closed orders past
//!   `closed_order_retention_ms` are removed ([`crate::recorder::Recorder::prune`]).
//! - **Age.** The session ends (planned) at `max_connection_age_ms`, before Binance's 24 h cut.
//! - **Bad input** — unreadable frames, binary frames, events of unknown types or of another
//!   subscription — is counted and logged, never fatal.
//! - **Secrets.** The subscribe request carries the API key: it is sent, never logged; text
//!   from outside is passed through [`crate::worker::Redact`] before it is logged.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use storm_core::{Backoff, Symbol};
use storm_venues::binance::user_wire::{parse_user_frame, subscribe_request, UserEvent, UserFrame};
use storm_venues::error::VenueError;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::{debug, info, warn};

use crate::config::StreamerConfig;
use crate::reconcile::{fetch, Snapshot};
use crate::recorder::Flow;
use crate::worker::{End, Worker};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Fetch = Pin<Box<dyn Future<Output = Result<Snapshot, VenueError>> + Send>>;

/// Most events buffered while a reconcile is outstanding.
pub const MAX_BUFFER: usize = 100_000;

/// Awaits the future when there is one, else never.
async fn maybe(f: &mut Option<Fetch>) -> Result<Snapshot, VenueError> {
    match f {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `at`, or forever without one.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Worker {
    /// Runs one connection until it ends.
    pub(crate) async fn session(&mut self) -> End {
        let timeout = StreamerConfig::ms(self.cfg.connect_timeout_ms);
        if let Ok(Err(e)) = tokio::time::timeout(timeout, self.rest.sync_time()).await {
            warn!(venue = %self.venue, error = %self.redact.clean(e), "cannot read the venue clock; using the last offset");
        }
        // `true`: TCP_NODELAY, so pings and control messages are not held behind an unacknowledged write.
        let connect = tokio_tungstenite::connect_async_with_config(self.ws_url.as_str(), None, true);
        let mut ws = tokio::select! {
            _ = self.shutdown.cancelled() => return End::Stop,
            r = tokio::time::timeout(timeout, connect) => match r {
                Ok(Ok((ws, _))) => ws,
                Ok(Err(e)) => return End::failed(format!("connect failed: {}", self.redact.clean(e))),
                Err(_) => return End::failed("connect timed out"),
            },
        };
        let (sub_id, pending) = match self.subscribe(&mut ws, timeout).await {
            Ok(ok) => ok,
            Err(end) => {
                close(&mut ws).await;
                return end;
            }
        };
        self.stats.connected.set(1.0);
        info!(venue = %self.venue, account = %self.acct, subscription = sub_id, "user-data stream subscribed");
        let end = self.live(&mut ws, sub_id, pending).await;
        self.stats.connected.set(0.0);
        close(&mut ws).await;
        end
    }

    /// Sends the signed subscription and waits for its response.
    async fn subscribe(&mut self, ws: &mut Ws, timeout: Duration) -> Result<(u64, Vec<UserEvent>), End> {
        let id = format!("storm-{}-{}", self.acct, storm_core::time::now_micros());
        let request = subscribe_request(&id, self.rest.credentials(), self.rest.venue_now_ms());
        if let Err(e) = ws.send(Message::Text(request.into())).await {
            return Err(End::failed(format!("cannot send the subscription: {}", self.redact.clean(e))));
        }
        let deadline = Instant::now() + timeout;
        let mut early = Vec::new();
        loop {
            let msg = tokio::select! {
                _ = self.shutdown.cancelled() => return Err(End::Stop),
                _ = tokio::time::sleep_until(deadline) => return Err(End::failed("no reply to the subscription")),
                m = ws.next() => m,
            };
            let text = match msg {
                None => return Err(End::failed("closed while subscribing")),
                Some(Err(e)) => return Err(End::failed(format!("socket error: {}", self.redact.clean(e)))),
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(Message::Close(f))) => {
                    return Err(End::failed(format!(
                        "closed while subscribing: {}",
                        self.redact.clean(format!("{f:?}"))
                    )))
                }
                Some(Ok(_)) => continue,
            };
            match parse_user_frame(text.as_str()) {
                Ok(UserFrame::Response(r)) if r.id.as_str() == Some(id.as_str()) => {
                    if let (200, Some(sub)) = (r.status, r.subscription_id()) {
                        let ours = early.into_iter().filter(|(s, _)| *s == sub).map(|(_, e)| e).collect();
                        return Ok((sub, ours));
                    }
                    let (code, msg) = r.error.map_or((0, String::new()), |e| (e.code, e.msg));
                    let why =
                        format!("subscription refused: status {} code {code} {}", r.status, self.redact.clean(msg));
                    return Err(End::failed(why));
                }
                Ok(UserFrame::Response(_)) => {}
                Ok(UserFrame::Event { subscription_id, event }) => early.push((subscription_id, event)),
                Err(e) => self.malformed(&e, text.as_str()),
            }
        }
    }

    /// A fresh REST snapshot read in the background.
    fn start_fetch(&self) -> Fetch {
        let extra = self.cfg.reconcile_symbols.iter().map(Symbol::new).collect();
        Box::pin(fetch(self.rest.clone(), self.recorder.book().clone(), extra, self.cfg.reconcile_trades_limit))
    }

    /// Reconciles, then applies events as they come.
    async fn live(&mut self, ws: &mut Ws, sub_id: u64, mut buffer: Vec<UserEvent>) -> End {
        let cfg = &self.cfg;
        let age_limit = Instant::now() + StreamerConfig::ms(cfg.max_connection_age_ms);
        let period = StreamerConfig::ms(cfg.ping_interval_ms);
        let silence = StreamerConfig::ms(cfg.silence_timeout_ms);
        let mut ping = tokio::time::interval_at(Instant::now() + period, period);
        let prune_period = StreamerConfig::ms(cfg.prune_interval_ms);
        let mut prune = tokio::time::interval_at(Instant::now() + prune_period, prune_period);
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut retry =
            Backoff::new(StreamerConfig::ms(cfg.reconnect_base_ms), StreamerConfig::ms(cfg.reconnect_max_ms));
        let mut last_frame = Instant::now();
        let mut reconcile = Some(self.start_fetch());
        let mut retry_at: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return End::Stop,
                _ = tokio::time::sleep_until(age_limit) => {
                    return End::Reconnect { reason: "maximum connection age".into(), planned: true };
                }
                _ = ping.tick() => {
                    if last_frame.elapsed() >= silence {
                        return End::failed(format!("no frame for {silence:?}"));
                    }
                    if let Err(e) = ws.send(Message::Ping(Vec::new().into())).await {
                        return End::failed(format!("cannot ping: {}", self.redact.clean(e)));
                    }
                }
                // Not while a snapshot is read: it compares against the book it was started with.
                _ = prune.tick(), if reconcile.is_none() && retry_at.is_none() => self.recorder.prune().await,
                _ = until(retry_at) => {
                    retry_at = None;
                    reconcile = Some(self.start_fetch());
                }
                res = maybe(&mut reconcile) => {
                    reconcile = None;
                    match res {
                        Ok(snapshot) => {
                            retry.reset();
                            self.recorder.snapshot(snapshot).await;
                            for event in std::mem::take(&mut buffer) {
                                match self.recorder.event(event).await {
                                    Flow::Continue => {}
                                    Flow::Reconcile => reconcile = Some(self.start_fetch()),
                                    Flow::Terminated => return End::Reconnect { reason: "eventStreamTerminated".into(), planned: true },
                                }
                            }
                        }
                        Err(e) => {
                            self.stats.reconcile_failures.inc();
                            let delay = retry.next_delay();
                            warn!(venue = %self.venue, account = %self.acct, error = %self.redact.clean(e), ?delay, "reconcile failed; retrying");
                            retry_at = Some(Instant::now() + delay);
                        }
                    }
                }
                msg = ws.next() => {
                    last_frame = Instant::now();
                    let text = match msg {
                        None => return End::failed("connection closed"),
                        Some(Err(e)) => return End::failed(format!("socket error: {}", self.redact.clean(e))),
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Close(f))) => {
                            let why = f.map_or_else(|| "no reason".to_owned(), |f| format!("{} {}", f.code, f.reason));
                            return End::failed(format!("close frame: {}", self.redact.clean(why)));
                        }
                        Some(Ok(Message::Binary(_))) => {
                            self.stats.malformed.inc();
                            warn!(venue = %self.venue, account = %self.acct, "binary frame skipped");
                            continue;
                        }
                        Some(Ok(_)) => continue, // ping (answered by tungstenite), pong, raw frame
                    };
                    let event = match parse_user_frame(text.as_str()) {
                        Ok(UserFrame::Event { subscription_id, event }) if subscription_id == sub_id => event,
                        Ok(UserFrame::Event { subscription_id, .. }) => {
                            self.stats.unknown.inc();
                            warn!(venue = %self.venue, subscription_id, "event of another subscription skipped");
                            continue;
                        }
                        Ok(UserFrame::Response(r)) => {
                            debug!(status = r.status, "response outside a request skipped");
                            continue;
                        }
                        Err(e) => {
                            self.malformed(&e, text.as_str());
                            continue;
                        }
                    };
                    if matches!(event, UserEvent::Terminated(_)) {
                        self.recorder.event(event).await;
                        return End::Reconnect { reason: "eventStreamTerminated".into(), planned: true };
                    }
                    if reconcile.is_some() || retry_at.is_some() {
                        buffer.push(event);
                        if buffer.len() > MAX_BUFFER {
                            return End::failed("too many events buffered while reconciling");
                        }
                        continue;
                    }
                    match self.recorder.event(event).await {
                        Flow::Continue | Flow::Terminated => {}
                        Flow::Reconcile => reconcile = Some(self.start_fetch()),
                    }
                }
            }
        }
    }

    fn malformed(&self, error: &dyn std::fmt::Display, text: &str) {
        self.stats.malformed.inc();
        let head: String = text.chars().take(160).collect();
        warn!(venue = %self.venue, account = %self.acct, error = %self.redact.clean(error), frame = %self.redact.clean(head), "malformed frame skipped");
    }
}

/// Closes politely, without waiting long for the other side.
async fn close(ws: &mut Ws) {
    let _ = tokio::time::timeout(Duration::from_millis(500), ws.close(None)).await;
}
