//! The real `storm-streamer` binary against a real redis-server and an in-process storm-sim:
//! `kill -9` while orders fill loses and doubles nothing; SIGTERM exits 0 quickly; the logs of a
//! run (debug level, with a refused account on the way) never show the API key or secret.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use redis::AsyncCommands;
use storm_core::Side;
use storm_testkit::process::EngineProcess;
use storm_venues::trading::TimeInForce;
use tokio::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_storm-streamer");

/// A counter of the streamer process, from its heartbeat hash (0 while absent).
async fn beat_counter(h: &mut Harness, instance: &str, name: &str) -> u64 {
    let fields: BTreeMap<String, String> = h.redis.hgetall(format!("storm:health:streamer:{instance}")).await.unwrap();
    let series = format!("{name}{{venue=\"{VENUE}\",account=\"{}\"}}", h.acct);
    fields.get(&series).and_then(|v| v.parse().ok()).unwrap_or(0)
}

async fn wait_beat(h: &mut Harness, instance: &str, name: &str, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while beat_counter(h, instance, name).await < at_least {
        assert!(Instant::now() < deadline, "{name} of {instance} never reached {at_least}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Trades on the account until told to stop: small IOC buys of ETHUSDT, and a resting BTCUSDT
/// sell that the taker fills in pieces, replaced when it is done.
async fn trade_until(h: Arc<Harness>, stop: tokio_util::sync::CancellationToken) -> usize {
    let mut placed = 0;
    let mut resting: Option<(u64, rust_decimal::Decimal)> = None;
    while !stop.is_cancelled() {
        let (_, asks) = h.depth("ETHUSDT", 1);
        h.place(&h.me, "ETHUSDT", Side::Buy, TimeInForce::Ioc, d("0.05"), asks[0].price.0).await;
        placed += 1;
        let open = resting.filter(|(id, _)| {
            h.sim.exchange().account(&h.key).and_then(|a| a.orders.get(id)).is_some_and(|o| o.status.is_open())
        });
        match open {
            Some((_, price)) => {
                // The synthetic part of the level goes first; take it and a slice of ours.
                let level = h.depth("BTCUSDT", 1).1[0];
                if level.price.0 == price {
                    let ours = level.qty.0.min(d("0.004"));
                    let synthetic_and_slice = (level.qty.0 - d("0.012")).max(rust_decimal::Decimal::ZERO) + ours;
                    h.place(&h.taker, "BTCUSDT", Side::Buy, TimeInForce::Ioc, synthetic_and_slice, price).await;
                }
            }
            None => {
                let (_, asks) = h.depth("BTCUSDT", 1);
                let o = h.place(&h.me, "BTCUSDT", Side::Sell, TimeInForce::Gtc, d("0.012"), asks[0].price.0).await;
                resting = Some((o.order_id, asks[0].price.0));
                placed += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    placed
}

/// `kill -9` of the streamer process while orders keep filling; they keep filling while it is
/// down; after the restart every order state, every balance and the fills stream (no fill
/// twice, none missing) equal the sim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_orders_fill_loses_and_doubles_nothing() {
    let mut h = Harness::start().await;
    let file = h.config("k9", &h.ws_api_url(), "");
    let mut proc = EngineProcess::start(BIN, &file, &[]).unwrap();
    wait_beat(&mut h, "k9", "storm_streamer_reconciles_total", 1).await;
    let h = Arc::new(h);
    let stop = tokio_util::sync::CancellationToken::new();
    let trader = tokio::spawn(trade_until(h.clone(), stop.clone()));

    tokio::time::sleep(Duration::from_millis(700)).await;
    proc.kill(); // SIGKILL, mid-stream
    let fills_at_kill = h.sim.exchange().account(&h.key).unwrap().trades.len();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let fills_while_down = h.sim.exchange().account(&h.key).unwrap().trades.len() - fills_at_kill;
    assert!(fills_while_down >= 3, "orders kept filling while the streamer was down ({fills_while_down})");
    proc.restart(BIN, &[]).unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.cancel();
    let placed = trader.await.unwrap();
    assert!(placed >= 10, "{placed}");

    let mut h = Arc::try_unwrap(h).ok().expect("the trader is done");
    h.wait_consistent(Duration::from_secs(15)).await;
    assert!(beat_counter(&mut h, "k9", "storm_streamer_reconciles_total").await >= 1);
    drop(proc);
}

/// A spawned streamer with its stderr in a file; SIGKILLed when dropped.
struct Logged {
    child: Option<Child>,
    log: std::path::PathBuf,
    dir: std::path::PathBuf,
}

impl Logged {
    fn start(config: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "storm-streamer-log-{}-{}",
            std::process::id(),
            storm_core::time::now_micros()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("storm.toml"), config).unwrap();
        let log = dir.join("stderr.log");
        let child = Command::new(BIN)
            .arg("--config")
            .arg(dir.join("storm.toml"))
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self { child: Some(child), log, dir }
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// SIGTERM while streaming: exit status 0 within 5 s. The run logs at debug level, with a
/// second account whose secret is wrong (its subscription is refused again and again): the log
/// shows both accounts at work and never the API key or secret; Redis holds neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_0_quickly_and_logs_never_show_secrets() {
    let mut h = Harness::start().await;
    let wrong_env = format!("{}_WRONG", h.secret_env);
    std::env::set_var(&wrong_env, format!("{}-but-wrong", h.secret));
    let mut file = h
        .config("term", &h.ws_api_url(), "")
        .replace("heartbeat_ms = 200", "heartbeat_ms = 200\nlog_level = \"debug\"");
    file.push_str(&format!(
        r#"
        [[venue]]
        name = "refused"
        kind = "binance"
        rest_url = "http://{addr}"
        ws_url = "ws://{addr}"
        ws_api_url = "ws://{addr}/ws-api/v3"
        api_key_env = "{key_env}"
        api_secret_env = "{wrong_env}"
        "#,
        addr = h.sim_addr,
        key_env = h.key_env,
    ));
    let mut proc = Logged::start(&file);
    wait_beat(&mut h, "term", "storm_streamer_reconciles_total", 1).await;
    let (_, asks) = h.depth("BTCUSDT", 1);
    h.place(&h.me, "BTCUSDT", Side::Buy, TimeInForce::Ioc, d("0.01"), asks[0].price.0).await;
    h.wait_consistent(Duration::from_secs(10)).await;

    let mut child = proc.child.take().unwrap();
    let sent = Instant::now();
    assert!(Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap().success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(sent.elapsed() < Duration::from_secs(5), "still running 5 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}");

    let log = std::fs::read_to_string(&proc.log).unwrap();
    assert!(log.contains("user-data stream subscribed"), "the log was captured:\n{log}");
    assert!(log.contains("subscription refused"), "the refused account logged its errors:\n{log}");
    assert!(log.contains("DEBUG"), "debug level was on");
    assert!(!log.contains(&h.key), "the API key is in the log");
    assert!(!log.contains(&h.secret), "the API secret is in the log");
    let dump = h.dump().await;
    assert!(!dump.contains(&h.key) && !dump.contains(&h.secret), "a secret is in redis");
    assert!(!h.redis.exists::<_, bool>("storm:health:streamer:term").await.unwrap(), "heartbeat removed");
}
