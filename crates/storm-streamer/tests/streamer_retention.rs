//! Bounded state: closed orders past `streamer.closed_order_retention_ms` leave
//! `storm:order:<venue>:<acct>:<SYM>` (at start and periodically), open and recent ones stay, the
//! start-up reads the hashes in bounded pages (HSCAN, never HGETALL), and the account is still
//! reconciled exactly with the sim.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use redis::AsyncCommands;
use rust_decimal::Decimal;
use storm_bus::account::{encode_order, OrderState, OrderStatus, Source};
use storm_core::{Price, Qty, Side, Symbol};
use storm_venues::trading::TimeInForce;
use tokio::time::Instant;

const DAY_MS: u64 = 86_400_000;

/// A closed order that never reached the sim, last changed at `update_ms`.
fn closed(symbol: &str, order_id: u64, update_ms: u64) -> OrderState {
    OrderState {
        symbol: Symbol::new(symbol),
        order_id,
        client_order_id: format!("old-{order_id}"),
        side: Side::Buy,
        order_type: "LIMIT".into(),
        time_in_force: "GTC".into(),
        price: Price(Decimal::from(100)),
        orig_qty: Qty(Decimal::ONE),
        status: if order_id % 2 == 0 { OrderStatus::Canceled } else { OrderStatus::Expired },
        executed_qty: Qty(Decimal::ZERO),
        cumulative_quote_qty: Qty(Decimal::ZERO),
        avg_price: None,
        created_ms: update_ms,
        update_ms,
        last_trade_id: None,
        source: Source::Rest,
    }
}

fn order_key(h: &Harness, symbol: &str) -> String {
    format!("storm:order:{VENUE}:{}:{symbol}", h.acct)
}

/// Writes `orders` into their hash in pipelined chunks.
async fn seed(h: &mut Harness, symbol: &str, orders: impl Iterator<Item = OrderState>) {
    let key = order_key(h, symbol);
    let all: Vec<(String, String)> = orders.map(|o| (o.field(), encode_order(&o).unwrap())).collect();
    for chunk in all.chunks(5_000) {
        let _: () = h.redis.hset_multiple(&key, chunk).await.unwrap();
    }
}

async fn hlen(h: &mut Harness, symbol: &str) -> usize {
    let key = order_key(h, symbol);
    h.redis.hlen(&key).await.unwrap()
}

/// Redis' count of calls of `command` since the last `CONFIG RESETSTAT`.
async fn calls(h: &mut Harness, command: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(&mut h.redis).await.unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

/// 50,000 closed orders ten days old sit in the BTCUSDT hash beside the account's real orders
/// (one partly filled and open, one resting), and a few closed an hour ago. With the default
/// retention (3 days) the streamer's start removes the old ones, keeps the recent ones, reads the
/// hashes with HSCAN only, and reconciles the real orders, fills and balances exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_closed_orders_are_pruned_at_start_with_bounded_reads_and_open_ones_reconcile() {
    let mut h = Harness::start().await;
    let (_, asks) = h.depth("BTCUSDT", 1);
    let (p, synthetic) = (asks[0].price.0, asks[0].qty.0);
    let partly = h.place(&h.me, "BTCUSDT", Side::Sell, TimeInForce::Gtc, d("0.02"), p).await;
    h.place(&h.taker, "BTCUSDT", Side::Buy, TimeInForce::Ioc, synthetic + d("0.01"), p).await;
    let btc = h.instrument("BTCUSDT");
    let (bids, _) = h.depth("BTCUSDT", 1);
    let low = btc.floor_price(Price(bids[0].price.0 * d("0.9"))).0;
    let resting = h.place(&h.me, "BTCUSDT", Side::Buy, TimeInForce::Gtc, d("0.01"), low).await;

    let now = storm_core::time::now_millis();
    seed(&mut h, "BTCUSDT", (0..50_000).map(|i| closed("BTCUSDT", 90_000_000 + i, now - 10 * DAY_MS))).await;
    let recent: Vec<u64> = (0..5).map(|i| 95_000_000 + i).collect();
    seed(&mut h, "BTCUSDT", recent.iter().map(|&id| closed("BTCUSDT", id, now - 3_600_000))).await;
    assert_eq!(hlen(&mut h, "BTCUSDT").await, 50_005);
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query_async(&mut h.redis).await.unwrap();

    let (_metrics, stop, task) = h.spawn_streamer(&h.config("ret1", &h.ws_api_url(), ""));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = hlen(&mut h, "BTCUSDT").await;
        if left == 2 + recent.len() {
            break;
        }
        assert!(Instant::now() < deadline, "old closed orders never pruned: {left} fields left of 50,007");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(calls(&mut h, "hgetall").await, 0, "the start must not HGETALL an unbounded hash");
    assert!(calls(&mut h, "hscan").await > 0, "the hashes are read in pages");
    let key = order_key(&h, "BTCUSDT");
    for id in &recent {
        assert!(h.redis.hexists::<_, _, bool>(&key, id.to_string()).await.unwrap(), "recent order {id} kept");
    }
    // The rest of the account is exact (the recent orders are not the sim's: remove them first).
    let _: () = h.redis.hdel(&key, &recent).await.unwrap();
    h.wait_consistent(Duration::from_secs(20)).await;
    let orders = h.redis_orders().await;
    assert_eq!(orders[&partly.order_id].status, OrderStatus::PartiallyFilled);
    assert_eq!(orders[&resting.order_id].status, OrderStatus::New);
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
}

