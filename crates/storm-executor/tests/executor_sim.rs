//! The executor against storm-sim over real sockets and a real redis-server: chains, unknown
//! outcomes, refusals, unwinds, duplicates and modes.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use redis::AsyncCommands;
use rust_decimal::Decimal;
use storm_sim::OrderStatus;

use common::{change, pnl, Rig};

const PATIENCE: Duration = Duration::from_secs(20);

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_executes_in_order_and_its_pnl_is_the_balance_change() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    let before = rig.balances();
    rig.spawn_executor("");
    let opp = rig.triangle("aaaa000000000001", d("200"), d("0.005"), 60_000);
    rig.publish(&opp).await;
    let out = rig.wait_outcome(&opp.id, PATIENCE).await;
    assert_eq!(out["outcome"], "executed", "{out:?}");
    let orders = rig.orders("staaaa000000000001-");
    let mut ids: Vec<&str> = orders.iter().map(|o| o.client_order_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["staaaa000000000001-1", "staaaa000000000001-2", "staaaa000000000001-3"]);
    assert!(orders.iter().all(|o| o.status == OrderStatus::Filled), "{orders:?}");
    // Leg 2 spends what leg 1 delivered net of its commission, on the step.
    let leg1 = orders.iter().find(|o| o.client_order_id.ends_with("-1")).unwrap();
    let leg2 = orders.iter().find(|o| o.client_order_id.ends_with("-2")).unwrap();
    let btc_net = leg1.executed_qty - leg1.fills.iter().map(|f| f.commission).sum::<Decimal>();
    assert!(leg2.cummulative_quote_qty <= btc_net, "leg 2 spent more BTC than leg 1 delivered");
    // The PnL the executor logs is exactly what happened to the account.
    let after = rig.balances();
    assert_eq!(pnl(&out), change(&before, &after), "{out:?}");
    assert_eq!(out["realized"].parse::<Decimal>().unwrap(), change(&before, &after)["USDT"]);
    // The journal says done, the chain left the open set, the group has nothing pending.
    assert_eq!(rig.journal(&opp.id).await.unwrap()["state"], "done");
    let mut c = rig.redis().await;
    let open: usize = c.hlen("storm:exec:open").await.unwrap();
    assert_eq!(open, 0);
    let pending: redis::Value =
        redis::cmd("XPENDING").arg("storm:opps").arg("executor").query_async(&mut c).await.unwrap();
    assert!(matches!(&pending, redis::Value::Array(v) if v.first() == Some(&redis::Value::Int(0))), "{pending:?}");
}

