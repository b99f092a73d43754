//! The `[streamer]` section of `storm.toml` (also `STORM_STREAMER_*` env vars and
//! `--set streamer.<key>=` flags).
//!
//! ```toml
//! [streamer]
//! venues = ["binance"]               # [[venue]] names to stream; empty: every venue with ws_api_url and keys
//! max_connection_age_ms = 85800000   # reconnect before Binance's 24 h limit (23 h 50 min)
//! reconcile_trades_limit = 500       # /myTrades page size on each reconcile (1..=1000)
//! reconcile_symbols = []             # symbols always reconciled, beyond those with known orders
//! reconnect_base_ms = 500            # jittered exponential backoff between connection attempts
//! reconnect_max_ms = 30000
//! connect_timeout_ms = 10000         # WebSocket connect + subscription reply
//! request_timeout_ms = 10000         # one signed REST call
//! ping_interval_ms = 20000           # our own pings, so a dead socket shows up as silence
//! silence_timeout_ms = 60000         # no frame at all for this long: reconnect
//! fills_maxlen = 1000000             # XADD MAXLEN ~ of storm:fills:<venue>:<acct>
//! weight_limit = 6000                # REQUEST_WEIGHT per minute (shared per IP through Redis)
//! weight_usable_percent = 80
//! closed_order_retention_ms = 259200000  # closed orders leave storm:order:* this long after their last change (3 days)
//! prune_interval_ms = 3600000        # how often the running streamer removes them
//! ```
//!
//! The API key and secret are never here: each `[[venue]]` names the env vars that hold them
//! (`api_key_env`, `api_secret_env`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use storm_service::EngineSection;

/// The streamer settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamerConfig {
    /// `[[venue]]` names to stream (empty: every venue that has `ws_api_url` and both key vars).
    pub venues: Vec<String>,
    /// A connection is replaced after this long, ms (Binance closes them at 24 h).
    pub max_connection_age_ms: u64,
    /// `limit` of each `/myTrades` request while reconciling.
    pub reconcile_trades_limit: u32,
    /// Symbols whose trades are always reconciled, besides those with orders in Redis.
    pub reconcile_symbols: Vec<String>,
    /// First reconnect delay, ms.
    pub reconnect_base_ms: u64,
    /// Longest reconnect delay, ms.
    pub reconnect_max_ms: u64,
    /// Connect and subscribe must each finish within this, ms.
    pub connect_timeout_ms: u64,
    /// Timeout of one signed REST request, ms.
    pub request_timeout_ms: u64,
    /// Interval of our WebSocket pings, ms.
    pub ping_interval_ms: u64,
    /// A connection silent for this long is dropped and replaced, ms.
    pub silence_timeout_ms: u64,
    /// Approximate length kept of each fills stream.
    pub fills_maxlen: usize,
    /// The venue's REQUEST_WEIGHT per minute.
    pub weight_limit: u32,
    /// Share of it this process may hand out, percent.
    pub weight_usable_percent: u32,
    /// A closed order (filled, canceled, expired, rejected) leaves `storm:order:*` this long after
    /// its last change, ms — except the newest-trade holders of each symbol (see
    /// [`crate::book::AccountBook::prunable`]). Open orders always stay.
    pub closed_order_retention_ms: u64,
    /// How often the running streamer removes them, ms (also once at every start).
    pub prune_interval_ms: u64,
}

impl Default for StreamerConfig {
    fn default() -> Self {
        Self {
            venues: Vec::new(),
            max_connection_age_ms: 85_800_000,
            reconcile_trades_limit: 500,
            reconcile_symbols: Vec::new(),
            reconnect_base_ms: 500,
            reconnect_max_ms: 30_000,
            connect_timeout_ms: 10_000,
            request_timeout_ms: 10_000,
            ping_interval_ms: 20_000,
            silence_timeout_ms: 60_000,
            fills_maxlen: 1_000_000,
            weight_limit: 6_000,
            weight_usable_percent: 80,
            closed_order_retention_ms: 3 * 86_400_000,
            prune_interval_ms: 3_600_000,
        }
    }
}

impl EngineSection for StreamerConfig {
    const SECTION: &'static str = "streamer";
}

