//! kill -9 of the booksync process in the middle of a run: the hashes it left never pass for live
//! books once a new booksync is up, and the new one brings them back live and right.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use redis::AsyncCommands;
use storm_core::BookStatus;
use storm_testkit::process::EngineProcess;
use tokio::time::Instant;

const SYMBOLS: [&str; 3] = ["BTCUSDT", "ETHUSDT", "ETHBTC"];

/// A booksync process on the pipeline's config (plus `args`), killed (SIGKILL) when dropped.
fn spawn_booksync(p: &Pipeline, args: &[&str]) -> EngineProcess {
    EngineProcess::start(env!("CARGO_BIN_EXE_storm-booksync"), &p.file, args).unwrap()
}

/// Waits until the process' heartbeat is in Redis: leftovers are marked by then.
async fn wait_up(p: &mut Pipeline) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !p.redis.exists::<_, bool>("storm:health:booksync:test").await.unwrap() {
        assert!(Instant::now() < deadline, "booksync process never beat");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_no_leftover_is_served_as_live() {
    let setup = SimSetup { booksync_in_process: false, ..SimSetup::default() };
    let mut p = start(&SYMBOLS, setup, "").await;
    let mut first = spawn_booksync(&p, &[]);
    p.wait_status(&SYMBOLS, BookStatus::Live, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    first.kill(); // SIGKILL: no goodbye, the hashes still say live
    let mut before = Vec::new();
    for s in SYMBOLS {
        let hash = p.book(s).await.unwrap();
        assert_eq!(hash.top.status, BookStatus::Live, "a killed process cannot mark anything");
        before.push(hash.top.update_id);
    }
    let _: () = p.redis.del("storm:health:booksync:test").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await; // the market moves on meanwhile

    // The restarted one on a single thread (`booksync.threads = 1`): the same guarantees.
    let mut second = spawn_booksync(&p, &["--set", "booksync.threads=1"]);
    wait_up(&mut p).await;
    // From now on every `live` seen must be a new book: never the update id the dead one left.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut live = [false; 3];
    while live.iter().any(|l| !l) {
        assert!(Instant::now() < deadline, "books not live again after the restart");
        for (i, s) in SYMBOLS.iter().enumerate() {
            let Some(hash) = p.book(s).await else { continue };
            match hash.top.status {
                BookStatus::Live => {
                    assert!(hash.top.update_id > before[i], "{s}: the dead process' book was served as live");
                    live[i] = true;
                }
                BookStatus::Syncing | BookStatus::Stale => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    p.pause_market();
    for s in SYMBOLS {
        p.assert_equals_sim(s).await;
    }
    second.kill();
}

/// A dead booksync leaves no fresh-looking book: the hashes expire (TTL) unless refreshed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashes_of_a_dead_booksync_expire() {
    let setup = SimSetup { booksync_in_process: false, ..SimSetup::default() };
    let mut p = start(&SYMBOLS[..1], setup, "book_ttl_ms = 1500").await;
    let mut child = spawn_booksync(&p, &[]);
    p.wait_status(&SYMBOLS[..1], BookStatus::Live, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(p.book("BTCUSDT").await.is_some(), "refreshed while the process runs");
    child.kill();
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert!(p.book("BTCUSDT").await.is_none(), "expired after the process died");
}
