//! The booksync test pipeline: an in-process `storm-sim` whose market clock can be paused, a real
//! redis-server, the real ingester and booksync engines, all over real sockets.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use storm_booksync::BooksyncConfig;
use storm_bus::book;
use storm_core::{BookStatus, Level, Symbol};
use storm_ingester::IngesterConfig;
use storm_service::{Config, Metrics};
use storm_sim::config::WsLimits;
use storm_sim::server::{self, SimState};
use storm_sim::{Exchange, ModelConfig};
use storm_testkit::RedisServer;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub struct Pipeline {
    pub redis_server: RedisServer,
    pub sim: Arc<SimState>,
    pub addr: String,
    server_stop: CancellationToken,
    clock_stop: Option<CancellationToken>,
    ingester_stop: CancellationToken,
    ingester: JoinHandle<Result<(), storm_ingester::EngineError>>,
    pub booksync_stop: CancellationToken,
    pub booksync: Option<JoinHandle<Result<(), storm_booksync::EngineError>>>,
    pub metrics: Metrics,
    pub redis: redis::aio::MultiplexedConnection,
    pub file: String,
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.ingester_stop.cancel();
        self.booksync_stop.cancel();
        if let Some(c) = &self.clock_stop {
            c.cancel();
        }
        self.server_stop.cancel();
    }
}

/// Sim settings for [`start`].
pub struct SimSetup {
    pub model: ModelConfig,
    pub weight_limit: u64,
    pub updates_per_10ms: usize,
    /// A neighbour on the same IP spends nearly all the sim's weight before booksync starts.
    pub noisy_neighbour: bool,
    /// Run booksync in-process (else the test starts it, e.g. as a process).
    pub booksync_in_process: bool,
}

impl Default for SimSetup {
    fn default() -> Self {
        Self {
            model: ModelConfig::default(),
            weight_limit: 6000,
            updates_per_10ms: 5,
            noisy_neighbour: false,
            booksync_in_process: true,
        }
    }
}

/// Spends the sim's weight with light requests (weight 5) until less than 10 is left, without
/// ever crossing the limit (crossing it would be this neighbour's own 429, and the IP's next
/// request a ban that no storm process could have known about); returns the weight used.
async fn spend_weight(addr: &str, limit: u64) -> u64 {
    let client = reqwest::Client::new();
    loop {
        let url = format!("http://{addr}/api/v3/depth?symbol=BTCUSDT&limit=100");
        let reply = client.get(url).send().await.unwrap();
        assert_eq!(reply.status().as_u16(), 200);
        let used: u64 = reply.headers()["x-mbx-used-weight-1m"].to_str().unwrap().parse().unwrap();
        if used + 10 > limit {
            return used;
        }
    }
}

