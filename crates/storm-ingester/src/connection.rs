//! One market-data WebSocket connection: a task that owns its socket, its streams and its
//! message budget, and keeps those streams flowing across every disconnect.
//!
//! Why one task per connection, owning everything: the venue's limits are per connection (5
//! client messages per second, pongs included), so the budget must sit next to the only writer of
//! the socket; and nothing is shared but the event sender, the connect budget and counters.
//!
//! - **Commands** ([`ConnCommand`]) from the engine change the stream set; the task turns them
//!   into the adapter's control messages and sends those only through the [`TokenBucket`].
//! - **Pongs.** tungstenite answers every ping by itself, echoing the payload, on the next read;
//!   that cannot be switched off, so the pong cannot wait for our budget. Instead our own messages
//!   (control messages and pings) get a bucket one token smaller than the venue allows, leaving
//!   one message per window for the pong; the venue pings every 20 s, far less than once per
//!   window. Pongs are still counted in a window of their own, and one beyond it (a server pinging
//!   more than once a second) is counted in `storm_ingester_pong_over_budget_total` and logged.
//! - **Health.** No frame at all for `silence_timeout` (our pings draw pongs, so a quiet but
//!   healthy connection is never silent), a close frame, a socket error or `serverShutdown` ends
//!   the session; the task reconnects after a jittered exponential backoff ([`Backoff`]), within
//!   the shared [`ConnectBudget`], re-subscribes its streams and writes a [`StreamReset`] on the
//!   depth stream of every depth symbol it carries, because diffs before and after do not join.
//! - **Liveness** ([`crate::liveness`]): while healthy, the session writes an `alive` entry per
//!   liveness interval for its acknowledged depth symbols; a removed depth stream (unsubscribed,
//!   or its connection closed as unwanted) gets an `unsub` marker after its last diff.
//! - **Bad input** (not JSON, a missing field, a stream not asked for, an error reply) is counted
//!   and logged, never fatal. Frames of a stream being unsubscribed are dropped quietly until the
//!   venue acknowledges the UNSUBSCRIBE.
//!
//! - **Rotation.** Before the venue's maximum age the engine opens a replacement
//!   ([`Connection::spawn_replacement`]) and hands the old one a [`ConnCommand::Handover`]; both
//!   then forward through the shared [`Handover`] until the engine closes the old one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use storm_core::time::now_micros;
use storm_core::{Backoff, Channel, MdEvent, StreamReset, VenueId};
use storm_service::metrics::Gauge;
use storm_venues::adapter::{StreamName, Subscription, VenueAdapter};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::bucket::TokenBucket;
use crate::conn_budget::ConnectBudget;
use crate::conn_stats::ConnStats;
use crate::handover::{Handover, Role};
use crate::liveness;
use crate::session::{End, Session};
use crate::shard::ConnId;
use crate::writer::EventSender;

/// The new-connection budget shared by every connection of a venue.
pub type SharedConnectBudget = Arc<Mutex<ConnectBudget>>;

/// A session that lasted this long resets the reconnect backoff.
const STABLE_SESSION: Duration = Duration::from_secs(10);

/// A change to a connection's streams, from the engine.
#[derive(Clone, Debug)]
pub enum ConnCommand {
    /// Add these streams.
    Subscribe(Vec<StreamName>),
    /// Drop these streams.
    Unsubscribe(Vec<StreamName>),
    /// This connection is being replaced: forward only through the shared handover from now on.
    Handover(Arc<Handover>),
}

/// Settings every connection of a venue shares.
#[derive(Clone, Debug)]
pub struct ConnSettings {
    /// The venue name (Redis keys, logs).
    pub venue: VenueId,
    /// The URL to open (from [`VenueAdapter::connection_url`]).
    pub url: String,
    /// No frame for this long: reconnect.
    pub silence_timeout: Duration,
    /// Our own pings, for the ping lag.
    pub ping_interval: Duration,
    /// How often the connection vouches for its depth symbols ([`crate::liveness`]).
    pub liveness: Duration,
    /// First reconnect delay.
    pub reconnect_base: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
    /// Longest wait for a TCP + TLS + WebSocket handshake.
    pub connect_timeout: Duration,
    /// First delay before a rejected SUBSCRIBE is sent again.
    pub resubscribe_delay: Duration,
}

