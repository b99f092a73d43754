//! `run(config, shutdown)`: one task per configured account, a heartbeat, nothing else shared.
//!
//! An account is a `[[venue]]` with `ws_api_url`, `api_key_env` and `api_secret_env`; its key
//! and secret are read from those env vars here, once, and live only in
//! [`Credentials`] (whose `Debug` shows the account id) and the redaction filter. Start-up
//! problems (no account, a missing env var, an unsupported venue kind) stop the process with an
//! error naming the setting — never the secret.

use std::time::Duration;

use storm_bus::{BusError, RateLimitError, WeightBudget, WeightBudgetConfig};
use storm_service::{BootError, Config, ConfigError, Metrics, VenueConfig};
use storm_venues::binance::trade::{Credentials, TradeClient};
use storm_venues::error::VenueError;
use storm_venues::rest::RestClient;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::{StreamerConfig, StreamerConfigError};
use crate::recorder::Recorder;
use crate::stats::Stats;
use crate::store::Store;
use crate::worker::{Redact, Worker};

/// Why the streamer could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A `[streamer]` setting that cannot work.
    #[error(transparent)]
    Config(#[from] StreamerConfigError),
    /// `streamer.venues` names no `[[venue]]`.
    #[error("streamer.venues names {0:?}, which is no [[venue]] entry")]
    UnknownVenue(String),
    /// A selected venue lacks `ws_api_url`, `api_key_env` or `api_secret_env`.
    #[error("[[venue]] {0:?} needs ws_api_url, api_key_env and api_secret_env to stream its account")]
    NotAnAccount(String),
    /// No venue with keys is configured.
    #[error("no account to stream: no [[venue]] has ws_api_url, api_key_env and api_secret_env")]
    NoAccount,
    /// A secret's env var is missing.
    #[error(transparent)]
    Secret(#[from] ConfigError),
    /// Redis or the metrics endpoint could not be set up.
    #[error(transparent)]
    Boot(#[from] BootError),
    /// Redis failed during start-up.
    #[error("redis: {0}")]
    Bus(#[from] BusError),
    /// The REST weight budget could not be set up.
    #[error(transparent)]
    Budget(#[from] RateLimitError),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Venue(#[from] VenueError),
}

/// A venue account: where it is and its keys.
struct Account {
    venue: VenueConfig,
    ws_url: String,
    credentials: Credentials,
    redact: Redact,
}

/// The accounts selected by `streamer.venues`, keys read from the environment.
fn accounts(cfg: &Config<StreamerConfig>) -> Result<Vec<Account>, EngineError> {
    let selected: Vec<&VenueConfig> = if cfg.engine.venues.is_empty() {
        cfg.venues
            .iter()
            .filter(|v| v.ws_api_url.is_some() && v.api_key_env.is_some() && v.api_secret_env.is_some())
            .collect()
    } else {
        cfg.engine
            .venues
            .iter()
            .map(|name| cfg.venue(name).ok_or_else(|| EngineError::UnknownVenue(name.clone())))
            .collect::<Result<_, _>>()?
    };
    if selected.is_empty() {
        return Err(EngineError::NoAccount);
    }
    selected
        .into_iter()
        .map(|v| {
            // Each kind's account stream; a new kind is a compile error here until it has one.
            match v.kind {
                storm_core::VenueKind::Binance => {}
            }
            let not_account = || EngineError::NotAnAccount(v.name.clone());
            let ws_url = v.ws_api_url.clone().ok_or_else(not_account)?;
            let key = v.api_key()?.ok_or_else(not_account)?;
            let secret = v.api_secret()?.ok_or_else(not_account)?;
            Ok(Account {
                venue: v.clone(),
                ws_url,
                credentials: Credentials::new(key.expose(), secret.expose()),
                redact: Redact::new(key.expose(), secret.expose()),
            })
        })
        .collect()
}

/// Runs the streamer until `shutdown` fires, with a fresh metrics registry.
pub async fn run(cfg: Config<StreamerConfig>, shutdown: CancellationToken) -> Result<(), EngineError> {
    run_with_metrics(cfg, Metrics::new(), shutdown).await
}

/// [`run`] with the caller's registry.
pub async fn run_with_metrics(
    cfg: Config<StreamerConfig>,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<(), EngineError> {
    let engine = cfg.engine.clone();
    engine.validate()?;
    let accounts = accounts(&cfg)?;
    let bus = storm_service::boot::connect(&cfg.common, &metrics, shutdown.clone(), &shutdown).await?;
    let heartbeat =
        metrics.spawn_heartbeat(&bus, "streamer", &cfg.common.instance, Duration::from_millis(cfg.common.heartbeat_ms));
    let mut tasks = JoinSet::new();
    for a in accounts {
        let acct = a.credentials.account_id();
        let name = a.venue.name.clone();
        let stats = Stats::new(&metrics, &name, &acct);
        let budget_cfg = WeightBudgetConfig {
            usable_percent: engine.weight_usable_percent,
            ..WeightBudgetConfig::new(engine.weight_limit)
        };
        let rest = RestClient::new(a.venue.kind, WeightBudget::new(&bus, name.as_str(), budget_cfg)?)?;
        let timeout = Duration::from_millis(engine.request_timeout_ms);
        let trade = TradeClient::new(rest, &a.venue.rest_url, a.credentials, timeout);
        let store = Store::new(&bus, &name, &acct, engine.fills_maxlen);
        let retention = StreamerConfig::ms(engine.closed_order_retention_ms);
        let recorder = match Recorder::load(store, stats.clone(), retention).await {
            Ok(r) => r,
            Err(BusError::Cancelled) => break,
            Err(e) => return Err(e.into()),
        };
        info!(venue = %name, account = %acct, ws = %a.ws_url, "streaming account");
        let worker = Worker {
            venue: name,
            acct,
            ws_url: a.ws_url,
            rest: trade,
            cfg: engine.clone(),
            stats,
            recorder,
            redact: a.redact,
            shutdown: shutdown.clone(),
        };
        tasks.spawn(worker.run());
    }
    while tasks.join_next().await.is_some() {}
    let _ = tokio::time::timeout(Duration::from_millis(500), heartbeat).await;
    info!("streamer stopped");
    Ok(())
}
