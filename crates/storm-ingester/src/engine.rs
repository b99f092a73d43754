//! The ingester engine: keeps the wanted set subscribed over as many connections as it needs.
//!
//! One loop owns the decisions: every `subs_poll_ms` it reads `storm:subs:<venue>` (SMEMBERS),
//! builds the [`WantedSet`] (config ∪ members), plans with the [`ShardPlanner`] and applies the
//! plan — new [`Connection`] tasks for opened connections, [`ConnCommand`]s (unsubscribe first)
//! for changed ones, closed tasks for emptied ones. A failed read keeps the previous wanted set:
//! Redis being away must never unsubscribe anything. Events flow from the connections straight
//! to the [`writer`], never through this loop.
//!
//! Shutdown (the token fires): every connection unsubscribes what its budget allows at once and
//! closes; then the engine drops its event sender so the writer flushes and stops. The whole
//! sequence is bounded by [`SHUTDOWN_GRACE`] (5 s, supervisord's `stopwaitsecs` allows more).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::AsyncCommands;
use storm_bus::{Bus, BusError};
use storm_core::time::now_micros;
use storm_core::{Channel, MdEvent, StreamReset, VenueId};
use storm_service::metrics::{Counter, Gauge};
use storm_service::{BootError, Config, Metrics};
use storm_venues::adapter::{adapter_for_kind, AdapterError, StreamName, Subscription, VenueAdapter};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{IngesterConfig, IngesterConfigError};
use crate::conn_budget::ConnectBudget;
use crate::conn_stats::ConnStats;
use crate::connection::{ConnCommand, ConnContext, ConnSettings, Connection};
use crate::handover::Handover;
use crate::listing::{self, ListingSpec};
use crate::shard::{ConnId, ShardPlanner};
use crate::wanted::WantedSet;
use crate::writer::{self, WriterConfig, WriterStats};

/// From the shutdown signal to the engine's return, at most.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Of [`SHUTDOWN_GRACE`], the part connections get to unsubscribe and close.
const CONNECTIONS_GRACE: Duration = Duration::from_secs(2);

