//! One account's orders and balances as the streamer last wrote them, and the rules that decide
//! what a new report changes. Pure: it plans [`Write`]s, the caller performs them and then
//! [`AccountBook::commit`]s, so memory never runs ahead of Redis.
//!
//! Why the rules make replays harmless (events arrive twice after a reconnect, and a REST
//! reconcile overlaps the stream):
//! - an order state only moves forward ([`OrderState::supersedes`]: final status wins, then more
//!   filled quantity, then a later update time);
//! - a fill is new only if its trade id is above the order's `last_trade_id` (trade ids of one
//!   order only grow, and fills are applied in trade-id order), and that mark is written in the
//!   same transaction as the fill;
//! - a balance is replaced only by one of the same or a later account-update time.
//!
//! Bounded state: a closed order leaves the book and Redis once it is older than the retention
//! ([`expired`]), except the orders holding their symbol's newest trade id. Those stay because the
//! next reconcile reads `/myTrades` from that id on (inclusive): were its order gone, the trade
//! would look new and be recorded a second time.

use std::collections::BTreeMap;

use storm_bus::account::{Balance, Fill, OrderState};
use storm_core::{Asset, Symbol};

/// A change to make in Redis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// `HSET` one order state.
    Order(OrderState),
    /// `XADD` a fill and `HSET` its order (whose `last_trade_id` is the fill's) atomically.
    Fill(Fill, OrderState),
    /// `HSET` some balances.
    Balances(Vec<(Asset, Balance)>),
    /// Replace the whole balance hash (a REST snapshot merged with newer events).
    ReplaceBalances(BTreeMap<Asset, Balance>),
}

/// What a report changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Planned {
    /// The write, if anything is new.
    pub write: Option<Write>,
    /// The report was older than the stored state.
    pub stale: bool,
    /// The report's fill was already recorded.
    pub duplicate_fill: bool,
}

/// The account's state as written to Redis.
#[derive(Clone, Debug, Default)]
pub struct AccountBook {
    orders: BTreeMap<Symbol, BTreeMap<u64, OrderState>>,
    balances: BTreeMap<Asset, Balance>,
}

impl AccountBook {
    /// A book holding `orders` (read back from Redis at start).
    pub fn new(orders: Vec<OrderState>) -> Self {
        let mut book = Self::default();
        for o in orders {
            book.orders.entry(o.symbol.clone()).or_default().insert(o.order_id, o);
        }
        book
    }

    /// The stored state of an order.
    pub fn order(&self, symbol: &Symbol, order_id: u64) -> Option<&OrderState> {
        self.orders.get(symbol)?.get(&order_id)
    }

    /// Symbols with at least one order.
    pub fn symbols(&self) -> impl Iterator<Item = &Symbol> {
        self.orders.keys()
    }

    /// Orders not yet in a final state.
    pub fn working_orders(&self) -> impl Iterator<Item = &OrderState> {
        self.orders.values().flat_map(|m| m.values()).filter(|o| !o.status.is_final())
    }

    /// Highest trade id recorded on `symbol` (where a `/myTrades` catch-up starts).
    pub fn trade_mark(&self, symbol: &Symbol) -> Option<u64> {
        self.orders.get(symbol)?.values().filter_map(|o| o.last_trade_id).max()
    }

    /// Number of orders known.
    pub fn order_count(&self) -> usize {
        self.orders.values().map(BTreeMap::len).sum()
    }

    /// Closed orders last changed before `cutoff_ms` that may leave Redis, per symbol
    /// (see [`expired`]).
    pub fn prunable(&self, cutoff_ms: u64) -> Vec<(Symbol, Vec<u64>)> {
        self.orders
            .iter()
            .filter_map(|(symbol, orders)| {
                let mark = self.trade_mark(symbol);
                let ids: Vec<u64> =
                    orders.values().filter(|o| expired(o, cutoff_ms, mark)).map(|o| o.order_id).collect();
                (!ids.is_empty()).then(|| (symbol.clone(), ids))
            })
            .collect()
    }

    /// Drops orders removed from Redis.
    pub fn forget(&mut self, symbol: &Symbol, ids: &[u64]) {
        if let Some(orders) = self.orders.get_mut(symbol) {
            for id in ids {
                orders.remove(id);
            }
            if orders.is_empty() {
                self.orders.remove(symbol);
            }
        }
    }