/// What a connection task needs besides its streams.
#[derive(Clone)]
pub struct ConnContext {
    /// The venue's adapter.
    pub adapter: Arc<dyn VenueAdapter>,
    /// Shared settings.
    pub settings: Arc<ConnSettings>,
    /// Where parsed events go.
    pub events: EventSender,
    /// The venue's new-connection budget.
    pub connect_budget: SharedConnectBudget,
    /// Counters.
    pub stats: ConnStats,
    /// The process' shutdown token: unsubscribe politely, close, return.
    pub shutdown: CancellationToken,
}

/// The engine's handle on a connection task. Dropping the command sender (see
/// [`Connection::close`]) closes the socket without unsubscribing.
#[derive(Debug)]
pub struct Connection {
    /// The shard planner's id of this connection.
    pub id: ConnId,
    /// When the task started; the engine rotates the connection by this age (a reconnect only
    /// makes the socket younger, so rotating by it is always early enough).
    pub started: Instant,
    commands: mpsc::UnboundedSender<ConnCommand>,
    task: JoinHandle<()>,
}

impl Connection {
    /// Starts a connection task carrying `streams`.
    pub fn spawn(id: ConnId, ctx: ConnContext, streams: Vec<StreamName>) -> Self {
        Self::start(id, ctx, streams, None)
    }

    /// Starts the replacement of a rotated connection: it subscribes `streams` and forwards them
    /// through `handover` (no reset markers: the handover keeps the streams continuous).
    pub(crate) fn spawn_replacement(
        id: ConnId,
        ctx: ConnContext,
        streams: Vec<StreamName>,
        handover: Arc<Handover>,
    ) -> Self {
        Self::start(id, ctx, streams, Some(handover))
    }

    fn start(id: ConnId, ctx: ConnContext, streams: Vec<StreamName>, handover: Option<Arc<Handover>>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut state = StreamState::default();
        state.add(ctx.adapter.as_ref(), &streams);
        state.handover = handover.map(|h| (h, Role::New));
        let task = tokio::spawn(run(id, ctx, state, rx));
        Self { id, started: Instant::now(), commands: tx, task }
    }

    /// The subscriptions of `streams` (for a handover).
    pub(crate) fn subscriptions(adapter: &dyn VenueAdapter, streams: &[StreamName]) -> Vec<Subscription> {
        streams.iter().filter_map(|s| adapter.subscription_of(s.as_str()).ok()).collect()
    }

    /// Sends a command; false when the task has ended.
    pub fn send(&self, command: ConnCommand) -> bool {
        self.commands.send(command).is_ok()
    }

    /// Ends the connection (no unsubscribe: closing drops its streams) and returns the task.
    pub fn close(self) -> JoinHandle<()> {
        self.task
    }

    /// The task, leaving the command channel open (for shutdown, which the task sees itself).
    pub fn into_task(self) -> (JoinHandle<()>, mpsc::UnboundedSender<ConnCommand>) {
        (self.task, self.commands)
    }
}

/// The streams a connection carries, and those on their way out.
#[derive(Debug, Default)]
pub(crate) struct StreamState {
    /// Each stream with its subscription.
    pub(crate) streams: BTreeMap<StreamName, Subscription>,
    /// The subscriptions of `streams`, for the per-frame check.
    pub(crate) wanted: HashSet<Subscription>,
    /// Unsubscribed, not yet acknowledged: their frames are dropped without a count.
    pub(crate) draining: HashMap<Subscription, u64>,
    /// During a rotation: the shared handover and this connection's side of it.
    pub(crate) handover: Option<(Arc<Handover>, Role)>,
}

impl StreamState {
    /// Adds streams; returns those that were new.
    pub(crate) fn add(&mut self, adapter: &dyn VenueAdapter, streams: &[StreamName]) -> Vec<StreamName> {
        let mut added = Vec::new();
        for stream in streams {
            if self.streams.contains_key(stream) {
                continue;
            }
            match adapter.subscription_of(stream.as_str()) {
                Ok(sub) => {
                    self.draining.remove(&sub);
                    self.wanted.insert(sub.clone());
                    self.streams.insert(stream.clone(), sub);
                    added.push(stream.clone());
                }
                Err(e) => warn!(stream = %stream, error = %e, "stream the adapter cannot map back; not subscribed"),
            }
        }
        added
    }

