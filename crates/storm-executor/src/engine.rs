//! The executor process: consumer group `executor` on `storm:opps`, one chain at a time per
//! process (several processes share the group; each opportunity goes to one of them).
//!
//! Start-up re-reads this consumer's own unacknowledged entries first (a restart after a crash
//! continues those chains from the journal) and periodically claims entries idle longer than
//! `claim_idle_ms` from any consumer (XAUTOCLAIM: a crashed executor's chains are finished by
//! another — once their owner's lease ran out, [`crate::claim`]) and scans the open chains for
//! orphans whose entry is gone ([`crate::resume::scan_orphans`]). An entry is acknowledged only in the same script that logs its outcome
//! ([`crate::outcome::finish`]). SIGTERM lets the chain in hand finish (or stop while an order's
//! outcome is being resolved, leaving it to the next run), then exits 0.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use storm_bus::{BusError, GroupConsumer, WeightBudget, WeightBudgetConfig};
use storm_core::time::now_millis;
use storm_service::{BootError, Config, Metrics};
use storm_venues::rest::{self, RestClient};
use storm_venues::trading::{self, ApiKeys};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::{ExecutorConfig, ExecutorConfigError, Mode};
use crate::ctx::{ChainError, Ctx, GROUP};
use crate::gateway::Gateway;
use crate::handle;
use crate::journal::JournalError;
use crate::order::OrderLimiter;
use crate::paper::Paper;
use crate::stats::Stats;

