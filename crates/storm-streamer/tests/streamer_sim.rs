//! The streamer in-process against a real redis-server and an in-process storm-sim over real
//! sockets: orders, fills and balances reach Redis exactly as the sim has them, across dropped
//! connections, `eventStreamTerminated` and garbage on the wire, without a secret in Redis.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::relay::Relay;
use common::*;
use storm_bus::account::OrderStatus;
use storm_core::{Price, Side};
use storm_service::Metrics;
use storm_venues::binance::trade_wire::OrderStatus as VenueStatus;
use storm_venues::trading::TimeInForce;
use tokio::time::Instant;

/// Waits until the streamer has completed `n` reconciles in total.
async fn wait_reconciles(h: &Harness, m: &Metrics, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while h.counter(m, "storm_streamer_reconciles_total") < n {
        assert!(Instant::now() < deadline, "fewer than {n} reconciles");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A GTC sell resting at the best ask is filled by a taker in two steps (partial, then full),
/// an IOC buy sweeps two ask levels (average price strictly between them), an IOC sell fills
/// one bid level and expires, a GTC buy is cancelled, another stays open: every order's status,
/// cumulative quantities and average price, every fill (once) and every balance equal the sim's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_fills_and_balances_match_the_sim() {
    let mut h = Harness::start().await;
    let (metrics, stop, task) = h.spawn_streamer(&h.config("t1", &h.ws_api_url(), ""));
    wait_reconciles(&h, &metrics, 1).await;
    h.wait_consistent(Duration::from_secs(5)).await;

    let (_, asks) = h.depth("BTCUSDT", 1);
    let (p, synthetic) = (asks[0].price.0, asks[0].qty.0);
    let gtc = h.place(&h.me, "BTCUSDT", Side::Sell, TimeInForce::Gtc, d("0.02"), p).await;
    assert_eq!(gtc.status, VenueStatus::New);
    h.place(&h.taker, "BTCUSDT", Side::Buy, TimeInForce::Ioc, synthetic + d("0.01"), p).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let o = h.redis_orders().await.remove(&gtc.order_id);
        if let Some(o) = o.filter(|o| o.status == OrderStatus::PartiallyFilled) {
            assert_eq!((o.executed_qty.0, o.avg_price), (d("0.01"), Some(Price(p))));
            break;
        }
        assert!(Instant::now() < deadline, "the partial fill never reached redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.place(&h.taker, "BTCUSDT", Side::Buy, TimeInForce::Ioc, d("0.01"), p).await;

    let eth = h.instrument("ETHUSDT");
    let (_, asks) = h.depth("ETHUSDT", 2);
    let sweep = asks[0].qty.0 + floor(&eth, asks[1].qty.0 / d("2"));
    let ioc = h.place(&h.me, "ETHUSDT", Side::Buy, TimeInForce::Ioc, sweep, asks[1].price.0).await;
    assert_eq!((ioc.status, ioc.fills.len()), (VenueStatus::Filled, 2));
    let (bids, _) = h.depth("ETHUSDT", 1);
    let expiring =
        h.place(&h.me, "ETHUSDT", Side::Sell, TimeInForce::Ioc, bids[0].qty.0 + d("1"), bids[0].price.0).await;
    assert_eq!(expiring.status, VenueStatus::Expired);

    let btc = h.instrument("BTCUSDT");
    let (bids, _) = h.depth("BTCUSDT", 1);
    let low = btc.floor_price(Price(bids[0].price.0 * d("0.9"))).0;
    let canceled = h.place(&h.me, "BTCUSDT", Side::Buy, TimeInForce::Gtc, d("0.01"), low).await;
    h.cancel("BTCUSDT", canceled.order_id);
    let ethbtc = h.instrument("ETHBTC");
    let (bids, _) = h.depth("ETHBTC", 1);
    let resting = ethbtc.floor_price(Price(bids[0].price.0 * d("0.95"))).0;
    let open = h.place(&h.me, "ETHBTC", Side::Buy, TimeInForce::Gtc, d("1"), resting).await;

    h.wait_consistent(Duration::from_secs(10)).await;
    let orders = h.redis_orders().await;
    let status = |id: u64| orders[&id].status;
    assert_eq!(
        [
            status(gtc.order_id),
            status(ioc.order_id),
            status(expiring.order_id),
            status(canceled.order_id),
            status(open.order_id)
        ],
        [OrderStatus::Filled, OrderStatus::Filled, OrderStatus::Expired, OrderStatus::Canceled, OrderStatus::New]
    );
    let swept = &orders[&ioc.order_id];
    let avg = swept.avg_price.unwrap().0;
    assert_eq!(avg, swept.cumulative_quote_qty.0 / swept.executed_qty.0);
    assert!(avg > asks[0].price.0 && avg < asks[1].price.0, "{avg} between the two levels");
    assert_eq!(swept.last_trade_id, ioc.fills.iter().map(|f| f.trade_id).max());
    let balances = h.redis_balances().await;
    assert!(!balances["BTC"].locked.is_zero(), "the open ETHBTC buy locks BTC");
    let fills = h.fills().await.len() as u64;
    assert_eq!(fills, 5, "2 maker fills, 2 sweep fills, 1 fill of the expiring order");
    assert_eq!(h.counter(&metrics, "storm_streamer_fills_total"), fills);
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
}

/// Waits until `f` holds, polling.
async fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The connection drops (no close frame) and stays down while a resting order fills, an IOC
/// trades on a known symbol and another on a `reconcile_symbols` symbol: after the reconnect the
/// REST reconcile brings Redis back to the sim's state. Then the venue sends
/// `eventStreamTerminated`: the streamer resubscribes on a new connection and reconciles what
/// happened in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_and_event_stream_terminated_reconnect_and_reconcile() {
    let mut h = Harness::start().await;
    let relay = Relay::start(h.ws_api_url()).await;
    let (metrics, stop, task) = h.spawn_streamer(&h.config("t3", &relay.url(), "reconcile_symbols = [\"SOLUSDT\"]"));
    wait_reconciles(&h, &metrics, 1).await;
    let (_, asks) = h.depth("BTCUSDT", 1);
    let (p, synthetic) = (asks[0].price.0, asks[0].qty.0);
    let resting = h.place(&h.me, "BTCUSDT", Side::Sell, TimeInForce::Gtc, d("0.03"), p).await;
    let (_, asks) = h.depth("ETHUSDT", 1);
    h.place(&h.me, "ETHUSDT", Side::Buy, TimeInForce::Ioc, d("0.5"), asks[0].price.0).await;
    h.wait_consistent(Duration::from_secs(5)).await;

    relay.block(true);
    relay.cut();
    wait_for("the cut", Duration::from_secs(5), || relay.live() == 0).await;
    h.place(&h.taker, "BTCUSDT", Side::Buy, TimeInForce::Ioc, synthetic + d("0.03"), p).await;
    let (_, asks) = h.depth("ETHUSDT", 1);
    h.place(&h.me, "ETHUSDT", Side::Buy, TimeInForce::Ioc, d("0.7"), asks[0].price.0).await;
    let (_, asks) = h.depth("SOLUSDT", 1);
    h.place(&h.me, "SOLUSDT", Side::Buy, TimeInForce::Ioc, d("2"), asks[0].price.0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(h.check().await.is_err(), "nothing can have reached redis while cut off");
    let refused = relay.connections();
    relay.block(false);
    h.wait_consistent(Duration::from_secs(10)).await;
    assert_eq!(h.redis_orders().await[&resting.order_id].status, OrderStatus::Filled);
    assert!(relay.connections() > refused);
    assert!(h.counter(&metrics, "storm_streamer_reconnects_total") >= 1);
    let reconciles = h.counter(&metrics, "storm_streamer_reconciles_total");
    assert!(reconciles >= 2);

    relay.block(true);
    let now = storm_core::time::now_millis();
    relay.inject_text(&format!(r#"{{"subscriptionId":0,"event":{{"e":"eventStreamTerminated","E":{now}}}}}"#));
    wait_for("the streamer to close", Duration::from_secs(5), || relay.live() == 0).await;
    let (bids, _) = h.depth("ETHUSDT", 1);
    h.place(&h.me, "ETHUSDT", Side::Sell, TimeInForce::Ioc, d("0.4"), bids[0].price.0).await;
    relay.block(false);
    h.wait_consistent(Duration::from_secs(10)).await;
    let terminated = metrics
        .counter(
            "storm_streamer_events_total",
            "",
            &[("venue", VENUE), ("account", &h.acct), ("event", "eventStreamTerminated")],
        )
        .get();
    assert_eq!(terminated, 1);
    assert!(h.counter(&metrics, "storm_streamer_reconciles_total") > reconciles);
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
}

/// Garbage on the wire — invalid JSON, a binary frame, a frame that is neither event nor
/// response, an executionReport with missing fields — is counted as malformed, an unknown
/// event type as unknown; the connection stays up and keeps applying real events. Neither the
/// API key nor the secret is anywhere in Redis (every key and value scanned).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_counted_never_fatal_and_secrets_never_reach_redis() {
    let mut h = Harness::start().await;
    let relay = Relay::start(h.ws_api_url()).await;
    let (metrics, stop, task) = h.spawn_streamer(&h.config("t4", &relay.url(), ""));
    wait_reconciles(&h, &metrics, 1).await;
    relay.inject_text("{not json");
    relay.inject_binary(&[0xde, 0xad]);
    relay.inject_text(r#"{"hello":1}"#);
    relay.inject_text(r#"{"subscriptionId":0,"event":{"e":"executionReport","E":1,"s":"BTCUSDT"}}"#);
    relay.inject_text(r#"{"subscriptionId":0,"event":{"e":"listStatus","E":1}}"#);
    wait_for("the garbage to be counted", Duration::from_secs(5), || {
        h.counter(&metrics, "storm_streamer_malformed_total") == 4
            && h.counter(&metrics, "storm_streamer_unknown_events_total") == 1
    })
    .await;
    let (_, asks) = h.depth("BTCUSDT", 1);
    h.place(&h.me, "BTCUSDT", Side::Buy, TimeInForce::Ioc, d("0.01"), asks[0].price.0).await;
    h.wait_consistent(Duration::from_secs(5)).await;
    assert_eq!(h.counter(&metrics, "storm_streamer_reconnects_total"), 0, "garbage never costs the connection");
    assert_eq!(relay.connections(), 1);

    let dump = h.dump().await;
    assert!(dump.contains(&format!("storm:order:{VENUE}:{}:BTCUSDT", h.acct)), "the dump sees the account's keys");
    assert!(dump.contains("storm_streamer_malformed_total"), "and the heartbeat");
    assert!(!dump.contains(&h.key), "the API key is in redis");
    assert!(!dump.contains(&h.secret), "the API secret is in redis");
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
}

/// With a short `max_connection_age_ms` the streamer replaces its connection on time, again
/// and again, and stays consistent with the sim across the replacements.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_is_replaced_at_its_maximum_age() {
    let mut h = Harness::start().await;
    let relay = Relay::start(h.ws_api_url()).await;
    let (metrics, stop, task) = h.spawn_streamer(&h.config("t5", &relay.url(), "max_connection_age_ms = 1000"));
    wait_reconciles(&h, &metrics, 1).await;
    let started = Instant::now();
    for i in 0..6 {
        let (_, asks) = h.depth("ETHUSDT", 1);
        h.place(&h.me, "ETHUSDT", Side::Buy, TimeInForce::Ioc, d("0.1") * d(&(i + 1).to_string()), asks[0].price.0)
            .await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    h.wait_consistent(Duration::from_secs(5)).await;
    let elapsed = started.elapsed().as_millis() as usize;
    assert!(
        relay.connections() >= 3 && relay.connections() <= 2 + elapsed / 1000,
        "{} connections",
        relay.connections()
    );
    assert!(h.counter(&metrics, "storm_streamer_reconnects_total") >= 2);
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
}

/// A connection that goes silent without closing (a frozen network path: no frame, our pings
/// unanswered) is given up after `silence_timeout_ms` and replaced; what happened meanwhile is
/// reconciled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_replaced() {
    let mut h = Harness::start().await;
    let relay = Relay::start(h.ws_api_url()).await;
    let extra = "ping_interval_ms = 100\nsilence_timeout_ms = 600";
    let (metrics, stop, task) = h.spawn_streamer(&h.config("t6", &relay.url(), extra));
    wait_reconciles(&h, &metrics, 1).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(h.counter(&metrics, "storm_streamer_reconnects_total"), 0, "a healthy connection is not silent");
    let (_, asks) = h.depth("ETHUSDT", 1);
    h.place(&h.me, "ETHUSDT", Side::Buy, TimeInForce::Ioc, d("0.3"), asks[0].price.0).await;
    h.wait_consistent(Duration::from_secs(5)).await;
    relay.freeze();
    let (_, asks) = h.depth("ETHUSDT", 1);
    h.place(&h.me, "ETHUSDT", Side::Buy, TimeInForce::Ioc, d("0.2"), asks[0].price.0).await;
    wait_for("a replacement connection", Duration::from_secs(5), || relay.connections() >= 2).await;
    h.wait_consistent(Duration::from_secs(5)).await;
    assert_eq!(h.counter(&metrics, "storm_streamer_reconnects_total"), 1);
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
}

/// `balanceUpdate` carries only a delta: the streamer re-reads `/account`, so a deposit the
/// stream announces that way shows up in Redis with the venue's exact new balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_balance_update_rereads_the_account() {
    let mut h = Harness::start().await;
    let relay = Relay::start(h.ws_api_url()).await;
    let (metrics, stop, task) = h.spawn_streamer(&h.config("t7", &relay.url(), ""));
    wait_reconciles(&h, &metrics, 1).await;
    h.wait_consistent(Duration::from_secs(5)).await;
    // A deposit of 5 USDT and a new asset, as the venue's books see it (no orders exist yet, so
    // replacing the account loses nothing)...
    let deposit = [("USDT", "1000005"), ("BTC", "5"), ("ETH", "200"), ("BNB", "0.5")];
    let balances: Vec<_> = deposit.iter().map(|(a, v)| (storm_core::Asset::new(a), d(v))).collect();
    let (key, secret) = (h.key.clone(), h.secret.clone());
    h.sim.exchange().add_account(&key, &secret, &balances);
    assert!(h.check().await.is_err(), "redis does not know yet");
    // ...announced by a balanceUpdate that carries only the delta.
    let now = storm_core::time::now_millis();
    relay.inject_text(&format!(
        r#"{{"subscriptionId":0,"event":{{"e":"balanceUpdate","E":{now},"a":"USDT","d":"5.00000000","T":{now}}}}}"#
    ));
    h.wait_consistent(Duration::from_secs(5)).await;
    assert_eq!(h.redis_balances().await["USDT"].free.0, d("1000005"));
    assert_eq!(h.counter(&metrics, "storm_streamer_reconciles_total"), 2);
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
}
