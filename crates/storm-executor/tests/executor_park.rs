//! An order whose status cannot be resolved parks its chain instead of querying forever: a chain
//! continued from the journal (its leg 1 intended, its result unknown, as after a crash) meets a
//! revoked key (-2015), an HTML page where the API should answer, or an endless 503 (a delisted
//! symbol's -1121 is classified the same way, see storm-venues' error tests; the sim answers an
//! order query on an unknown symbol with -2013, which resolves as "never placed"). Each ends, within `unknown_resolve_max_ms`, as one `failed` outcome, a
//! `storm:exec:failed` entry marked `parked`, a `storm:exec:parked` entry naming the unresolved
//! order, and a count in the executor's health hash; the entry is acknowledged and the executor
//! goes on. Against storm-sim (or a plain HTTP server playing a captive portal) and a real Redis.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use redis::AsyncCommands;
use rust_decimal::Decimal;
use storm_core::Symbol;
use storm_executor::journal::{client_order_id, ChainRecord, ChainState, LegRecord, LegRole};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use common::Rig;

/// The chain of `opp` as a crash after leg 1's intent leaves it: intended, never answered.
async fn seed_interrupted_chain(rig: &Rig, opp: &storm_core::arb::Opportunity, symbol: &str) {
    let leg = &opp.legs[0];
    let mut record =
        ChainRecord::new(&opp.id, &opp.path, &opp.asset, "crashed-executor", storm_core::time::now_millis());
    record.legs.push(LegRecord {
        role: LegRole::Leg(0),
        client_id: client_order_id(&opp.id, LegRole::Leg(0)),
        symbol: Symbol::new(symbol),
        side: leg.side,
        price: leg.price.0,
        qty: leg.qty.0,
        tif: "IOC".into(),
        intent_ms: storm_core::time::now_millis() as i64,
        fill: None,
    });
    let mut c = rig.redis().await;
    let _: () = c.hset("storm:exec:journal", &opp.id, serde_json::to_string(&record).unwrap()).await.unwrap();
    let _: () = c.hset("storm:exec:open", &opp.id, "crashed-executor").await.unwrap();
}

/// An HTTP server that answers every request with `status` and an HTML page.
async fn html_server(status: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut buf, mut n) = (vec![0u8; 16_384], 0);
                while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") && n < buf.len() {
                    match s.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => n += k,
                    }
                }
                let body = "<html><body><h1>Welcome to the hotel Wi-Fi</h1>Please log in.</body></html>";
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

