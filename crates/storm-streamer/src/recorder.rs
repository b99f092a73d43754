//! Applies user-data events and REST snapshots to one account: plan with [`AccountBook`], write
//! with [`Store`], then commit, counting what happened. Owned by the account's task, so there is
//! one writer per account and no lock. It also removes closed orders past the retention
//! ([`Recorder::prune`]), so neither Redis nor the book grows with the account's history.

use std::time::Duration;

use storm_bus::account::Balance;
use storm_bus::BusError;
use storm_core::{Asset, Qty, Symbol};
use storm_venues::binance::user_wire::UserEvent;
use tracing::{debug, info, warn};

use crate::book::{AccountBook, Planned, Write};
use crate::convert;
use crate::reconcile::Snapshot;
use crate::stats::Stats;
use crate::store::{Store, StoreError};

/// What the session should do after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Balances changed by a delta only (`balanceUpdate`): reconcile.
    Reconcile,
    /// The venue ended the subscription: reconnect.
    Terminated,
}

/// One account's book and its writer.
#[derive(Debug)]
pub struct Recorder {
    book: AccountBook,
    store: Store,
    stats: Stats,
    retention: Duration,
}

impl Recorder {
    /// Loads the orders already in Redis (so replays and reconciles compare against them),
    /// removing closed orders older than `retention` instead of loading them.
    pub async fn load(store: Store, stats: Stats, retention: Duration) -> Result<Self, BusError> {
        let loaded = store.load_orders(cutoff(retention)).await?;
        stats.malformed.add(loaded.unreadable as u64);
        stats.pruned_orders.add(loaded.pruned as u64);
        info!(
            orders = loaded.orders.len(),
            unreadable = loaded.unreadable,
            pruned = loaded.pruned,
            "order states loaded from redis"
        );
        let mut recorder = Self { book: AccountBook::new(loaded.orders), store, stats, retention };
        recorder.prune().await;
        Ok(recorder)
    }

    /// Removes closed orders older than the retention from Redis, then from the book (see
    /// [`crate::book::expired`]). A failed removal is logged and tried again next time.
    pub async fn prune(&mut self) {
        let (mut pruned, cutoff) = (0, cutoff(self.retention));
        for (symbol, ids) in self.book.prunable(cutoff) {
            match self.store.forget(&symbol, &ids).await {
                Ok(()) => {
                    self.stats.pruned_orders.add(ids.len() as u64);
                    pruned += ids.len();
                    self.book.forget(&symbol, &ids);
                }
                Err(BusError::Cancelled) => return,
                Err(e) => {
                    self.stats.write_failures.inc();
                    warn!(symbol = %symbol, error = %e, "removing expired orders failed; tried again later");
                    return;
                }
            }
        }
        if pruned > 0 {
            info!(pruned, kept = self.book.order_count(), "closed orders past the retention removed");
        }
    }

    /// The book as written so far.
    pub fn book(&self) -> &AccountBook {
        &self.book
    }

    /// Applies one event of our subscription.
    pub async fn event(&mut self, event: UserEvent) -> Flow {
        match event {
            UserEvent::Execution(r) => {
                self.stats.executions.inc();
                let planned = self.book.plan_order(convert::report_state(&r), convert::report_fill(&r));
                self.perform(planned).await;
            }
            UserEvent::Position(p) => {
                self.stats.positions.inc();
                let updates = p
                    .balances
                    .iter()
                    .map(|b| {
                        (
                            Asset::new(&b.asset),
                            Balance { free: Qty(b.free), locked: Qty(b.locked), time: p.update_time },
                        )
                    })
                    .collect();
                if let Some(w) = self.book.plan_balances(updates) {
                    self.write(w).await;
                }
            }
            UserEvent::BalanceDelta(b) => {
                self.stats.balance_updates.inc();
                info!(asset = %b.asset, delta = %b.delta, "balance update; re-reading the account");
                return Flow::Reconcile;
            }
            UserEvent::Terminated(t) => {
                self.stats.terminated.inc();
                warn!(time = t.event_time, "eventStreamTerminated");
                return Flow::Terminated;
            }
            UserEvent::Unknown(kind) => {
                self.stats.unknown.inc();
                debug!(event = %kind, "unhandled user-data event skipped");
            }
        }
        Flow::Continue
    }

    /// Applies a REST snapshot: order states, then fills (needing those states), then balances.
    pub async fn snapshot(&mut self, snap: Snapshot) {
        for reply in snap.open.iter().chain(&snap.queried) {
            match convert::reply_state(reply) {
                Some(state) => {
                    let planned = self.book.plan_order(state, None);
                    self.perform(planned).await;
                }
                None => {
                    self.stats.malformed.inc();
                    warn!(order_id = reply.order_id, side = %reply.side, "order reply with an unknown side skipped");
                }
            }
        }
        for (symbol, order_id) in &snap.missing {
            warn!(symbol = %symbol, order_id, "a working order is unknown to the venue; left as last seen");
        }
        for trade in &snap.trades {
            let symbol = Symbol::new(&trade.symbol);
            let client_id =
                self.book.order(&symbol, trade.order_id).map(|o| o.client_order_id.clone()).unwrap_or_default();
            match self.book.plan_fill(convert::trade_fill(trade, &client_id)) {
                Some(planned) => self.perform(planned).await,
                None => {
                    warn!(symbol = %symbol, order_id = trade.order_id, trade_id = trade.id, "trade of an order the venue did not return; skipped")
                }
            }
        }
        let time = if snap.account.update_time > 0 { snap.account.update_time } else { snap.account_time };
        let balances = snap
            .account
            .balances
            .iter()
            .map(|b| (Asset::new(&b.asset), Balance { free: Qty(b.free), locked: Qty(b.locked), time }))
            .collect();
        let write = self.book.plan_snapshot(balances, time);
        self.write(write).await;
        self.stats.reconciles.inc();
        info!(
            orders = self.book.order_count(),
            open = snap.open.len(),
            queried = snap.queried.len(),
            trades = snap.trades.len(),
            assets = self.book.balances().len(),
            "reconciled with REST"
        );
    }

    async fn perform(&mut self, planned: Planned) {
        if planned.stale {
            self.stats.stale_reports.inc();
        }
        if planned.duplicate_fill {
            self.stats.duplicate_fills.inc();
        }
        if let Some(w) = planned.write {
            self.write(w).await;
        }
    }

    async fn write(&mut self, write: Write) {
        match self.store.write(&write).await {
            Ok(()) => {
                match &write {
                    Write::Fill(f, _) => {
                        self.stats.fills.inc();
                        self.stats.order_writes.inc();
                        debug!(symbol = %f.symbol, order_id = f.order_id, trade_id = f.trade_id, "fill recorded");
                    }
                    Write::Order(_) => self.stats.order_writes.inc(),
                    Write::Balances(_) | Write::ReplaceBalances(_) => {}
                }
                self.book.commit(&write);
            }
            Err(StoreError::Bus(BusError::Cancelled)) => {}
            Err(e) => {
                self.stats.write_failures.inc();
                warn!(error = %e, "redis write failed; the next reconcile repairs it");
            }
        }
    }
}

/// The update time before which a closed order has expired.
fn cutoff(retention: Duration) -> u64 {
    storm_core::time::now_millis().saturating_sub(u64::try_from(retention.as_millis()).unwrap_or(u64::MAX))
}
