//! The executor keeps up with a burst, against the real sim over sockets and a real redis-server:
//! opportunities priced on a book a chain has just traded on end at once as `superseded` (not
//! left to expire behind the chain), and a burst of valid opportunities queued at once is drained
//! without one of them expiring — a chain that would not fit `orders_per_10s` whole is refused at
//! once instead of waiting in the middle for the rate while the queue behind it expires.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::Rig;
use rust_decimal::Decimal;

const PATIENCE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opportunities_priced_on_a_book_a_chain_traded_end_superseded() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    let _exec = rig.spawn_executor("");
    let slack = Decimal::new(5, 3);
    // A warm-up chain, so the executor is reading before the test's pair is published.
    let warm = rig.triangle("5e00000000000001", Decimal::from(100), slack, 10_000);
    rig.publish(&warm).await;
    assert_eq!(rig.wait_outcome(&warm.id, PATIENCE).await["outcome"], "executed");
    // Every REST reply takes 300 ms: the first chain holds the executor for about a second.
    rig.fault(r#"{"kind":"latency","ms":300}"#).await;
    let first = rig.triangle("5e00000000000002", Decimal::from(100), slack, 10_000);
    // Priced on the same book versions as `first`, found at the same time: one still valid when
    // the chain is done (superseded: ended at once, though it had time left), one valid for only
    // 500 ms (expired by then: an expired opportunity stays `expired`, whatever else holds).
    let queued = rig.triangle("5e00000000000003", Decimal::from(100), slack, 10_000);
    let short = rig.triangle("5e00000000000006", Decimal::from(100), slack, 500);
    rig.publish(&first).await;
    rig.publish(&queued).await;
    rig.publish(&short).await;
    assert_eq!(rig.wait_outcome(&first.id, PATIENCE).await["outcome"], "executed");
    let out = rig.wait_outcome(&short.id, PATIENCE).await;
    assert_eq!(out["outcome"], "expired", "{out:?}");
    let out = rig.wait_outcome(&queued.id, PATIENCE).await;
    assert_eq!(out["outcome"], "superseded", "{out:?}");
    assert!(out["reason"].contains(&first.id) && out["reason"].contains("BTCUSDT"), "{out:?}");
    assert_eq!(out["orders"], "0", "{out:?}");
    assert!(rig.orders("st5e00000000000003").is_empty(), "a superseded opportunity sends nothing");
    // Found after the chain was logged (the same update ids: a venue whose ids started again) or
    // priced on a newer book: traded as usual.
    rig.fault(r#"{"kind":"clear"}"#).await;
    let later = rig.triangle("5e00000000000004", Decimal::from(100), slack, 10_000);
    rig.publish(&later).await;
    assert_eq!(rig.wait_outcome(&later.id, PATIENCE).await["outcome"], "executed");
    let mut newer = rig.triangle("5e00000000000005", Decimal::from(100), slack, 10_000);
    newer.created_ms -= 60_000;
    newer.book_ids = vec![1_000_000, 1_000_000, 1_000_000];
    rig.publish(&newer).await;
    assert_eq!(rig.wait_outcome(&newer.id, PATIENCE).await["outcome"], "executed");
    let mut c = rig.redis().await;
    let marks: BTreeMap<String, String> = redis::AsyncCommands::hgetall(&mut c, "storm:exec:traded:sim").await.unwrap();
    assert_eq!(marks.keys().map(String::as_str).collect::<Vec<_>>(), ["BTCUSDT", "ETHBTC", "ETHUSDT"], "{marks:?}");
    assert!(marks.values().all(|m| m.starts_with("1000000 ") && m.ends_with(&newer.id)), "{marks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_queued_at_once_is_drained_without_an_expiry() {
    const N: u64 = 20;
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    // Each found on a newer version of the books than the one before (none supersedes the next),
    // all queued before the executor starts; 20 chains of 3 legs need more than the default
    // orders_per_10s (50).
    let mut ids = Vec::new();
    for i in 0..N {
        let mut opp = rig.triangle(&format!("b0{i:014}"), Decimal::from(100), Decimal::new(5, 3), 5_000);
        opp.book_ids = vec![1_000 + i; 3];
        rig.publish(&opp).await;
        ids.push(opp.id);
    }
    let _exec = rig.spawn_executor("");
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    for id in &ids {
        let out = rig.wait_outcome(id, PATIENCE).await;
        if out["outcome"] == "rejected" {
            assert!(out["reason"].starts_with("order rate:"), "{out:?}");
        }
        *kinds.entry(out["outcome"].clone()).or_default() += 1;
    }
    assert_eq!(kinds.get("expired"), None, "{kinds:?}");
    assert_eq!(kinds.get("executed"), Some(&16), "as many whole chains as orders_per_10s allows: {kinds:?}");
    assert_eq!(kinds.get("rejected"), Some(&4), "{kinds:?}");
    let mut c = rig.redis().await;
    let pending: (u64,) = redis::cmd("XPENDING")
        .arg("storm:opps")
        .arg("executor")
        .query_async::<(u64, redis::Value, redis::Value, redis::Value)>(&mut c)
        .await
        .map(|(n, ..)| (n,))
        .unwrap();
    assert_eq!(pending.0, 0, "every entry acknowledged");
}
