//! What every engine does first, in one place: [`launch`] (config, tracing, shutdown token) for the
//! binaries' `main`, then [`connect`]: connect to Redis with the configured URL and key
//! prefix, and serve `/metrics` when an address is configured. Engines keep their own order for
//! the rest (booksync marks leftovers before its first heartbeat, for instance).

use storm_bus::{Bus, BusConfig, BusError};
use tokio_util::sync::CancellationToken;

use crate::config::{Common, CommonArgs, Config, ConfigError, EngineSection};
use crate::metrics::Metrics;

/// What every binary's `main` does before running its engine: load the configuration (file,
/// env, flags), start tracing with its log settings, and install the SIGTERM/SIGINT token.
/// Call it from inside the tokio runtime.
pub fn launch<E: EngineSection>(args: &CommonArgs) -> Result<(Config<E>, CancellationToken), ConfigError> {
    let cfg = Config::<E>::load(args)?;
    crate::telemetry::init(&cfg.common.log_level, cfg.common.log_format);
    Ok((cfg, crate::shutdown::install()))
}

/// Why an engine could not start its shared parts.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// Redis could not be reached before shutdown.
    #[error("redis: {0}")]
    Bus(#[from] BusError),
    /// The metrics endpoint could not bind.
    #[error("metrics endpoint {addr}: {source}")]
    Metrics {
        /// The configured address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Connects the bus (retrying until `bus_stop` fires) and serves `metrics` until `shutdown`.
pub async fn connect(
    common: &Common,
    metrics: &Metrics,
    bus_stop: CancellationToken,
    shutdown: &CancellationToken,
) -> Result<Bus, BootError> {
    let mut bus_cfg = BusConfig::new(common.redis_url.clone());
    bus_cfg.prefix = common.namespace.clone();
    let bus = Bus::connect(bus_cfg, bus_stop).await?;
    if !common.metrics_addr.is_empty() {
        metrics
            .serve(&common.metrics_addr, shutdown.clone())
            .await
            .map_err(|source| BootError::Metrics { addr: common.metrics_addr.clone(), source })?;
    }
    Ok(bus)
}