    /// The balances.
    pub fn balances(&self) -> &BTreeMap<Asset, Balance> {
        &self.balances
    }

    /// What a report of an order (with the fill it carries, if any) changes.
    pub fn plan_order(&self, incoming: OrderState, fill: Option<Fill>) -> Planned {
        let current = self.order(&incoming.symbol, incoming.order_id);
        let (mut next, stale) = match current {
            None => (incoming, false),
            Some(cur) if incoming.supersedes(cur) => (carry_over(incoming, cur), false),
            Some(cur) => (cur.clone(), cur.supersedes(&incoming)),
        };
        let had_fill = fill.is_some();
        let fill = fill.filter(|f| next.last_trade_id.is_none_or(|last| f.trade_id > last));
        if let Some(f) = &fill {
            next.last_trade_id = Some(f.trade_id);
        }
        let duplicate_fill = had_fill && fill.is_none();
        let write = match fill {
            Some(f) => Some(Write::Fill(f, next)),
            None if current != Some(&next) => Some(Write::Order(next)),
            None => None,
        };
        Planned { write, stale, duplicate_fill }
    }

    /// What a fill learned from REST changes; `None` when its order is unknown.
    pub fn plan_fill(&self, fill: Fill) -> Option<Planned> {
        let current = self.order(&fill.symbol, fill.order_id)?.clone();
        Some(self.plan_order(current, Some(fill)))
    }

    /// What an account-position event changes: assets whose stored update time is not later.
    pub fn plan_balances(&self, updates: Vec<(Asset, Balance)>) -> Option<Write> {
        let changed: Vec<(Asset, Balance)> = updates
            .into_iter()
            .filter(|(a, b)| self.balances.get(a).is_none_or(|s| b.time >= s.time && s != b))
            .collect();
        (!changed.is_empty()).then_some(Write::Balances(changed))
    }

    /// The balance hash after a REST snapshot taken at `time`: the snapshot's assets, except
    /// where an event newer than the snapshot was applied; assets the snapshot lacks are removed
    /// unless such an event brought them.
    pub fn plan_snapshot(&self, snapshot: Vec<(Asset, Balance)>, time: u64) -> Write {
        let mut next: BTreeMap<Asset, Balance> =
            self.balances.iter().filter(|(_, b)| b.time > time).map(|(a, b)| (a.clone(), *b)).collect();
        for (asset, b) in snapshot {
            next.entry(asset).or_insert(b);
        }
        Write::ReplaceBalances(next)
    }

    /// Records a write that reached Redis.
    pub fn commit(&mut self, write: &Write) {
        match write {
            Write::Order(o) | Write::Fill(_, o) => {
                self.orders.entry(o.symbol.clone()).or_default().insert(o.order_id, o.clone());
            }
            Write::Balances(list) => {
                for (a, b) in list {
                    self.balances.insert(a.clone(), *b);
                }
            }
            Write::ReplaceBalances(map) => self.balances = map.clone(),
        }
    }
}

/// True when `order` may leave Redis: it is closed, last changed before `cutoff_ms`, and does not
/// hold `mark`, the highest trade id recorded on its symbol (an order without trades never does).
pub fn expired(order: &OrderState, cutoff_ms: u64, mark: Option<u64>) -> bool {
    order.status.is_final()
        && order.update_ms < cutoff_ms
        && order.last_trade_id.is_none_or(|t| mark.is_some_and(|m| t < m))
}

/// `incoming` with what it does not know taken from `cur` (REST replies lack creation time).
fn carry_over(mut incoming: OrderState, cur: &OrderState) -> OrderState {
    incoming.last_trade_id = cur.last_trade_id;
    if incoming.created_ms == 0 {
        incoming.created_ms = cur.created_ms;
    }
    for (field, old) in [
        (&mut incoming.order_type, &cur.order_type),
        (&mut incoming.time_in_force, &cur.time_in_force),
        (&mut incoming.client_order_id, &cur.client_order_id),
    ] {
        if field.is_empty() {
            field.clone_from(old);
        }
    }
    incoming
}

#[cfg(test)]
mod tests;
