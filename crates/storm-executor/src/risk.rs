//! The checks an opportunity passes before its first order: not expired, no `storm:halt`, a
//! configured `max_notional` for its start asset that it stays within, room under
//! `max_open_chains`, and a free balance that covers the first leg. The daily loss cap is
//! tracked here too: the day's realized PnL per start asset is rebuilt from `storm:arb:log` at
//! start (entry ids are times) and, when the loss reaches the cap, the executor sets
//! `storm:halt` itself, so every executor stops until an operator clears it.
//!
//! The checks that read Redis run inside the gate's script ([`crate::gate`]), in the same round
//! trip that journals leg 1: this is on the path from signal to first order.

use std::collections::HashMap;

use rust_decimal::Decimal;
use storm_bus::{Bus, BusError};
use storm_core::arb::Opportunity;
use storm_core::{Asset, Side};
use tracing::error;

use crate::config::ExecutorConfig;
use crate::journal::ChainRecord;

/// What the first leg spends, in the start asset.
pub fn first_spend(opp: &Opportunity) -> Decimal {
    match opp.legs.first() {
        Some(l) if l.side == Side::Buy => l.qty.0 * l.price.0,
        Some(l) => l.qty.0,
        None => Decimal::ZERO,
    }
}

/// The checks that need no Redis: why `opp` must not start, or `None`. The rest (halt, open
/// chains, balance) is the gate's ([`crate::gate`]).
pub fn local_check(cfg: &ExecutorConfig, opp: &Opportunity, now_ms: u64) -> Option<(&'static str, String)> {
    if now_ms > opp.expires_ms {
        return Some(("expired", format!("expired {} ms ago", now_ms - opp.expires_ms)));
    }
    if opp.legs.is_empty() {
        return Some(("rejected", "no legs".into()));
    }
    let spend = first_spend(opp);
    match cfg.max_notional.get(opp.asset.as_str()) {
        None => Some(("rejected", format!("no max_notional configured for {}", opp.asset))),
        Some(max) if spend > *max => Some(("rejected", format!("notional {spend} above max_notional {max}"))),
        Some(_) => None,
    }
}

/// An unreadable journal record: never silently replaced by a new chain.
pub fn parse_record(raw: &str) -> Result<ChainRecord, String> {
    serde_json::from_str(raw).map_err(|e| e.to_string())
}

/// The day's realized PnL per start asset, and the cap.
pub struct DailyLoss {
    day: u64,
    realized: HashMap<Asset, Decimal>,
}

const DAY_MS: u64 = 86_400_000;

impl DailyLoss {
    /// Rebuilt from today's `storm:arb:log` entries.
    pub async fn load(bus: &Bus, now_ms: u64) -> Result<Self, BusError> {
        let day = now_ms / DAY_MS;
        let key = bus.keys().arb_log();
        let start = (day * DAY_MS).to_string();
        // Values as bytes: the entries carry a binary `m` field besides the plain ones.
        let entries: Vec<(String, HashMap<String, Vec<u8>>)> = bus
            .retry("read today's outcomes", |mut c| {
                let (key, start) = (key.clone(), start.clone());
                async move { redis::cmd("XRANGE").arg(&key).arg(&start).arg("+").query_async(&mut c).await }
            })
            .await?;
        let mut out = Self { day, realized: HashMap::new() };
        for (_, fields) in entries {
            let text = |name: &str| fields.get(name).and_then(|v| std::str::from_utf8(v).ok());
            if let (Some(asset), Some(v)) = (text("asset"), text("realized").and_then(|r| r.parse().ok())) {
                out.add(&Asset::new(asset), v, now_ms);
            }
        }
        Ok(out)
    }

    /// Adds one outcome's realized amount.
    pub fn add(&mut self, asset: &Asset, realized: Decimal, now_ms: u64) {
        if now_ms / DAY_MS != self.day {
            self.day = now_ms / DAY_MS;
            self.realized.clear();
        }
        *self.realized.entry(asset.clone()).or_default() += realized;
    }

    /// Today's realized amount of `asset`.
    pub fn today(&self, asset: &Asset) -> Decimal {
        self.realized.get(asset).copied().unwrap_or_default()
    }

    /// The first start asset whose loss reached its cap: (asset, loss, cap).
    pub fn breached(&self, cfg: &ExecutorConfig) -> Option<(Asset, Decimal, Decimal)> {
        self.realized.iter().find_map(|(a, v)| {
            let cap = *cfg.daily_loss_cap.get(a.as_str())?;
            (-*v >= cap).then(|| (a.clone(), -*v, cap))
        })
    }

    /// Sets `storm:halt` when a cap is reached; true if it did.
    pub async fn enforce(&self, bus: &Bus, cfg: &ExecutorConfig, owner: &str) -> bool {
        let Some((asset, loss, cap)) = self.breached(cfg) else { return false };
        let why = format!("executor {owner}: daily loss cap hit, {loss} {asset} lost today (cap {cap})");
        error!(%asset, %loss, %cap, "daily loss cap reached: setting storm:halt");
        let key = bus.keys().halt();
        let res = bus
            .retry("set halt", |mut c| {
                let (key, why) = (key.clone(), why.clone());
                async move { redis::cmd("SET").arg(&key).arg(&why).query_async::<()>(&mut c).await }
            })
            .await;
        res.is_ok()
    }
}
