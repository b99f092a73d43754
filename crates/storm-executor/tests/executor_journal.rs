//! The journal stays bounded: an opportunity refused before any order leaves no record (its
//! outcome is on `storm:arb:log`), and finished records are indexed by expiry in
//! `storm:exec:journal:expiry`, which is all the sweep reads.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use redis::AsyncCommands;
use rust_decimal::Decimal;

use common::Rig;

const PATIENCE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_opportunities_leave_no_journal_record() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    rig.spawn_executor("");
    let mut c = rig.redis().await;
    let _: () = c.set("storm:halt", "operator").await.unwrap();
    let halted = rig.triangle("1a1a000000000001", Decimal::from(100), Decimal::new(5, 3), 60_000);
    rig.publish(&halted).await;
    assert_eq!(rig.wait_outcome(&halted.id, PATIENCE).await["outcome"], "rejected");
    let _: () = c.del("storm:halt").await.unwrap();
    let mut late = rig.triangle("1a1a000000000002", Decimal::from(100), Decimal::new(5, 3), 60_000);
    late.expires_ms = storm_core::time::now_millis() - 1;
    rig.publish(&late).await;
    assert_eq!(rig.wait_outcome(&late.id, PATIENCE).await["outcome"], "expired");
    assert_eq!(rig.journal(&halted.id).await, None, "a halted opportunity has no journal record");
    assert_eq!(rig.journal(&late.id).await, None, "an expired opportunity has no journal record");
    let n: usize = c.hlen("storm:exec:journal").await.unwrap();
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_records_are_swept_from_their_expiry_index_only() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    rig.spawn_executor("");
    let opp = rig.triangle("2b2b000000000001", Decimal::from(100), Decimal::new(5, 3), 60_000);
    rig.publish(&opp).await;
    assert_eq!(rig.wait_outcome(&opp.id, PATIENCE).await["outcome"], "executed");
    let mut c = rig.redis().await;
    let expiry: Option<f64> = c.zscore("storm:exec:journal:expiry", &opp.id).await.unwrap();
    let expiry = expiry.expect("a finished record is indexed by expiry") as u64;
    let now = storm_core::time::now_millis();
    let day = 86_400_000;
    assert!(expiry > now + day - 60_000 && expiry <= now + day + 60_000, "retention 1 day: {expiry} vs {now}");
    // A running record of another chain is never indexed, so never swept.
    let _: () = c.hset("storm:exec:journal", "running1", r#"{"state":"running"}"#).await.unwrap();
    assert_eq!(storm_executor::journal::sweep(&rig.bus, now).await.unwrap(), 0);
    assert!(rig.journal(&opp.id).await.is_some());
    assert_eq!(storm_executor::journal::sweep(&rig.bus, expiry + 1).await.unwrap(), 1);
    assert_eq!(rig.journal(&opp.id).await, None);
    let left: usize = c.zcard("storm:exec:journal:expiry").await.unwrap();
    assert_eq!(left, 0);
    let still: bool = c.hexists("storm:exec:journal", "running1").await.unwrap();
    assert!(still, "the running record is untouched");
}
