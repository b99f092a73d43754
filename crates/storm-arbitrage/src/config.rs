//! The `[arbitrage]` section of `storm.toml` (also `STORM_ARBITRAGE_*` env vars and
//! `--set arbitrage.<key>=` flags).
//!
//! ```toml
//! [arbitrage]
//! venue = "binance"
//! start_assets = ["USDT", "BTC", "BNB"]   # cycles through these (empty: every asset)
//! taker_fee = "0.001"                      # per leg; a [[venue]] taker_fee overrides it
//! min_profit_bps = "5"                     # after fees and rounding
//! max_book_age_ms = 5000                   # a book whose top has not changed for longer is not trusted
//! cooldown_ms = 1000                       # the same cycle is not emitted again sooner
//! expires_ms = 1500                        # an opportunity is void this long after it was found
//! account = ""                             # <acct> of storm:balance:<venue>:<acct>: cap by the free balance
//! opps_maxlen = 100000
//! instruments_refresh_ms = 60000
//! [arbitrage.max_start]                    # largest start amount per start asset
//! USDT = "1000"
//! BTC = "0.02"
//! BNB = "5"
//! [arbitrage.scout]                        # scan every book ticker by REST, stream only what matters
//! enabled = false
//! interval_ms = 10000
//! threshold_bps = "-20"                    # cycles at least this good on top of book get streamed
//! max_symbols = 60
//! linger_ms = 120000                       # a scouted symbol stays subscribed this long after its last hit
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use storm_service::EngineSection;

/// Scout mode settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoutConfig {
    /// Off by default.
    pub enabled: bool,
    /// Time between two scans, ms.
    pub interval_ms: u64,
    /// Cycles whose top-of-book profit (after fees) is at least this many bps are followed.
    pub threshold_bps: Decimal,
    /// Most symbols the scout keeps subscribed at once.
    pub max_symbols: usize,
    /// A scouted symbol is unsubscribed this long after it last qualified, ms.
    pub linger_ms: u64,
}

impl Default for ScoutConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            interval_ms: 10_000,
            threshold_bps: Decimal::new(-20, 0),
            max_symbols: 60,
            linger_ms: 120_000,
        }
    }
}

/// The finder's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArbitrageConfig {
    /// Name of the `[[venue]]` whose books are searched.
    pub venue: String,
    /// Start assets of the cycles (empty: every asset).
    pub start_assets: Vec<String>,
    /// Taker fee per leg (fraction); the venue's `taker_fee` wins when set.
    pub taker_fee: Decimal,
    /// Minimum profit after fees and rounding, bps.
    pub min_profit_bps: Decimal,
    /// Books whose top is older than this are not used, ms.
    pub max_book_age_ms: u64,
    /// The same cycle is not emitted again within this time, ms.
    pub cooldown_ms: u64,
    /// Lifetime of an opportunity, ms.
    pub expires_ms: u64,
    /// Account id whose free balance caps the start amount (empty: no balance cap).
    pub account: String,
    /// Largest start amount per start asset (a start asset without an entry is not traded).
    pub max_start: BTreeMap<String, Decimal>,
    /// `MAXLEN ~` of `storm:opps`.
    pub opps_maxlen: usize,
    /// How often `storm:instruments:<venue>` is re-read, ms.
    pub instruments_refresh_ms: u64,
    /// Scout mode.
    pub scout: ScoutConfig,
}

impl Default for ArbitrageConfig {
    fn default() -> Self {
        let max_start = [("USDT", Decimal::new(1000, 0)), ("BTC", Decimal::new(2, 2)), ("BNB", Decimal::new(5, 0))]
            .into_iter()
            .map(|(a, d)| (a.to_owned(), d))
            .collect();
        Self {
            venue: "binance".into(),
            start_assets: vec!["USDT".into(), "BTC".into(), "BNB".into()],
            taker_fee: Decimal::new(1, 3),
            min_profit_bps: Decimal::new(5, 0),
            max_book_age_ms: 5_000,
            cooldown_ms: 1_000,
            expires_ms: 1_500,
            account: String::new(),
            max_start,
            opps_maxlen: 100_000,
            instruments_refresh_ms: 60_000,
            scout: ScoutConfig::default(),
        }
    }
}

impl EngineSection for ArbitrageConfig {
    const SECTION: &'static str = "arbitrage";
}

/// A setting that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArbitrageConfigError {
    /// Fee outside [0, 0.1).
    #[error("arbitrage.taker_fee = {0} must be in [0, 0.1)")]
    Fee(Decimal),
    /// A duration or size out of range.
    #[error("arbitrage.{0} is out of range")]
    Range(&'static str),
    /// A max_start amount that is not positive.
    #[error("arbitrage.max_start.{0} must be positive")]
    MaxStart(String),
}

impl ArbitrageConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ArbitrageConfigError> {
        if self.taker_fee.is_sign_negative() || self.taker_fee >= Decimal::new(1, 1) {
            return Err(ArbitrageConfigError::Fee(self.taker_fee));
        }
        let ranges = [
            ("max_book_age_ms", (1..=3_600_000).contains(&self.max_book_age_ms)),
            ("expires_ms", (10..=600_000).contains(&self.expires_ms)),
            ("cooldown_ms", self.cooldown_ms <= 3_600_000),
            ("opps_maxlen", self.opps_maxlen >= 1),
            ("instruments_refresh_ms", self.instruments_refresh_ms >= 1_000),
            ("scout.interval_ms", self.scout.interval_ms >= 1_000),
        ];
        if let Some((name, _)) = ranges.iter().find(|(_, ok)| !ok) {
            return Err(ArbitrageConfigError::Range(name));
        }
        if let Some((asset, _)) = self.max_start.iter().find(|(_, v)| !v.is_sign_positive() || v.is_zero()) {
            return Err(ArbitrageConfigError::MaxStart(asset.clone()));
        }
        Ok(())
    }

    /// `max_book_age_ms`, `cooldown_ms` and `expires_ms` as durations.
    pub fn cooldown(&self) -> Duration {
        Duration::from_millis(self.cooldown_ms)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_settings_are_named() {
        assert_eq!(ArbitrageConfig::default().validate(), Ok(()));
        let fee = ArbitrageConfig { taker_fee: Decimal::new(2, 1), ..ArbitrageConfig::default() };
        assert!(matches!(fee.validate(), Err(ArbitrageConfigError::Fee(_))));
        let mut cfg = ArbitrageConfig::default();
        cfg.max_start.insert("ETH".into(), Decimal::ZERO);
        assert_eq!(cfg.validate(), Err(ArbitrageConfigError::MaxStart("ETH".into())));
        let table: toml::Table = "[arbitrage]\nmin_profit = 5\n".parse().unwrap();
        let err = storm_service::Config::<ArbitrageConfig>::from_parts(table, &Default::default(), &[]).unwrap_err();
        assert!(err.to_string().contains("min_profit"), "{err}");
        let table: toml::Table =
            "[arbitrage]\nmin_profit_bps = \"7.5\"\n[arbitrage.max_start]\nETH = \"2\"\n".parse().unwrap();
        let cfg = storm_service::Config::<ArbitrageConfig>::from_parts(table, &Default::default(), &[]).unwrap();
        assert_eq!(cfg.engine.min_profit_bps, Decimal::new(75, 1));
        assert_eq!(cfg.engine.max_start.get("ETH"), Some(&Decimal::new(2, 0)));
    }
}
