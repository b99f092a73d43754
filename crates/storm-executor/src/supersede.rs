//! Opportunities a traded chain has made stale: `superseded`.
//!
//! Why: a mispriced book yields a burst of opportunities — every cycle through it, found again at
//! each new version of the other books — all priced on the same mispricing. Once one chain has
//! traded on that book, the price the others counted on is taken; sending them anyway spends an
//! order (and the `orders_per_10s` budget) on an IOC that fills nothing or fills at a changed
//! book, and leaving them queued lets them expire. So a traded chain marks each book it filled
//! an order on with the book's update id it traded against, in the script that logs its outcome
//! (`storm:exec:traded:<venue>`, [`crate::outcome`]); the gate ([`crate::gate`]) ends every later
//! opportunity priced on that book at or before that version — and found before the mark was
//! written, so a venue restart whose update ids start again supersedes nothing — as `superseded`,
//! at once, without an order.
//!
//! The version traded against is the newer of the opportunity's own and the one Redis held when
//! the gate let the chain go (the record's `book_ids`), so an opportunity found on a newer
//! version of the book between the chain's own and its orders is superseded too.

use storm_core::arb::Opportunity;
use storm_core::Symbol;

use crate::journal::ChainRecord;

/// The books `record` filled an order on (a leg, or an unwind on a leg's market), each with the
/// update id it traded against; unwinds on a market outside the legs have no version and mark
/// nothing.
pub fn marks(opp: &Opportunity, record: &ChainRecord) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    let filled = record.legs.iter().filter(|l| l.fill.as_ref().is_some_and(|f| !f.executed_qty.is_zero()));
    for leg in filled {
        let Some(version) = traded_version(opp, record, &leg.symbol) else { continue };
        match out.iter_mut().find(|(s, _)| s.as_str() == leg.symbol.as_str()) {
            Some(mark) => mark.1 = mark.1.max(version),
            None => out.push((leg.symbol.to_string(), version)),
        }
    }
    out
}

/// The newest version of `symbol`'s book the chain is known to have priced or traded on.
fn traded_version(opp: &Opportunity, record: &ChainRecord, symbol: &Symbol) -> Option<u64> {
    opp.legs
        .iter()
        .enumerate()
        .filter(|(_, l)| &l.symbol == symbol)
        .map(|(i, _)| {
            let own = opp.book_ids.get(i).copied().unwrap_or(0);
            own.max(record.book_ids.get(i).copied().unwrap_or(0))
        })
        .max()
}

/// What the gate checks an opportunity against: its legs' symbols with the book versions it was
/// priced on; empty (nothing checked) when the opportunity does not say them leg by leg.
pub fn priced_on(opp: &Opportunity) -> Vec<(&Symbol, u64)> {
    if opp.book_ids.len() != opp.legs.len() {
        return Vec::new();
    }
    opp.legs.iter().map(|l| &l.symbol).zip(opp.book_ids.iter().copied()).collect()
}
