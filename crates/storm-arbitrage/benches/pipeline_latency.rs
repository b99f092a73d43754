//! End-to-end latency, market event → opportunity: storm-sim at a steady event rate over its 500
//! symbols, the ingester (every depth stream), booksync and arbitrage, all in this process, with
//! a real redis-server on the same 2-core machine. ETHBTC is kept mispriced (−0.8 %) and the
//! finder's cooldown is 0, so every change of the three books of `USDT>BTC>ETH>USDT` yields a
//! new opportunity. Latency = the moment this bench reads the entry from `storm:opps` (blocking
//! XREAD) minus the ingester's receive time of the diff that triggered it (`time_trigger_us`,
//! µs; on loopback within ~0.1 ms of the frame leaving the sim). Reported: p50/p90/p99/max.
//!
//! Run: `cargo bench -p storm-arbitrage --bench pipeline_latency` (env `STORM_BENCH_EPS`, sim
//! events per second, default 10000; `STORM_BENCH_SECS`, default 20).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use redis::AsyncCommands;
use rust_decimal::Decimal;
use storm_arbitrage::ArbitrageConfig;
use storm_booksync::BooksyncConfig;
use storm_bus::{opps, Bus, BusConfig, StartAt, StreamReader};
use storm_core::time::{now_micros, now_millis};
use storm_core::Symbol;
use storm_ingester::IngesterConfig;
use storm_service::Config;
use storm_sim::config::SimConfig;
use storm_sim::server::{self, SimState};
use storm_sim::Exchange;
use storm_testkit::RedisServer;
use tokio_util::sync::CancellationToken;

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let eps: usize = std::env::var("STORM_BENCH_EPS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let secs: u64 = std::env::var("STORM_BENCH_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let model = storm_sim::app::model(&SimConfig { extra_assets: 157, ..Default::default() });
    let symbols: Vec<String> = model.pairs.iter().map(|(b, q)| format!("{b}{q}")).collect();
    let sim = SimState::new(Exchange::new(&model, 7, now_millis()), 1_000_000, Default::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stop = CancellationToken::new();
    tokio::spawn(server::serve(listener, sim.clone(), stop.clone()));
    tokio::spawn(server::market_clock(sim.clone(), Duration::from_millis(10), (eps / 100).max(1), stop.clone()));

    let redis_server = RedisServer::start().unwrap();
    let file = format!(
        r#"
        redis_url = "{redis}"
        log_level = "warn"
        [[venue]]
        name = "sim"
        kind = "binance"
        rest_url = "http://{addr}"
        ws_url = "ws://{addr}"
        [ingester]
        venue = "sim"
        subs_poll_ms = 200
        [booksync]
        venue = "sim"
        [arbitrage]
        venue = "sim"
        start_assets = ["USDT"]
        cooldown_ms = 0
        "#,
        redis = redis_server.url(),
    );
    let table: toml::Table = file.parse().unwrap();
    let none = BTreeMap::new();
    let mut redis = redis::Client::open(redis_server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let members: Vec<String> = symbols.iter().map(|s| format!("depth:{s}")).collect();
    let _: () = redis.sadd("storm:subs:sim", &members).await.unwrap();
    tokio::spawn(storm_ingester::run(
        Config::<IngesterConfig>::from_parts(table.clone(), &none, &[]).unwrap(),
        stop.clone(),
    ));
    tokio::spawn(storm_booksync::run(
        Config::<BooksyncConfig>::from_parts(table.clone(), &none, &[]).unwrap(),
        stop.clone(),
    ));
    tokio::spawn(storm_arbitrage::run(Config::<ArbitrageConfig>::from_parts(table, &none, &[]).unwrap(), stop.clone()));

    // Every book live (500 snapshots within the sim's generous limit), then the mispricing.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let mut live = 0;
        for s in ["BTCUSDT", "ETHUSDT", "ETHBTC"] {
            let status: Option<String> = redis.hget(format!("storm:book:sim:{s}"), "status").await.unwrap();
            live += usize::from(status.as_deref() == Some("live"));
        }
        if live == 3 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "books not live");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await; // the other books settle
    assert!(sim.exchange().misprice(&Symbol::new("ETHBTC"), Decimal::new(-8, 3), now_millis() + 3_600_000));

    let bus = Bus::connect(BusConfig::new(redis_server.url()), CancellationToken::new()).await.unwrap();
    let mut reader =
        StreamReader::new(&bus, &[(bus.keys().opps(), StartAt::End)], 1_000, Duration::from_millis(100)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await; // the mispricing reaches the books
    let _ = reader.next_batch().await.unwrap();
    let t0 = std::time::Instant::now();
    let mut lat = Vec::new();
    while t0.elapsed() < Duration::from_secs(secs) {
        for e in reader.next_batch().await.unwrap() {
            let now = now_micros();
            let o = opps::decode(&e).unwrap();
            lat.push(now.saturating_sub(o.time_trigger_us));
        }
    }
    stop.cancel();
    assert!(!lat.is_empty(), "no opportunity in {secs} s");
    lat.sort_unstable();
    println!(
        "pipeline_latency: sim_eps={eps} symbols={} opportunities={} p50_us={} p90_us={} p99_us={} max_us={} secs={secs}",
        symbols.len(),
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99),
        lat[lat.len() - 1],
    );
}
