//! What every streamer test needs: a real redis-server, an in-process storm-sim on a free port
//! with two accounts (the streamed one and a taker that crosses its orders), signed REST clients
//! for both, the streamer's config, and the comparison of Redis against the sim's own state.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod relay;

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use rust_decimal::Decimal;
use storm_bus::account::{decode_balance, decode_fill, decode_order, Balance, Fill, OrderState};
use storm_bus::{Bus, BusConfig, StreamEntry, WeightBudget, WeightBudgetConfig};
use storm_core::{Asset, Instrument, Level, Side, Symbol};
use storm_service::{Config, Metrics};
use storm_sim::config::WsLimits;
use storm_sim::server::{self, SimState};
use storm_sim::{Exchange, ModelConfig, OrderRef};
use storm_streamer::StreamerConfig;
use storm_testkit::RedisServer;
use storm_venues::binance::trade::{Credentials, TradeClient};
use storm_venues::binance::trade_wire::OrderReply;
use storm_venues::rest::RestClient;
use storm_venues::trading::{NewOrder, TimeInForce};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub const VENUE: &str = "sim";
static N: AtomicU32 = AtomicU32::new(0);

pub fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// Sim + Redis + the streamed account ("me") and a taker.
pub struct Harness {
    pub redis_server: RedisServer,
    pub redis: redis::aio::MultiplexedConnection,
    pub sim: Arc<SimState>,
    pub sim_addr: String,
    pub key: String,
    pub secret: String,
    pub acct: String,
    pub key_env: String,
    pub secret_env: String,
    pub me: TradeClient,
    pub taker: TradeClient,
    sim_stop: CancellationToken,
    next_cid: AtomicU32,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.sim_stop.cancel();
    }
}

async fn client(bus: &Bus, addr: &str, key: &str, secret: &str) -> TradeClient {
    let rest = RestClient::new(
        storm_core::VenueKind::Binance,
        WeightBudget::new(bus, VENUE, WeightBudgetConfig::new(6000)).unwrap(),
    )
    .unwrap();
    let c = TradeClient::new(rest, &format!("http://{addr}"), Credentials::new(key, secret), Duration::from_secs(5));
    c.sync_time().await.unwrap();
    c
}