    /// Removes streams; returns those that were present.
    pub(crate) fn remove(&mut self, streams: &[StreamName]) -> Vec<StreamName> {
        let mut removed = Vec::new();
        for stream in streams {
            if let Some(sub) = self.streams.remove(stream) {
                if let Some((handover, _)) = &self.handover {
                    handover.forget(&sub);
                }
                self.wanted.remove(&sub);
                self.draining.insert(sub, 0);
                removed.push(stream.clone());
            }
        }
        removed
    }

    /// True while this is the replacement side of an unfinished rotation (its first session
    /// continues the old connection's streams, so it writes no reset markers).
    pub(crate) fn is_replacement(&self) -> bool {
        matches!(self.handover, Some((_, Role::New)))
    }

    /// Reset markers for every depth symbol among `streams` (all streams when `None`).
    pub(crate) fn resets(&self, only: Option<&[StreamName]>, reason: &str) -> Vec<MdEvent> {
        let now = now_micros();
        let pick = |s: &StreamName| only.is_none_or(|o| o.contains(s));
        self.streams
            .iter()
            .filter(|(s, sub)| sub.channel == Channel::Depth && pick(s))
            .map(|(_, sub)| {
                MdEvent::Reset(StreamReset {
                    symbol: sub.symbol.clone(),
                    reason: reason.to_owned(),
                    time_received: now,
                })
            })
            .collect()
    }
}

/// The message budgets of one connection (see the module docs on pongs).
pub(crate) fn budgets(adapter: &dyn VenueAdapter) -> (TokenBucket, TokenBucket) {
    let limit = adapter.limits().client_messages;
    let mut own = TokenBucket::for_client_messages(limit);
    let pongs = TokenBucket::new(1, own.window());
    if limit.max > 1 {
        own = TokenBucket::new(limit.max - 1, own.window());
    }
    (own, pongs)
}

async fn run(id: ConnId, ctx: ConnContext, mut state: StreamState, commands: mpsc::UnboundedReceiver<ConnCommand>) {
    let ping_lag = ctx.stats.conn_ping_lag(id);
    keep_connected(id, &ctx, &mut state, commands, &ping_lag).await;
    // Closed by the engine because nothing on it is wanted any more (not at shutdown, and not the
    // old side of a rotation, whose streams go on on the replacement): its depth books are dropped.
    if !ctx.shutdown.is_cancelled() && !matches!(state.handover, Some((_, Role::Old))) {
        let streams: Vec<StreamName> = state.streams.keys().cloned().collect();
        for marker in liveness::unsubscribed(ctx.adapter.as_ref(), &streams) {
            if ctx.events.send(marker).await.is_err() {
                break;
            }
        }
    }
    ctx.stats.forget_conn(id);
}

/// The reconnect loop: one [`Session`] per socket until the task must stop.
async fn keep_connected(
    id: ConnId,
    ctx: &ConnContext,
    state: &mut StreamState,
    mut commands: mpsc::UnboundedReceiver<ConnCommand>,
    ping_lag: &Gauge,
) {
    let s = ctx.settings.clone();
    let mut backoff = Backoff::new(s.reconnect_base, s.reconnect_max);
    let (mut own, mut pongs) = budgets(ctx.adapter.as_ref());
    let mut reason = "connect";
    let mut first = true;
    loop {
        if !first {
            let delay = backoff.next_delay();
            ctx.stats.reconnects.inc();
            info!(venue = %s.venue, conn = %id, ?delay, attempt = backoff.attempt(), "reconnecting");
            if !wait(ctx, state, &mut commands, delay).await {
                return;
            }
        }
        first = false;
        loop {
            let now = Instant::now().into_std();
            let budget = ctx.connect_budget.lock().unwrap_or_else(|p| p.into_inner()).try_connect(now);
            match budget {
                Ok(()) => break,
                Err(delay) => {
                    warn!(venue = %s.venue, conn = %id, ?delay, "new-connection budget spent; waiting");
                    if !wait(ctx, state, &mut commands, delay).await {
                        return;
                    }
                }
            }
        }
        // `true`: TCP_NODELAY, so pings and control messages are not held behind an unacknowledged write.
        let connect = tokio_tungstenite::connect_async_with_config(s.url.as_str(), None, true);
        let ws = tokio::select! {
            _ = ctx.shutdown.cancelled() => return,
            r = tokio::time::timeout(s.connect_timeout, connect) => match r {
                Ok(Ok((ws, _))) => ws,
                Ok(Err(e)) => {
                    ctx.stats.connect_failures.inc();
                    warn!(venue = %s.venue, conn = %id, error = %e, "connect failed");
                    continue;
                }
                Err(_) => {
                    ctx.stats.connect_failures.inc();
                    warn!(venue = %s.venue, conn = %id, timeout = ?s.connect_timeout, "connect timed out");
                    continue;
                }
            },
        };
        ctx.stats.connects.inc();
        ctx.stats.opened();
        info!(venue = %s.venue, conn = %id, streams = state.streams.len(), reason, "connected");
        let started = Instant::now();
        let session = Session::new(id, ctx, state, &mut own, &mut pongs, &mut commands, ping_lag.clone());
        let end = session.run(ws, reason).await;
        ctx.stats.closed();
        if started.elapsed() >= STABLE_SESSION {
            backoff.reset();
        }
        match end {
            End::Stop => return,
            End::Reconnect(why) => {
                warn!(venue = %s.venue, conn = %id, reason = %why, "session ended; will reconnect");
                reason = "reconnect";
                if state.is_replacement() {
                    // The next session starts from scratch: reset markers, no handover filter.
                    state.handover = None;
                }
            }
        }
    }
}

