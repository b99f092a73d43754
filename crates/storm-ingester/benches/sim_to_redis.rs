//! Sustained throughput of the `storm-ingester` binary, sim → ingester → Redis, on one machine:
//! an in-process storm-sim with 500 symbols, 1,500 streams wanted (depth, ticker and trade of
//! every symbol), a throwaway redis-server, and the release ingester binary. Frames per second come
//! from the ingester's own `/metrics` (`storm_ingester_written_total`), CPU from /proc.
//!
//! Run: `cargo bench -p storm-ingester --bench sim_to_redis` (env `STORM_BENCH_EPS`, symbol
//! updates per second in the sim, default 20000; `STORM_BENCH_SECS`, default 10).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use redis::AsyncCommands;
use storm_sim::config::SimConfig;
use storm_sim::server::{self, SimState};
use storm_sim::Exchange;
use storm_testkit::process::{cpu_ticks, free_port, metric, EngineProcess, TICKS_PER_SECOND};
use storm_testkit::RedisServer;
use tokio_util::sync::CancellationToken;

async fn written(metrics_url: &str) -> u64 {
    let body = reqwest::get(metrics_url).await.unwrap().text().await.unwrap();
    metric(&body, "storm_ingester_written_total") as u64
}

#[tokio::main]
async fn main() {
    let eps: usize = std::env::var("STORM_BENCH_EPS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let secs: u64 = std::env::var("STORM_BENCH_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let redis_server = RedisServer::start().unwrap();

    let model = storm_sim::app::model(&SimConfig { extra_assets: 157, ..Default::default() });
    let symbols: Vec<String> = model.pairs.iter().map(|(b, q)| format!("{b}{q}")).collect();
    let state = SimState::new(Exchange::new(&model, 7, storm_core::time::now_millis()), 6000, Default::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_addr = listener.local_addr().unwrap().to_string();
    let stop = CancellationToken::new();
    tokio::spawn(server::serve(listener, state.clone(), stop.clone()));
    tokio::spawn(server::market_clock(state, Duration::from_millis(10), (eps / 100).max(1), stop.clone()));

    let mut redis = redis::Client::open(redis_server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let members: Vec<String> =
        symbols.iter().flat_map(|s| [format!("depth:{s}"), format!("ticker:{s}"), format!("trade:{s}")]).collect();
    let _: () = redis.sadd("storm:subs:sim", &members).await.unwrap();

    let metrics_port = free_port().unwrap();
    let config = format!(
        "redis_url = \"{}\"\nlog_level = \"warn\"\nmetrics_addr = \"127.0.0.1:{metrics_port}\"\n\
         [[venue]]\nname = \"sim\"\nkind = \"binance\"\nrest_url = \"http://{sim_addr}\"\nws_url = \"ws://{sim_addr}\"\n\
         [ingester]\nvenue = \"sim\"\nsubs_poll_ms = 200\n",
        redis_server.url()
    );
    let ingester =
        EngineProcess::start(env!("CARGO_BIN_EXE_storm-ingester"), &config, &[]).expect("start storm-ingester");
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");

    tokio::time::sleep(Duration::from_secs(5)).await; // connect, subscribe 1,500 streams, warm up
    let (w0, i0, r0) = (written(&metrics_url).await, cpu_ticks(ingester.pid()), cpu_ticks(redis_server.pid().unwrap()));
    let t0 = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let (w1, i1, r1) = (written(&metrics_url).await, cpu_ticks(ingester.pid()), cpu_ticks(redis_server.pid().unwrap()));
    let body = reqwest::get(&metrics_url).await.unwrap().text().await.unwrap();
    let dropped = body.lines().find(|l| l.starts_with("storm_ingester_dropped_total")).unwrap_or("").to_owned();
    let reconnects = body.lines().find(|l| l.starts_with("storm_ingester_reconnects_total")).unwrap_or("").to_owned();
    drop(ingester);
    stop.cancel();
    println!(
        "sim_to_redis: symbols={} streams={} sim_eps={eps} frames_per_s={:.0} ingester_cpu_cores={:.2} redis_cpu_cores={:.2} [{dropped}] [{reconnects}] secs={elapsed:.1}",
        symbols.len(),
        members.len(),
        (w1 - w0) as f64 / elapsed,
        (i1 - i0) as f64 / TICKS_PER_SECOND / elapsed,
        (r1 - r0) as f64 / TICKS_PER_SECOND / elapsed,
    );
}
