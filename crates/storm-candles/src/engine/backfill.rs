//! The engine's side of a backfill: when a hole is due, ask the venue for its base intervals,
//! compare with the candles in Redis, write the corrections and re-roll the longer timeframes
//! ([`crate::backfill`] holds the rules). Holes live in each series' saved state, so a backfill
//! interrupted by a crash is done after the restart.

use std::collections::{BTreeMap, BTreeSet};

use storm_bus::{Bus, WeightBudget, WeightBudgetConfig};
use storm_core::Symbol;
use storm_service::config::VenueConfig;
use storm_venues::history::{HistoricalCandle, KlineHistory};
use storm_venues::rest::RestClient;
use tracing::{info, warn};

use super::Engine;
use crate::backfill::{corrections, lower_of, roll, same_values};
use crate::candle::Candle;
use crate::series::Gap;
use crate::timeframe::Timeframe;
use crate::{store, wire};

/// Wait before trying a failed backfill again, ms.
const RETRY_MS: u64 = 5_000;

/// The venue's candle history and the budgeted client that reads it.
pub(super) struct Source {
    history: KlineHistory,
    client: RestClient,
}

impl Source {
    /// `None` (logged) when the venue is not configured or has no history storm reads.
    pub(super) fn new(venue: Option<&VenueConfig>, bus: &Bus) -> Option<Self> {
        let Some(v) = venue else {
            warn!("no [[venue]] entry for the candles' venue: holes in the trade stream are counted, not backfilled");
            return None;
        };
        let history = KlineHistory::new(v.kind, &v.rest_url);
        let budget = WeightBudget::new(
            bus,
            v.name.as_str(),
            WeightBudgetConfig::new(storm_venues::rest::weight_per_minute(v.kind)),
        )
        .map_err(|e| warn!(error = %e, "unusable weight budget: no backfills"))
        .ok()?;
        let client =
            RestClient::new(v.kind, budget).map_err(|e| warn!(error = %e, "no REST client: no backfills")).ok()?;
        Some(Self { history, client })
    }

    /// The venue's `tf` intervals opening in `[from_ms, to_ms)`, oldest first.
    async fn fetch(
        &self,
        sym: &Symbol,
        tf: Timeframe,
        from_ms: u64,
        to_ms: u64,
    ) -> Result<Vec<HistoricalCandle>, String> {
        let mut out: Vec<HistoricalCandle> = Vec::new();
        let mut start = from_ms;
        while start < to_ms {
            let url = self.history.url(sym, tf.as_str(), start, to_ms.saturating_sub(1));
            let body = self.client.get(&url, self.history.weight()).await.map_err(|e| e.to_string())?;
            let rows = self.history.parse(&body).map_err(|e| e.to_string())?;
            let full = rows.len() >= self.history.max_per_request() as usize;
            let Some(last) = rows.last().map(|r| r.open_ms) else { break };
            out.extend(rows.into_iter().filter(|r| (from_ms..to_ms).contains(&r.open_ms)));
            if !full || last < start {
                break;
            }
            start = last.saturating_add(1);
        }
        Ok(out)
    }
}

impl Engine {
    /// Fills every hole whose last interval the venue closed at least `backfill_after_ms` ago.
    pub(super) async fn backfill_due(&mut self, now: u64) {
        if self.gapped.is_empty() || self.history.is_none() {
            return;
        }
        let due = self.due(now);
        if due.is_empty() {
            return;
        }
        // The comparison reads Redis: everything closed so far must be there first.
        self.flush().await;
        if !self.commit.is_empty() {
            return;
        }
        for (sym, gap) in due {
            match self.fill(&sym, gap).await {
                Ok(n) => {
                    self.stats.backfilled.add(n);
                    info!(symbol = %sym, from_ms = gap.from_ms, to_ms = gap.to_ms, candles = n, "hole backfilled from the venue's klines");
                    if let Some(t) = self.series.get_mut(&sym) {
                        t.series.gap_filled(gap);
                        t.dirty = true;
                        if t.series.gaps().is_empty() {
                            self.gapped.remove(&sym);
                        }
                    }
                    self.retry_at.remove(&sym);
                    self.rebuild_ticker(&sym).await;
                }
                Err(e) => {
                    self.stats.backfill_errors.inc();
                    self.retry_at.insert(sym.clone(), now.saturating_add(RETRY_MS));
                    warn!(symbol = %sym, error = %e, "backfill failed: trying again in {RETRY_MS} ms");
                }
            }
        }
        self.save_point();
        self.flush().await;
    }

    /// The oldest hole of each gapped symbol that can be filled now.
    fn due(&self, now: u64) -> Vec<(Symbol, Gap)> {
        let base = self.plan.base();
        let wait = self.plan.grace_ms.saturating_add(self.cfg.backfill_after_ms);
        self.gapped
            .iter()
            .filter(|s| self.retry_at.get(*s).is_none_or(|at| *at <= now))
            .filter_map(|s| {
                let t = self.series.get(s)?;
                let gap = *t.series.gaps().first()?;
                let last = base.open_of(gap.to_ms);
                let closed = t.series.next_close() > last && base.next_open(last).saturating_add(wait) <= now;
                closed.then(|| (s.clone(), gap))
            })
            .collect()
    }

