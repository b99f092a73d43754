//! `storm_sim::run`: builds the exchange from the config (or a recording), binds the port and
//! runs the server, the market clock and the mispricing schedule until shutdown.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use storm_core::Asset;
use storm_service::{Config, ConfigError, Secret};
use thiserror::Error;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{MispricingConfig, SimConfig};
use crate::exchange::{Exchange, ModelConfig};
use crate::replay::{Item, Recording};
use crate::schedule::{self, Schedule, Shift, Window};
use crate::server::{self, SimState};
use crate::universe;

/// Why the simulator could not start.
#[derive(Debug, Error)]
pub enum RunError {
    /// Bad configuration (missing secret env var, ...).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Port or file trouble.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// How to replay recordings instead of simulating.
#[derive(Clone, Debug, Default)]
pub struct ReplayOptions {
    /// Recording files (empty: synthetic market).
    pub files: Vec<PathBuf>,
    /// Playback speed: 1 = recorded pace, 10 = ten times faster, 0 = as fast as possible.
    pub speed: f64,
    /// The part of the recording to play.
    pub window: Window,
    /// How venue times move (see [`crate::schedule`]).
    pub shift: Shift,
}

/// The market model of a config: the real default universe plus `extra_assets` synthetic coins,
/// each quoted in USDT, BTC and ETH (for load tests with hundreds of symbols).
pub fn model(cfg: &SimConfig) -> ModelConfig {
    let mut m = ModelConfig { fee: cfg.fee, levels_per_event: cfg.levels_per_event, ..ModelConfig::default() };
    for i in 0..cfg.extra_assets {
        let name = format!("X{i:03}");
        // Fair values spread over four orders of magnitude, deterministic.
        let fair = Decimal::new(((i * 7_919) % 10_000 + 1) as i64, 2);
        m.assets.push((name.clone(), fair));
        for quote in ["USDT", "BTC", "ETH"] {
            m.pairs.push((name.clone(), quote.to_owned()));
        }
    }
    m
}

fn accounts(cfg: &SimConfig, ex: &mut Exchange) -> Result<(), RunError> {
    for a in &cfg.account {
        let key = Secret::from_env(&a.api_key_env)?;
        let secret = Secret::from_env(&a.api_secret_env)?;
        let balances: Vec<(Asset, Decimal)> = a.balances.iter().map(|(k, v)| (Asset::new(k), *v)).collect();
        ex.add_account(key.expose(), secret.expose(), &balances);
        info!(account = %storm_venues::binance::sign::account_id(key.expose()), assets = balances.len(), "account loaded");
    }
    Ok(())
}

/// Runs the simulator until `shutdown`.
pub async fn run(cfg: Config<SimConfig>, replay: ReplayOptions, shutdown: CancellationToken) -> Result<(), RunError> {
    let sim = cfg.engine;
    let now = storm_core::time::now_millis();
    let recording = if replay.files.is_empty() { None } else { Some(Recording::load(&replay.files)?) };
    let mut ex = match &recording {
        Some(_) => Exchange::new(&ModelConfig { assets: Vec::new(), pairs: Vec::new(), ..model(&sim) }, sim.seed, now),
        None => Exchange::new(&model(&sim), sim.seed, now),
    };
    let playback = recording.map(|rec| {
        prepare(&mut ex, &rec);
        let skipped = rec.skipped;
        let s = schedule::schedule(rec, replay.window, replay.shift, now);
        for d in &s.warmup {
            ex.apply_recorded(d);
        }
        info!(items = s.items.len(), skipped, warmup = s.warmup.len(), shift_ms = s.shift_ms, start_ms = ?s.start_ms, "recording loaded");
        s
    });
    accounts(&sim, &mut ex)?;
    let symbols = ex.instruments().count();
    let state = SimState::new(ex, sim.weight_limit, sim.ws.clone());
    let listener = tokio::net::TcpListener::bind(&sim.listen).await?;
    let addr = listener.local_addr()?;
    info!(%addr, symbols, seed = sim.seed, replay = playback.is_some(), "storm-sim listening (REST, /ws, /stream, /ws-api/v3)");

    let mut tasks = Vec::new();
    match playback {
        Some(s) => {
            info!(speed = replay.speed, "replaying");
            tasks.push(tokio::spawn(play_schedule(state.clone(), s, replay.speed, shutdown.clone())));
        }
        None => {
            let step = Duration::from_millis(sim.step_ms.max(1));
            let per_step = ((sim.events_per_second * sim.step_ms.max(1)) / 1000).max(1) as usize;
            tasks.push(tokio::spawn(server::market_clock(state.clone(), step, per_step, shutdown.clone())));
            tasks.push(tokio::spawn(mispricings(state.clone(), sim.mispricing.clone(), sim.seed, shutdown.clone())));
        }
    }
    server::serve(listener, state, shutdown.clone()).await?;
    for t in tasks {
        let _ = t.await;
    }
    info!("storm-sim stopped");
    Ok(())
}

/// Pushes a random book away from fair value now and then (exponential gaps around `every_ms`).
async fn mispricings(state: Arc<SimState>, cfg: MispricingConfig, seed: u64, shutdown: CancellationToken) {
    if cfg.every_ms == 0 || cfg.size.is_zero() {
        return;
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    loop {
        let wait = (cfg.every_ms as f64 * -(1.0 - rng.gen::<f64>()).ln()).clamp(1.0, cfg.every_ms as f64 * 10.0);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
        }
        if state.faults.paused() {
            continue; // a frozen market gets no mispricing either
        }
        let until = state.now_ms() + cfg.lifetime_ms;
        let sign = if rng.gen_bool(0.5) { Decimal::ONE } else { Decimal::NEGATIVE_ONE };
        let mut ex = state.exchange();
        let symbols: Vec<_> = ex.instruments().map(|i| i.symbol.clone()).collect();
        if symbols.is_empty() {
            return;
        }
        let sym = symbols[rng.gen_range(0..symbols.len())].clone();
        ex.misprice(&sym, cfg.size * sign, until);
        drop(ex);
        info!(symbol = %sym, size = %(cfg.size * sign), lifetime_ms = cfg.lifetime_ms, "mispricing injected");
    }
}

/// Installs each recorded symbol's first snapshot as its book. Call it **before** the server is
/// built: the market-data WebSocket lists the symbols that exist when it starts, so a recorded
/// symbol added later could not be subscribed.
pub fn prepare(ex: &mut Exchange, rec: &Recording) {
    let mut installed = std::collections::HashSet::new();
    for (_, item) in &rec.items {
        if let Item::Snapshot { symbol, snapshot } = item {
            if installed.insert(symbol.clone()) {
                ex.load_snapshot(symbol, snapshot);
            }
        }
    }
}

/// Publishes a recording at its pace (`speed` 0: as fast as possible), applying diffs to the
/// replayed books (installed by [`prepare`]).
pub async fn play(state: Arc<SimState>, rec: Recording, speed: f64, shutdown: CancellationToken) {
    play_items(state, rec.items, speed, tokio::time::Instant::now(), shutdown).await;
}

/// Publishes a [`Schedule`]: from its wall-clock start (at once if it has none or it has
/// passed), at the recorded pace times `speed`.
pub async fn play_schedule(state: Arc<SimState>, s: Schedule, speed: f64, shutdown: CancellationToken) {
    let wait = s.start_ms.map_or(0, |ms| ms.saturating_sub(storm_core::time::now_millis()));
    let start = tokio::time::Instant::now() + Duration::from_millis(wait);
    if wait > 0 {
        info!(wait_ms = wait, "waiting for the recording's shifted start");
    }
    play_items(state, s.items, speed, start, shutdown).await;
}

async fn play_items(
    state: Arc<SimState>,
    items: Vec<(u64, Item)>,
    speed: f64,
    start: tokio::time::Instant,
    shutdown: CancellationToken,
) {
    let Some(first_ns) = items.first().map(|(ns, _)| *ns) else {
        warn!("recording is empty");
        return;
    };
    if speed <= 0.0 {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(start) => {}
        }
    }
    for (ns, item) in items {
        if speed > 0.0 {
            let due = start + Duration::from_nanos(((ns - first_ns) as f64 / speed) as u64);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(due) => {}
            }
        } else if shutdown.is_cancelled() {
            return;
        } else {
            tokio::task::yield_now().await;
        }
        match item {
            Item::Snapshot { .. } => {} // installed by `prepare`
            Item::Event(ev) => {
                let _ = state.act(|ex| {
                    if let crate::exchange::SimEvent::Depth(d) = &ev {
                        ex.apply_recorded(d);
                    }
                    Ok::<_, std::convert::Infallible>(((), vec![ev]))
                });
            }
        }
    }
    info!("recording finished");
}

/// The default universe's symbol count (for docs and checks).
pub fn default_symbol_count() -> usize {
    universe::DEFAULT_PAIRS.len()
}
