//! The arbitrage engine: `storm:tops:<venue>` in, `storm:opps` out.
//!
//! Every finder reads the tops stream with plain `XREAD` (each finder sees every change; several
//! finders may run, e.g. one per venue), from "now": the tops stream describes current books and
//! every book publishes its state again on its next change. Instruments come from
//! `storm:instruments:<venue>` (written by booksync from exchangeInfo), re-read periodically; the
//! engine waits for them at start. With `account` set, the account's free balances in
//! `storm:balance:<venue>:<acct>` cap the start amount. Opportunities of one read batch are
//! published in one transaction ([`storm_bus::Publisher`]: exactly once across Redis restarts).

use std::collections::HashMap;
use std::time::Duration;

use rust_decimal::Decimal;
use storm_bus::{opps, tops, Bus, BusError, Entry, Publisher, StartAt, StreamReader};
use storm_core::time::now_millis;
use storm_core::{Asset, BookTop, Instrument, VenueId};
use storm_service::metrics::Counter;
use storm_service::{BootError, Config, Metrics};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{ArbitrageConfig, ArbitrageConfigError};
use crate::finder::Finder;

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// `arbitrage.venue` names no `[[venue]]`.
    #[error("arbitrage.venue = {0:?} names no [[venue]] entry")]
    UnknownVenue(String),
    /// A setting that cannot work.
    #[error(transparent)]
    Config(#[from] ArbitrageConfigError),
    /// Redis or the metrics endpoint could not be set up.
    #[error(transparent)]
    Boot(#[from] BootError),
    /// Redis failed during start-up.
    #[error("redis: {0}")]
    Bus(#[from] BusError),
}

/// Runs the finder until `shutdown` fires, with a fresh metrics registry.
pub async fn run(cfg: Config<ArbitrageConfig>, shutdown: CancellationToken) -> Result<(), EngineError> {
    run_with_metrics(cfg, Metrics::new(), shutdown).await
}

/// [`run`] with the caller's registry.
pub async fn run_with_metrics(
    cfg: Config<ArbitrageConfig>,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<(), EngineError> {
    let engine = &cfg.engine;
    engine.validate()?;
    let venue_cfg = cfg.venue(&engine.venue).ok_or_else(|| EngineError::UnknownVenue(engine.venue.clone()))?;
    let fee = venue_cfg.taker_fee.unwrap_or(engine.taker_fee);
    let venue = VenueId::new(&engine.venue);
    let bus = storm_service::boot::connect(&cfg.common, &metrics, shutdown.clone(), &shutdown).await?;
    let heartbeat = metrics.spawn_heartbeat(
        &bus,
        "arbitrage",
        &cfg.common.instance,
        Duration::from_millis(cfg.common.heartbeat_ms),
    );
    let mut stats = Stats::new(&metrics, &venue);

    let Some(instruments) = wait_instruments(&bus, &venue, &stats, &shutdown).await else {
        let _ = tokio::time::timeout(Duration::from_millis(200), heartbeat).await;
        return Ok(());
    };
    let mut finder = Finder::new(venue.clone(), instruments, engine, fee);
    stats.cycles.set(finder.graph().cycles().len() as f64);
    info!(venue = %venue, cycles = finder.graph().cycles().len(), %fee, "arbitrage started");
    if engine.scout.enabled {
        crate::scout::spawn(&bus, venue_cfg, engine, fee, &metrics, shutdown.clone());
    }

    let mut batches = spawn_reader(&bus, &venue, &stats, shutdown.clone()).await?;
    let mut publisher = Publisher::new(&bus, &format!("arbitrage:{}", cfg.common.instance));
    let mut refresh = tokio::time::interval(Duration::from_millis(engine.instruments_refresh_ms));
    refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
    refresh.tick().await;
    let mut balances = tokio::time::interval(Duration::from_secs(1));
    balances.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut reported = finder.counts().clone();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            batch = batches.recv() => {
                let Some(batch) = batch else { break };
                let now = now_millis();
                let found: Vec<_> = batch.into_iter().flat_map(|top| finder.on_top(top, now)).collect();
                let entries: Vec<Entry> = found.iter().filter_map(|o| match opps::entry(bus.keys(), engine.opps_maxlen, o) {
                    Ok(e) => Some(e),
                    Err(e) => {
                        warn!(error = %e, "cannot encode an opportunity");
                        None
                    }
                }).collect();
                for o in &found {
                    info!(id = %o.id, path = %o.path, profit_bps = %o.profit_bps.round_dp(2), size = %o.size, "opportunity");
                }
                match publisher.publish(&entries).await {
                    Ok(_) | Err(BusError::Cancelled) => {}
                    Err(e) => warn!(error = %e, lost = entries.len(), "cannot publish opportunities"),
                }
                stats.report(finder.counts(), &mut reported);
            }
            _ = refresh.tick() => {
                if let Ok(list) = read_instruments(&bus, &venue, &stats).await {
                    if !list.is_empty() && finder.set_instruments(list) {
                        info!(venue = %venue, cycles = finder.graph().cycles().len(), "instruments changed: graph rebuilt");
                        stats.cycles.set(finder.graph().cycles().len() as f64);
                    }
                }
            }
            _ = balances.tick(), if !engine.account.is_empty() => {
                for (asset, free) in read_balances(&bus, &venue, &engine.account).await {
                    finder.set_balance(asset, free);
                }
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_millis(200), heartbeat).await;
    info!(venue = %venue, "arbitrage stopped");
    Ok(())
}

/// Waits for booksync to publish the instruments (None on shutdown).
async fn wait_instruments(
    bus: &Bus,
    venue: &VenueId,
    stats: &Stats,
    shutdown: &CancellationToken,
) -> Option<Vec<Instrument>> {
    let mut warned = false;
    loop {
        match read_instruments(bus, venue, stats).await {
            Ok(list) if !list.is_empty() => return Some(list),
            Ok(_) if !warned => {
                warned = true;
                info!(venue = %venue, "waiting for storm:instruments (written by booksync)");
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "cannot read instruments"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

async fn read_instruments(bus: &Bus, venue: &VenueId, stats: &Stats) -> Result<Vec<Instrument>, BusError> {
    let (list, bad) = storm_bus::instruments::read(bus, venue.as_str()).await?;
    if bad > 0 {
        stats.bad_input.add(bad as u64);
        warn!(bad, "unreadable instruments skipped");
    }
    Ok(list)
}

/// Free balances of the account, `{ASSET: {"free": "...", ...}}` (unreadable entries skipped).
async fn read_balances(bus: &Bus, venue: &VenueId, account: &str) -> Vec<(Asset, Decimal)> {
    #[derive(serde::Deserialize)]
    struct Balance {
        free: Decimal,
    }
    let key = bus.keys().balance(venue.as_str(), account);
    let mut c = bus.conn();
    let raw: HashMap<String, String> = redis::cmd("HGETALL").arg(&key).query_async(&mut c).await.unwrap_or_default();
    raw.into_iter()
        .filter_map(|(asset, json)| serde_json::from_str::<Balance>(&json).ok().map(|b| (Asset::new(asset), b.free)))
        .collect()
}

/// The tops stream, read and decoded by its own task.
async fn spawn_reader(
    bus: &Bus,
    venue: &VenueId,
    stats: &Stats,
    shutdown: CancellationToken,
) -> Result<mpsc::Receiver<Vec<BookTop>>, BusError> {
    let key = bus.keys().tops(venue.as_str());
    let mut reader = StreamReader::new(bus, &[(key, StartAt::End)], 1_000, Duration::from_millis(100)).await?;
    let (tx, rx) = mpsc::channel(8);
    let bad = stats.bad_input.clone();
    tokio::spawn(async move {
        loop {
            let batch = tokio::select! {
                _ = shutdown.cancelled() => return,
                b = reader.next_batch() => b,
            };
            match batch {
                Ok(batch) if batch.is_empty() => {}
                Ok(batch) => {
                    let tops: Vec<BookTop> = batch
                        .iter()
                        .filter_map(|e| {
                            tops::decode(e)
                                .map_err(|err| {
                                    bad.inc();
                                    warn!(id = %e.id, error = %err, "unreadable tops entry skipped");
                                })
                                .ok()
                        })
                        .collect();
                    if tx.send(tops).await.is_err() {
                        return;
                    }
                }
                Err(BusError::Cancelled) => return,
                Err(e) => {
                    warn!(error = %e, "tops stream read failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
    Ok(rx)
}

/// The engine's metrics (also fields of `storm:health:arbitrage:<instance>`).
struct Stats {
    evaluated: Counter,
    emitted: Counter,
    incomplete: Counter,
    repeated: Counter,
    bad_input: Counter,
    cycles: storm_service::metrics::Gauge,
    rejected: HashMap<&'static str, Counter>,
    metrics: Metrics,
    venue: VenueId,
}

impl Stats {
    fn new(metrics: &Metrics, venue: &VenueId) -> Self {
        let l = [("venue", venue.as_str())];
        Self {
            evaluated: metrics.counter("storm_arbitrage_cycles_evaluated_total", "Cycles evaluated", &l),
            emitted: metrics.counter("storm_arbitrage_opportunities_total", "Opportunities emitted", &l),
            incomplete: metrics.counter(
                "storm_arbitrage_incomplete_total",
                "Cycles skipped: a book, instrument or start cap missing",
                &l,
            ),
            repeated: metrics.counter("storm_arbitrage_repeated_total", "Same book versions or within cooldown", &l),
            bad_input: metrics.counter("storm_arbitrage_bad_input_total", "Unreadable entries or instruments", &l),
            cycles: metrics.gauge("storm_arbitrage_cycles", "Cycles in the graph", &l),
            rejected: HashMap::new(),
            metrics: metrics.clone(),
            venue: venue.clone(),
        }
    }

    /// Adds what the finder counted since `last`.
    fn report(&mut self, now: &crate::finder::FinderCounts, last: &mut crate::finder::FinderCounts) {
        self.evaluated.add(now.evaluated - last.evaluated);
        self.emitted.add(now.emitted - last.emitted);
        self.incomplete.add(now.incomplete - last.incomplete);
        self.repeated.add(now.repeated - last.repeated);
        for (reason, n) in &now.rejected {
            let before = last.rejected.get(reason).copied().unwrap_or(0);
            let (metrics, venue) = (&self.metrics, &self.venue);
            self.rejected
                .entry(reason)
                .or_insert_with(|| {
                    metrics.counter(
                        "storm_arbitrage_rejected_total",
                        "Cycles evaluated and rejected, by reason",
                        &[("venue", venue.as_str()), ("reason", reason)],
                    )
                })
                .add(n - before);
        }
        *last = now.clone();
    }
}