impl Harness {
    /// A fresh world; the streamed account's key and secret are put in env vars of their own.
    pub async fn start() -> Self {
        let n = N.fetch_add(1, Ordering::Relaxed);
        let salt = format!("{:x}{:x}{n}", std::process::id(), storm_core::time::now_micros());
        let key = format!("streamerTestKey{salt}AbCdEf0123456789");
        let secret = format!("streamerTestSecret{salt}ZyXwVu9876543210");
        let key_env = format!("STORM_TEST_STREAMER_KEY_{}_{n}", std::process::id());
        let secret_env = format!("STORM_TEST_STREAMER_SECRET_{}_{n}", std::process::id());
        // Each test uses its own variable names; std's environment lock keeps this sound.
        std::env::set_var(&key_env, &key);
        std::env::set_var(&secret_env, &secret);

        let mut ex = Exchange::new(&ModelConfig::default(), 42, storm_core::time::now_millis());
        let mine = [("USDT", "1000000"), ("BTC", "5"), ("ETH", "200")];
        let mine: Vec<(Asset, Decimal)> = mine.iter().map(|(a, v)| (Asset::new(a), d(v))).collect();
        ex.add_account(&key, &secret, &mine);
        let rich = [("USDT", "100000000"), ("BTC", "1000"), ("ETH", "100000")];
        let rich: Vec<(Asset, Decimal)> = rich.iter().map(|(a, v)| (Asset::new(a), d(v))).collect();
        ex.add_account("taker-key", "taker-secret", &rich);
        let sim = SimState::new(ex, 6000, WsLimits::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim_addr = listener.local_addr().unwrap().to_string();
        let sim_stop = CancellationToken::new();
        tokio::spawn(server::serve(listener, sim.clone(), sim_stop.clone()));

        let redis_server = RedisServer::start().unwrap();
        let redis = redis::Client::open(redis_server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
        let bus = Bus::connect(BusConfig::new(redis_server.url()), CancellationToken::new()).await.unwrap();
        let me = client(&bus, &sim_addr, &key, &secret).await;
        let taker = client(&bus, &sim_addr, "taker-key", "taker-secret").await;
        let acct = me.credentials().account_id();
        Self {
            redis_server,
            redis,
            sim,
            sim_addr,
            key,
            secret,
            acct,
            key_env,
            secret_env,
            me,
            taker,
            sim_stop,
            next_cid: AtomicU32::new(1),
        }
    }

    /// `ws://<sim>/ws-api/v3`.
    pub fn ws_api_url(&self) -> String {
        format!("ws://{}/ws-api/v3", self.sim_addr)
    }

    /// The streamer's storm.toml: the sim as venue `sim` with `ws_api_url`, then `[streamer]`
    /// with quick reconnects and `extra`.
    pub fn config(&self, instance: &str, ws_api_url: &str, extra: &str) -> String {
        format!(
            r#"
            redis_url = "{redis}"
            instance = "{instance}"
            heartbeat_ms = 200
            [[venue]]
            name = "{VENUE}"
            kind = "binance"
            rest_url = "http://{addr}"
            ws_url = "ws://{addr}"
            ws_api_url = "{ws_api_url}"
            api_key_env = "{key_env}"
            api_secret_env = "{secret_env}"
            [streamer]
            reconnect_base_ms = 50
            reconnect_max_ms = 400
            {extra}
            "#,
            redis = self.redis_server.url(),
            addr = self.sim_addr,
            key_env = self.key_env,
            secret_env = self.secret_env,
        )
    }

    /// Runs the streamer in this process until the returned token is cancelled.
    pub fn spawn_streamer(&self, file: &str) -> (Metrics, CancellationToken, tokio::task::JoinHandle<()>) {
        let table: toml::Table = file.parse().unwrap();
        let cfg = Config::<StreamerConfig>::from_parts(table, &BTreeMap::new(), &[]).unwrap();
        let (metrics, stop) = (Metrics::new(), CancellationToken::new());
        let (m, s) = (metrics.clone(), stop.clone());
        let task = tokio::spawn(async move { storm_streamer::run_with_metrics(cfg, m, s).await.unwrap() });
        (metrics, stop, task)
    }

    /// A counter of the in-process streamer.
    pub fn counter(&self, metrics: &Metrics, name: &str) -> u64 {
        metrics.counter(name, "", &[("venue", VENUE), ("account", &self.acct)]).get()
    }

    pub fn instrument(&self, symbol: &str) -> Instrument {
        self.sim.exchange().instrument(&Symbol::new(symbol)).unwrap().clone()
    }

    /// Best levels: (bids, asks), best first.
    pub fn depth(&self, symbol: &str, n: usize) -> (Vec<Level>, Vec<Level>) {
        let (_, bids, asks) = self.sim.exchange().depth(&Symbol::new(symbol), n).unwrap();
        (bids, asks)
    }

    /// Places a LIMIT order over REST and returns the venue's reply.
    pub async fn place(
        &self,
        who: &TradeClient,
        symbol: &str,
        side: Side,
        tif: TimeInForce,
        qty: Decimal,
        price: Decimal,
    ) -> OrderReply {
        let n = self.next_cid.fetch_add(1, Ordering::Relaxed);
        let order = NewOrder {
            symbol: Symbol::new(symbol),
            side,
            time_in_force: tif,
            quantity: qty,
            price,
            client_order_id: format!("t-{n}"),
        };
        who.place(&order).await.unwrap_or_else(|e| panic!("{symbol} {side} {qty}@{price}: {e}"))
    }

    /// Cancels one of my orders on the sim (events are published as for any cancel).
    pub fn cancel(&self, symbol: &str, order_id: u64) {
        let now = storm_core::time::now_millis();
        let key = self.key.clone();
        self.sim.act(|ex| ex.cancel(&key, &Symbol::new(symbol), &OrderRef::Id(order_id), now)).unwrap();
    }

    /// Every order state of my account in Redis, by order id.
    pub async fn redis_orders(&mut self) -> BTreeMap<u64, OrderState> {
        let pattern = format!("storm:order:{VENUE}:{}:*", self.acct);
        let keys: Vec<String> = self.redis.keys(&pattern).await.unwrap();
        let mut out = BTreeMap::new();
        for k in keys {
            let h: BTreeMap<String, String> = self.redis.hgetall(&k).await.unwrap();
            for (field, v) in h {
                let o = decode_order(&v).unwrap();
                assert_eq!(field, o.order_id.to_string());
                assert!(k.ends_with(o.symbol.as_str()));
                out.insert(o.order_id, o);
            }
        }
        out
    }

    pub async fn redis_balances(&mut self) -> BTreeMap<String, Balance> {
        let h: BTreeMap<String, String> =
            self.redis.hgetall(format!("storm:balance:{VENUE}:{}", self.acct)).await.unwrap();
        h.into_iter().map(|(a, v)| (a, decode_balance(&v).unwrap())).collect()
    }

    /// Every entry of my fills stream.
    pub async fn fills(&mut self) -> Vec<Fill> {
        let key = format!("storm:fills:{VENUE}:{}", self.acct);
        let reply: redis::streams::StreamRangeReply = self.redis.xrange_all(&key).await.unwrap();
        reply
            .ids
            .into_iter()
            .map(|e| {
                let fields =
                    e.map.into_iter().map(|(k, v)| (k, redis::from_redis_value::<Vec<u8>>(&v).unwrap())).collect();
                decode_fill(&StreamEntry { stream: key.clone(), id: e.id, fields }).unwrap()
            })
            .collect()
    }

    /// Redis against the sim: every order of my account (status, quantities, average price),
    /// every fill exactly once, and every balance (free and locked).
    pub async fn check(&mut self) -> Result<(), String> {
        let (orders, trades, balances) = {
            let ex = self.sim.exchange();
            let a = ex.account(&self.key).unwrap();
            (a.orders.clone(), a.trades.clone(), a.balances.clone())
        };
        let stored = self.redis_orders().await;
        let ids: BTreeSet<u64> = orders.keys().copied().collect();
        let got: BTreeSet<u64> = stored.keys().copied().collect();
        if ids != got {
            return Err(format!("orders in the sim {ids:?}, in redis {got:?}"));
        }
        for (id, o) in &orders {
            let s = &stored[id];
            let status = serde_json::to_value(o.status).unwrap();
            let mine = serde_json::to_value(s.status).unwrap();
            let avg = (!o.executed_qty.is_zero()).then(|| o.cummulative_quote_qty / o.executed_qty);
            let same = status == mine
                && s.executed_qty.0 == o.executed_qty
                && s.cumulative_quote_qty.0 == o.cummulative_quote_qty
                && s.avg_price.map(|p| p.0) == avg
                && s.orig_qty.0 == o.orig_qty
                && s.price.0 == o.price
                && s.side == o.side
                && s.client_order_id == o.client_order_id
                && s.symbol == o.symbol;
            if !same {
                return Err(format!("order {id}: sim {o:?}\nredis {s:?}"));
            }
        }
        let fills = self.fills().await;
        let mut seen = BTreeSet::new();
        for f in &fills {
            if !seen.insert((f.trade_id, f.order_id)) {
                return Err(format!("fill {} of order {} is on the stream twice", f.trade_id, f.order_id));
            }
        }
        let want: BTreeSet<(u64, u64)> = trades.iter().map(|t| (t.trade_id, t.order_id)).collect();
        if want != seen {
            return Err(format!("fills in the sim {want:?}, on the stream {seen:?}"));
        }
        for t in &trades {
            let f = fills.iter().find(|f| f.trade_id == t.trade_id && f.order_id == t.order_id).unwrap();
            if f.qty.0 != t.qty
                || f.price.0 != t.price
                || f.quote_qty.0 != t.quote_qty
                || f.commission.0 != t.commission
                || f.maker != t.is_maker
                || f.side != t.side
            {
                return Err(format!("fill {}: sim {t:?}\nredis {f:?}", t.trade_id));
            }
        }
        let stored = self.redis_balances().await;
        let want: BTreeMap<String, (Decimal, Decimal)> =
            balances.iter().map(|(a, b)| (a.as_str().to_owned(), (b.free, b.locked))).collect();
        let got: BTreeMap<String, (Decimal, Decimal)> =
            stored.iter().map(|(a, b)| (a.clone(), (b.free.0, b.locked.0))).collect();
        if want != got {
            return Err(format!("balances in the sim {want:?}\nin redis {got:?}"));
        }
        Ok(())
    }

    /// Waits until [`Harness::check`] passes, then compares balances with REST `/account` too.
    pub async fn wait_consistent(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            match self.check().await {
                Ok(()) => break,
                Err(e) if Instant::now() >= deadline => panic!("redis never matched the sim: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        let account = self.me.account().await.unwrap();
        let stored = self.redis_balances().await;
        assert_eq!(account.balances.len(), stored.len(), "every /account asset and nothing else");
        for b in &account.balances {
            let s = stored.get(&b.asset).unwrap_or_else(|| panic!("{} missing", b.asset));
            assert_eq!((s.free.0, s.locked.0), (b.free, b.locked), "{}", b.asset);
        }
    }

    /// Every key and value in Redis as text (for secret scans).
    pub async fn dump(&mut self) -> String {
        let keys: Vec<String> = self.redis.keys("*").await.unwrap();
        let mut out = String::new();
        for k in keys {
            out.push_str(&k);
            out.push('\n');
            let kind: String = redis::cmd("TYPE").arg(&k).query_async(&mut self.redis).await.unwrap();
            let value: redis::Value = match kind.as_str() {
                "string" => redis::cmd("GET").arg(&k).query_async(&mut self.redis).await.unwrap(),
                "hash" => redis::cmd("HGETALL").arg(&k).query_async(&mut self.redis).await.unwrap(),
                "set" => redis::cmd("SMEMBERS").arg(&k).query_async(&mut self.redis).await.unwrap(),
                "list" => redis::cmd("LRANGE").arg(&k).arg(0).arg(-1).query_async(&mut self.redis).await.unwrap(),
                "zset" => redis::cmd("ZRANGE").arg(&k).arg(0).arg(-1).query_async(&mut self.redis).await.unwrap(),
                "stream" => redis::cmd("XRANGE").arg(&k).arg("-").arg("+").query_async(&mut self.redis).await.unwrap(),
                _ => redis::Value::Nil,
            };
            flatten(&value, &mut out);
            out.push('\n');
        }
        out
    }
}

/// Every byte string inside a reply, as lossy text (binary msgpack included).
fn flatten(v: &redis::Value, out: &mut String) {
    match v {
        redis::Value::BulkString(b) => {
            out.push_str(&String::from_utf8_lossy(b));
            out.push(' ');
        }
        redis::Value::SimpleString(s) => out.push_str(s),
        redis::Value::Array(items) | redis::Value::Set(items) => items.iter().for_each(|i| flatten(i, out)),
        redis::Value::Map(pairs) => pairs.iter().for_each(|(k, v)| {
            flatten(k, out);
            flatten(v, out);
        }),
        other => out.push_str(&format!("{other:?} ")),
    }
}

/// A quantity on `inst`'s step: `q` rounded down.
pub fn floor(inst: &Instrument, q: Decimal) -> Decimal {
    inst.floor_qty(storm_core::Qty(q)).0
}
