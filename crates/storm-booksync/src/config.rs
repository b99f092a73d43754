//! The `[booksync]` section of `storm.toml` (also `STORM_BOOKSYNC_*` env vars and
//! `--set booksync.<key>=` flags).
//!
//! ```toml
//! [booksync]
//! venue = "binance"              # a [[venue]] name: its rest_url serves snapshots and exchangeInfo
//! snapshot_depth = 1000          # levels per REST snapshot: weight 50 at 1000, 250 up to 5000
//! top_n = 20                     # levels per side in storm:book:<venue>:<SYM>
//! top_k = 10                     # levels per side on storm:tops:<venue> (an entry when they change)
//! book_ttl_ms = 30000            # TTL of each book hash, refreshed while booksync runs
//! stale_after_ms = 5000          # a live book no diff or ingester liveness covered this long: stale
//! buffer_max = 20000             # diffs buffered per symbol while its snapshot is on the way
//! weight_limit = 6000            # REQUEST_WEIGHT per minute until exchangeInfo says otherwise
//! weight_usable_percent = 80     # share of it booksync and its neighbours may spend (no 429)
//! instruments_refresh_ms = 3600000
//! tops_maxlen = 100000           # XADD MAXLEN ~ of storm:tops:<venue>
//! threads = 0                    # 0: a worker per core; 1: everything on one thread
//! ```
//!
//! `threads`: booksync's read, decode, apply and write stages run as tasks. With a core or more
//! to itself, workers on every core run them in parallel (stream_to_book: ~100,000 diffs/s at
//! ~1.3 cores). On a small machine shared with the other engines, Redis and the venue feed, one
//! thread costs less CPU per diff (hand-offs are queue pushes, not cross-thread wake-ups) and
//! delivers tops sooner (docs/BENCHMARKS.md, "One thread"), but is bounded by one core.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use storm_service::EngineSection;

/// The booksync settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BooksyncConfig {
    /// Name of the `[[venue]]` whose books are kept.
    pub venue: String,
    /// Levels per side asked of each REST snapshot (1..=5000).
    pub snapshot_depth: u32,
    /// Levels per side written to the book hash.
    pub top_n: usize,
    /// Levels per side carried on the tops stream; a change among them makes an entry.
    pub top_k: usize,
    /// TTL of the book hashes, ms.
    pub book_ttl_ms: u64,
    /// A live book that no diff and no `alive` entry of the ingester covered for this long is
    /// marked `stale`, ms; must exceed twice `ingester.liveness_ms`.
    pub stale_after_ms: u64,
    /// Diffs buffered per symbol while waiting for its snapshot; beyond it the symbol restarts.
    pub buffer_max: usize,
    /// The venue's request-weight limit per minute until exchangeInfo gives the live value.
    pub weight_limit: u32,
    /// Percentage of the weight limit handed out (the rest is headroom against 429s).
    pub weight_usable_percent: u32,
    /// How often exchangeInfo is re-read into `storm:instruments:<venue>`, ms.
    pub instruments_refresh_ms: u64,
    /// Approximate length kept of `storm:tops:<venue>`.
    pub tops_maxlen: usize,
    /// Runtime worker threads: 0 one per core, 1 a single thread (see the module docs).
    pub threads: usize,
}

impl Default for BooksyncConfig {
    fn default() -> Self {
        Self {
            venue: "binance".into(),
            snapshot_depth: 1000,
            top_n: 20,
            top_k: 10,
            book_ttl_ms: 30_000,
            stale_after_ms: 5_000,
            buffer_max: 20_000,
            weight_limit: 6_000,
            weight_usable_percent: 80,
            instruments_refresh_ms: 3_600_000,
            tops_maxlen: 100_000,
            threads: 0,
        }
    }
}

impl EngineSection for BooksyncConfig {
    const SECTION: &'static str = "booksync";
}

/// A setting outside its range.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("booksync.{field} = {value} is outside {min}..={max}")]
pub struct BooksyncConfigError {
    /// The setting.
    pub field: &'static str,
    /// Its value.
    pub value: u64,
    /// Smallest allowed.
    pub min: u64,
    /// Largest allowed.
    pub max: u64,
}

fn within(field: &'static str, value: u64, min: u64, max: u64) -> Result<(), BooksyncConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(BooksyncConfigError { field, value, min, max })
    }
}

impl BooksyncConfig {
    /// Checks every number; the first problem wins.
    pub fn validate(&self) -> Result<(), BooksyncConfigError> {
        within("snapshot_depth", self.snapshot_depth.into(), 1, 5_000)?;
        within("top_n", self.top_n as u64, 1, 1_000)?;
        within("top_k", self.top_k as u64, 1, self.top_n as u64)?;
        within("book_ttl_ms", self.book_ttl_ms, 1_000, 86_400_000)?;
        within("stale_after_ms", self.stale_after_ms, 100, 3_600_000)?;
        within("buffer_max", self.buffer_max as u64, 10, 10_000_000)?;
        within("weight_limit", self.weight_limit.into(), 1, 1_000_000)?;
        within("weight_usable_percent", self.weight_usable_percent.into(), 1, 100)?;
        within("instruments_refresh_ms", self.instruments_refresh_ms, 1_000, 7 * 86_400_000)?;
        within("tops_maxlen", self.tops_maxlen as u64, 1, u64::MAX)?;
        within("threads", self.threads as u64, 0, 256)?;
        Ok(())
    }

    /// `book_ttl_ms` as a duration.
    pub fn book_ttl(&self) -> Duration {
        Duration::from_millis(self.book_ttl_ms)
    }

    /// `stale_after_ms` as a duration.
    pub fn stale_after(&self) -> Duration {
        Duration::from_millis(self.stale_after_ms)
    }

    /// `instruments_refresh_ms` as a duration.
    pub fn instruments_refresh(&self) -> Duration {
        Duration::from_millis(self.instruments_refresh_ms)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use storm_service::Config;

    use super::*;

    #[test]
    fn defaults_are_valid_and_an_absent_section_is_the_defaults() {
        assert_eq!(BooksyncConfig::default().validate(), Ok(()));
        let cfg = Config::<BooksyncConfig>::from_parts(toml::Table::new(), &BTreeMap::new(), &[]).unwrap();
        assert_eq!(cfg.engine, BooksyncConfig::default());
    }

    #[test]
    fn out_of_range_and_unknown_settings_are_refused() {
        let cfg = BooksyncConfig { top_k: 30, ..BooksyncConfig::default() };
        assert_eq!(cfg.validate(), Err(BooksyncConfigError { field: "top_k", value: 30, min: 1, max: 20 }));
        let cfg = BooksyncConfig { snapshot_depth: 5_001, ..BooksyncConfig::default() };
        assert_eq!(cfg.validate().unwrap_err().field, "snapshot_depth");
        let cfg = BooksyncConfig { threads: 257, ..BooksyncConfig::default() };
        assert_eq!(cfg.validate().unwrap_err().field, "threads");
        assert_eq!(BooksyncConfig { threads: 1, ..BooksyncConfig::default() }.validate(), Ok(()));
        let table: toml::Table = "[booksync]\nsnapshot_limit = 5\n".parse().unwrap();
        let err = Config::<BooksyncConfig>::from_parts(table, &BTreeMap::new(), &[]).unwrap_err();
        assert!(err.to_string().contains("snapshot_limit"), "{err}");
    }
}