/// Starts everything and subscribes `symbols`' depth through `storm:subs:sim`.
pub async fn start(symbols: &[&str], setup: SimSetup, booksync_extra: &str) -> Pipeline {
    let ex = Exchange::new(&setup.model, 11, storm_core::time::now_millis());
    let sim = SimState::new(ex, setup.weight_limit, WsLimits::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server_stop = CancellationToken::new();
    tokio::spawn(server::serve(listener, sim.clone(), server_stop.clone()));
    let clock_stop = CancellationToken::new();
    tokio::spawn(server::market_clock(
        sim.clone(),
        Duration::from_millis(10),
        setup.updates_per_10ms,
        clock_stop.clone(),
    ));

    if setup.noisy_neighbour {
        spend_weight(&addr, setup.weight_limit).await;
    }
    let redis_server = RedisServer::start().unwrap();
    let file = format!(
        r#"
        redis_url = "{redis}"
        instance = "test"
        heartbeat_ms = 500
        log_level = "warn"
        [[venue]]
        name = "sim"
        kind = "binance"
        rest_url = "http://{addr}"
        ws_url = "ws://{addr}"
        [ingester]
        venue = "sim"
        subs_poll_ms = 200
        ping_interval_ms = 2000
        silence_timeout_ms = 5000
        [booksync]
        venue = "sim"
        {booksync_extra}
        "#,
        redis = redis_server.url(),
    );
    let table: toml::Table = file.parse().unwrap();
    let icfg = Config::<IngesterConfig>::from_parts(table, &BTreeMap::new(), &[]).unwrap();
    let ingester_stop = CancellationToken::new();
    let ingester = tokio::spawn(storm_ingester::run(icfg, ingester_stop.clone()));
    let mut redis = redis::Client::open(redis_server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let members: Vec<String> = symbols.iter().map(|s| format!("depth:{s}")).collect();
    let _: () = redis.sadd("storm:subs:sim", &members).await.unwrap();

    let mut p = Pipeline {
        redis_server,
        sim,
        addr,
        server_stop,
        clock_stop: Some(clock_stop),
        ingester_stop,
        ingester,
        booksync_stop: CancellationToken::new(),
        booksync: None,
        metrics: Metrics::new(),
        redis,
        file,
    };
    if setup.booksync_in_process {
        p.start_booksync();
    }
    p
}

impl Pipeline {
    pub fn start_booksync(&mut self) {
        let table: toml::Table = self.file.parse().unwrap();
        let cfg = Config::<BooksyncConfig>::from_parts(table, &BTreeMap::new(), &[]).unwrap();
        self.booksync_stop = CancellationToken::new();
        self.booksync =
            Some(tokio::spawn(storm_booksync::run_with_metrics(cfg, self.metrics.clone(), self.booksync_stop.clone())));
    }

    /// Stops booksync (SIGTERM-like) and checks it returned cleanly within `within`.
    pub async fn stop_booksync(&mut self, within: Duration) {
        self.booksync_stop.cancel();
        let task = self.booksync.take().expect("booksync running");
        let stopped = tokio::time::timeout(within, task).await;
        assert!(matches!(stopped, Ok(Ok(Ok(())))), "booksync stops cleanly within {within:?}: {stopped:?}");
    }

    /// Stops the sim's market: no more diffs.
    pub fn pause_market(&mut self) {
        if let Some(c) = self.clock_stop.take() {
            c.cancel();
        }
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.metrics.counter(name, "", &[("venue", "sim")]).get()
    }

    pub fn resyncs(&self, reason: &str) -> u64 {
        self.metrics.counter("storm_booksync_resyncs_total", "", &[("venue", "sim"), ("reason", reason)]).get()
    }

    pub async fn fault(&self, body: serde_json::Value) {
        let url = format!("http://{}/_sim/fault", self.addr);
        let r = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 204);
    }

    /// The book hash, parsed (None while absent).
    pub async fn book(&mut self, symbol: &str) -> Option<book::BookHash> {
        let hash: HashMap<String, String> = self.redis.hgetall(format!("storm:book:sim:{symbol}")).await.unwrap();
        if hash.is_empty() {
            return None;
        }
        Some(book::parse(&Symbol::new(symbol), &hash).unwrap_or_else(|e| panic!("{symbol}: {e} in {hash:?}")))
    }

    /// Waits until every symbol's hash has `status`.
    pub async fn wait_status(&mut self, symbols: &[&str], status: BookStatus, patience: Duration) {
        let deadline = Instant::now() + patience;
        loop {
            let mut all = true;
            for s in symbols {
                if self.book(s).await.map(|b| b.top.status) != Some(status) {
                    all = false;
                }
            }
            if all {
                return;
            }
            assert!(Instant::now() < deadline, "not all of {symbols:?} {status} within {patience:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The sim's own book, top `n` per side, with its update id.
    pub fn sim_book(&self, symbol: &str, n: usize) -> (u64, Vec<Level>, Vec<Level>) {
        self.sim.exchange().depth(&Symbol::new(symbol), n).expect("symbol listed by the sim")
    }

    /// With the market paused: waits until booksync has caught up with the sim and checks the
    /// hash's top 20 equals the sim's book exactly.
    pub async fn assert_equals_sim(&mut self, symbol: &str) {
        let (id, bids, asks) = self.sim_book(symbol, 20);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let hash = self.book(symbol).await.expect("hash");
            if hash.top.status == BookStatus::Live && hash.top.update_id == id {
                assert_eq!(hash.top.bids, bids, "{symbol} bids at {id}");
                assert_eq!(hash.top.asks, asks, "{symbol} asks at {id}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{symbol}: hash at {} {}, sim at {id}",
                hash.top.update_id,
                hash.top.status
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
