//! The whole market-data pipeline to an opportunity: storm-sim (with an injected mispricing) →
//! ingester → booksync → arbitrage, over real sockets and a real redis-server.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use redis::AsyncCommands;
use rust_decimal::Decimal;
use storm_arbitrage::ArbitrageConfig;
use storm_booksync::BooksyncConfig;
use storm_bus::{opps, Bus, BusConfig, StartAt, StreamReader};
use storm_core::arb::Opportunity;
use storm_core::{BookStatus, Side, Symbol};
use storm_ingester::IngesterConfig;
use storm_service::{Config, Metrics};
use storm_sim::config::WsLimits;
use storm_sim::faults::FaultRequest;
use storm_sim::server::{self, SimState};
use storm_sim::{Exchange, ModelConfig};
use storm_testkit::RedisServer;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

struct Stack {
    redis_server: RedisServer,
    sim: std::sync::Arc<SimState>,
    stop: CancellationToken,
    metrics: Metrics,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Sim, ingester, booksync and arbitrage; `scout` turns the scout on and subscribes nothing.
async fn start(symbols: &[&str], booksync_extra: &str, arbitrage_extra: &str) -> Stack {
    // The market clock alone (no mispricing schedule): the test injects the one it checks.
    let ex = Exchange::new(&ModelConfig::default(), 11, storm_core::time::now_millis());
    let sim = SimState::new(ex, 6000, WsLimits::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stop = CancellationToken::new();
    tokio::spawn(server::serve(listener, sim.clone(), stop.clone()));
    tokio::spawn(server::market_clock(sim.clone(), Duration::from_millis(10), 5, stop.clone()));
    let redis_server = RedisServer::start().unwrap();
    let subs: Vec<String> = symbols.iter().map(|s| format!("\"depth:{s}\"")).collect();
    let file = format!(
        r#"
        redis_url = "{redis}"
        instance = "e2e"
        [[venue]]
        name = "sim"
        kind = "binance"
        rest_url = "http://{addr}"
        ws_url = "ws://{addr}"
        [ingester]
        venue = "sim"
        subs_poll_ms = 200
        subscriptions = [{subs}]
        [booksync]
        venue = "sim"
        {booksync_extra}
        [arbitrage]
        venue = "sim"
        start_assets = ["USDT"]
        min_profit_bps = "5"
        {arbitrage_extra}
        "#,
        redis = redis_server.url(),
        subs = subs.join(","),
    );
    let table: toml::Table = file.parse().unwrap();
    let none = BTreeMap::new();
    let metrics = Metrics::new();
    tokio::spawn(storm_ingester::run(
        Config::<IngesterConfig>::from_parts(table.clone(), &none, &[]).unwrap(),
        stop.clone(),
    ));
    tokio::spawn(storm_booksync::run(
        Config::<BooksyncConfig>::from_parts(table.clone(), &none, &[]).unwrap(),
        stop.clone(),
    ));
    tokio::spawn(storm_arbitrage::run_with_metrics(
        Config::<ArbitrageConfig>::from_parts(table, &none, &[]).unwrap(),
        metrics.clone(),
        stop.clone(),
    ));
    Stack { redis_server, sim, stop, metrics }
}

/// Reads `storm:opps` until an opportunity on `path` appears (or `patience` runs out).
async fn wait_opportunity(stack: &Stack, path: &str, patience: Duration) -> Opportunity {
    let bus = Bus::connect(BusConfig::new(stack.redis_server.url()), CancellationToken::new()).await.unwrap();
    let mut reader =
        StreamReader::new(&bus, &[(bus.keys().opps(), StartAt::Beginning)], 100, Duration::from_millis(100))
            .await
            .unwrap();
    let deadline = Instant::now() + patience;
    loop {
        for e in reader.next_batch().await.unwrap() {
            let o = opps::decode(&e).unwrap();
            if o.path == path {
                return o;
            }
        }
        assert!(Instant::now() < deadline, "no opportunity on {path} within {patience:?}");
    }
}

const CYCLE: [&str; 3] = ["BTCUSDT", "ETHUSDT", "ETHBTC"];

/// Waits until the three books of [`CYCLE`] have `status` in their hashes.
async fn wait_status(stack: &Stack, status: &str, patience: Duration) {
    let mut redis =
        redis::Client::open(stack.redis_server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let deadline = Instant::now() + patience;
    for s in CYCLE {
        loop {
            let now: Option<String> = redis.hget(format!("storm:book:sim:{s}"), "status").await.unwrap();
            if now.as_deref() == Some(status) {
                break;
            }
            assert!(Instant::now() < deadline, "{s} not {status} within {patience:?}: {now:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn misprice_ethbtc(stack: &Stack) {
    let until = storm_core::time::now_millis() + 120_000;
    assert!(stack.sim.exchange().misprice(&Symbol::new("ETHBTC"), Decimal::new(-8, 3), until));
}

/// ETHBTC pushed 0.8 % below its cross rate makes USDT → BTC → ETH → USDT pay after three 0.1 %
/// fees; the finder publishes exactly that cycle: buy BTCUSDT, buy ETHBTC, sell ETHUSDT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mispriced_triangle_reaches_storm_opps_with_matching_legs() {
    let stack = start(&CYCLE, "", "").await;
    wait_status(&stack, "live", Duration::from_secs(20)).await;
    misprice_ethbtc(&stack);
    let o = wait_opportunity(&stack, "USDT>BTC>ETH>USDT", Duration::from_secs(30)).await;
    let legs: Vec<(&str, Side)> = o.legs.iter().map(|l| (l.symbol.as_str(), l.side)).collect();
    assert_eq!(legs, [("BTCUSDT", Side::Buy), ("ETHBTC", Side::Buy), ("ETHUSDT", Side::Sell)]);
    assert!(o.profit_bps >= Decimal::new(5, 0) && o.profit > Decimal::ZERO, "{o:?}");
    assert!(o.size > Decimal::ZERO && o.size <= Decimal::new(1000, 0), "capped by max_start: {o:?}");
    assert!(o.expires_ms > o.created_ms);
    assert_eq!(o.asset.as_str(), "USDT");
    // The counter is reported right after the entry is published: the test may read in between.
    let deadline = Instant::now() + Duration::from_secs(5);
    while stack.metrics.counter("storm_arbitrage_opportunities_total", "", &[("venue", "sim")]).get() < 1 {
        assert!(Instant::now() < deadline, "the emitted opportunity is counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Scout mode with nothing subscribed: the scout reads every book ticker by REST, finds the
/// mispriced cycle near-profitable, subscribes its three books; the ingester and booksync follow
/// and the finder publishes the opportunity from the real depth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scout_subscribes_a_near_profitable_cycle_on_demand() {
    let extra = "[arbitrage.scout]\nenabled = true\ninterval_ms = 1000\nthreshold_bps = \"0\"\nmax_symbols = 3";
    let stack = start(&[], "", extra).await;
    misprice_ethbtc(&stack);
    let mut redis =
        redis::Client::open(stack.redis_server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let members: Vec<String> = redis.smembers("storm:subs:sim").await.unwrap();
        if ["depth:BTCUSDT", "depth:ETHBTC", "depth:ETHUSDT"].iter().all(|m| members.contains(&m.to_string())) {
            assert_eq!(members.len(), 3, "only the hot cycle's books: {members:?}");
            break;
        }
        assert!(Instant::now() < deadline, "the scout never subscribed the mispriced cycle: {members:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let o = wait_opportunity(&stack, "USDT>BTC>ETH>USDT", Duration::from_secs(30)).await;
    assert_eq!(o.legs.len(), 3);
}

/// The venue stalls every connection (no frame, no pong) while ETHBTC is mispriced: within the
/// stale timeout (plus the ingester's liveness window) the three books are `stale`; their hashes
/// and tops entries keep the time they were last known to be the venue's, not the time of the
/// marking; and no opportunity is made while they are stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_connection_makes_its_books_stale_and_no_opportunity_uses_them() {
    let stack = start(&CYCLE, "stale_after_ms = 1000", "").await;
    wait_status(&stack, "live", Duration::from_secs(20)).await;
    misprice_ethbtc(&stack);
    wait_opportunity(&stack, "USDT>BTC>ETH>USDT", Duration::from_secs(30)).await;

    let stall = Duration::from_secs(12);
    let stalled_at = storm_core::time::now_millis();
    stack.sim.faults.apply(&FaultRequest::Stall { ms: stall.as_millis() as u64 });
    wait_status(&stack, "stale", Duration::from_secs(8)).await;
    let stale_at = storm_core::time::now_millis();
    // A stale book's time_local is when it was last known to be the venue's: at least the stale
    // timeout (1 s) before it was seen stale (200 ms of slack for the clocks), never the marking.
    let known_until = stale_at - 800;
    let mut redis =
        redis::Client::open(stack.redis_server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    for s in CYCLE {
        let local: u64 = redis.hget(format!("storm:book:sim:{s}"), "time_local").await.unwrap();
        assert!(local <= known_until, "{s}: stale at {stale_at} with time_local {local} (stall began at {stalled_at})");
    }
    let bus = Bus::connect(BusConfig::new(stack.redis_server.url()), CancellationToken::new()).await.unwrap();
    let mut tops =
        StreamReader::new(&bus, &[(bus.keys().tops("sim"), StartAt::Beginning)], 10_000, Duration::from_millis(100))
            .await
            .unwrap();
    let mut stale_entries = 0;
    loop {
        let batch = tops.next_batch().await.unwrap();
        if batch.is_empty() {
            break;
        }
        for top in batch.iter().map(|e| storm_bus::tops::decode(e).unwrap()) {
            if top.status == BookStatus::Stale {
                stale_entries += 1;
                assert!(top.time_local / 1_000 <= known_until, "{}: stale tops entry looks fresh: {top:?}", top.symbol);
            }
        }
    }
    assert!(stale_entries >= 3, "the finder was told: {stale_entries} stale tops entries");

    // While the stall lasts the books stay stale, and nothing is traded on them.
    let stall_ends = stalled_at + stall.as_millis() as u64 - 1_000;
    while storm_core::time::now_millis() < stall_ends {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_status(&stack, "stale", Duration::from_secs(1)).await;
    let mut opps =
        StreamReader::new(&bus, &[(bus.keys().opps(), StartAt::Beginning)], 1_000, Duration::from_millis(100))
            .await
            .unwrap();
    loop {
        let batch = opps.next_batch().await.unwrap();
        if batch.is_empty() {
            break;
        }
        for o in batch.iter().map(|e| opps::decode(e).unwrap()) {
            assert!(o.created_ms < stale_at, "an opportunity on stale books: {o:?}");
        }
    }
}