/// Why the executor could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// `executor.venue` names no `[[venue]]`.
    #[error("executor.venue = {0:?} names no [[venue]] entry")]
    UnknownVenue(String),
    /// A setting that cannot work.
    #[error(transparent)]
    Config(#[from] ExecutorConfigError),
    /// Keys missing for a mode that signs requests.
    #[error("executor.mode = {0:?} needs api_key_env and api_secret_env on the venue, set in the environment: {1}")]
    Keys(&'static str, String),
    /// Redis or the metrics endpoint could not be set up.
    #[error(transparent)]
    Boot(#[from] BootError),
    /// Redis failed during start-up.
    #[error("redis: {0}")]
    Bus(#[from] BusError),
    /// The venue client could not be built.
    #[error("venue: {0}")]
    Venue(String),
}

/// Runs the executor until `shutdown` fires, with a fresh metrics registry.
pub async fn run(cfg: Config<ExecutorConfig>, shutdown: CancellationToken) -> Result<(), EngineError> {
    run_with_metrics(cfg, Metrics::new(), shutdown).await
}

/// [`run`] with the caller's registry.
pub async fn run_with_metrics(
    cfg: Config<ExecutorConfig>,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<(), EngineError> {
    let engine = cfg.engine.clone();
    engine.validate()?;
    let venue_cfg = cfg.venue(&engine.venue).ok_or_else(|| EngineError::UnknownVenue(engine.venue.clone()))?;
    // Redis stays reachable while the chain in hand finishes after SIGTERM.
    let bus_stop = CancellationToken::new();
    let bus = storm_service::boot::connect(&cfg.common, &metrics, bus_stop.clone(), &shutdown).await?;
    let heartbeat =
        metrics.spawn_heartbeat(&bus, "executor", &cfg.common.instance, Duration::from_millis(cfg.common.heartbeat_ms));
    let fast = std::sync::Arc::new(bus.blocking_conn());
    let stats = Stats::new(&metrics, &engine.venue);
    let (gateway, balance_key) = match engine.mode {
        Mode::Paper => {
            (Gateway::Paper(Box::new(Paper::new(&bus, &engine.venue, engine.paper_fee, &engine.paper_balances))), None)
        }
        Mode::DryRun | Mode::Live => {
            let keys = |r: Result<Option<storm_service::config::Secret>, _>| match r {
                Ok(Some(s)) => Ok(s),
                Ok(None) => Err(EngineError::Keys(engine.mode.as_str(), "not configured".into())),
                Err(e) => Err(EngineError::Keys(engine.mode.as_str(), format!("{e}"))),
            };
            let (key, secret) = (keys(venue_cfg.api_key())?, keys(venue_cfg.api_secret())?);
            let api_keys =
                ApiKeys { key: key.expose().to_owned(), secret: secret.expose().to_owned(), passphrase: None };
            let budget = WeightBudget::new(
                &bus,
                &engine.venue,
                WeightBudgetConfig::new(rest::weight_per_minute(venue_cfg.kind)),
            )
            .map_err(|e| EngineError::Venue(e.to_string()))?;
            // An order's weight is reserved on the same blocking connection as the gate: two
            // plain round trips between a signal and its order instead of async ones.
            budget.first_try_on(fast.clone());
            let mut rest = RestClient::new(venue_cfg.kind, budget).map_err(|e| EngineError::Venue(e.to_string()))?;
            rest.on_send(stats.first_send.hook());
            let venue = trading::connect(venue_cfg.kind, rest, &venue_cfg.rest_url, api_keys, engine.order_timeout())
                .map_err(|e| EngineError::Venue(e.to_string()))?;
            match venue.sync_time().await {
                Ok(offset) => info!(offset_ms = offset, "venue clock offset measured"),
                Err(e) => warn!(error = %e, "cannot read the venue clock yet; using ours"),
            }
            let balance_key = bus.keys().balance(&engine.venue, &venue.account_id());
            (Gateway::Venue(venue), Some(balance_key))
        }
    };
    let ctx = Ctx {
        bus: bus.clone(),
        venue: engine.venue.clone(),
        gateway,
        limiter: OrderLimiter::new(engine.orders_per_10s),
        instruments: RwLock::new(HashMap::new()),
        stats,
        owner: cfg.common.instance.clone(),
        cfg: engine.clone(),
        shutdown: shutdown.clone(),
        fast: Some(fast),
        claim: std::sync::Mutex::new(None),
        durability: crate::durability::detect(&bus).await,
    };
    let result = serve(&ctx, balance_key.as_deref(), &shutdown).await;
    bus_stop.cancel();
    let _ = tokio::time::timeout(Duration::from_millis(500), heartbeat).await;
    result
}

async fn serve(ctx: &Ctx, balance_key: Option<&str>, shutdown: &CancellationToken) -> Result<(), EngineError> {
    let bus = &ctx.bus;
    if !refresh_instruments(ctx).await {
        info!(venue = %ctx.venue, "waiting for storm:instruments (written by booksync)");
        while !refresh_instruments(ctx).await {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }
    let block = Duration::from_millis(500);
    // Created at the stream's start: every opportunity ever published ends in storm:arb:log (an
    // old one as `expired`), none is skipped because no executor was running yet.
    let mut consumer = GroupConsumer::new(bus, &bus.keys().opps(), GROUP, &ctx.owner, block, true).await?;
    let claim_idle = Duration::from_millis(ctx.cfg.claim_idle_ms);
    let (mut next_claim, mut next_refresh) = (Instant::now(), Instant::now() + Duration::from_secs(60));
    info!(mode = ctx.cfg.mode.as_str(), venue = %ctx.venue, consumer = %ctx.owner, "executor started");
    // The XREADGROUP is never raced against timers or the shutdown token: a read cancelled after
    // Redis delivered would leave an entry pending and unseen until a claim. Timers and shutdown
    // are looked at between reads (each blocks at most `block`).
    while !shutdown.is_cancelled() {
        if Instant::now() >= next_refresh {
            next_refresh = Instant::now() + Duration::from_secs(60);
            refresh_instruments(ctx).await;
            match crate::journal::sweep(bus, now_millis()).await {
                Ok(0) => {}
                Ok(n) => info!(removed = n, "finished journal records past their retention removed"),
                Err(e) => warn!(error = %e, "journal sweep failed"),
            }
        }
        let claimed = Instant::now() >= next_claim;
        let entries = if claimed {
            next_claim = Instant::now() + claim_idle / 2;
            match crate::resume::scan_orphans(ctx).await {
                Ok(_) => {}
                Err(ChainError::Interrupted) => break,
                Err(e) => warn!(error = %e, "orphan scan failed"),
            }
            match consumer.autoclaim(claim_idle, 10).await {
                Ok(v) => {
                    ctx.stats.reclaimed.add(v.len() as u64);
                    v
                }
                Err(e) => {
                    warn!(error = %e, "xautoclaim failed");
                    Vec::new()
                }
            }
        } else {
            match consumer.read(1, block).await {
                Ok(v) => v,
                Err(BusError::Cancelled) => break,
                Err(e) => {
                    warn!(error = %e, "reading storm:opps failed");
                    Vec::new()
                }
            }
        };
        // Claimed entries, and this consumer's own pending ones after a restart, were delivered before.
        let redelivered = claimed || consumer.replaying();
        for entry in entries {
            let read_at = Instant::now();
            match handle::handle(ctx, &entry, read_at, balance_key, redelivered).await {
                Ok(()) => {}
                Err(ChainError::Interrupted) => break,
                Err(ChainError::Journal(JournalError::Lost(opp))) => {
                    ctx.stats.lost.inc();
                    warn!(entry = %entry.id, %opp, "chain taken over by another executor (its lease ran out here); stopped before sending more");
                }
                Err(e) => error!(entry = %entry.id, error = %e, "chain left for a later run"),
            }
        }
    }
    info!("executor stopped");
    Ok(())
}

/// Re-reads the instruments; false when none are available.
async fn refresh_instruments(ctx: &Ctx) -> bool {
    match storm_bus::instruments::read(&ctx.bus, &ctx.venue).await {
        Ok((list, bad)) if !list.is_empty() => {
            if bad > 0 {
                ctx.stats.bad_input.add(bad as u64);
            }
            let map = list.into_iter().map(|i| (i.symbol.clone(), i)).collect();
            *ctx.instruments.write().unwrap_or_else(|e| e.into_inner()) = map;
            true
        }
        Ok(_) => false,
        Err(e) => {
            warn!(error = %e, "cannot read instruments");
            false
        }
    }
}