/// A setting that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StreamerConfigError {
    /// A number outside its range.
    #[error("streamer.{field} = {value} is outside {min}..={max}")]
    Range {
        /// The setting.
        field: &'static str,
        /// Its value.
        value: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// Two settings that contradict each other.
    #[error("streamer.{0}")]
    Inconsistent(&'static str),
}

fn within(field: &'static str, value: u64, min: u64, max: u64) -> Result<(), StreamerConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(StreamerConfigError::Range { field, value, min, max })
    }
}

impl StreamerConfig {
    /// Checks every setting; the first problem wins.
    pub fn validate(&self) -> Result<(), StreamerConfigError> {
        within("max_connection_age_ms", self.max_connection_age_ms, 1_000, 86_400_000)?;
        within("reconcile_trades_limit", self.reconcile_trades_limit.into(), 1, 1_000)?;
        within("reconnect_base_ms", self.reconnect_base_ms, 1, 600_000)?;
        within("reconnect_max_ms", self.reconnect_max_ms, 1, 3_600_000)?;
        within("connect_timeout_ms", self.connect_timeout_ms, 100, 300_000)?;
        within("request_timeout_ms", self.request_timeout_ms, 100, 300_000)?;
        within("ping_interval_ms", self.ping_interval_ms, 100, 600_000)?;
        within("silence_timeout_ms", self.silence_timeout_ms, 200, 3_600_000)?;
        within("fills_maxlen", self.fills_maxlen as u64, 1_000, u64::MAX)?;
        within("weight_limit", self.weight_limit.into(), 1, 1_000_000)?;
        within("weight_usable_percent", self.weight_usable_percent.into(), 1, 100)?;
        within("closed_order_retention_ms", self.closed_order_retention_ms, 1_000, 365 * 86_400_000)?;
        within("prune_interval_ms", self.prune_interval_ms, 100, 86_400_000)?;
        if self.reconnect_max_ms < self.reconnect_base_ms {
            return Err(StreamerConfigError::Inconsistent("reconnect_max_ms must be >= reconnect_base_ms"));
        }
        if self.silence_timeout_ms <= self.ping_interval_ms {
            return Err(StreamerConfigError::Inconsistent("silence_timeout_ms must exceed ping_interval_ms"));
        }
        if self.reconcile_symbols.iter().any(|s| s.trim().is_empty()) {
            return Err(StreamerConfigError::Inconsistent("reconcile_symbols holds an empty symbol"));
        }
        Ok(())
    }

    /// Duration of a millisecond setting.
    pub fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_settings_are_named() {
        assert_eq!(StreamerConfig::default().validate(), Ok(()));
        assert_eq!(StreamerConfig::default().max_connection_age_ms, (23 * 60 + 50) * 60 * 1000);
        let old = StreamerConfig { max_connection_age_ms: 90_000_000, ..StreamerConfig::default() };
        assert!(matches!(old.validate(), Err(StreamerConfigError::Range { field: "max_connection_age_ms", .. })));
        let big = StreamerConfig { reconcile_trades_limit: 5_000, ..StreamerConfig::default() };
        assert!(matches!(big.validate(), Err(StreamerConfigError::Range { field: "reconcile_trades_limit", .. })));
        let backwards = StreamerConfig { reconnect_base_ms: 5_000, reconnect_max_ms: 100, ..StreamerConfig::default() };
        assert!(matches!(backwards.validate(), Err(StreamerConfigError::Inconsistent(_))));
        let deaf = StreamerConfig { silence_timeout_ms: 1_000, ping_interval_ms: 5_000, ..StreamerConfig::default() };
        assert!(matches!(deaf.validate(), Err(StreamerConfigError::Inconsistent(_))));
    }

    #[test]
    fn the_section_is_read_from_toml_and_unknown_keys_are_rejected() {
        let table: toml::Table = "[streamer]\nvenues = [\"sim\"]\nmax_connection_age_ms = 5000\n".parse().unwrap();
        let cfg = storm_service::Config::<StreamerConfig>::from_parts(table, &Default::default(), &[]).unwrap();
        assert_eq!(cfg.engine.venues, vec!["sim".to_owned()]);
        assert_eq!(cfg.engine.max_connection_age_ms, 5_000);
        let table: toml::Table = "[streamer]\nmax_age = 5\n".parse().unwrap();
        let err = storm_service::Config::<StreamerConfig>::from_parts(table, &Default::default(), &[]).unwrap_err();
        assert!(err.to_string().contains("max_age"), "{err}");
    }
}
