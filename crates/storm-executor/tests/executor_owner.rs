//! Chain ownership, against storm-sim and the real `storm-executor` binary: two live executors on
//! one group never run the same chain; a chain whose stream entry was trimmed is finished from the
//! journal alone; a chain finishes in the mode it started in; a redelivered opportunity whose
//! intent Redis lost is looked up at the venue before anything is sent.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use rust_decimal::Decimal;
use storm_testkit::process::EngineProcess;
use tokio::time::Instant;

use common::{change, pnl, Rig};

const BIN: &str = env!("CARGO_BIN_EXE_storm-executor");

/// Client ids placed more than once at the sim, among those starting with `prefix`.
fn twice(rig: &Rig, prefix: &str) -> Vec<(String, usize)> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for o in rig.orders(prefix) {
        *seen.entry(o.client_order_id).or_default() += 1;
    }
    let mut dup: Vec<(String, usize)> = seen.into_iter().filter(|(_, n)| *n > 1).collect();
    dup.sort();
    dup
}

/// An executor config on `rig` named `instance`, reclaiming after `claim_idle_ms`.
fn config(rig: &Rig, instance: &str, claim_idle_ms: u64, extra: &str) -> String {
    rig.config(extra)
        .replace("instance = \"exec-test\"", &format!("instance = \"{instance}\""))
        .replace("claim_idle_ms = 1000", &format!("claim_idle_ms = {claim_idle_ms}"))
}

