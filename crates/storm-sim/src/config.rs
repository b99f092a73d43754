//! The `[sim]` section of `storm.toml` (also settable by `STORM_SIM_*` env vars and flags).
//!
//! ```toml
//! [sim]
//! listen = "127.0.0.1:8765"
//! seed = 42
//! events_per_second = 200
//! [[sim.account]]
//! api_key_env = "STORM_SIM_API_KEY"
//! api_secret_env = "STORM_SIM_API_SECRET"
//! balances = { USDT = "10000", BTC = "0.5" }
//! ```

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use storm_service::EngineSection;

/// Market-data WebSocket limits, Binance's by default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WsLimits {
    /// The server pings every this many ms (Binance: 20 s).
    pub ping_interval_ms: u64,
    /// A client that has not answered a ping for this long is dropped (Binance: 60 s).
    pub pong_timeout_ms: u64,
    /// Connections older than this get `serverShutdown` and are closed (Binance: 24 h).
    pub max_connection_age_ms: u64,
    /// Most streams one connection may hold (Binance: 1024).
    pub max_streams: usize,
    /// Most incoming messages per second before the connection is dropped (Binance: 5).
    pub max_incoming_per_sec: u32,
}

impl Default for WsLimits {
    fn default() -> Self {
        Self {
            ping_interval_ms: 20_000,
            pong_timeout_ms: 60_000,
            max_connection_age_ms: 86_400_000,
            max_streams: 1024,
            max_incoming_per_sec: 5,
        }
    }
}

/// A simulated account: its key and secret come from env vars, never from the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// Env var holding the API key.
    pub api_key_env: String,
    /// Env var holding the API secret.
    pub api_secret_env: String,
    /// Starting balances by asset.
    #[serde(default)]
    pub balances: BTreeMap<String, Decimal>,
}

/// Injected mispricings that open triangles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MispricingConfig {
    /// Mean time between two mispricings, ms (0 disables).
    pub every_ms: u64,
    /// Size as a fraction of the fair price (0.008 = 0.8 %, enough to beat 3 × 0.1 % fees).
    pub size: Decimal,
    /// How long one lasts, ms.
    pub lifetime_ms: u64,
}

impl Default for MispricingConfig {
    fn default() -> Self {
        Self { every_ms: 20_000, size: Decimal::new(8, 3), lifetime_ms: 3_000 }
    }
}

/// Default of [`SimConfig::levels_per_event`].
pub const DEFAULT_LEVELS_PER_EVENT: usize = 4;
/// Largest [`SimConfig::levels_per_event`] (a side never holds more than `MAX_LEVELS`).
pub const MAX_LEVELS_PER_EVENT: usize = 150;

/// The simulator's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// `host:port` serving REST, WebSocket and WS-API.
    pub listen: String,
    /// Seed of every random choice.
    pub seed: u64,
    /// Market clock period, ms.
    pub step_ms: u64,
    /// Symbol updates (depth diffs) per second across the universe.
    pub events_per_second: u64,
    /// Extra synthetic assets (each quoted in USDT, BTC and ETH) beyond the real ten, to reach
    /// hundreds of symbols for load tests.
    pub extra_assets: usize,
    /// Most random level changes near the top in one symbol update: each depth diff changes
    /// 1..=this levels there (plus the levels that follow the fair price). The default 4 gives
    /// diffs of about 5 levels; 90 gives about 46, the average of the real BTCUSDT and ETHUSDT
    /// `@depth@100ms` recordings (for CPU-per-event comparisons on realistic diffs). Clamped to
    /// 1..=150.
    pub levels_per_event: usize,
    /// REQUEST_WEIGHT per IP per minute.
    pub weight_limit: u64,
    /// Taker and maker fee, fraction of the received asset.
    pub fee: Decimal,
    /// WebSocket limits.
    pub ws: WsLimits,
    /// Mispricing injection.
    pub mispricing: MispricingConfig,
    /// Accounts.
    pub account: Vec<AccountConfig>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8765".into(),
            seed: 42,
            step_ms: 10,
            events_per_second: 200,
            extra_assets: 0,
            levels_per_event: DEFAULT_LEVELS_PER_EVENT,
            weight_limit: 6_000,
            fee: Decimal::new(1, 3),
            ws: WsLimits::default(),
            mispricing: MispricingConfig::default(),
            account: Vec::new(),
        }
    }
}

impl EngineSection for SimConfig {
    const SECTION: &'static str = "sim";
}
