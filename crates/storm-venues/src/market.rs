//! Unsigned market snapshots a venue serves by REST, in storm's words: every symbol's best bid
//! and ask in one call, for the arbitrage scout's cheap scan of a whole venue.

use storm_core::VenueKind;

pub use crate::binance::rest_wire::BookTickerEntry as BookTicker;

/// Where and at what request weight a venue of `kind` at `rest_url` serves every symbol's best
/// bid and ask.
pub fn all_tops_request(kind: VenueKind, rest_url: &str) -> (String, u32) {
    match kind {
        VenueKind::Binance => (
            format!("{}/api/v3/ticker/bookTicker", rest_url.trim_end_matches('/')),
            crate::binance::rest_wire::ALL_BOOK_TICKERS_WEIGHT,
        ),
    }
}

/// The best bids and asks of a reply to [`all_tops_request`].
pub fn parse_all_tops(kind: VenueKind, body: &str) -> Result<Vec<BookTicker>, String> {
    match kind {
        VenueKind::Binance => crate::binance::rest_wire::parse_book_tickers(body).map_err(|e| e.to_string()),
    }
}
