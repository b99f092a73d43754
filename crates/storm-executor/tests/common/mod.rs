//! A storm-sim exchange over real sockets, a throwaway redis-server and helpers to publish
//! opportunities built from the sim's own book, run an executor (in-process or as the real
//! binary) and read what happened on both sides.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use rust_decimal::Decimal;
use storm_bus::{opps, Bus, BusConfig};
use storm_core::arb::{OppKind, OppLeg, Opportunity};
use storm_core::{Asset, Instrument, Price, Qty, Side, Symbol, VenueId};
use storm_executor::ExecutorConfig;
use storm_service::{Config, Metrics};
use storm_sim::config::WsLimits;
use storm_sim::server::{self, SimState};
use storm_sim::{Exchange, ModelConfig, Order};
use storm_testkit::RedisServer;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// An executor running in this process.
pub type Executor = tokio::task::JoinHandle<Result<(), storm_executor::EngineError>>;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The sim, Redis and an account.
pub struct Rig {
    pub redis: RedisServer,
    pub sim: Arc<SimState>,
    pub addr: String,
    pub stop: CancellationToken,
    pub bus: Bus,
    pub key: String,
    pub key_env: String,
    pub secret_env: String,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Rig {
    /// A sim with a static book (no market clock, so the test's prices stay valid) and an account
    /// holding `balances`; instruments published to Redis as booksync would.
    pub async fn start(weight_limit: u64, balances: &[(&str, i64)]) -> Rig {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .with_test_writer()
            .try_init();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let key = format!("exec-test-key-{}-{n}", std::process::id());
        let secret = format!("exec-test-secret-{n}");
        let mut ex = Exchange::new(&ModelConfig::default(), 7, storm_core::time::now_millis());
        let b: Vec<(Asset, Decimal)> = balances.iter().map(|(a, v)| (Asset::new(*a), Decimal::from(*v))).collect();
        ex.add_account(&key, &secret, &b);
        let sim = SimState::new(ex, weight_limit, WsLimits::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = CancellationToken::new();
        tokio::spawn(server::serve(listener, sim.clone(), stop.clone()));
        let redis = RedisServer::start().unwrap();
        let bus = Bus::connect(BusConfig::new(redis.url()), CancellationToken::new()).await.unwrap();
        let list: Vec<Instrument> = sim.exchange().instruments().cloned().collect();
        storm_bus::instruments::write(&bus, "sim", &list).await.unwrap();
        let (key_env, secret_env) = (format!("STORM_EXEC_TEST_KEY_{n}"), format!("STORM_EXEC_TEST_SECRET_{n}"));
        std::env::set_var(&key_env, &key);
        std::env::set_var(&secret_env, &secret);
        Rig { redis, sim, addr, stop, bus, key, key_env, secret_env }
    }

    /// [`Rig::start`] with the sim's market clock running (books move, depth streams flow).
    pub async fn start_moving(weight_limit: u64, balances: &[(&str, i64)]) -> Rig {
        let rig = Rig::start(weight_limit, balances).await;
        tokio::spawn(server::market_clock(rig.sim.clone(), Duration::from_millis(10), 5, rig.stop.clone()));
        rig
    }

    /// The config file of an executor on this rig.
    pub fn config(&self, executor_extra: &str) -> String {
        format!(
            r#"
            redis_url = "{redis}"
            instance = "exec-test"
            heartbeat_ms = 500
            [[venue]]
            name = "sim"
            kind = "binance"
            rest_url = "http://{addr}"
            ws_url = "ws://{addr}"
            api_key_env = "{key_env}"
            api_secret_env = "{secret_env}"
            [executor]
            venue = "sim"
            {mode}
            order_timeout_ms = 2000
            claim_idle_ms = 1000
            {executor_extra}
            [executor.max_notional]
            USDT = "5000"
            "#,
            redis = self.redis.url(),
            addr = self.addr,
            key_env = self.key_env,
            secret_env = self.secret_env,
            mode =
                if executor_extra.contains("mode =") { "" } else { "mode = \"live\"\n            live_enabled = true" },
        )
    }

    /// Runs an executor in this process until the rig stops; returns its metrics.
    pub fn spawn_executor(&self, executor_extra: &str) -> (Metrics, CancellationToken) {
        let (metrics, stop, _) = self.spawn_config(&self.config(executor_extra));
        (metrics, stop)
    }

    /// [`Rig::spawn_executor`] with a whole config file (e.g. [`Rig::config`] edited); also
    /// returns the task, which ends once the executor has stopped.
    pub fn spawn_config(&self, config: &str) -> (Metrics, CancellationToken, Executor) {
        let table: toml::Table = config.parse().unwrap();
        let cfg = Config::<ExecutorConfig>::from_parts(table, &BTreeMap::new(), &[]).unwrap();
        let metrics = Metrics::new();
        let stop = self.stop.child_token();
        let task = tokio::spawn(storm_executor::run_with_metrics(cfg, metrics.clone(), stop.clone()));
        (metrics, stop, task)
    }

    pub fn instrument(&self, s: &str) -> Instrument {
        self.sim.exchange().instrument(&Symbol::new(s)).cloned().unwrap()
    }

    /// (bid, ask) of a symbol on the sim.
    pub fn top(&self, s: &str) -> (Decimal, Decimal) {
        let (b, a) = self.sim.exchange().book_ticker(&Symbol::new(s)).unwrap();
        (b.price.0, a.price.0)
    }

    /// USDT → BTC → ETH → USDT for about `usdt` USDT, each limit `slack` (fraction) through the
    /// touch so that every IOC fills: a losing but executable chain.
    pub fn triangle(&self, id: &str, usdt: Decimal, slack: Decimal, expires_in_ms: u64) -> Opportunity {
        let fee = Decimal::new(999, 3);
        let buy = |s: &str| {
            let i = self.instrument(s);
            (i.ceil_price(Price(self.top(s).1 * (Decimal::ONE + slack))).0, i)
        };
        let (p1, i1) = buy("BTCUSDT");
        let q1 = i1.floor_qty(Qty(usdt / p1)).0;
        let (p2, i2) = buy("ETHBTC");
        let q2 = i2.floor_qty(Qty(q1 * fee / p2)).0;
        let i3 = self.instrument("ETHUSDT");
        let p3 = i3.floor_price(Price(self.top("ETHUSDT").0 * (Decimal::ONE - slack))).0;
        let q3 = i3.floor_qty(Qty(q2 * fee)).0;
        let leg = |s: &str, side, p, q| OppLeg {
            venue: VenueId::new("sim"),
            symbol: Symbol::new(s),
            side,
            price: Price(p),
            qty: Qty(q),
        };
        let now = storm_core::time::now_millis();
        Opportunity {
            id: id.to_owned(),
            kind: OppKind::Triangular,
            venue: VenueId::new("sim"),
            path: "USDT>BTC>ETH>USDT".into(),
            asset: Asset::new("USDT"),
            size: q1 * p1,
            profit: Decimal::new(1, 2),
            profit_bps: Decimal::ONE,
            confidence: 0.5,
            created_ms: now,
            expires_ms: now + expires_in_ms,
            legs: vec![
                leg("BTCUSDT", Side::Buy, p1, q1),
                leg("ETHBTC", Side::Buy, p2, q2),
                leg("ETHUSDT", Side::Sell, p3, q3),
            ],
            book_ids: vec![1, 2, 3],
            time_trigger_us: 0,
        }
    }

    /// Writes `storm:book:sim:<SYM>` from the sim's book, as booksync would, with `status`.
    pub async fn publish_book(&self, s: &str, status: storm_core::BookStatus) {
        let (id, bids, asks) = self.sim.exchange().depth(&Symbol::new(s), 20).unwrap();
        let now = storm_core::time::now_micros();
        let top = storm_core::BookTop {
            symbol: Symbol::new(s),
            bids,
            asks,
            update_id: id,
            time_exchange: now,
            time_received: now,
            time_local: now,
            status,
        };
        let fields = storm_bus::book::fields(&top, 1000);
        let mut c = self.redis().await;
        let _: () = c.hset_multiple(format!("storm:book:sim:{s}"), &fields).await.unwrap();
    }

    /// XADDs `opp` to `storm:opps`.
    pub async fn publish(&self, opp: &Opportunity) {
        let e = opps::entry(self.bus.keys(), 10_000, opp).unwrap();
        let mut c = self.bus.conn();
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&e.key).arg("*");
        for (n, v) in &e.fields {
            cmd.arg(*n).arg(v.as_slice());
        }
        let _: String = cmd.query_async(&mut c).await.unwrap();
    }

    /// Every `storm:arb:log` entry of opportunity `id`.
    pub async fn outcomes(&self, id: &str) -> Vec<HashMap<String, String>> {
        self.outcomes_all().await.into_iter().filter(|f| f.get("id").map(String::as_str) == Some(id)).collect()
    }

    /// Every `storm:arb:log` entry (plain fields as text).
    pub async fn outcomes_all(&self) -> Vec<HashMap<String, String>> {
        let mut c = self.bus.conn();
        let all: Vec<(String, HashMap<String, Vec<u8>>)> =
            redis::cmd("XRANGE").arg("storm:arb:log").arg("-").arg("+").query_async(&mut c).await.unwrap();
        all.into_iter()
            .map(|(_, f)| f.into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect())
            .collect()
    }

    /// Waits for the outcome of `id`.
    pub async fn wait_outcome(&self, id: &str, patience: Duration) -> HashMap<String, String> {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(o) = self.outcomes(id).await.into_iter().next() {
                // An opportunity found in the millisecond a chain on its books was logged counts
                // as found before it (superseded): what a test builds after this returns must be
                // found in a later one (CI once built one in the same millisecond).
                tokio::time::sleep(Duration::from_millis(3)).await;
                return o;
            }
            assert!(Instant::now() < deadline, "no outcome for {id} within {patience:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The sim's orders of the account whose client id starts with `prefix`.
    pub fn orders(&self, prefix: &str) -> Vec<Order> {
        let ex = self.sim.exchange();
        let acct = ex.account(&self.key).unwrap();
        acct.orders.values().filter(|o| o.client_order_id.starts_with(prefix)).cloned().collect()
    }

    /// Total (free + locked) of every asset of the account on the sim.
    pub fn balances(&self) -> BTreeMap<String, Decimal> {
        let ex = self.sim.exchange();
        let acct = ex.account(&self.key).unwrap();
        acct.balances.iter().map(|(a, b)| (a.to_string(), b.free + b.locked)).filter(|(_, v)| !v.is_zero()).collect()
    }

    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap()
    }

    /// `storm:exec:journal` record of `id`.
    pub async fn journal(&self, id: &str) -> Option<serde_json::Value> {
        let mut c = self.redis().await;
        let raw: Option<String> = c.hget("storm:exec:journal", id).await.unwrap();
        raw.map(|r| serde_json::from_str(&r).unwrap())
    }

    /// Waits until `id`'s journal record holds at least `n` leg intents (20 s at most).
    pub async fn wait_intents(&self, id: &str, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Some(j) = self.journal(id).await {
                if j["legs"].as_array().map_or(0, Vec::len) >= n {
                    return;
                }
            }
            assert!(std::time::Instant::now() < deadline, "leg {n} of {id} never intended");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    pub async fn fault(&self, body: &str) {
        let r = reqwest::Client::new()
            .post(format!("http://{}/_sim/fault", self.addr))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "fault {body}: {}", r.status());
    }
}

/// `after - before` per asset, zeros dropped.
pub fn change(before: &BTreeMap<String, Decimal>, after: &BTreeMap<String, Decimal>) -> BTreeMap<String, Decimal> {
    let mut out = BTreeMap::new();
    for k in before.keys().chain(after.keys()) {
        let d = after.get(k).copied().unwrap_or_default() - before.get(k).copied().unwrap_or_default();
        if !d.is_zero() {
            out.insert(k.clone(), d);
        }
    }
    out
}

/// The `pnl` field of an outcome as decimals.
pub fn pnl(outcome: &HashMap<String, String>) -> BTreeMap<String, Decimal> {
    let m: BTreeMap<String, String> = serde_json::from_str(outcome.get("pnl").unwrap()).unwrap();
    m.into_iter().map(|(k, v)| (k, v.parse().unwrap())).filter(|(_, v): &(String, Decimal)| !v.is_zero()).collect()
}
