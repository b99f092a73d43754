//! Replays the real BTCUSDT recording through the book and checks it against the exchange's own
//! best bid/offer: whenever a bookTicker's `u` equals a diff's `u`, the book's best levels must
//! equal the ticker exactly (the data README promises 1,072 such checks over both days).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use storm_core::OrderBook;
use storm_testkit::fixtures::{btcusdt_replay, ReplayMsg};

#[test]
fn replayed_book_equals_every_matching_book_ticker() {
    let msgs = btcusdt_replay().expect("testdata/binance-spot-replay (in the repository)");
    // The snapshot was fetched while diffs were being buffered: it sits after the diffs that
    // cover its lastUpdateId, so the buffered diffs before it apply too.
    let mut book = OrderBook::default();
    for (_, msg) in &msgs {
        if let ReplayMsg::Snapshot { last_update_id, bids, asks } = msg {
            book.replace(bids, asks, *last_update_id).unwrap();
            break;
        }
    }
    assert_eq!(book.update_id(), 50_093_239_218);
    let mut tops_by_u = HashMap::new();
    let mut applied = 0;
    for (_, msg) in &msgs {
        match msg {
            ReplayMsg::Diff(d) if d.last_update_id > book.update_id() => {
                assert!(d.first_update_id <= book.update_id() + 1, "gap in a gap-free recording");
                book.apply_diff(d).unwrap();
                assert!(!book.is_crossed(), "crossed at u={}", d.last_update_id);
                applied += 1;
                tops_by_u.insert(d.last_update_id, (book.best_bid().unwrap(), book.best_ask().unwrap()));
            }
            _ => {}
        }
    }
    let mut checks = 0;
    for (_, msg) in &msgs {
        if let ReplayMsg::BookTicker(t) = msg {
            if let Some((bid, ask)) = tops_by_u.get(&t.update_id) {
                assert_eq!((bid.price, bid.qty), (t.bid_price, t.bid_qty), "bid at u={}", t.update_id);
                assert_eq!((ask.price, ask.qty), (t.ask_price, t.ask_qty), "ask at u={}", t.update_id);
                checks += 1;
            }
        }
    }
    assert_eq!(applied, 6_493, "applicable diffs");
    assert_eq!(checks, 1_072, "bookTicker cross-checks");
}
