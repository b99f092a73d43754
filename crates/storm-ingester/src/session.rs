//! One connected session of a connection task: from the handshake until the socket ends.
//!
//! Split from [`crate::connection`] (which owns reconnects and backoff) so that everything that
//! happens on one live socket — budgeted sends, ping lag, frame classification, silence — reads
//! as one `select!` loop. Every wait is one branch; the socket has one writer, this loop.
//! The liveness tick ([`crate::liveness`]) is one of them: it reads the silence deadline the
//! frames already push forward, so vouching costs nothing per frame.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use storm_core::time::now_micros;
use storm_core::MdEvent;
use storm_service::metrics::Gauge;
use storm_venues::adapter::{ControlAction, ControlRequest, StreamName, VenueFrame};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::{debug, info, warn};

use crate::bucket::TokenBucket;
use crate::connection::{ConnCommand, ConnContext, StreamState};
use crate::handover::{Role, Seq};
use crate::liveness::{self, Liveness};
use crate::shard::ConnId;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest wait for one polite message (unsubscribe, close) at shutdown.
const POLITE_WAIT: Duration = Duration::from_millis(300);

/// How a session ended.
pub(crate) enum End {
    /// Shutdown, or the engine dropped this connection: do not reconnect.
    Stop,
    /// Reconnect, for this reason.
    Reconnect(String),
}

/// A client message waiting for budget.
enum Outgoing {
    Control(ControlRequest),
    Ping(u64),
}

/// One live socket's loop state, borrowing the connection task's long-lived state.
pub(crate) struct Session<'a> {
    id: ConnId,
    ctx: &'a ConnContext,
    state: &'a mut StreamState,
    own: &'a mut TokenBucket,
    pongs: &'a mut TokenBucket,
    commands: &'a mut mpsc::UnboundedReceiver<ConnCommand>,
    out: VecDeque<Outgoing>,
    /// Sent control requests awaiting a reply, by id.
    pending: HashMap<u64, (ControlAction, Vec<StreamName>)>,
    next_id: u64,
    /// Our outstanding ping: its sequence number and when it was sent.
    ping: Option<(u64, Instant)>,
    ping_seq: u64,
    /// This connection's ping lag (the venue-wide gauge shows the latest of any connection).
    ping_lag: Gauge,
    /// Rejected SUBSCRIBEs to send again: when, which streams, and how often they were rejected.
    retries: Vec<(Instant, Vec<StreamName>, u32)>,
    /// Request id of a re-sent SUBSCRIBE → how often its streams were rejected before.
    rejections: HashMap<u64, u32>,
    /// The depth symbols this session vouches for.
    liveness: Liveness,
}

/// A SUBSCRIBE rejected this many times in a row waits `resubscribe_delay × 2^n` at most.
const MAX_RESUBSCRIBE_DOUBLINGS: u32 = 4;

impl<'a> Session<'a> {
    /// A session over the task's state.
    pub(crate) fn new(
        id: ConnId,
        ctx: &'a ConnContext,
        state: &'a mut StreamState,
        own: &'a mut TokenBucket,
        pongs: &'a mut TokenBucket,
        commands: &'a mut mpsc::UnboundedReceiver<ConnCommand>,
        ping_lag: Gauge,
    ) -> Self {
        Self {
            id,
            ctx,
            state,
            own,
            pongs,
            commands,
            out: VecDeque::new(),
            pending: HashMap::new(),
            next_id: 1,
            ping: None,
            ping_seq: 0,
            ping_lag,
            retries: Vec::new(),
            rejections: HashMap::new(),
            liveness: Liveness::new(ctx.settings.liveness),
        }
    }

