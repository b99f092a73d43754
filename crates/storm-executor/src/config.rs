//! The `[executor]` section of `storm.toml` (also `STORM_EXECUTOR_*` env vars and
//! `--set executor.<key>=` flags).
//!
//! ```toml
//! [executor]
//! venue = "binance"
//! mode = "dry-run"              # dry-run | paper | live
//! live_enabled = false          # live mode refuses to start unless this is true
//! first_leg_fok = false         # leg 1 as FOK instead of IOC
//! unwind = "return"             # return (IOC back to the start asset) | hold (report only)
//! unwind_slippage_bps = "50"    # the unwind's limit is at most this much worse than the book
//! max_open_chains = 1           # chains in flight across every executor (journal)
//! order_timeout_ms = 3000       # no reply in time = status unknown → query, never resend
//! unknown_resolve_max_ms = 120000 # an unknown order still unresolved after this is parked
//! orders_per_10s = 50           # below the venue's ORDERS limit (100 / 10 s on Binance); a chain
//!                               # starts only with room for all its legs (else `rejected` at once)
//! claim_idle_ms = 10000         # a crashed executor's entries are reclaimed after this; also the
//!                               # lease of a chain's owner (renewed every quarter of it)
//! paper_fee = "0.001"           # paper mode's taker fee (of the received asset)
//! journal_retention_ms = 86400000
//! [executor.max_notional]       # largest start amount per trade, per start asset
//! USDT = "1000"
//! [executor.daily_loss_cap]     # the day's loss (every executor's) at which chains stop; sets storm:halt
//! USDT = "50"
//! [executor.paper_balances]     # paper mode's starting balances
//! USDT = "10000"
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use storm_service::EngineSection;

/// How orders are executed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Every leg validated with `POST /api/v3/order/test`; nothing trades.
    DryRun,
    /// Fills simulated locally against `storm:book:<venue>:<SYM>`.
    Paper,
    /// Real orders (needs `live_enabled = true` and keys in the environment).
    Live,
}

impl Mode {
    /// The spelling in config and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::DryRun => "dry-run",
            Mode::Paper => "paper",
            Mode::Live => "live",
        }
    }
}

/// What to do with a chain broken after its first leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnwindPolicy {
    /// Send an IOC back to the start asset at a bounded worse price.
    Return,
    /// Keep the inventory and report it on `storm:exec:failed`.
    Hold,
}

/// The executor's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutorConfig {
    /// Name of the `[[venue]]` traded.
    pub venue: String,
    /// dry-run, paper or live.
    pub mode: Mode,
    /// Must be true for `live`.
    pub live_enabled: bool,
    /// Leg 1 as FOK.
    pub first_leg_fok: bool,
    /// Broken-chain policy.
    pub unwind: UnwindPolicy,
    /// Unwind limit at most this much worse than the reference price, bps.
    pub unwind_slippage_bps: Decimal,
    /// Chains in flight at once across every executor (0: no limit).
    pub max_open_chains: usize,
    /// Reply timeout of an order request, ms.
    pub order_timeout_ms: u64,
    /// Longest time an order of unknown status is queried before its chain is parked, ms.
    pub unknown_resolve_max_ms: u64,
    /// Orders per 10 s sent by this process; a chain starts only when all its legs fit now.
    pub orders_per_10s: u32,
    /// Pending opportunities idle this long are reclaimed from other consumers, ms; also the lease
    /// a chain's owner holds and renews every quarter of it ([`crate::claim`]).
    pub claim_idle_ms: u64,
    /// Paper mode's fee (fraction of the received asset).
    pub paper_fee: Decimal,
    /// Finished journal entries are removed after this, ms.
    pub journal_retention_ms: u64,
    /// `MAXLEN ~` of `storm:arb:log` and `storm:exec:failed`.
    pub log_maxlen: usize,
    /// Largest start amount per trade by start asset; an asset without an entry is not traded.
    pub max_notional: BTreeMap<String, Decimal>,
    /// Daily (UTC) loss per start asset, over every executor, at which no new chain starts (the
    /// gate refuses it) and `storm:halt` is set.
    pub daily_loss_cap: BTreeMap<String, Decimal>,
    /// Paper mode's starting balances.
    pub paper_balances: BTreeMap<String, Decimal>,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        let one = |a: &str, d: Decimal| [(a.to_owned(), d)].into_iter().collect::<BTreeMap<_, _>>();
        Self {
            venue: "binance".into(),
            mode: Mode::DryRun,
            live_enabled: false,
            first_leg_fok: false,
            unwind: UnwindPolicy::Return,
            unwind_slippage_bps: Decimal::new(50, 0),
            max_open_chains: 1,
            order_timeout_ms: 3_000,
            unknown_resolve_max_ms: 120_000,
            orders_per_10s: 50,
            claim_idle_ms: 10_000,
            paper_fee: Decimal::new(1, 3),
            journal_retention_ms: 86_400_000,
            log_maxlen: 100_000,
            max_notional: one("USDT", Decimal::new(1000, 0)),
            daily_loss_cap: one("USDT", Decimal::new(50, 0)),
            paper_balances: one("USDT", Decimal::new(10_000, 0)),
        }
    }
}