/// Two live executors on one group, every REST reply 900 ms late — longer than `claim_idle_ms`
/// (500): each sees the other's in-flight entries as idle and claims them, but only the owner of
/// a chain may send its orders or log its outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_executors_on_one_group_never_run_the_same_chain() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    let before = rig.balances();
    rig.fault(r#"{"kind":"latency","ms":900}"#).await;
    let extra = "max_open_chains = 0";
    let _a = EngineProcess::start(BIN, &config(&rig, "exec-a", 500, extra), &[]).unwrap();
    let _b = EngineProcess::start(BIN, &config(&rig, "exec-b", 500, extra), &[]).unwrap();
    let ids: Vec<String> = (0..12).map(|n| format!("5d5d0000000000{n:02}")).collect();
    for id in &ids {
        let opp = rig.triangle(id, Decimal::from(100), Decimal::new(5, 3), 120_000);
        rig.publish(&opp).await;
    }
    let deadline = Instant::now() + Duration::from_secs(50);
    loop {
        let logged = rig.outcomes_all().await;
        if ids.iter().all(|id| logged.iter().any(|o| o.get("id") == Some(id))) {
            break;
        }
        assert!(Instant::now() < deadline, "not every opportunity ended: {} logged", logged.len());
        assert!(twice(&rig, "st5d5d").is_empty(), "a client id placed twice: {:?}", twice(&rig, "st5d5d"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let a stale owner, if any, get its late replies and act on them.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(twice(&rig, "st5d5d"), Vec::<(String, usize)>::new(), "a client id placed twice at the sim");
    let logged = rig.outcomes_all().await;
    let mut total = std::collections::BTreeMap::<String, Decimal>::new();
    for id in &ids {
        let mine: Vec<_> = logged.iter().filter(|o| o.get("id") == Some(id)).collect();
        assert_eq!(mine.len(), 1, "{id}: {} outcomes: {mine:?}", mine.len());
        for (k, v) in pnl(mine[0]) {
            *total.entry(k).or_default() += v;
        }
    }
    total.retain(|_, v| !v.is_zero());
    assert_eq!(total, change(&before, &rig.balances()), "the logged PnL is what the account did");
}

/// The stream entry of a chain in flight is trimmed away and the executor is killed: the chain
/// is found in the journal, finished, its `max_open_chains` slot freed, and the next
/// opportunity trades.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_whose_entry_was_trimmed_is_finished_from_the_journal() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    let before = rig.balances();
    let mut exec = EngineProcess::start(BIN, &rig.config(""), &[]).unwrap();
    rig.fault(r#"{"kind":"latency","ms":700}"#).await;
    let id = "6e6e000000000001";
    let opp = rig.triangle(id, Decimal::from(150), Decimal::new(5, 3), 120_000);
    rig.publish(&opp).await;
    rig.wait_intents(id, 2).await;
    let mut c = rig.redis().await;
    let _: i64 = redis::cmd("XTRIM").arg("storm:opps").arg("MAXLEN").arg(0).query_async(&mut c).await.unwrap();
    exec.kill();
    rig.fault(r#"{"kind":"clear"}"#).await;
    let (metrics, _) = rig.spawn_executor("");
    let out = rig.wait_outcome(id, Duration::from_secs(30)).await;
    assert!(["executed", "partial"].contains(&out["outcome"].as_str()), "{out:?}");
    assert_eq!(out["mode"], "live");
    assert!(twice(&rig, "st6e6e").is_empty(), "{:?}", twice(&rig, "st6e6e"));
    assert_eq!(pnl(&out), change(&before, &rig.balances()), "{out:?}");
    assert!(storm_testkit::process::metric(&metrics.render(), "storm_executor_orphans_total") >= 1.0);
    // The slot is free again (max_open_chains = 1): the next opportunity trades.
    let next = rig.triangle("6e6e000000000002", Decimal::from(150), Decimal::new(5, 3), 60_000);
    rig.publish(&next).await;
    let out = rig.wait_outcome(&next.id, Duration::from_secs(20)).await;
    assert_eq!(out["outcome"], "executed", "{out:?}");
    assert_eq!(rig.outcomes(id).await.len(), 1, "one outcome for the trimmed chain");
}

/// A live chain is interrupted and the executor comes back in dry-run: the chain is still
/// finished live (its record says so), never overwritten by a dry-run validation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_finishes_in_the_mode_it_started_in() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    let before = rig.balances();
    let mut exec = EngineProcess::start(BIN, &rig.config(""), &[]).unwrap();
    rig.fault(r#"{"kind":"latency","ms":700}"#).await;
    let id = "7f7f000000000001";
    let opp = rig.triangle(id, Decimal::from(150), Decimal::new(5, 3), 120_000);
    rig.publish(&opp).await;
    rig.wait_intents(id, 2).await;
    exec.kill();
    rig.fault(r#"{"kind":"clear"}"#).await;
    drop(exec);
    let _dry = EngineProcess::start(BIN, &rig.config("mode = \"dry-run\"\nlive_enabled = false"), &[]).unwrap();
    let out = rig.wait_outcome(id, Duration::from_secs(30)).await;
    assert!(["executed", "partial"].contains(&out["outcome"].as_str()), "{out:?}");
    assert_eq!(out["mode"], "live", "{out:?}");
    let journal = rig.journal(id).await.unwrap();
    assert_eq!(journal["state"], "done");
    assert!(journal["legs"].as_array().unwrap().len() >= 3, "{journal}");
    assert!(twice(&rig, "st7f7f").is_empty(), "{:?}", twice(&rig, "st7f7f"));
    assert_eq!(pnl(&out), change(&before, &rig.balances()), "{out:?}");
}

/// Redis lost leg 1's intent (an AOF `everysec` crash) but the order went out: the opportunity,
/// delivered again, is looked up at the venue by leg 1's client id, and the chain continues from
/// the order that exists instead of sending it a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_opportunity_without_a_record_finds_its_first_order_at_the_venue() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    let before = rig.balances();
    let id = "8a8a000000000001";
    let opp = rig.triangle(id, Decimal::from(150), Decimal::new(5, 3), 120_000);
    // Leg 1 exists at the venue, with its deterministic client id...
    let leg = &opp.legs[0];
    let req = storm_sim::OrderRequest {
        symbol: leg.symbol.clone(),
        side: leg.side,
        kind: storm_sim::OrderType::Limit,
        time_in_force: Some(storm_sim::TimeInForce::Ioc),
        quantity: Some(leg.qty.0),
        quote_order_qty: None,
        price: Some(leg.price.0),
        client_order_id: Some(format!("st{id}-1")),
    };
    let key = rig.key.clone();
    rig.sim.act(|ex| ex.place(&key, req, storm_core::time::now_millis())).unwrap();
    // ...and the opportunity was delivered to "exec-test" before the crash, but no record survived.
    rig.publish(&opp).await;
    let mut c = rig.redis().await;
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("storm:opps")
        .arg("executor")
        .arg("0")
        .query_async(&mut c)
        .await
        .unwrap();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("executor")
        .arg("exec-test")
        .arg("STREAMS")
        .arg("storm:opps")
        .arg(">")
        .query_async(&mut c)
        .await
        .unwrap();
    let _exec = EngineProcess::start(BIN, &rig.config(""), &[]).unwrap();
    let out = rig.wait_outcome(id, Duration::from_secs(30)).await;
    let mut ids: Vec<String> = rig.orders(&format!("st{id}-")).into_iter().map(|o| o.client_order_id).collect();
    ids.sort();
    assert_eq!(ids, [format!("st{id}-1"), format!("st{id}-2"), format!("st{id}-3")], "{out:?}");
    assert_eq!(out["outcome"], "executed", "{out:?}");
    assert_eq!(pnl(&out), change(&before, &rig.balances()), "{out:?}");
}

/// The owner of a chain freezes (SIGSTOP) while leg 1 is in flight, past its lease: the other
/// executor takes the chain over and finishes it; when the frozen one wakes up it finds the chain
/// gone and stops before it sends anything more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_owner_loses_its_chain_and_stops_before_it_sends() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    let before = rig.balances();
    let a = EngineProcess::start(BIN, &config(&rig, "exec-a", 500, ""), &[]).unwrap();
    let b = EngineProcess::start(BIN, &config(&rig, "exec-b", 500, ""), &[]).unwrap();
    rig.fault(r#"{"kind":"latency","ms":1500}"#).await;
    let id = "9c9c000000000001";
    let opp = rig.triangle(id, Decimal::from(150), Decimal::new(5, 3), 120_000);
    rig.publish(&opp).await;
    rig.wait_intents(id, 1).await;
    let owner = rig.journal(id).await.unwrap()["owner"].as_str().unwrap().to_owned();
    let (frozen, other) = if owner == "exec-a" { (&a, "exec-b") } else { (&b, "exec-a") };
    let signal = |sig: &str| {
        let ok = std::process::Command::new("kill").args([sig, &frozen.pid().to_string()]).status().unwrap();
        assert!(ok.success());
    };
    signal("-STOP");
    let out = rig.wait_outcome(id, Duration::from_secs(30)).await;
    assert_eq!(out["executor"], other, "finished by the executor that took it over: {out:?}");
    rig.fault(r#"{"kind":"clear"}"#).await;
    signal("-CONT");
    // The woken owner notices (its health hash shows the lost chain) and has sent nothing more.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut c = rig.redis().await;
    loop {
        let health: HashMap<String, String> =
            redis::AsyncCommands::hgetall(&mut c, format!("storm:health:executor:{owner}")).await.unwrap();
        let lost = health.iter().find(|(k, _)| k.starts_with("storm_executor_ownership_lost_total"));
        if lost.is_some_and(|(_, v)| v.parse::<f64>().unwrap_or(0.0) >= 1.0) {
            break;
        }
        assert!(twice(&rig, "st9c9c").is_empty(), "the woken owner sent again: {:?}", twice(&rig, "st9c9c"));
        assert!(Instant::now() < deadline, "the frozen owner never noticed: {health:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(twice(&rig, "st9c9c").is_empty(), "{:?}", twice(&rig, "st9c9c"));
    assert_eq!(rig.outcomes(id).await.len(), 1);
    assert_eq!(rig.journal(id).await.unwrap()["epoch"], 2);
    assert_eq!(pnl(&out), change(&before, &rig.balances()), "{out:?}");
}
