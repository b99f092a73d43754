//! Price-time matching of a taker against one market's book.
//!
//! A level holds synthetic liquidity and, behind it in time, resting user orders (queued by
//! arrival). A taker consumes levels best-first up to its limit price, its quantity and, for a
//! MARKET order by quote amount, its quote budget; within a level the synthetic part goes first,
//! then user orders in arrival order. Every consumed level is re-set on the book, so the diff
//! stream shows the liquidity taken.

use std::collections::{BTreeMap, VecDeque};

use rust_decimal::Decimal;
use storm_core::{BookSide, Level, Qty, Side};

use crate::market::Market;

/// A resting user order's place in a level's queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resting {
    /// API key of the owner.
    pub api_key: String,
    /// Order id.
    pub order_id: u64,
    /// Quantity still resting.
    pub qty: Decimal,
}

/// Queues of resting user orders by (is_bid, price).
pub type Queues = BTreeMap<(bool, Decimal), VecDeque<Resting>>;

/// One price level's worth of a taker's execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Take {
    /// Execution price.
    pub price: Decimal,
    /// Base quantity taken at that price.
    pub qty: Decimal,
    /// User orders filled as makers: (api key, order id, qty).
    pub makers: Vec<(String, u64, Decimal)>,
}

/// Limits of a sweep.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Worst acceptable price (None: market).
    pub price: Option<Decimal>,
    /// Most base quantity to take.
    pub qty: Option<Decimal>,
    /// Most quote to spend (BUY) or receive (SELL).
    pub quote: Option<Decimal>,
}

/// The book side a taker of `side` consumes.
pub fn opposite_book(side: Side) -> BookSide {
    match side {
        Side::Buy => BookSide::Ask,
        Side::Sell => BookSide::Bid,
    }
}

fn acceptable(side: Side, level: Decimal, limit: Option<Decimal>) -> bool {
    match (side, limit) {
        (_, None) => true,
        (Side::Buy, Some(l)) => level <= l,
        (Side::Sell, Some(l)) => level >= l,
    }
}

/// How much of a level a taker may take, given what it still wants.
fn want_at(
    m: &Market,
    price: Decimal,
    level: Decimal,
    qty_left: Option<Decimal>,
    quote_left: Option<Decimal>,
) -> Decimal {
    let mut take = level;
    if let Some(q) = qty_left {
        take = take.min(q);
    }
    // A budget too large to divide by the price (a client's `quoteOrderQty` of 1e26 on a cheap
    // symbol) limits nothing; dividing with `/` would panic.
    if let Some(most) = quote_left.and_then(|budget| budget.checked_div(price)) {
        take = take.min(m.instrument.floor_qty(Qty(most)).0);
    }
    take.max(Decimal::ZERO)
}

/// How far a taker has got: base taken and quote spent (or received) so far.
#[derive(Clone, Copy, Debug, Default)]
struct Progress {
    qty: Decimal,
    quote: Decimal,
}

impl Progress {
    /// How much the taker takes at a level (`None`: stop here — price beyond the limit or the
    /// taker is done), one rule for [`preview`] and [`sweep`].
    fn take_at(&self, m: &Market, side: Side, lim: Limits, level: &Level) -> Option<Decimal> {
        let p = level.price.0;
        if !acceptable(side, p, lim.price) {
            return None;
        }
        let take = want_at(m, p, level.qty.0, lim.qty.map(|q| q - self.qty), lim.quote.map(|b| b - self.quote));
        (!take.is_zero()).then_some(take)
    }

    fn add(&mut self, price: Decimal, take: Decimal) {
        self.qty += take;
        self.quote += price * take;
    }
}

/// What a sweep would execute, without changing anything: (base qty, quote amount).
pub fn preview(m: &Market, side: Side, lim: Limits) -> (Decimal, Decimal) {
    let mut done = Progress::default();
    for level in m.book.levels(opposite_book(side)) {
        let Some(take) = done.take_at(m, side, lim, &level) else { break };
        done.add(level.price.0, take);
    }
    (done.qty, done.quote)
}

/// Executes a taker against the book, updating levels and the resting queues.
pub fn sweep(m: &mut Market, queues: &mut Queues, side: Side, lim: Limits) -> Vec<Take> {
    let book_side = opposite_book(side);
    let maker_is_bid = book_side == BookSide::Bid;
    let mut done = Progress::default();
    let mut takes = Vec::new();
    while let Some(level) = m.book.best(book_side) {
        let Some(take) = done.take_at(m, side, lim, &level) else { break };
        let p = level.price.0;
        let key = (maker_is_bid, p);
        let user_total = m.user_qty.get(&key).copied().unwrap_or_default();
        let synthetic = (level.qty.0 - user_total).max(Decimal::ZERO);
        let mut from_users = (take - synthetic).max(Decimal::ZERO);
        let mut makers = Vec::new();
        if from_users > Decimal::ZERO {
            if let Some(queue) = queues.get_mut(&key) {
                while from_users > Decimal::ZERO {
                    let Some(front) = queue.front_mut() else { break };
                    let f = front.qty.min(from_users);
                    front.qty -= f;
                    from_users -= f;
                    makers.push((front.api_key.clone(), front.order_id, f));
                    if front.qty.is_zero() {
                        queue.pop_front();
                    }
                }
                if queue.is_empty() {
                    queues.remove(&key);
                }
            }
            let filled_users: Decimal = makers.iter().map(|x| x.2).sum();
            let left = user_total - filled_users;
            if left > Decimal::ZERO {
                m.user_qty.insert(key, left);
            } else {
                m.user_qty.remove(&key);
            }
        }
        m.set(book_side, p, level.qty.0 - take);
        done.add(p, take);
        takes.push(Take { price: p, qty: take, makers });
    }
    takes
}
