//! Entries on `storm:tops:<venue>`: one per change of a book's top K levels, for the arbitrage
//! finder. The one place that writes and reads them.
//!
//! Fields: `sym` (the symbol), `st` (the status, `live`/`syncing`/`stale`), `u` (the update id),
//! `v` (schema version) and `m` (msgpack of [`BookTop`], named fields). The plain fields let
//! `redis-cli XREVRANGE storm:tops:binance + - COUNT 5` show what is moving without decoding.

use storm_core::{BookTop, VenueId};

use crate::codec::{Entry, StreamEntry};
use crate::error::CodecError;
use crate::keys::Keys;

/// The entry for `top` on its venue's tops stream, trimmed to about `maxlen`.
pub fn entry(keys: &Keys, venue: &VenueId, maxlen: usize, top: &BookTop) -> Result<Entry, CodecError> {
    let key = keys.tops(venue.as_str());
    Ok(Entry::record(key, maxlen, Some(top.symbol.as_str()), top)?
        .field("st", top.status.as_str())
        .field("u", top.update_id.to_string()))
}

/// Reads a tops entry back (schema version checked; every level with a positive price and
/// quantity, as booksync publishes them).
pub fn decode(entry: &StreamEntry) -> Result<BookTop, CodecError> {
    let top: BookTop = entry.decode()?;
    crate::book::check_levels("bids", &top.bids)?;
    crate::book::check_levels("asks", &top.asks)?;
    Ok(top)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::tests::as_read;
    use storm_core::{BookStatus, Level, Symbol};

    #[test]
    fn a_top_round_trips_with_plain_fields_for_redis_cli() {
        let top = BookTop {
            symbol: Symbol::new("ETHBTC"),
            bids: vec![Level::parse("0.05310000", "12.50000000").expect("level")],
            asks: vec![Level::parse("0.05311000", "3.00000000").expect("level")],
            update_id: 42,
            time_exchange: 1,
            time_received: 2,
            time_local: 3,
            status: BookStatus::Live,
        };
        let e = entry(&Keys::default(), &VenueId::new("binance"), 10_000, &top).expect("encode");
        assert_eq!(e.key, "storm:tops:binance");
        let back = as_read(&e);
        assert_eq!(
            (back.get_str("sym"), back.get_str("st"), back.get_str("u")),
            (Some("ETHBTC"), Some("live"), Some("42"))
        );
        assert_eq!(decode(&back).expect("decode"), top);
    }
}