/// With a short retention the running streamer removes an order some time after it closed,
/// keeps the open one, and keeps the closed order holding the symbol's newest trade (the mark
/// from which the next reconcile reads `/myTrades`), so a fill made while the stream is down
/// is still recorded exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_orders_leave_after_the_retention_but_the_trade_mark_stays() {
    let mut h = Harness::start().await;
    let extra = "closed_order_retention_ms = 3000\nprune_interval_ms = 200";
    let (_metrics, stop, task) = h.spawn_streamer(&h.config("ret2", &h.ws_api_url(), extra));
    h.wait_consistent(Duration::from_secs(10)).await;

    let (_, asks) = h.depth("BTCUSDT", 1);
    let (p, synthetic) = (asks[0].price.0, asks[0].qty.0);
    let filled = h.place(&h.me, "BTCUSDT", Side::Sell, TimeInForce::Gtc, d("0.01"), p).await;
    h.place(&h.taker, "BTCUSDT", Side::Buy, TimeInForce::Ioc, synthetic + d("0.01"), p).await;
    let btc = h.instrument("BTCUSDT");
    let (bids, _) = h.depth("BTCUSDT", 1);
    let low = btc.floor_price(Price(bids[0].price.0 * d("0.9"))).0;
    let canceled = h.place(&h.me, "BTCUSDT", Side::Buy, TimeInForce::Gtc, d("0.01"), low).await;
    h.cancel("BTCUSDT", canceled.order_id);
    let open = h.place(&h.me, "BTCUSDT", Side::Buy, TimeInForce::Gtc, d("0.01"), low).await;
    h.wait_consistent(Duration::from_secs(10)).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let orders = h.redis_orders().await;
        if !orders.contains_key(&canceled.order_id) {
            assert!(orders.contains_key(&open.order_id), "the open order stays");
            assert!(orders.contains_key(&filled.order_id), "the holder of the newest trade id stays");
            break;
        }
        assert!(Instant::now() < deadline, "the canceled order was never pruned");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();

    // A fill while the streamer is down is found from the kept mark, once.
    let fills_before = h.fills().await.len();
    let (_, asks) = h.depth("BTCUSDT", 1);
    let (p, synthetic) = (asks[0].price.0, asks[0].qty.0);
    let later = h.place(&h.me, "BTCUSDT", Side::Sell, TimeInForce::Gtc, d("0.01"), p).await;
    h.place(&h.taker, "BTCUSDT", Side::Buy, TimeInForce::Ioc, synthetic + d("0.01"), p).await;
    let (_metrics, stop, task) = h.spawn_streamer(&h.config("ret2b", &h.ws_api_url(), extra));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let fills = h.fills().await;
        if fills.iter().any(|f| f.order_id == later.order_id) {
            assert_eq!(fills.len(), fills_before + 1, "only the new fill is appended: {fills:?}");
            break;
        }
        assert!(Instant::now() < deadline, "the fill made while down never reached redis");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
}