/// Why the engine could not start (once running, it only stops on shutdown).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// `ingester.venue` names no `[[venue]]`.
    #[error("ingester.venue = {0:?} names no [[venue]] entry")]
    UnknownVenue(String),
    /// No adapter for the venue's kind.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// A setting outside the venue's limits.
    #[error(transparent)]
    Config(#[from] IngesterConfigError),
    /// Redis or the metrics endpoint could not be set up.
    #[error(transparent)]
    Boot(#[from] BootError),
    /// Redis failed during start-up.
    #[error("redis: {0}")]
    Bus(#[from] BusError),
}

/// Runs the ingester until `shutdown` fires, with a fresh metrics registry.
pub async fn run(cfg: Config<IngesterConfig>, shutdown: CancellationToken) -> Result<(), EngineError> {
    run_with_metrics(cfg, Metrics::new(), shutdown).await
}

/// [`run`] with the caller's registry (tests read the engine's counters from it).
pub async fn run_with_metrics(
    cfg: Config<IngesterConfig>,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<(), EngineError> {
    let engine = &cfg.engine;
    let venue_cfg = cfg.venue(&engine.venue).ok_or_else(|| EngineError::UnknownVenue(engine.venue.clone()))?;
    let adapter = adapter_for_kind(venue_cfg.kind);
    let limits = adapter.limits();
    engine.validate(&limits)?;
    if engine.exceeds_venue_stream_cap(&limits) {
        warn!(
            requested = engine.max_streams_per_connection,
            max = limits.max_streams_per_connection,
            "max_streams_per_connection clamped to the venue's maximum"
        );
    }
    let venue = VenueId::new(&engine.venue);

    let bus = storm_service::boot::connect(&cfg.common, &metrics, shutdown.clone(), &shutdown).await?;
    let heartbeat =
        metrics.spawn_heartbeat(&bus, "ingester", &cfg.common.instance, Duration::from_millis(cfg.common.heartbeat_ms));

    // The writer stops when every sender is gone; its own token only cuts a Redis outage short.
    let writer_stop = CancellationToken::new();
    let writer_cfg = WriterConfig { batch_max: 512, buffer_max: engine.redis_buffer_max, maxlen: engine.stream_maxlen };
    let (events, writer_task) =
        writer::spawn(&bus, venue.clone(), writer_cfg, WriterStats::new(&metrics, &venue), writer_stop.clone());

    let settings = ConnSettings {
        venue: venue.clone(),
        url: adapter.connection_url(&venue_cfg.ws_url),
        silence_timeout: engine.silence_timeout(),
        ping_interval: engine.ping_interval(),
        liveness: engine.liveness(),
        reconnect_base: Duration::from_millis(engine.reconnect_base_ms),
        reconnect_max: Duration::from_millis(engine.reconnect_max_ms),
        connect_timeout: Duration::from_millis(engine.connect_timeout_ms),
        resubscribe_delay: Duration::from_millis(engine.resubscribe_delay_ms),
    };
    let ctx = ConnContext {
        adapter: adapter.clone(),
        settings: Arc::new(settings),
        events,
        connect_budget: Arc::new(Mutex::new(ConnectBudget::new(limits.new_connections))),
        stats: ConnStats::new(&metrics, &venue),
        shutdown: shutdown.clone(),
    };
    info!(venue = %venue, kind = adapter.kind(), url = %ctx.settings.url, "ingester started");

    let listed = (!engine.all_markets_quotes.is_empty()).then(|| {
        let spec = ListingSpec {
            url: adapter.listing_url(&venue_cfg.rest_url),
            assets: engine.all_markets_assets(),
            channels: engine.all_markets_channels.clone(),
            refresh: engine.all_markets_refresh(),
        };
        listing::spawn(adapter.clone(), spec, shutdown.clone())
    });
    let mut engine_loop = EngineLoop::new(engine, &metrics, &venue, adapter, ctx, listed);
    engine_loop.run(&bus, &shutdown).await;

    // Shutdown: connections first (they see the token), then the writer.
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    let EngineLoop { connections, ctx, .. } = engine_loop;
    drop(ctx);
    let tasks: Vec<_> = connections.into_values().map(Connection::into_task).collect();
    let _ = tokio::time::timeout(CONNECTIONS_GRACE, async {
        for (task, _commands) in tasks {
            let _ = task.await;
        }
    })
    .await;
    let mut writer_task = writer_task;
    if tokio::time::timeout_at(deadline - Duration::from_millis(500), &mut writer_task).await.is_err() {
        warn!(venue = %venue, "writer still busy at the shutdown deadline; stopping it");
        writer_stop.cancel();
        if tokio::time::timeout(Duration::from_millis(400), &mut writer_task).await.is_err() {
            writer_task.abort();
        }
    }
    let _ = tokio::time::timeout(Duration::from_millis(100), heartbeat).await;
    info!(venue = %venue, "ingester stopped");
    Ok(())
}

/// The poll-plan-apply loop's state.
struct EngineLoop {
    venue: VenueId,
    subs_key: String,
    poll: Duration,
    configured: Vec<Subscription>,
    /// The `all_markets_quotes` selection, when configured.
    listed: Option<watch::Receiver<Vec<Subscription>>>,
    adapter: Arc<dyn VenueAdapter>,
    planner: ShardPlanner<StreamName>,
    connections: BTreeMap<ConnId, Connection>,
    ctx: ConnContext,
    warned: BTreeSet<String>,
    max_age: Duration,
    overlap: Duration,
    rejected_members: Counter,
    wanted_streams: Gauge,
    connection_tasks: Gauge,
}

impl EngineLoop {
    fn new(
        cfg: &IngesterConfig,
        metrics: &Metrics,
        venue: &VenueId,
        adapter: Arc<dyn VenueAdapter>,
        ctx: ConnContext,
        listed: Option<watch::Receiver<Vec<Subscription>>>,
    ) -> Self {
        let limits = adapter.limits();
        let l = [("venue", venue.as_str())];
        Self {
            venue: venue.clone(),
            subs_key: String::new(),
            poll: cfg.subs_poll(),
            configured: cfg.subscriptions.clone(),
            listed,
            planner: ShardPlanner::new(cfg.streams_per_connection(&limits), limits.max_streams_per_connection),
            adapter,
            connections: BTreeMap::new(),
            ctx,
            warned: BTreeSet::new(),
            max_age: cfg.max_connection_age(),
            overlap: cfg.rotation_overlap(),
            rejected_members: metrics.counter(
                "storm_ingester_bad_subscriptions_total",
                "Subscription members that were invalid or unsupported",
                &l,
            ),
            wanted_streams: metrics.gauge("storm_ingester_wanted_streams", "Streams wanted", &l),
            connection_tasks: metrics.gauge("storm_ingester_connections", "Connection tasks running", &l),
        }
    }

    async fn run(&mut self, bus: &Bus, shutdown: &CancellationToken) {
        self.subs_key = bus.keys().subs(self.venue.as_str());
        let mut tick = tokio::time::interval(self.poll);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut conn = bus.conn();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            self.rotate_due();
            let read = tokio::time::timeout(self.poll.max(Duration::from_secs(1)), conn.smembers(&self.subs_key));
            let members: Vec<String> = match read.await {
                Ok(Ok(members)) => members,
                Ok(Err(e)) => {
                    warn!(venue = %self.venue, key = %self.subs_key, error = %e, "cannot read subscriptions; keeping the current set");
                    continue;
                }
                Err(_) => {
                    warn!(venue = %self.venue, key = %self.subs_key, "subscription read timed out; keeping the current set");
                    continue;
                }
            };
            self.apply(&members);
        }
    }

    /// Replaces every connection that reached the maximum age: the replacement opens and
    /// subscribes while the old one keeps flowing; [`finish_rotation`] closes the old one.
    fn rotate_due(&mut self) {
        let due: Vec<ConnId> =
            self.connections.iter().filter(|(_, c)| c.started.elapsed() >= self.max_age).map(|(id, _)| *id).collect();
        for old_id in due {
            let (Some(new_id), Some(old)) = (self.planner.replace_connection(old_id), self.connections.remove(&old_id))
            else {
                continue;
            };
            let streams: Vec<StreamName> =
                self.planner.streams_of(new_id).map(|s| s.iter().cloned().collect()).unwrap_or_default();
            let handover = Arc::new(Handover::new(Connection::subscriptions(self.adapter.as_ref(), &streams)));
            old.send(ConnCommand::Handover(handover.clone()));
            info!(venue = %self.venue, old = %old_id, new = %new_id, streams = streams.len(), "rotating connection");
            let new = Connection::spawn_replacement(new_id, self.ctx.clone(), streams, handover.clone());
            self.connections.insert(new_id, new);
            self.ctx.stats.rotations.inc();
            tokio::spawn(finish_rotation(old, handover, self.overlap, self.ctx.clone()));
        }
    }

    /// Plans for `members` ∪ config and applies the plan.
    fn apply(&mut self, members: &[String]) {
        let listed: Vec<Subscription> = self.listed.as_ref().map(|rx| rx.borrow().clone()).unwrap_or_default();
        let configured = self.configured.iter().cloned().chain(listed);
        let (wanted, rejected) = WantedSet::from_sources(configured, members);
        for err in rejected {
            self.warn_once(err.member.clone(), &err);
        }
        let streams = wanted.streams(self.adapter.as_ref());
        for err in &streams.unsupported {
            self.warn_once(err.to_string(), err);
        }
        let names = streams.names();
        self.wanted_streams.set(names.len() as f64);
        let plan = self.planner.plan(&names);
        if plan.is_empty() {
            return;
        }
        info!(venue = %self.venue, open = plan.open.len(), close = plan.close.len(), changed = plan.changes.len(), streams = names.len(), "applying subscription plan");
        for id in &plan.close {
            if let Some(conn) = self.connections.remove(id) {
                drop(conn.close());
            }
        }
        for (id, changes) in plan.changes {
            if plan.open.contains(&id) {
                let conn = Connection::spawn(id, self.ctx.clone(), changes.subscribe);
                self.connections.insert(id, conn);
                continue;
            }
            let Some(conn) = self.connections.get(&id) else { continue };
            if !changes.unsubscribe.is_empty() {
                conn.send(ConnCommand::Unsubscribe(changes.unsubscribe));
            }
            if !changes.subscribe.is_empty() {
                conn.send(ConnCommand::Subscribe(changes.subscribe));
            }
        }
        self.connection_tasks.set(self.connections.len() as f64);
    }

    fn warn_once(&mut self, key: String, err: &dyn std::fmt::Display) {
        if self.warned.insert(key) {
            self.rejected_members.inc();
            warn!(venue = %self.venue, error = %err, "subscription skipped");
        }
    }
}

/// Closes the rotated-out connection once the replacement has joined every stream, or after
/// `overlap`; writes a reset marker for any depth stream that may have lost events.
async fn finish_rotation(old: Connection, handover: Arc<Handover>, overlap: Duration, ctx: ConnContext) {
    let deadline = Instant::now() + overlap;
    let mut check = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            _ = tokio::time::sleep_until(deadline) => break,
            _ = check.tick() => if handover.all_joined() { break },
        }
    }
    let lost = handover.finish();
    let now = now_micros();
    for sub in lost {
        warn!(venue = %ctx.settings.venue, conn = %old.id, stream = %sub, "rotation could not prove continuity");
        if sub.channel == Channel::Depth {
            let reset = StreamReset { symbol: sub.symbol.clone(), reason: "rotation".into(), time_received: now };
            if ctx.events.send(MdEvent::Reset(reset)).await.is_err() {
                break;
            }
        }
    }
    info!(venue = %ctx.settings.venue, conn = %old.id, "rotated-out connection closed");
    drop(old.close());
}