    /// Runs until the socket ends, shutdown, or the engine drops the connection.
    pub(crate) async fn run(mut self, mut ws: Ws, reason: &str) -> End {
        self.state.draining.clear();
        let resets = if self.state.is_replacement() { Vec::new() } else { self.state.resets(None, reason) };
        for reset in resets {
            if self.ctx.events.send(reset).await.is_err() {
                return End::Stop;
            }
        }
        let all: Vec<StreamName> = self.state.streams.keys().cloned().collect();
        self.queue(ControlAction::Subscribe, &all);
        let silence = self.ctx.settings.silence_timeout;
        let mut silent_at = Instant::now() + silence;
        let mut pings = tokio::time::interval(self.ctx.settings.ping_interval);
        pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
        pings.tick().await;
        let mut alive = tokio::time::interval(self.ctx.settings.liveness);
        alive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        alive.tick().await;
        loop {
            let send_at = Instant::from_std(self.own.ready_at(Instant::now().into_std()));
            let retry_at = self.retries.iter().map(|(at, _, _)| *at).min();
            tokio::select! {
                _ = self.ctx.shutdown.cancelled() => {
                    self.polite_close(&mut ws).await;
                    return End::Stop;
                }
                cmd = self.commands.recv() => match cmd {
                    None => {
                        let _ = tokio::time::timeout(POLITE_WAIT, ws.close(None)).await;
                        return End::Stop;
                    }
                    Some(cmd) => {
                        if !self.command(cmd).await {
                            return End::Stop;
                        }
                    }
                },
                msg = ws.next() => {
                    silent_at = Instant::now() + silence;
                    match msg {
                        Some(Ok(msg)) => {
                            if let Some(end) = self.message(msg).await {
                                return end;
                            }
                        }
                        Some(Err(e)) => return End::Reconnect(format!("socket error: {e}")),
                        None => return End::Reconnect("socket closed".into()),
                    }
                }
                _ = sleep_until(silent_at) => return End::Reconnect(format!("silent for {silence:?}")),
                _ = sleep_until(send_at), if !self.out.is_empty() => {
                    if let Err(e) = self.send_next(&mut ws).await {
                        return End::Reconnect(format!("send failed: {e}"));
                    }
                }
                _ = sleep_until(retry_at.unwrap_or(silent_at)), if retry_at.is_some() => self.resubscribe_due(),
                _ = pings.tick() => self.queue_ping(),
                _ = alive.tick() => {
                    if !self.vouch((silent_at - silence).elapsed()).await {
                        return End::Stop;
                    }
                }
            }
        }
    }

    fn queue_ping(&mut self) {
        self.ping_seq += 1;
        self.out.push_back(Outgoing::Ping(self.ping_seq));
    }

    /// The liveness tick: a ping when the venue has been quiet, and the `alive` entry while it
    /// was heard recently ([`Liveness`]); false when the writer is gone.
    async fn vouch(&mut self, since_heard: Duration) -> bool {
        if self.liveness.wants_ping(since_heard) && !self.out.iter().any(|o| matches!(o, Outgoing::Ping(_))) {
            self.queue_ping();
        }
        match self.liveness.entry(self.id, since_heard) {
            Some(alive) => self.ctx.events.send(alive).await.is_ok(),
            None => true,
        }
    }

    /// Queues control requests for `streams`, remembering unsubscribes as draining.
    fn queue(&mut self, action: ControlAction, streams: &[StreamName]) {
        let requests = match self.ctx.adapter.control_requests(action, streams, &mut self.next_id) {
            Ok(r) => r,
            Err(e) => {
                warn!(venue = %self.ctx.settings.venue, conn = %self.id, error = %e, "cannot build control message");
                return;
            }
        };
        for request in requests {
            if action == ControlAction::Unsubscribe {
                for stream in &request.streams {
                    if let Ok(sub) = self.ctx.adapter.subscription_of(stream.as_str()) {
                        if let Some(id) = self.state.draining.get_mut(&sub) {
                            *id = request.id;
                        }
                    }
                }
            }
            self.out.push_back(Outgoing::Control(request));
        }
    }

