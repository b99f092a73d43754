//! Bad input and infrastructure faults: garbage on the depth stream, an unknown symbol, a diff
//! with a negative quantity, Redis restarted empty. Each is counted, the symbol resyncs where
//! needed, nothing crashes, and the books end up live and equal to the venue's.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use storm_bus::{md, Keys};
use storm_core::{BookStatus, DepthDiff, Level, MdEvent, Symbol, VenueId};
use tokio::time::Instant;

const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];

async fn xadd(p: &mut Pipeline, fields: &[(&str, Vec<u8>)]) {
    let mut cmd = redis::cmd("XADD");
    cmd.arg("storm:md:sim:depth").arg("*");
    for (k, v) in fields {
        cmd.arg(*k).arg(v.as_slice());
    }
    let _: String = cmd.query_async(&mut p.redis).await.unwrap();
}

async fn xadd_event(p: &mut Pipeline, event: &MdEvent) {
    let entry = md::entry(&Keys::default(), &VenueId::new("sim"), 0, event).unwrap();
    let fields: Vec<(&str, Vec<u8>)> = entry.fields.iter().map(|(k, v)| (*k, v.clone())).collect();
    xadd(p, &fields).await;
}

async fn wait_counter(p: &Pipeline, what: &str, get: impl Fn(&Pipeline) -> u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(p) == 0 {
        assert!(Instant::now() < deadline, "{what} never counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_unknown_symbols_and_bad_levels_are_counted_and_resynced() {
    let mut p = start(&SYMBOLS, SimSetup::default(), "").await;
    p.wait_status(&SYMBOLS, BookStatus::Live, Duration::from_secs(20)).await;

    xadd(
        &mut p,
        &[("sym", b"BTCUSDT".to_vec()), ("k", b"depth".to_vec()), ("v", b"1".to_vec()), ("m", vec![0xc1, 0xff])],
    )
    .await;
    xadd(&mut p, &[("sym", b"BTCUSDT".to_vec())]).await;
    wait_counter(&p, "garbage", |p| p.counter("storm_booksync_bad_events_total")).await;

    let unknown = DepthDiff {
        symbol: Symbol::new("NOPEUSDT"),
        first_update_id: 1,
        last_update_id: 2,
        bids: vec![Level::parse("1.0", "1.0").unwrap()],
        asks: vec![],
        time_exchange: 0,
        time_received: 0,
    };
    xadd_event(&mut p, &MdEvent::Depth(unknown)).await;
    wait_counter(&p, "unknown symbol", |p| p.counter("storm_booksync_unknown_symbol_total")).await;

    let id = p.book("BTCUSDT").await.unwrap().top.update_id;
    let negative = DepthDiff {
        symbol: Symbol::new("BTCUSDT"),
        first_update_id: id + 1,
        last_update_id: id + 1_000_000_000,
        bids: vec![Level::parse("100.0", "-3.0").unwrap()],
        asks: vec![],
        time_exchange: 0,
        time_received: 0,
    };
    xadd_event(&mut p, &MdEvent::Depth(negative)).await;
    wait_counter(&p, "bad level or gap resync", |p| p.resyncs("bad_level") + p.resyncs("gap")).await;

    p.wait_status(&SYMBOLS, BookStatus::Live, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    p.pause_market();
    for s in SYMBOLS {
        p.assert_equals_sim(s).await;
    }
    p.stop_booksync(Duration::from_secs(5)).await;
}

/// Redis restarted empty: the hashes are gone, booksync reconnects by itself and republishes
/// every book within a third of the TTL; the books stay in sync (the ingester buffered meanwhile).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_redis_restarts_empty_every_book_is_republished() {
    let mut p = start(&SYMBOLS, SimSetup::default(), "book_ttl_ms = 3000").await;
    p.wait_status(&SYMBOLS, BookStatus::Live, Duration::from_secs(20)).await;

    tokio::task::block_in_place(|| p.redis_server.restart_after(Duration::from_millis(500))).unwrap();
    p.redis = redis::Client::open(p.redis_server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    // Redis lost the subscription set too; the operator (here: the test) adds it back.
    let members: Vec<String> = SYMBOLS.iter().map(|s| format!("depth:{s}")).collect();
    let _: () = redis::AsyncCommands::sadd(&mut p.redis, "storm:subs:sim", &members).await.unwrap();
    p.wait_status(&SYMBOLS, BookStatus::Live, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    p.pause_market();
    for s in SYMBOLS {
        p.assert_equals_sim(s).await;
    }
    p.stop_booksync(Duration::from_secs(5)).await;
}