    /// Backfills one hole; the number of candles rewritten.
    async fn fill(&mut self, sym: &Symbol, gap: Gap) -> Result<u64, String> {
        let base = self.plan.base();
        let (from, to) = (base.open_of(gap.from_ms), base.next_open(base.open_of(gap.to_ms)));
        let Some(source) = &self.history else { return Ok(0) };
        let venue = source.fetch(sym, base, from, to).await?;
        let mut ours = BTreeMap::new();
        self.read_candles(sym, base, from, to, &mut ours).await.map_err(|e| e.to_string())?;
        let mut fixed: BTreeMap<Timeframe, BTreeMap<u64, Candle>> = BTreeMap::new();
        fixed.insert(base, corrections(base, &ours, &venue).into_iter().map(|c| (c.open_ms, c)).collect());
        let mut forming = Vec::new();
        let higher: Vec<Timeframe> = self.plan.timeframes().skip(1).collect();
        for tf in higher {
            let (closed, now_forming) = self.reroll(sym, tf, &fixed, &forming).await?;
            fixed.insert(tf, closed);
            forming.extend(now_forming);
        }
        for (tf, corrected) in &fixed {
            self.rewrite(sym, *tf, corrected).await?;
        }
        let amended: Vec<Candle> = fixed.into_values().flat_map(BTreeMap::into_values).collect();
        if let Some(t) = self.series.get_mut(sym) {
            t.series.take_backfill(&self.plan, &amended, &forming);
            t.dirty = true;
        }
        Ok(amended.len() as u64)
    }

    /// The candles of `tf` touched by the corrections of its shorter timeframe, rolled again:
    /// new versions of closed ones that changed, and the forming one when it was touched.
    async fn reroll(
        &self,
        sym: &Symbol,
        tf: Timeframe,
        fixed: &BTreeMap<Timeframe, BTreeMap<u64, Candle>>,
        forming: &[Candle],
    ) -> Result<(BTreeMap<u64, Candle>, Option<Candle>), String> {
        let lower = lower_of(&self.plan, tf);
        let parts_fixed = fixed.get(&lower).cloned().unwrap_or_default();
        let lower_forming = forming.iter().filter(|c| c.tf == lower).map(|c| c.open_ms);
        let touched: BTreeSet<u64> = parts_fixed.keys().copied().chain(lower_forming).map(|o| tf.open_of(o)).collect();
        let Some(t) = self.series.get(sym) else { return Ok((BTreeMap::new(), None)) };
        let mut out = BTreeMap::new();
        let mut new_forming = None;
        for open in touched {
            let end = tf.next_open(open);
            if end <= t.series.next_close() {
                let mut parts = self.parts(sym, lower, open, end, &parts_fixed).await?;
                let Some(mut rolled) = roll(tf, open, parts.values()) else { continue };
                parts.clear();
                self.read_candles(sym, tf, open, end, &mut parts).await.map_err(|e| e.to_string())?;
                match parts.get(&open) {
                    Some(mine) if same_values(mine, &rolled) => continue,
                    Some(mine) => rolled.version = mine.version.saturating_add(1),
                    None => {}
                }
                rolled.backfilled = true;
                out.insert(open, rolled);
            } else if t.series.forming_open(tf) == Some(open) {
                // Closed shorter candles from Redis, then the shorter one still forming.
                let upto = if lower == self.plan.base() {
                    t.series.next_close()
                } else {
                    t.series.forming_open(lower).unwrap_or(open)
                };
                let mut parts = self.parts(sym, lower, open, upto, &parts_fixed).await?;
                if lower != self.plan.base() {
                    let lower_forming = forming.iter().find(|c| c.tf == lower).or_else(|| t.series.rolled(lower));
                    if let Some(c) = lower_forming {
                        parts.insert(c.open_ms, c.clone());
                    }
                }
                new_forming = roll(tf, open, parts.values());
            }
        }
        Ok((out, new_forming))
    }

    /// Writes `corrected` into the `tf` stream of `sym`: its tail from the first correction on is
    /// replaced by the latest version of every candle, corrected ones included.
    async fn rewrite(&self, sym: &Symbol, tf: Timeframe, corrected: &BTreeMap<u64, Candle>) -> Result<(), String> {
        let Some(&first) = corrected.keys().next() else { return Ok(()) };
        let tail = self.parts(sym, tf, first, u64::MAX, corrected).await?;
        let mut entries = Vec::with_capacity(tail.len());
        for c in tail.values() {
            entries.push((wire::entry_id(c), wire::fields(sym.as_str(), c).map_err(|e| e.to_string())?));
        }
        let Some(last) = tail.values().last() else { return Ok(()) };
        let key = self.bus.keys().candles(self.venue.as_str(), sym, tf.as_str());
        let mut conn = self.bus.conn();
        store::rewrite_tail(&mut conn, &key, &format!("{first}-0"), self.trim_below(last), &entries)
            .await
            .map_err(|e| format!("rewriting {key}: {e}"))?;
        Ok(())
    }

    /// The latest `tf` candles opening in `[from, to)` from Redis, with `fixed` laid over them.
    async fn parts(
        &self,
        sym: &Symbol,
        tf: Timeframe,
        from: u64,
        to: u64,
        fixed: &BTreeMap<u64, Candle>,
    ) -> Result<BTreeMap<u64, Candle>, String> {
        let mut parts = BTreeMap::new();
        self.read_candles(sym, tf, from, to, &mut parts).await.map_err(|e| e.to_string())?;
        parts.extend(fixed.range(from..to).map(|(k, v)| (*k, v.clone())));
        Ok(parts)
    }
}