impl EngineSection for ExecutorConfig {
    const SECTION: &'static str = "executor";
}

/// A setting that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExecutorConfigError {
    /// `live` without the explicit flag.
    #[error("executor.mode = \"live\" needs executor.live_enabled = true (real money)")]
    LiveNotEnabled,
    /// A number out of range.
    #[error("executor.{0} is out of range")]
    Range(&'static str),
    /// A per-asset amount that is not positive.
    #[error("executor.{0}.{1} must be positive")]
    Amount(&'static str, String),
}

impl ExecutorConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ExecutorConfigError> {
        if self.mode == Mode::Live && !self.live_enabled {
            return Err(ExecutorConfigError::LiveNotEnabled);
        }
        let ranges = [
            ("order_timeout_ms", (100..=60_000).contains(&self.order_timeout_ms)),
            // At least the venue's recvWindow and margin, after which an unknown order is final.
            ("unknown_resolve_max_ms", (10_000..=3_600_000).contains(&self.unknown_resolve_max_ms)),
            ("orders_per_10s", (1..=1_000).contains(&self.orders_per_10s)),
            ("claim_idle_ms", (100..=3_600_000).contains(&self.claim_idle_ms)),
            ("journal_retention_ms", self.journal_retention_ms >= 60_000),
            ("log_maxlen", self.log_maxlen >= 100),
            (
                "unwind_slippage_bps",
                !self.unwind_slippage_bps.is_sign_negative() && self.unwind_slippage_bps < Decimal::new(5_000, 0),
            ),
            ("paper_fee", !self.paper_fee.is_sign_negative() && self.paper_fee < Decimal::new(1, 1)),
        ];
        if let Some((name, _)) = ranges.iter().find(|(_, ok)| !ok) {
            return Err(ExecutorConfigError::Range(name));
        }
        for (section, map) in [
            ("max_notional", &self.max_notional),
            ("daily_loss_cap", &self.daily_loss_cap),
            ("paper_balances", &self.paper_balances),
        ] {
            if let Some((asset, _)) = map.iter().find(|(_, v)| !v.is_sign_positive() || v.is_zero()) {
                return Err(ExecutorConfigError::Amount(section, asset.clone()));
            }
        }
        Ok(())
    }

    /// The order reply timeout.
    pub fn order_timeout(&self) -> Duration {
        Duration::from_millis(self.order_timeout_ms)
    }

    /// How long an order of unknown status is queried before its chain is parked.
    pub fn unknown_resolve_max(&self) -> Duration {
        Duration::from_millis(self.unknown_resolve_max_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_safe() {
        let c = ExecutorConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.mode, Mode::DryRun);
    }

    #[test]
    fn live_needs_the_explicit_flag() {
        let mut c = ExecutorConfig { mode: Mode::Live, ..Default::default() };
        assert_eq!(c.validate(), Err(ExecutorConfigError::LiveNotEnabled));
        c.live_enabled = true;
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn the_toml_spelling_parses_and_bad_amounts_are_refused() {
        let c: ExecutorConfig = toml::from_str(
            "mode = \"paper\"\nunwind = \"hold\"\n[max_notional]\nUSDT = \"100\"\n[daily_loss_cap]\nUSDT = \"0\"\n",
        )
        .expect("parses");
        assert_eq!(c.mode, Mode::Paper);
        assert_eq!(c.unwind, UnwindPolicy::Hold);
        assert_eq!(c.validate(), Err(ExecutorConfigError::Amount("daily_loss_cap", "USDT".into())));
    }
}