/// HTTP 500 or -1007 after the sim placed the order: the executor must query, never resend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_outcome_is_queried_and_the_order_exists_exactly_once() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    let before = rig.balances();
    let (metrics, _) = rig.spawn_executor("");
    for (n, mode) in [(1, "5xx"), (2, "timeout")] {
        rig.fault(&format!(r#"{{"kind":"order_error","mode":"{mode}","count":2}}"#)).await;
        let id = format!("bbbb00000000000{n}");
        let opp = rig.triangle(&id, d("150"), d("0.005"), 60_000);
        rig.publish(&opp).await;
        let out = rig.wait_outcome(&id, PATIENCE).await;
        assert_eq!(out["outcome"], "executed", "{mode}: {out:?}");
        let orders = rig.orders(&format!("st{id}-"));
        assert_eq!(orders.len(), 3, "{mode}: one order per leg, none resent: {orders:?}");
    }
    let body = metrics.render();
    assert!(storm_testkit::process::metric(&body, "storm_executor_unknown_total") >= 4.0, "{body}");
    assert!(storm_testkit::process::metric(&body, "storm_executor_resolved_total") >= 4.0, "{body}");
    let all: Vec<_> = rig.orders("st");
    let mut pnl_sum = std::collections::BTreeMap::<String, Decimal>::new();
    for n in 1..=2 {
        for (k, v) in pnl(&rig.outcomes(&format!("bbbb00000000000{n}")).await[0]) {
            *pnl_sum.entry(k).or_default() += v;
        }
    }
    pnl_sum.retain(|_, v| !v.is_zero());
    assert_eq!(pnl_sum, change(&before, &rig.balances()), "orders: {all:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halt_and_expiry_send_no_order_and_are_logged() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    rig.spawn_executor("");
    let mut c = rig.redis().await;
    let _: () = c.set("storm:halt", "operator: maintenance").await.unwrap();
    let opp = rig.triangle("cccc000000000001", d("100"), d("0.005"), 60_000);
    rig.publish(&opp).await;
    let out = rig.wait_outcome(&opp.id, PATIENCE).await;
    assert_eq!(out["outcome"], "rejected");
    assert!(out["reason"].contains("halted: operator: maintenance"), "{out:?}");
    let _: () = c.del("storm:halt").await.unwrap();
    let mut late = rig.triangle("cccc000000000002", d("100"), d("0.005"), 60_000);
    late.expires_ms = storm_core::time::now_millis() - 1;
    rig.publish(&late).await;
    let out = rig.wait_outcome(&late.id, PATIENCE).await;
    assert_eq!(out["outcome"], "expired", "{out:?}");
    assert!(rig.orders("stcccc").is_empty(), "no order while halted or for an expired signal");
}

/// Refusals by the executor's own checks and by the venue end as logged outcomes; the process
/// keeps going and trades the next good opportunity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insufficient_balance_filter_failure_and_rate_limit_are_recorded_outcomes() {
    let rig = Rig::start(60, &[("USDT", 300)]).await;
    rig.spawn_executor("");
    // More than the account holds.
    let big = rig.triangle("dddd000000000001", d("1000"), d("0.005"), 60_000);
    rig.publish(&big).await;
    let out = rig.wait_outcome(&big.id, PATIENCE).await;
    assert_eq!(out["outcome"], "rejected");
    assert!(out["reason"].contains("insufficient balance"), "{out:?}");
    // A quantity off the step: the venue's filter (checked before sending, as the venue would).
    let mut off = rig.triangle("dddd000000000002", d("100"), d("0.005"), 60_000);
    off.legs[0].qty.0 += Decimal::new(1, 12);
    rig.publish(&off).await;
    let out = rig.wait_outcome(&off.id, PATIENCE).await;
    assert_eq!(out["outcome"], "rejected");
    assert!(out["reason"].contains("Filter failure: LOT_SIZE"), "{out:?}");
    // Spend exactly what is left of the sim's weight minute from this IP (1 per ping, never
    // over): the executor's next order is the request that gets HTTP 429.
    let http = reqwest::Client::new();
    loop {
        let r = http.get(format!("http://{}/api/v3/ping", rig.addr)).send().await.unwrap();
        assert!(r.status().is_success(), "the test itself must not hit the limit");
        let used: u64 = r.headers()["x-mbx-used-weight-1m"].to_str().unwrap().parse().unwrap();
        if used >= 60 {
            break;
        }
    }
    let limited = rig.triangle("dddd000000000003", d("100"), d("0.005"), 60_000);
    rig.publish(&limited).await;
    let out = rig.wait_outcome(&limited.id, PATIENCE).await;
    assert_eq!(out["outcome"], "rejected", "{out:?}");
    assert!(out["reason"].contains("rate limited"), "{out:?}");
    assert!(rig.orders("stdddd").is_empty());
    let mut c = rig.redis().await;
    let health: std::collections::HashMap<String, String> = c.hgetall("storm:health:executor:exec-test").await.unwrap();
    assert!(!health.is_empty(), "the executor is alive and beating");
}

/// Leg 2 cannot fill (its limit is far below the market): the BTC bought by leg 1 is sold back
/// to USDT and the chain is reported on `storm:exec:failed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_broken_after_leg_one_is_unwound_to_the_start_asset() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    let before = rig.balances();
    rig.spawn_executor("");
    let mut opp = rig.triangle("eeee000000000001", d("200"), d("0.005"), 60_000);
    let i2 = rig.instrument("ETHBTC");
    opp.legs[1].price.0 = i2.floor_price(storm_core::Price(opp.legs[1].price.0 / Decimal::from(2))).0;
    rig.publish(&opp).await;
    let out = rig.wait_outcome(&opp.id, PATIENCE).await;
    assert_eq!(out["outcome"], "partial", "{out:?}");
    assert!(out["reason"].contains("leg 2") && out["reason"].contains("unwound"), "{out:?}");
    let orders = rig.orders("steeee000000000001-");
    let roles: Vec<(&str, OrderStatus)> = orders.iter().map(|o| (o.client_order_id.as_str(), o.status)).collect();
    assert!(roles.contains(&("steeee000000000001-1", OrderStatus::Filled)), "{roles:?}");
    assert!(roles.contains(&("steeee000000000001-2", OrderStatus::Expired)), "{roles:?}");
    assert!(roles.iter().any(|(c, s)| c.contains("-u") && *s == OrderStatus::Filled), "{roles:?}");
    assert!(!roles.iter().any(|(c, _)| c.ends_with("-3")), "leg 3 never sent");
    let ch = change(&before, &rig.balances());
    let btc = ch.get("BTC").copied().unwrap_or_default();
    assert!(btc < rig.instrument("BTCUSDT").min_qty, "BTC left is dust: {ch:?}");
    assert_eq!(pnl(&out), ch);
    let mut c = rig.redis().await;
    let failed: Vec<(String, std::collections::HashMap<String, String>)> =
        redis::cmd("XRANGE").arg("storm:exec:failed").arg("-").arg("+").query_async(&mut c).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].1["id"], opp.id);
}

