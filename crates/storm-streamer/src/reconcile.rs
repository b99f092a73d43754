//! What happened while the stream was not listening, read over REST after every (re)subscribe.
//!
//! Order of operations (why nothing is missed): the session subscribes **first** and buffers
//! the events that arrive while [`fetch`] runs; the snapshot is applied, then the buffered events
//! on top. Every change after the subscription is in the buffer, everything before it is in the
//! snapshot, and the overlap is harmless because applying is idempotent ([`crate::book`]).
//!
//! The snapshot holds:
//! - `/account`: every balance (the hash is rewritten; assets no longer listed disappear);
//! - `/openOrders` (all symbols): the working orders;
//! - `/myTrades` for every symbol with activity — symbols of orders already in Redis, of open
//!   orders and of `reconcile_symbols` — from the highest trade id already recorded on that
//!   symbol (inclusive; a page at a time), or the latest `limit` trades of a symbol never seen;
//! - `GET /order` by id for every order that stopped working while we were away (known as
//!   working, not open any more) and for every order a new trade belongs to that is not open and
//!   not known in a final state.
//!
//! Limitation: an order created **and** closed without any fill while the streamer was down is
//! invisible to these endpoints (Binance's `allOrders` would show it; it is not read).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use storm_core::Symbol;
use storm_venues::binance::trade_wire::{AccountReply, MyTrade, OrderReply};
use storm_venues::error::VenueError;
use tracing::warn;

use crate::book::AccountBook;
use storm_venues::binance::trade::TradeClient;

/// Most `/myTrades` pages read per symbol and reconcile.
const MAX_TRADE_PAGES: usize = 20;

/// What REST says about the account.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// `/account`.
    pub account: AccountReply,
    /// The venue clock when `/account` was read, ms (used when the reply has no `updateTime`).
    pub account_time: u64,
    /// `/openOrders`.
    pub open: Vec<OrderReply>,
    /// Orders queried by id.
    pub queried: Vec<OrderReply>,
    /// New trades, ascending trade id per symbol.
    pub trades: Vec<MyTrade>,
    /// Orders the venue does not know any more (queried, -2013).
    pub missing: Vec<(Symbol, u64)>,
}

/// Reads the snapshot; `book` is the account as written so far, `extra` the configured symbols.
pub async fn fetch(
    venue: TradeClient,
    book: AccountBook,
    extra: Vec<Symbol>,
    limit: u32,
) -> Result<Snapshot, VenueError> {
    let account_time = u64::try_from(venue.venue_now_ms()).unwrap_or(0);
    let account = venue.account().await?;
    let open = venue.open_orders(None).await?;
    let mut symbols: BTreeSet<Symbol> = book.symbols().cloned().collect();
    symbols.extend(open.iter().map(|o| Symbol::new(&o.symbol)));
    symbols.extend(extra);
    let mut trades = Vec::new();
    for symbol in &symbols {
        trades.extend(symbol_trades(&venue, symbol, book.trade_mark(symbol), limit).await?);
    }
    let open_ids: HashSet<(Symbol, u64)> = open.iter().map(|o| (Symbol::new(&o.symbol), o.order_id)).collect();
    let mut to_query: BTreeSet<(Symbol, u64)> =
        book.working_orders().map(|o| (o.symbol.clone(), o.order_id)).filter(|k| !open_ids.contains(k)).collect();
    for t in &trades {
        let key = (Symbol::new(&t.symbol), t.order_id);
        let settled = book.order(&key.0, key.1).is_some_and(|o| o.status.is_final());
        if !settled && !open_ids.contains(&key) {
            to_query.insert(key);
        }
    }
    let (mut queried, mut missing) = (Vec::new(), Vec::new());
    for (symbol, order_id) in to_query {
        match venue.query_by_id(&symbol, order_id).await? {
            Some(o) => queried.push(o),
            None => missing.push((symbol, order_id)),
        }
    }
    Ok(Snapshot { account, account_time, open, queried, trades, missing })
}

/// Trades of `symbol` from trade id `mark` on (the latest `limit` when `None`), ascending.
async fn symbol_trades(
    venue: &TradeClient,
    symbol: &Symbol,
    mark: Option<u64>,
    limit: u32,
) -> Result<Vec<MyTrade>, VenueError> {
    let Some(mut from) = mark else {
        let mut page = venue.my_trades(symbol, None, limit).await?;
        page.retain(|t| Symbol::new(&t.symbol) == *symbol);
        return Ok(sorted(page));
    };
    // Keyed by (trade, order): a self-trade is one trade id on two of our orders.
    let mut out: BTreeMap<(u64, u64), MyTrade> = BTreeMap::new();
    for _ in 0..MAX_TRADE_PAGES {
        let page = venue.my_trades(symbol, Some(from), limit).await?;
        let full = page.len() >= limit as usize;
        // A venue that ignores fromId/limit must not make us loop or go back.
        let fresh: Vec<MyTrade> =
            page.into_iter().filter(|t| t.id >= from && Symbol::new(&t.symbol) == *symbol).collect();
        let Some(last) = fresh.iter().map(|t| t.id).max() else { return Ok(out.into_values().collect()) };
        out.extend(fresh.into_iter().map(|t| ((t.id, t.order_id), t)));
        if !full || last < from {
            return Ok(out.into_values().collect());
        }
        from = last + 1;
    }
    warn!(symbol = %symbol, pages = MAX_TRADE_PAGES, "more trades than one reconcile reads; the rest follows next time");
    Ok(out.into_values().collect())
}

fn sorted(mut trades: Vec<MyTrade>) -> Vec<MyTrade> {
    trades.sort_by_key(|t| (t.id, t.order_id));
    trades.dedup_by_key(|t| (t.id, t.order_id));
    trades
}
