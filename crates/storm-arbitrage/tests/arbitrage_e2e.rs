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
use storm_core::{Side, Symbol};
use storm_ingester::IngesterConfig;
use storm_service::{Config, Metrics};
use storm_sim::config::WsLimits;
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
async fn start(symbols: &[&str], arbitrage_extra: &str) -> Stack {
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

fn misprice_ethbtc(stack: &Stack) {
    let until = storm_core::time::now_millis() + 120_000;
    assert!(stack.sim.exchange().misprice(&Symbol::new("ETHBTC"), Decimal::new(-8, 3), until));
}

/// ETHBTC pushed 0.8 % below its cross rate makes USDT → BTC → ETH → USDT pay after three 0.1 %
/// fees; the finder publishes exactly that cycle: buy BTCUSDT, buy ETHBTC, sell ETHUSDT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mispriced_triangle_reaches_storm_opps_with_matching_legs() {
    let stack = start(&["BTCUSDT", "ETHUSDT", "ETHBTC"], "").await;
    let mut redis =
        redis::Client::open(stack.redis_server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    for s in ["BTCUSDT", "ETHUSDT", "ETHBTC"] {
        loop {
            let status: Option<String> = redis.hget(format!("storm:book:sim:{s}"), "status").await.unwrap();
            if status.as_deref() == Some("live") {
                break;
            }
            assert!(Instant::now() < deadline, "{s} never live");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    misprice_ethbtc(&stack);
    let o = wait_opportunity(&stack, "USDT>BTC>ETH>USDT", Duration::from_secs(30)).await;
    let legs: Vec<(&str, Side)> = o.legs.iter().map(|l| (l.symbol.as_str(), l.side)).collect();
    assert_eq!(legs, [("BTCUSDT", Side::Buy), ("ETHBTC", Side::Buy), ("ETHUSDT", Side::Sell)]);
    assert!(o.profit_bps >= Decimal::new(5, 0) && o.profit > Decimal::ZERO, "{o:?}");
    assert!(o.size > Decimal::ZERO && o.size <= Decimal::new(1000, 0), "capped by max_start: {o:?}");
    assert!(o.expires_ms > o.created_ms);
    assert_eq!(o.asset.as_str(), "USDT");
    let emitted = stack.metrics.counter("storm_arbitrage_opportunities_total", "", &[("venue", "sim")]).get();
    assert!(emitted >= 1);
}

/// Scout mode with nothing subscribed: the scout reads every book ticker by REST, finds the
/// mispriced cycle near-profitable, subscribes its three books; the ingester and booksync follow
/// and the finder publishes the opportunity from the real depth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scout_subscribes_a_near_profitable_cycle_on_demand() {
    let extra = "[arbitrage.scout]\nenabled = true\ninterval_ms = 1000\nthreshold_bps = \"0\"\nmax_symbols = 3";
    let stack = start(&[], extra).await;
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
