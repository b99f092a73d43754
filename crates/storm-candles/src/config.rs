//! The `[candles]` section of `storm.toml` (also `STORM_CANDLES_*` env vars and
//! `--set candles.<key>=` flags).
//!
//! ```toml
//! [candles]
//! venue = "sim"
//! timeframes = ["1m", "5m", "15m", "1h", "4h", "1d", "1w", "1M"]   # the shortest is built from trades
//! grace_ms = 250            # a candle closes this long after its boundary; later trades amend it
//! future_ms = 5000          # a trade this far ahead of storm's clock is refused (counted)
//! past_ms = 3600000         # a trade this far behind it is refused (a garbled time)
//! tick_ms = 50              # how often the clock closes candles
//! forming_every_ms = 1000   # how often the forming candles' hashes and the restart point are written
//! keep = 5000               # closed candles kept per series (XTRIM MINID)
//! backfill_after_ms = 3000  # a hole is filled from the venue's klines this long after it closed them
//! ```
//!
//! Backfills need the venue's `[[venue]]` entry (its `kind` and `rest_url`); without one, holes
//! are counted and logged, not filled.

use serde::{Deserialize, Serialize};
use storm_service::EngineSection;

use crate::series::{NotRollable, Plan};
use crate::timeframe::{Timeframe, UnknownTimeframe};

/// The engine's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CandlesConfig {
    /// The venue whose `storm:md:<venue>:trade` stream is read.
    pub venue: String,
    /// Timeframes to build (names as the venues spell them).
    pub timeframes: Vec<String>,
    /// ms after a boundary before the candle closes.
    pub grace_ms: u64,
    /// A trade more than this many ms ahead of the clock is refused.
    pub future_ms: u64,
    /// A trade more than this many ms behind the clock is refused.
    pub past_ms: u64,
    /// Clock period, ms.
    pub tick_ms: u64,
    /// Period of the forming-candle hashes and restart point, ms.
    pub forming_every_ms: u64,
    /// Closed candles kept per series.
    pub keep: u64,
    /// ms after the venue closed the last interval of a hole before it is asked for them.
    pub backfill_after_ms: u64,
}

impl Default for CandlesConfig {
    fn default() -> Self {
        Self {
            venue: "binance".into(),
            timeframes: ["1m", "5m", "15m", "1h", "4h", "1d", "1w", "1M"].map(String::from).to_vec(),
            grace_ms: 250,
            future_ms: 5_000,
            past_ms: 3_600_000,
            tick_ms: 50,
            forming_every_ms: 1_000,
            keep: 5_000,
            backfill_after_ms: 3_000,
        }
    }
}

impl EngineSection for CandlesConfig {
    const SECTION: &'static str = "candles";
}

/// A `[candles]` setting that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CandlesConfigError {
    /// A name that is no timeframe.
    #[error("candles.timeframes: {0}")]
    Unknown(#[from] UnknownTimeframe),
    /// Timeframes that do not roll up from the shortest.
    #[error("candles.timeframes: {0}")]
    NotRollable(#[from] NotRollable),
    /// Nothing to build.
    #[error("candles.timeframes is empty")]
    Empty,
    /// A zero period.
    #[error("candles.tick_ms, forming_every_ms and keep must be above 0")]
    Zero,
}

impl CandlesConfig {
    /// The plan these settings describe.
    pub fn plan(&self) -> Result<Plan, CandlesConfigError> {
        if self.tick_ms == 0 || self.forming_every_ms == 0 || self.keep == 0 {
            return Err(CandlesConfigError::Zero);
        }
        let tfs = self.timeframes.iter().map(|s| s.parse::<Timeframe>()).collect::<Result<Vec<_>, _>>()?;
        if tfs.is_empty() {
            return Err(CandlesConfigError::Empty);
        }
        let mut plan = Plan::new(&tfs, self.grace_ms, self.future_ms)?;
        plan.past_ms = self.past_ms;
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_make_a_plan_and_bad_names_say_which() {
        let plan = CandlesConfig::default().plan().unwrap();
        assert_eq!(plan.base(), Timeframe::M1);
        assert_eq!(plan.timeframes().count(), 8);
        let bad = CandlesConfig { timeframes: vec!["1m".into(), "7m".into()], ..Default::default() };
        assert_eq!(
            bad.plan().unwrap_err().to_string(),
            "candles.timeframes: unknown timeframe \"7m\" (known: 1s 1m 5m 15m 30m 1h 4h 1d 1w 1M)"
        );
        let bad = CandlesConfig { timeframes: vec!["1w".into(), "1M".into()], ..Default::default() };
        assert!(bad.plan().unwrap_err().to_string().contains("1M is not a whole number of 1w"));
    }
}
