//! booksync end to end: storm-sim (REST snapshots with Binance's weights, market-data WebSocket),
//! the real ingester and a real redis-server. Books must go live, equal the sim's own book
//! exactly, survive gaps and stalls honestly, and never be served as live when they are not.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use redis::AsyncCommands;
use storm_bus::{tops, StartAt, StreamReader};
use storm_core::BookStatus;
use tokio::time::Instant;

const SYMBOLS: [&str; 3] = ["BTCUSDT", "ETHUSDT", "ETHBTC"];

/// Subscribed books go live; with the market paused, each hash's top 20 equals the sim's book at
/// the same update id, level for level; the tops stream carries the same state; SIGTERM → exit 0
/// within 5 s and the hashes say `stale` (no longer maintained).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn books_go_live_and_equal_the_venue_book() {
    let mut p = start(&SYMBOLS, SimSetup::default(), "").await;
    p.wait_status(&SYMBOLS, BookStatus::Live, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    p.pause_market();
    for s in SYMBOLS {
        p.assert_equals_sim(s).await;
    }
    let hash: std::collections::HashMap<String, String> = p.redis.hgetall("storm:book:sim:BTCUSDT").await.unwrap();
    assert_eq!(hash["depth"], "1000");
    let ttl: i64 = p.redis.pttl("storm:book:sim:BTCUSDT").await.unwrap();
    assert!(ttl > 0 && ttl <= 30_000, "the hash expires unless refreshed: {ttl}");

    // The last tops entry of BTCUSDT is the live top 10 at the hash's update id.
    let last = last_tops(&p, "BTCUSDT").await.expect("tops entries for BTCUSDT");
    let (id, bids, asks) = p.sim_book("BTCUSDT", 10);
    assert_eq!((last.update_id, last.status), (id, BookStatus::Live));
    assert_eq!((last.bids, last.asks), (bids, asks));
    assert!(p.counter("storm_booksync_diffs_applied_total") > 0);
    assert_eq!(p.counter("storm_booksync_bad_events_total"), 0);

    let t0 = Instant::now();
    p.stop_booksync(Duration::from_secs(5)).await;
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(p.book("BTCUSDT").await.unwrap().top.status, BookStatus::Stale, "no longer maintained");
}

/// The sim drops the next depth frame of the connection (a sequence gap in one symbol): booksync sees `U > local + 1`, resyncs from a
/// new snapshot, and the book equals the venue's again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_gap_resyncs_and_the_book_is_right_again() {
    let mut p = start(&SYMBOLS, SimSetup::default(), "").await;
    p.wait_status(&SYMBOLS, BookStatus::Live, Duration::from_secs(20)).await;
    p.fault(serde_json::json!({"kind": "gap"})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while p.resyncs("gap") < 1 {
        assert!(Instant::now() < deadline, "gaps detected: {}", p.resyncs("gap"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    p.wait_status(&SYMBOLS, BookStatus::Live, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    p.pause_market();
    for s in SYMBOLS {
        p.assert_equals_sim(s).await;
    }
}

/// The venue stalls (no frame at all): after `stale_after_ms` every live book is marked `stale`,
/// never served as live; when data flows again (here after the ingester reconnects and marks
/// the break) the books resync and are live and right again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stream_marks_books_stale_then_they_recover() {
    let mut p = start(&SYMBOLS, SimSetup::default(), "stale_after_ms = 1000").await;
    p.wait_status(&SYMBOLS, BookStatus::Live, Duration::from_secs(20)).await;
    p.fault(serde_json::json!({"kind": "stall", "ms": 4000})).await;
    p.wait_status(&SYMBOLS, BookStatus::Stale, Duration::from_secs(5)).await;
    p.wait_status(&SYMBOLS, BookStatus::Live, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    p.pause_market();
    for s in SYMBOLS {
        p.assert_equals_sim(s).await;
    }
}

/// A neighbour on the same IP has spent nearly all of the venue's weight (the sim allows 300 per
/// minute here), unknown to storm's shared counter. booksync's first request meets a 429; it then
/// makes every storm process wait for `Retry-After` through Redis and sends nothing before it —
/// the sim bans (418) an IP that sends again after a 429 in the same minute, and that never
/// happens — and the books go live in the next minute within the 80 % budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_is_waited_out_without_a_ban() {
    let setup = SimSetup { weight_limit: 300, noisy_neighbour: true, ..SimSetup::default() };
    let mut p = start(&SYMBOLS, setup, "").await;
    p.wait_status(&SYMBOLS, BookStatus::Live, Duration::from_secs(130)).await;
    assert!(p.counter("storm_booksync_rest_429_total") >= 1, "the neighbour's spend was felt");
    assert_eq!(p.counter("storm_booksync_rest_418_total"), 0, "never banned");
}

/// `SREM` of one depth subscription: the ingester unsubscribes it and marks that on the depth
/// stream; booksync drops that book — its hash and its last tops entry leave `live` — while the
/// books of the other symbols on the same connection stay `live` throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsubscribed_book_leaves_live_and_the_others_stay() {
    let mut p = start(&SYMBOLS, SimSetup::default(), "").await;
    p.wait_status(&SYMBOLS, BookStatus::Live, Duration::from_secs(20)).await;
    let _: () = p.redis.srem("storm:subs:sim", "depth:ETHBTC").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = p.book("ETHBTC").await.map(|b| b.top.status);
        for s in ["BTCUSDT", "ETHUSDT"] {
            assert_eq!(p.book(s).await.map(|b| b.top.status), Some(BookStatus::Live), "{s} stays live");
        }
        if status != Some(BookStatus::Live) {
            break;
        }
        assert!(Instant::now() < deadline, "ETHBTC still live 15 s after its subscription was removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last = last_tops(&p, "ETHBTC").await.expect("tops entries for ETHBTC");
    assert_ne!(last.status, BookStatus::Live, "the finder's copy leaves live too");
    tokio::time::sleep(Duration::from_secs(1)).await;
    for s in ["BTCUSDT", "ETHUSDT"] {
        assert_eq!(p.book(s).await.map(|b| b.top.status), Some(BookStatus::Live), "{s} stays live");
    }
}

/// The last entry of `symbol` on `storm:tops:sim`.
async fn last_tops(p: &Pipeline, symbol: &str) -> Option<storm_core::BookTop> {
    let bus =
        storm_bus::Bus::connect(storm_bus::BusConfig::new(p.redis_server.url()), Default::default()).await.unwrap();
    let mut reader =
        StreamReader::new(&bus, &[("storm:tops:sim".into(), StartAt::Beginning)], 100_000, Duration::from_millis(100))
            .await
            .unwrap();
    let mut last = None;
    loop {
        let batch = reader.next_batch().await.unwrap();
        if batch.is_empty() {
            return last;
        }
        for e in batch {
            let top = tops::decode(&e).unwrap();
            if top.symbol.as_str() == symbol {
                last = Some(top);
            }
        }
    }
}