/// Waits until `id` is parked; returns its `storm:exec:parked` JSON.
async fn wait_parked(rig: &Rig, id: &str, patience: Duration) -> serde_json::Value {
    let deadline = Instant::now() + patience;
    let mut c = rig.redis().await;
    loop {
        let raw: Option<String> = c.hget("storm:exec:parked", id).await.unwrap();
        if let Some(raw) = raw {
            return serde_json::from_str(&raw).unwrap();
        }
        assert!(Instant::now() < deadline, "{id} not parked within {patience:?}: {:?}", rig.outcomes(id).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What every parked chain must show: one `failed` outcome naming `why`, a parked failure
/// report, the entry acknowledged, the slot freed, and the health hash counting it.
async fn assert_parked(rig: &Rig, id: &str, symbol: &str, why: &str, patience: Duration) {
    let parked = wait_parked(rig, id, patience).await;
    let unresolved = format!("{} {symbol}", client_order_id(id, LegRole::Leg(0)));
    assert_eq!(parked["unresolved"], serde_json::json!([unresolved]), "{parked}");
    assert!(parked["reason"].as_str().unwrap().contains(why), "{parked}");
    let outs = rig.outcomes(id).await;
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0]["outcome"], "failed", "{outs:?}");
    assert!(outs[0]["reason"].contains("parked") && outs[0]["reason"].contains(why), "{outs:?}");
    let mut c = rig.redis().await;
    let failed: Vec<(String, HashMap<String, String>)> =
        redis::cmd("XRANGE").arg("storm:exec:failed").arg("-").arg("+").query_async(&mut c).await.unwrap();
    assert!(
        failed.iter().any(|(_, f)| f["id"] == id && f.get("parked").map(String::as_str) == Some("1")),
        "{failed:?}"
    );
    let open: usize = c.hlen("storm:exec:open").await.unwrap();
    assert_eq!(open, 0, "the parked chain no longer holds a max_open_chains slot");
    let pending: redis::Value =
        redis::cmd("XPENDING").arg("storm:opps").arg("executor").query_async(&mut c).await.unwrap();
    assert!(matches!(&pending, redis::Value::Array(v) if v.first() == Some(&redis::Value::Int(0))), "{pending:?}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let health: HashMap<String, String> = c.hgetall("storm:health:executor:exec-test").await.unwrap();
        if health.get("storm_executor_parked_total{venue=\"sim\"}").map(String::as_str) == Some("1") {
            break;
        }
        assert!(Instant::now() < deadline, "the health hash does not count the parked chain: {health:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Parked for good: the record is done and its owner's lease gone with the open slot, so the
    // orphan scan (every claim_idle_ms / 2 = 500 ms here) has nothing to take up again.
    let lease: Option<u64> = c.zscore("storm:exec:lease", id).await.unwrap();
    assert_eq!(lease, None, "the parked chain's lease is released");
    let raw: String = c.hget("storm:exec:journal", id).await.unwrap();
    let record: ChainRecord = serde_json::from_str(&raw).unwrap();
    assert_eq!(record.state, ChainState::Done, "{raw}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rig.outcomes(id).await.len(), 1, "a parked chain is not run again by the orphan scan");
    let parked_again: HashMap<String, String> = c.hgetall("storm:health:executor:exec-test").await.unwrap();
    assert_eq!(parked_again.get("storm_executor_parked_total{venue=\"sim\"}").map(String::as_str), Some("1"));
}

fn opp(rig: &Rig, id: &str) -> storm_core::arb::Opportunity {
    rig.triangle(id, Decimal::from(150), Decimal::new(5, 3), 120_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_parks_the_chain_and_the_executor_goes_on() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    std::env::set_var("STORM_EXEC_REVOKED_KEY", "a-key-the-venue-revoked");
    let p = opp(&rig, "5a5a000000000001");
    seed_interrupted_chain(&rig, &p, "BTCUSDT").await;
    rig.spawn_config(&rig.config("").replace(&rig.key_env, "STORM_EXEC_REVOKED_KEY"));
    rig.publish(&p).await;
    assert_parked(&rig, &p.id, "BTCUSDT", "-2015", Duration::from_secs(30)).await;
    // The next opportunity is handled (and refused by the venue: the key is still revoked).
    let next = opp(&rig, "5a5a000000000002");
    rig.publish(&next).await;
    let out = rig.wait_outcome(&next.id, Duration::from_secs(30)).await;
    assert_eq!(out["outcome"], "rejected", "{out:?}");
    assert!(out["reason"].contains("-2015"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_page_instead_of_the_api_parks_the_chain() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    let portal = html_server("200 OK").await;
    let p = opp(&rig, "5c5c000000000001");
    seed_interrupted_chain(&rig, &p, "BTCUSDT").await;
    rig.spawn_config(&rig.config("").replace(&format!("http://{}", rig.addr), &portal));
    rig.publish(&p).await;
    assert_parked(&rig, &p.id, "BTCUSDT", "unreadable", Duration::from_secs(30)).await;
}

/// A 503 may be transient, so it is asked again — but not for longer than the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_503_parks_the_chain_after_the_cap() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    let down = html_server("503 Service Unavailable").await;
    let p = opp(&rig, "5d5d000000000001");
    seed_interrupted_chain(&rig, &p, "BTCUSDT").await;
    let started = Instant::now();
    rig.spawn_config(&rig.config("unknown_resolve_max_ms = 10000").replace(&format!("http://{}", rig.addr), &down));
    rig.publish(&p).await;
    assert_parked(&rig, &p.id, "BTCUSDT", "10000 ms", Duration::from_secs(60)).await;
    assert!(started.elapsed() >= Duration::from_secs(10), "parked only once the cap was spent");
}
