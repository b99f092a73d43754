//! The book booksync publishes (`storm:book:<venue>:<SYM>`, top 20 per side), read for paper
//! fills and as the reference price of an unwind. Only a `live` book is used.

use std::collections::HashMap;

use rust_decimal::Decimal;
use storm_bus::Bus;
use storm_core::{BookStatus, BookTop, Level, Side, Symbol};

/// The live top of `symbol`, or why there is none.
pub async fn live_top(bus: &Bus, venue: &str, symbol: &Symbol) -> Result<BookTop, String> {
    let key = bus.keys().book(venue, symbol);
    let mut c = bus.conn();
    let raw: HashMap<String, String> =
        redis::cmd("HGETALL").arg(&key).query_async(&mut c).await.map_err(|e| format!("reading {key}: {e}"))?;
    let book = storm_bus::book::parse(symbol, &raw).map_err(|e| format!("no usable book for {symbol}: {e}"))?;
    if book.top.status != BookStatus::Live {
        return Err(format!("book of {symbol} is {}", book.top.status.as_str()));
    }
    Ok(book.top)
}

/// The levels an order on `side` takes from, best first.
pub fn taken_by(top: BookTop, side: Side) -> Vec<Level> {
    match side {
        Side::Buy => top.asks,
        Side::Sell => top.bids,
    }
}

/// The best price an order on `side` would take, from a live book.
pub async fn best(bus: &Bus, venue: &str, symbol: &Symbol, side: Side) -> Option<Decimal> {
    let top = live_top(bus, venue, symbol).await.ok()?;
    taken_by(top, side).first().map(|l| l.price.0)
}
