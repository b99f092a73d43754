//! Startup time for many books under the venue's REST weight limit: storm-sim with 500 symbols
//! and Binance's limit (6000 weight per minute per IP, depth 1000 = weight 50), the ingester
//! (in-process) and the release booksync binary, all 500 depth streams wanted at once. Reported: seconds from
//! booksync's start until every book is live, next to the bound the limits allow (the weight
//! needed over the weight per minute — at 100 % of the limit and at booksync's 80 % share), and
//! the number of 429s (must be 0).
//!
//! Run: `cargo bench -p storm-booksync --bench startup` (env `STORM_BENCH_SYMBOLS`, default 500;
//! `STORM_BENCH_DEPTH`, snapshot depth, default 1000). Takes about five minutes at the defaults.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use storm_sim::config::SimConfig;
use storm_sim::server::{self, SimState};
use storm_sim::Exchange;
use storm_testkit::process::{free_port, metric, EngineProcess};
use storm_testkit::RedisServer;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() {
    let wanted: usize = std::env::var("STORM_BENCH_SYMBOLS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let depth: u32 = std::env::var("STORM_BENCH_DEPTH").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let model = storm_sim::app::model(&SimConfig { extra_assets: 157, ..Default::default() });
    let symbols: Vec<String> = model.pairs.iter().map(|(b, q)| format!("{b}{q}")).take(wanted).collect();
    let limit = 6000u64;
    let state = SimState::new(Exchange::new(&model, 7, storm_core::time::now_millis()), limit, Default::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_addr = listener.local_addr().unwrap().to_string();
    let stop = CancellationToken::new();
    tokio::spawn(server::serve(listener, state.clone(), stop.clone()));
    tokio::spawn(server::market_clock(state, Duration::from_millis(10), 20, stop.clone()));

    let redis_server = RedisServer::start().unwrap();
    let mut redis = redis::Client::open(redis_server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let members: Vec<String> = symbols.iter().map(|s| format!("depth:{s}")).collect();
    let _: () = redis.sadd("storm:subs:sim", &members).await.unwrap();

    let metrics_port = free_port().unwrap();
    let config = format!(
        "redis_url = \"{}\"\nlog_level = \"warn\"\n\
         [[venue]]\nname = \"sim\"\nkind = \"binance\"\nrest_url = \"http://{sim_addr}\"\nws_url = \"ws://{sim_addr}\"\n\
         [ingester]\nvenue = \"sim\"\nsubs_poll_ms = 200\n\
         [booksync]\nvenue = \"sim\"\nsnapshot_depth = {depth}\n",
        redis_server.url()
    );
    // The ingester in-process (its binary is not built by this package's bench).
    let table: toml::Table = config.parse().unwrap();
    let icfg = storm_service::Config::<storm_ingester::IngesterConfig>::from_parts(
        table,
        &std::collections::BTreeMap::new(),
        &[],
    )
    .unwrap();
    tokio::spawn(storm_ingester::run(icfg, stop.clone()));
    tokio::time::sleep(Duration::from_secs(3)).await; // every stream subscribed and flowing
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let t0 = Instant::now();
    let _booksync =
        EngineProcess::start(env!("CARGO_BIN_EXE_storm-booksync"), &config, &["--metrics-addr", &metrics_addr])
            .expect("start storm-booksync");
    let url = format!("http://{metrics_addr}/metrics");
    let mut last_report = Instant::now();
    let body = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(reply) = reqwest::get(&url).await else { continue };
        let body = reply.text().await.unwrap_or_default();
        let snapshots = metric(&body, "storm_booksync_snapshots_total") as usize;
        if last_report.elapsed() > Duration::from_secs(30) {
            eprintln!("startup: {:.0} s, {snapshots}/{} snapshots", t0.elapsed().as_secs_f64(), symbols.len());
            last_report = Instant::now();
        }
        let live = metric(&body, "storm_booksync_books{venue=\"sim\",status=\"live\"}") as usize;
        if live >= symbols.len() {
            break body;
        }
        assert!(t0.elapsed() < Duration::from_secs(900), "not all books live in 15 minutes");
    };
    let secs = t0.elapsed().as_secs_f64();
    let weight = symbols.len() as f64 * f64::from(storm_venues::binance::rest_wire::depth_weight(depth)) + 20.0;
    println!(
        "startup: symbols={} depth={depth} weight_needed={weight:.0} limit_per_min={limit} seconds_to_all_live={secs:.1} \
         bound_at_100pct={:.1}s bound_at_80pct={:.1}s rest_429={} rest_418={}",
        symbols.len(),
        weight / limit as f64 * 60.0,
        weight / (limit as f64 * 0.8) * 60.0,
        metric(&body, "storm_booksync_rest_429_total"),
        metric(&body, "storm_booksync_rest_418_total"),
    );
    stop.cancel();
}