/// The same opportunity published twice (a producer retry): one chain, one outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opportunity_delivered_twice_trades_once() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    let (metrics, _) = rig.spawn_executor("");
    let opp = rig.triangle("ffff000000000001", d("100"), d("0.005"), 60_000);
    rig.publish(&opp).await;
    rig.publish(&opp).await;
    rig.wait_outcome(&opp.id, PATIENCE).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while storm_testkit::process::metric(&metrics.render(), "storm_executor_duplicates_total") < 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "second delivery never handled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rig.outcomes(&opp.id).await.len(), 1);
    assert_eq!(rig.orders("stffff").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_validates_every_leg_and_trades_nothing() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    let before = rig.balances();
    rig.spawn_executor("mode = \"dry-run\"\nlive_enabled = false");
    let opp = rig.triangle("abab000000000001", d("100"), d("0.005"), 60_000);
    rig.publish(&opp).await;
    let out = rig.wait_outcome(&opp.id, PATIENCE).await;
    assert_eq!(out["outcome"], "validated", "{out:?}");
    let mut bad = rig.triangle("abab000000000002", d("100"), d("0.005"), 60_000);
    bad.legs[2].qty.0 = Decimal::new(1, 9);
    rig.publish(&bad).await;
    let out = rig.wait_outcome(&bad.id, PATIENCE).await;
    assert_eq!(out["outcome"], "rejected");
    assert!(out["reason"].contains("leg 3") && out["reason"].contains("-1013"), "{out:?}");
    assert!(rig.orders("st").is_empty());
    assert_eq!(rig.balances(), before);
}

/// A clock 60 s behind the venue gets -1021; the client measures the offset and sends again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timestamp_outside_recv_window_resynchronises_the_clock() {
    use storm_venues::binance::trade::{Credentials, TradeClient};
    let rig = Rig::start(6000, &[("USDT", 1_000)]).await;
    let budget = storm_bus::WeightBudget::new(&rig.bus, "sim", storm_bus::WeightBudgetConfig::new(6000)).unwrap();
    let rest = storm_venues::rest::RestClient::new(storm_core::VenueKind::Binance, budget).unwrap();
    let secret = std::env::var(&rig.secret_env).unwrap();
    let client = TradeClient::new(
        rest,
        &format!("http://{}", rig.addr),
        Credentials::new(&rig.key, secret),
        Duration::from_secs(2),
    );
    client.set_offset_ms(-60_000);
    let account = client.account().await.expect("resynchronised and sent again");
    assert!(client.offset_ms().abs() < 5_000, "offset now {}", client.offset_ms());
    assert!(account.balances.iter().any(|b| b.asset == "USDT"));
}

/// Paper mode fills against the book hashes booksync publishes and never calls the venue; a
/// book that is not live is not traded on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paper_mode_fills_against_the_book_hashes_and_sends_no_order() {
    let rig = Rig::start(6000, &[("USDT", 10_000)]).await;
    for s in ["BTCUSDT", "ETHBTC", "ETHUSDT"] {
        rig.publish_book(s, storm_core::BookStatus::Live).await;
    }
    rig.spawn_executor("mode = \"paper\"\n[executor.paper_balances]\nUSDT = \"1000\"");
    let opp = rig.triangle("cdcd000000000001", d("200"), d("0.005"), 60_000);
    rig.publish(&opp).await;
    let out = rig.wait_outcome(&opp.id, PATIENCE).await;
    assert_eq!(out["outcome"], "executed", "{out:?}");
    assert_eq!(out["mode"], "paper");
    let journal = rig.journal(&opp.id).await.unwrap();
    let legs = journal["legs"].as_array().unwrap();
    assert_eq!(legs.len(), 3);
    assert!(legs.iter().all(|l| l["fill"]["status"] == "FILLED"), "{legs:?}");
    // Leg 1 at the best ask or better: the paper fill cannot beat the book.
    let ask = rig.top("BTCUSDT").1;
    let q1: Decimal = legs[0]["fill"]["executed_qty"].as_str().unwrap().parse().unwrap();
    let quote1: Decimal = legs[0]["fill"]["quote_qty"].as_str().unwrap().parse().unwrap();
    assert!(quote1 >= q1 * ask, "paid {quote1} for {q1} at best ask {ask}");
    assert!(pnl(&out)["USDT"] < Decimal::ZERO, "a chain through the spread loses: {out:?}");
    assert!(rig.orders("st").is_empty(), "paper sends nothing to the venue");

    rig.publish_book("ETHBTC", storm_core::BookStatus::Stale).await;
    let opp = rig.triangle("cdcd000000000002", d("200"), d("0.005"), 60_000);
    rig.publish(&opp).await;
    let out = rig.wait_outcome(&opp.id, PATIENCE).await;
    assert!(out["reason"].contains("not live") || out["reason"].contains("stale"), "{out:?}");
    assert_ne!(out["outcome"], "executed");
}