    /// Queues the due retries of rejected SUBSCRIBEs, for the streams still carried.
    fn resubscribe_due(&mut self) {
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.retries).into_iter().partition(|r| r.0 <= now);
        self.retries = later;
        for (_, streams, rejections) in due {
            let still: Vec<StreamName> = streams.into_iter().filter(|s| self.state.streams.contains_key(s)).collect();
            if still.is_empty() {
                continue;
            }
            info!(venue = %self.ctx.settings.venue, conn = %self.id, streams = still.len(), rejections, "sending a rejected SUBSCRIBE again");
            let first = self.next_id;
            self.queue(ControlAction::Subscribe, &still);
            for id in first..self.next_id {
                self.rejections.insert(id, rejections);
            }
        }
    }

    /// Schedules a rejected SUBSCRIBE again, later each time it is rejected, split in halves:
    /// a venue that refuses a whole batch for one bad stream (the sim does, all or nothing)
    /// then lets the good ones through, and the bad one ends up alone, retried ever more slowly.
    fn schedule_retry(&mut self, id: Option<u64>, mut streams: Vec<StreamName>) {
        let rejections = id.and_then(|id| self.rejections.remove(&id)).unwrap_or(0) + 1;
        let factor = 1u32 << (rejections - 1).min(MAX_RESUBSCRIBE_DOUBLINGS);
        let at = Instant::now() + self.ctx.settings.resubscribe_delay * factor;
        if streams.len() > 1 {
            let second = streams.split_off(streams.len() / 2);
            self.retries.push((at, second, rejections));
        }
        self.retries.push((at, streams, rejections));
    }

    /// Applies an engine command; false when the writer is gone.
    async fn command(&mut self, cmd: ConnCommand) -> bool {
        match cmd {
            ConnCommand::Subscribe(streams) => {
                let added = self.state.add(self.ctx.adapter.as_ref(), &streams);
                for reset in self.state.resets(Some(&added), "subscribe") {
                    if self.ctx.events.send(reset).await.is_err() {
                        return false;
                    }
                }
                self.queue(ControlAction::Subscribe, &added);
            }
            ConnCommand::Unsubscribe(streams) => {
                let removed = self.state.remove(&streams);
                self.liveness.forget(self.ctx.adapter.as_ref(), &removed);
                for marker in liveness::unsubscribed(self.ctx.adapter.as_ref(), &removed) {
                    if self.ctx.events.send(marker).await.is_err() {
                        return false;
                    }
                }
                self.queue(ControlAction::Unsubscribe, &removed);
            }
            ConnCommand::Handover(handover) => self.state.handover = Some((handover, Role::Old)),
        }
        true
    }

    /// Sends the next queued message if the budget allows it now.
    async fn send_next(&mut self, ws: &mut Ws) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        if self.own.try_acquire(Instant::now().into_std()).is_err() {
            return Ok(());
        }
        let Some(next) = self.out.pop_front() else { return Ok(()) };
        self.ctx.stats.sent.inc();
        match next {
            Outgoing::Control(request) => {
                debug!(conn = %self.id, id = request.id, streams = request.streams.len(), "control message");
                ws.send(Message::Text(request.text.into())).await?;
                self.pending.insert(request.id, (request.action, request.streams));
            }
            Outgoing::Ping(seq) => {
                ws.send(Message::Ping(seq.to_be_bytes().to_vec().into())).await?;
                self.ping = Some((seq, Instant::now()));
            }
        }
        Ok(())
    }

    /// Handles one incoming message; `Some` ends the session.
    async fn message(&mut self, msg: Message) -> Option<End> {
        match msg {
            Message::Text(text) => return self.text(text.as_str()).await,
            Message::Ping(_) => {
                // tungstenite has queued the echoing pong already; count it against the budget.
                if self.pongs.try_acquire(Instant::now().into_std()).is_err() {
                    self.ctx.stats.pong_over_budget.inc();
                    warn!(venue = %self.ctx.settings.venue, conn = %self.id, "server pings faster than the pong budget");
                }
            }
            Message::Pong(payload) => {
                if let Some((seq, sent)) = self.ping {
                    if payload.as_ref() == seq.to_be_bytes() {
                        let lag_ms = sent.elapsed().as_secs_f64() * 1_000.0;
                        self.ctx.stats.ping_lag_ms.set(lag_ms);
                        self.ping_lag.set(lag_ms);
                        self.ping = None;
                    }
                }
            }
            Message::Close(frame) => {
                let why = frame.map_or_else(|| "no reason".to_owned(), |f| format!("{} {}", f.code, f.reason));
                return Some(End::Reconnect(format!("close frame: {why}")));
            }
            Message::Binary(_) | Message::Frame(_) => self.ctx.stats.unexpected.inc(),
        }
        None
    }

    /// Classifies a text frame and forwards market data.
    async fn text(&mut self, text: &str) -> Option<End> {
        let venue = &self.ctx.settings.venue;
        let frame = match self.ctx.adapter.classify(text, now_micros()) {
            Ok(frame) => frame,
            Err(e) => {
                self.ctx.stats.malformed.inc();
                let head: String = text.chars().take(120).collect();
                warn!(venue = %venue, conn = %self.id, error = %e, frame = %head, "malformed frame skipped");
                return None;
            }
        };
        let sub = frame.subscription();
        let event = match frame {
            VenueFrame::Depth(d) => MdEvent::Depth(d),
            VenueFrame::Ticker(t) => MdEvent::Ticker(t),
            VenueFrame::Trade(t) => MdEvent::Trade(t),
            VenueFrame::Kline(k) => MdEvent::Kline(k),
            VenueFrame::Ack { id } => {
                if let Some(id) = id {
                    self.rejections.remove(&id);
                }
                match id.and_then(|id| self.pending.remove(&id)) {
                    Some((ControlAction::Unsubscribe, _)) => self.state.draining.retain(|_, req| Some(*req) != id),
                    Some((ControlAction::Subscribe, streams)) => self.liveness.confirm(&self.state.streams, &streams),
                    _ => {}
                }
                return None;
            }
            VenueFrame::Rejected { id, code, msg } => {
                self.ctx.stats.rejected.inc();
                let request = id.and_then(|id| self.pending.remove(&id));
                let streams: Vec<String> =
                    request.iter().flat_map(|(_, s)| s.iter().map(|n| n.to_string())).take(10).collect();
                warn!(venue = %venue, conn = %self.id, ?id, code, msg = %msg, ?streams, "control message rejected");
                if let Some((ControlAction::Subscribe, streams)) = request {
                    self.schedule_retry(id, streams);
                }
                return None;
            }
            VenueFrame::ServerShutdown => {
                info!(venue = %venue, conn = %self.id, "serverShutdown received");
                return Some(End::Reconnect("serverShutdown".into()));
            }
            VenueFrame::Subscriptions { streams, .. } => {
                debug!(conn = %self.id, count = streams.len(), "subscription list");
                return None;
            }
            _ => {
                self.ctx.stats.unexpected.inc();
                debug!(venue = %venue, conn = %self.id, "frame of a kind not handled");
                return None;
            }
        };
        let sub = sub?;
        if !self.state.wanted.contains(&sub) {
            if !self.state.draining.contains_key(&sub) {
                self.ctx.stats.unexpected.inc();
                warn!(venue = %venue, conn = %self.id, stream = %sub, "frame for a stream not asked for; skipped");
            }
            return None;
        }
        if let Some((handover, role)) = &self.state.handover {
            if !handover.admit(*role, &sub, Seq::of(&event)) {
                self.ctx.stats.handover_copies.inc();
                return None;
            }
        }
        self.ctx.stats.frames.inc();
        if self.ctx.events.send(event).await.is_err() {
            return Some(End::Stop);
        }
        None
    }

    /// At shutdown: unsubscribe what the budget allows at once, then close.
    async fn polite_close(&mut self, ws: &mut Ws) {
        let all: Vec<StreamName> = self.state.streams.keys().cloned().collect();
        let requests = self.ctx.adapter.control_requests(ControlAction::Unsubscribe, &all, &mut self.next_id);
        for request in requests.unwrap_or_default() {
            if self.own.try_acquire(Instant::now().into_std()).is_err() {
                break;
            }
            let send = ws.send(Message::Text(request.text.into()));
            if !matches!(tokio::time::timeout(POLITE_WAIT, send).await, Ok(Ok(()))) {
                break;
            }
        }
        let _ = tokio::time::timeout(POLITE_WAIT, ws.close(None)).await;
    }
}
