//! The ingester test harness: an in-process `storm-sim` (Binance's strict limits: 5 client
//! messages per second, else disconnected), a real redis-server, and the engine under test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use storm_bus::{md, Bus, BusConfig, StartAt, StreamReader};
use storm_core::{Channel, MdEvent};
use storm_ingester::IngesterConfig;
use storm_service::{Config, Metrics};
use storm_sim::config::WsLimits;
use storm_sim::server::{self, SimState};
use storm_sim::{Exchange, ModelConfig};
use storm_testkit::RedisServer;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Longest wait for data that should flow within a second or two.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub struct Sim {
    pub addr: String,
    pub _state: Arc<SimState>,
    pub stop: CancellationToken,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn start_sim(model: &ModelConfig, updates_per_10ms: usize, limits: WsLimits) -> Sim {
    let ex = Exchange::new(model, 11, storm_core::time::now_millis());
    let state = SimState::new(ex, 6000, limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stop = CancellationToken::new();
    tokio::spawn(server::serve(listener, state.clone(), stop.clone()));
    tokio::spawn(server::market_clock(state.clone(), Duration::from_millis(10), updates_per_10ms, stop.clone()));
    Sim { addr, _state: state, stop }
}

pub struct Harness {
    pub _redis: RedisServer,
    pub sim: Sim,
    pub bus: Bus,
    pub redis: redis::aio::MultiplexedConnection,
    pub metrics: Metrics,
    pub shutdown: CancellationToken,
    pub engine: JoinHandle<Result<(), storm_ingester::EngineError>>,
}

pub async fn start(max_streams_per_connection: usize) -> Harness {
    start_with(max_streams_per_connection, &ModelConfig::default(), 5, WsLimits::default()).await
}

pub async fn start_with(
    max_streams_per_connection: usize,
    model: &ModelConfig,
    updates_per_10ms: usize,
    limits: WsLimits,
) -> Harness {
    start_on(start_sim(model, updates_per_10ms, limits).await, max_streams_per_connection).await
}

pub async fn start_on(sim: Sim, max_streams_per_connection: usize) -> Harness {
    start_configured(sim, max_streams_per_connection, "").await
}

/// [`start_on`] with more `[ingester]` settings (TOML lines).
pub async fn start_configured(sim: Sim, max_streams_per_connection: usize, ingester_extra: &str) -> Harness {
    let redis_server = RedisServer::start().unwrap();
    let file = format!(
        r#"
        redis_url = "{redis}"
        instance = "test"
        [[venue]]
        name = "sim"
        kind = "binance"
        rest_url = "http://{addr}"
        ws_url = "ws://{addr}"
        [ingester]
        venue = "sim"
        max_streams_per_connection = {max_streams_per_connection}
        subs_poll_ms = 200
        ping_interval_ms = 2000
        silence_timeout_ms = 5000
        {ingester_extra}
        "#,
        redis = redis_server.url(),
        addr = sim.addr,
    );
    let cfg = Config::<IngesterConfig>::from_parts(file.parse().unwrap(), &BTreeMap::new(), &[]).unwrap();
    let shutdown = CancellationToken::new();
    let metrics = Metrics::new();
    let engine = tokio::spawn(storm_ingester::run_with_metrics(cfg, metrics.clone(), shutdown.clone()));
    let bus = Bus::connect(BusConfig::new(redis_server.url()), CancellationToken::new()).await.unwrap();
    let redis = redis::Client::open(redis_server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    Harness { _redis: redis_server, sim, bus, redis, metrics, shutdown, engine }
}

impl Harness {
    pub async fn sadd(&mut self, members: &[&str]) {
        let _: () = self.redis.sadd("storm:subs:sim", members).await.unwrap();
    }

    pub async fn srem(&mut self, members: &[&str]) {
        let _: () = self.redis.srem("storm:subs:sim", members).await.unwrap();
    }

    pub async fn reader(&self, channel: Channel, start: StartAt) -> StreamReader {
        let key = self.bus.keys().md("sim", channel);
        StreamReader::new(&self.bus, &[(key, start)], 1_000, Duration::from_millis(100)).await.unwrap()
    }

    pub fn counter(&self, name: &str) -> u64 {
        self.metrics.counter(name, "", &[("venue", "sim")]).get()
    }

    pub fn gauge(&self, name: &str) -> f64 {
        self.metrics.gauge(name, "", &[("venue", "sim")]).get()
    }

    /// Stops the engine (within 5 s, cleanly) but keeps Redis and the sim, to read what was written.
    pub async fn stop_engine(&mut self) {
        self.shutdown.cancel();
        let stopped = tokio::time::timeout(Duration::from_secs(6), &mut self.engine).await;
        assert!(matches!(stopped, Ok(Ok(Ok(())))), "engine stops cleanly within 5 s: {stopped:?}");
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let stopped = tokio::time::timeout(Duration::from_secs(6), self.engine).await;
        assert!(matches!(stopped, Ok(Ok(Ok(())))), "engine stops cleanly within 5 s: {stopped:?}");
        drop(self.sim);
    }
}

/// Reads events until `done` holds for everything read so far, or panics after [`PATIENCE`].
pub async fn read_until(reader: &mut StreamReader, mut done: impl FnMut(&[MdEvent]) -> bool) -> Vec<MdEvent> {
    let deadline = Instant::now() + PATIENCE;
    let mut events = Vec::new();
    while !done(&events) {
        assert!(Instant::now() < deadline, "timed out; read {} events", events.len());
        for entry in reader.next_batch().await.unwrap() {
            events.push(md::decode(&entry).unwrap());
        }
    }
    events
}

pub fn diffs_of<'a>(events: &'a [MdEvent], symbol: &str) -> impl Iterator<Item = &'a MdEvent> + 'a {
    let symbol = symbol.to_owned();
    events.iter().filter(move |e| matches!(e, MdEvent::Depth(d) if d.symbol.as_str() == symbol))
}

/// Every depth diff of `symbol` follows the previous one without a gap, except right after a
/// reset marker.
pub fn assert_contiguous(events: &[MdEvent], symbol: &str) {
    let mut last: Option<u64> = None;
    for event in events.iter().filter(|e| e.symbol().is_some_and(|s| s.as_str() == symbol)) {
        match event {
            MdEvent::Reset(_) | MdEvent::Unsubscribed(_) => last = None,
            MdEvent::Depth(d) => {
                if let Some(prev) = last {
                    assert_eq!(d.first_update_id, prev + 1, "{symbol}: gap after {prev}");
                }
                last = Some(d.last_update_id);
            }
            other => panic!("unexpected event on the depth stream: {other:?}"),
        }
    }
}

/// Injects a sim fault through its admin endpoint.
pub async fn fault(h: &Harness, body: serde_json::Value) {
    let url = format!("http://{}/_sim/fault", h.sim.addr);
    let r = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
}