/// Sleeps `delay` while keeping the stream set current; false when the task must stop.
async fn wait(
    ctx: &ConnContext,
    state: &mut StreamState,
    commands: &mut mpsc::UnboundedReceiver<ConnCommand>,
    delay: Duration,
) -> bool {
    let until = Instant::now() + delay;
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => return false,
            _ = tokio::time::sleep_until(until) => return true,
            cmd = commands.recv() => match cmd {
                None => return false,
                Some(ConnCommand::Subscribe(streams)) => {
                    state.add(ctx.adapter.as_ref(), &streams);
                }
                Some(ConnCommand::Unsubscribe(streams)) => {
                    let removed = state.remove(&streams);
                    state.draining.clear();
                    for marker in liveness::unsubscribed(ctx.adapter.as_ref(), &removed) {
                        if ctx.events.send(marker).await.is_err() {
                            return false;
                        }
                    }
                }
                Some(ConnCommand::Handover(handover)) => state.handover = Some((handover, Role::Old)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use storm_venues::binance::adapter::BinanceAdapter;

    use super::*;

    fn names(list: &[&str]) -> Vec<StreamName> {
        list.iter().map(|s| StreamName::new(*s)).collect()
    }

    #[test]
    fn own_messages_leave_one_token_per_window_for_the_automatic_pong() {
        let (mut own, mut pongs) = budgets(&BinanceAdapter);
        let t0 = std::time::Instant::now();
        assert_eq!(own.capacity(), 4);
        assert!((0..4).all(|_| own.try_acquire(t0).is_ok()));
        assert!(own.try_acquire(t0).is_err());
        assert!(pongs.try_acquire(t0).is_ok(), "the pong still fits: 5 in the window");
        assert!(pongs.try_acquire(t0).is_err(), "a second pong in one window is over budget");
    }

    #[test]
    fn stream_state_tracks_adds_removes_and_depth_resets() {
        let mut state = StreamState::default();
        let added = state.add(&BinanceAdapter, &names(&["btcusdt@depth@100ms", "ethusdt@trade", "bogus"]));
        assert_eq!(added, names(&["btcusdt@depth@100ms", "ethusdt@trade"]));
        assert!(state.add(&BinanceAdapter, &names(&["ethusdt@trade"])).is_empty(), "already there");
        let resets = state.resets(None, "reconnect");
        assert_eq!(resets.len(), 1);
        assert!(matches!(&resets[0], MdEvent::Reset(r) if r.symbol.as_str() == "BTCUSDT" && r.reason == "reconnect"));
        assert!(state.resets(Some(&names(&["ethusdt@trade"])), "subscribe").is_empty());
        assert_eq!(state.remove(&names(&["btcusdt@depth@100ms", "xrpusdt@trade"])), names(&["btcusdt@depth@100ms"]));
        let btc: Subscription = "depth:BTCUSDT".parse().unwrap();
        assert!(!state.wanted.contains(&btc) && state.draining.contains_key(&btc));
        state.add(&BinanceAdapter, &names(&["btcusdt@depth@100ms"]));
        assert!(state.wanted.contains(&btc) && !state.draining.contains_key(&btc));
    }
}
