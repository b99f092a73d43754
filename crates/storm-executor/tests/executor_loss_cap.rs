//! The daily loss cap is one cap for every executor and every restart: the day's realized loss
//! per start asset lives in Redis (`storm:exec:loss:<YYYYMMDD>`), added to exactly in the script
//! that logs each outcome and read by the gate. Against storm-sim and a real redis-server (the
//! exactness of that sum: `tests/lua_decimal.rs`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use redis::AsyncCommands;
use rust_decimal::Decimal;
use storm_core::time::{now_millis, Utc};

use common::Rig;

const PATIENCE: Duration = Duration::from_secs(30);

fn today_key() -> String {
    let t = Utc::from_millis(now_millis());
    format!("storm:exec:loss:{:04}{:02}{:02}", t.year, t.month, t.day)
}

/// Executor A loses more than the cap on one chain; the operator clears `storm:halt`; executor B
/// (another instance, started after A stopped, with no memory of A) is refused by the gate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loss_recorded_by_one_executor_stops_another() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    let cap = "[executor.daily_loss_cap]\nUSDT = \"0.01\"";
    let (_, stop_a, task_a) = rig.spawn_config(&rig.config(cap).replace("exec-test", "exec-a"));
    let losing = rig.triangle("1c1c000000000001", Decimal::from(200), Decimal::new(5, 3), 60_000);
    rig.publish(&losing).await;
    let out = rig.wait_outcome(&losing.id, PATIENCE).await;
    assert_eq!(out["outcome"], "executed", "{out:?}");
    let realized: Decimal = out["realized"].parse().unwrap();
    assert!(realized < Decimal::new(-1, 2), "a chain through the spread loses more than the cap: {out:?}");
    stop_a.cancel();
    task_a.await.unwrap().unwrap();
    // The operator clears the halt the cap set; the cap still holds for the day.
    let mut c = rig.redis().await;
    let _: () = c.del("storm:halt").await.unwrap();
    let (_, _stop_b, _) = rig.spawn_config(&rig.config(cap).replace("exec-test", "exec-b"));
    let next = rig.triangle("1c1c000000000002", Decimal::from(200), Decimal::new(5, 3), 60_000);
    rig.publish(&next).await;
    let out = rig.wait_outcome(&next.id, PATIENCE).await;
    assert_eq!(out["outcome"], "rejected", "{out:?}");
    assert!(out["reason"].contains("daily loss cap"), "{out:?}");
    assert_eq!(out["executor"], "exec-b");
    assert!(rig.orders("st1c1c000000000002-").is_empty(), "no order past the cap");
    // The day's loss is the negated realized PnL, exactly, with a TTL.
    let loss: String = c.hget(today_key(), "USDT").await.unwrap();
    assert_eq!(loss.parse::<Decimal>().unwrap(), -realized, "{loss}");
    let ttl: i64 = c.ttl(today_key()).await.unwrap();
    assert!(ttl > 86_400 && ttl <= 2 * 86_400, "ttl {ttl}");
}

/// The gate compares the stored loss with the cap exactly, as decimal strings: just under the cap
/// goes, at or over it (or an unreadable value) is refused; no cap for the asset, no check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_compares_the_days_loss_with_the_cap_exactly() {
    use storm_executor::gate::{pass, Ask, Gate};
    use storm_executor::journal::ChainRecord;
    let server = storm_testkit::RedisServer::start().unwrap();
    let bus = storm_bus::Bus::connect(storm_bus::BusConfig::new(server.url()), Default::default()).await.unwrap();
    let mut c = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let record = ChainRecord::new("l1", "USDT>BTC>ETH>USDT", &storm_core::Asset::new("USDT"), "t", 1);
    let ask = |cap: Option<&str>| Ask {
        record: &record,
        lease_ms: 1000,
        max_open: 0,
        balance_key: None,
        spend: Decimal::ONE,
        local: storm_executor::gate::Local::None,
        venue: "sim",
        priced_on: (0, Vec::new()),
        books: Vec::new(),
        write: false,
        loss_cap: cap.map(|c| c.parse().unwrap()),
    };
    for (loss, cap, go) in [
        ("49.99999999", Some("50"), true),
        ("50", Some("50"), false),
        ("50.00000000000000000001", Some("50"), false),
        ("-1000", Some("50"), true),
        ("garbage", Some("50"), false),
        ("1000000", None, true),
    ] {
        let _: () = c.hset(today_key(), "USDT", loss).await.unwrap();
        let got = pass(&bus, None, &ask(cap)).await.unwrap();
        assert_eq!(matches!(got, Gate::Go(_)), go, "loss {loss}, cap {cap:?}: {got:?}");
        if !go {
            assert_eq!(got, Gate::LossCap(loss.to_owned()));
        }
    }
}

/// The gate's loss check and its lease write use their own key and argument each: a chain let go
/// under the cap gets its lease in `storm:exec:lease` (`lease_ms` from now), and with a lease
/// already in that ZSET the loss is still read from the day's loss hash and refuses at the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_gate_leases_what_it_lets_go_and_refuses_at_the_cap() {
    use storm_executor::gate::{pass, Ask, Gate};
    use storm_executor::journal::ChainRecord;
    let server = storm_testkit::RedisServer::start().unwrap();
    let bus = storm_bus::Bus::connect(storm_bus::BusConfig::new(server.url()), Default::default()).await.unwrap();
    let mut c = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let usdt = storm_core::Asset::new("USDT");
    let (first, second) = (ChainRecord::new("l2", "p", &usdt, "t", 1), ChainRecord::new("l3", "p", &usdt, "t", 1));
    let ask = |record| Ask {
        record,
        lease_ms: 600_000,
        max_open: 0,
        balance_key: None,
        spend: Decimal::ONE,
        local: storm_executor::gate::Local::None,
        venue: "sim",
        priced_on: (0, Vec::new()),
        books: Vec::new(),
        write: true,
        loss_cap: Some("50".parse().unwrap()),
    };
    let _: () = c.hset(today_key(), "USDT", "49.5").await.unwrap();
    let before = now_millis();
    assert_eq!(pass(&bus, None, &ask(&first)).await.unwrap(), Gate::Go(Vec::new()));
    let until: Option<u64> = c.zscore("storm:exec:lease", "l2").await.unwrap();
    let until = until.expect("the chain let go holds a lease");
    assert!(until >= before + 600_000 && until <= now_millis() + 600_000, "lease until {until}, asked at {before}");
    let _: () = c.hset(today_key(), "USDT", "50").await.unwrap();
    assert_eq!(pass(&bus, None, &ask(&second)).await.unwrap(), Gate::LossCap("50".into()));
    let leased: Option<u64> = c.zscore("storm:exec:lease", "l3").await.unwrap();
    assert_eq!(leased, None, "a refused chain gets no lease");
    let journaled: bool = c.hexists("storm:exec:journal", "l3").await.unwrap();
    assert!(!journaled, "a refused chain gets no record");
}
