//! The real `storm-executor` binary killed with SIGKILL while each leg of a chain is in flight,
//! then restarted: the chain completes or unwinds from the journal, and the sim never sees a
//! client order id twice.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use rust_decimal::Decimal;
use storm_testkit::process::EngineProcess;
use tokio::time::Instant;

use common::{change, pnl, Rig};

const BIN: &str = env!("CARGO_BIN_EXE_storm-executor");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_each_leg_then_restart_completes_or_unwinds_without_a_duplicate_order() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    let mut exec = EngineProcess::start(BIN, &rig.config(""), &[]).unwrap();
    for k in 1..=3usize {
        let before = rig.balances();
        // Every REST reply takes 700 ms, so leg k is in flight when its intent appears.
        rig.fault(r#"{"kind":"latency","ms":700}"#).await;
        let id = format!("9a9a00000000000{k}");
        let opp = rig.triangle(&id, Decimal::from(150), Decimal::new(5, 3), 120_000);
        rig.publish(&opp).await;
        rig.wait_intents(&id, k).await;
        exec.kill();
        rig.fault(r#"{"kind":"clear"}"#).await;
        exec.restart(BIN, &[]).unwrap();
        let out = rig.wait_outcome(&id, Duration::from_secs(40)).await;
        let orders = rig.orders(&format!("st{id}-"));
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for o in &orders {
            *seen.entry(o.client_order_id.as_str()).or_default() += 1;
        }
        assert!(seen.values().all(|n| *n == 1), "killed at leg {k}: a client id placed twice: {orders:?}");
        assert!(
            ["executed", "partial"].contains(&out["outcome"].as_str())
                || (k == 1 && out["outcome"] == "rejected" && orders.is_empty()),
            "killed at leg {k}: {out:?} {orders:?}"
        );
        assert_eq!(rig.outcomes(&id).await.len(), 1, "exactly one outcome");
        assert_eq!(pnl(&out), change(&before, &rig.balances()), "killed at leg {k}: {out:?}");
        let journal = rig.journal(&id).await.unwrap();
        assert_eq!(journal["state"], "done");
    }
}

/// The dangerous window: leg k was placed and filled on the venue, the reply was a 500, and the
/// executor dies while it queries. After the restart the journal's intent is resolved by query
/// (the order exists, filled), so the chain goes on from it instead of sending leg k again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_the_order_exists_but_before_its_result_is_known_continues_the_chain() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    let mut exec = EngineProcess::start(BIN, &rig.config(""), &[]).unwrap();
    for k in 1..=3usize {
        let before = rig.balances();
        rig.fault(r#"{"kind":"latency","ms":700}"#).await;
        let id = format!("8b8b00000000000{k}");
        let opp = rig.triangle(&id, Decimal::from(150), Decimal::new(5, 3), 120_000);
        rig.publish(&opp).await;
        rig.wait_intents(&id, k).await;
        // Leg k is sleeping in the sim's latency: it will be placed, then answered with a 500.
        rig.fault(r#"{"kind":"order_error","mode":"5xx","count":1}"#).await;
        let client_id = format!("st{id}-{k}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while rig.orders(&client_id).is_empty() {
            assert!(Instant::now() < deadline, "leg {k} never reached the sim");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The executor got its 500 and is now querying (700 ms): kill it there.
        tokio::time::sleep(Duration::from_millis(250)).await;
        exec.kill();
        rig.fault(r#"{"kind":"clear"}"#).await;
        exec.restart(BIN, &[]).unwrap();
        let out = rig.wait_outcome(&id, Duration::from_secs(40)).await;
        let orders = rig.orders(&format!("st{id}-"));
        let mut ids: Vec<&str> = orders.iter().map(|o| o.client_order_id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(
            ids,
            [format!("st{id}-1"), format!("st{id}-2"), format!("st{id}-3")],
            "killed after leg {k} existed"
        );
        assert_eq!(out["outcome"], "executed", "killed after leg {k} existed: {out:?}");
        assert_eq!(pnl(&out), change(&before, &rig.balances()), "killed after leg {k}: {out:?}");
    }
}

/// Executor "a" dies mid-chain and never comes back; executor "b", a second consumer of the
/// group, claims the entry after `claim_idle_ms` (XAUTOCLAIM) and finishes the chain from a's
/// journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_executor_claims_and_finishes_a_dead_executors_chain() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    let config_a = rig.config("").replace("instance = \"exec-test\"", "instance = \"exec-a\"");
    let mut a = EngineProcess::start(BIN, &config_a, &[]).unwrap();
    let before = rig.balances();
    rig.fault(r#"{"kind":"latency","ms":700}"#).await;
    let id = "7c7c000000000002";
    let opp = rig.triangle(id, Decimal::from(150), Decimal::new(5, 3), 120_000);
    rig.publish(&opp).await;
    rig.wait_intents(id, 2).await;
    a.kill();
    rig.fault(r#"{"kind":"clear"}"#).await;
    // "b" starts only now, so the entry is certainly in a's pending list.
    let (metrics, _) = rig.spawn_executor("");
    let out = rig.wait_outcome(id, Duration::from_secs(40)).await;
    assert!(["executed", "partial"].contains(&out["outcome"].as_str()), "{out:?}");
    assert_eq!(out["executor"], "exec-test", "finished by the second executor");
    assert!(storm_testkit::process::metric(&metrics.render(), "storm_executor_reclaimed_total") >= 1.0);
    let orders = rig.orders(&format!("st{id}-"));
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for o in &orders {
        *seen.entry(o.client_order_id.as_str()).or_default() += 1;
    }
    assert!(seen.values().all(|n| *n == 1), "a client id placed twice: {orders:?}");
    assert_eq!(pnl(&out), change(&before, &rig.balances()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_zero_within_five_seconds() {
    let rig = Rig::start(6000, &[("USDT", 1_000)]).await;
    let path = std::env::temp_dir().join(format!("storm-exec-term-{}.toml", std::process::id()));
    std::fs::write(&path, rig.config("")).unwrap();
    let mut child = std::process::Command::new(BIN).arg("--config").arg(&path).spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "still running 5 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = std::fs::remove_file(&path);
    assert!(status.success(), "{status:?}");
}
