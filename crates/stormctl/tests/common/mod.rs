//! Shared by stormctl's integration tests: a throwaway redis-server (storm-testkit, never 6379),
//! the real `stormctl` binary, and seeders that write through storm-bus, as the engines do.
#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use rust_decimal::Decimal;
use storm_bus::{Bus, BusConfig, Entry, Publisher};
use storm_core::arb::{OppKind, OppLeg, Opportunity};
use storm_core::time::now_millis;
use storm_core::{Asset, BookStatus, BookTop, Level, Price, Qty, Side, Symbol, VenueId};
use storm_testkit::RedisServer;
use tokio_util::sync::CancellationToken;

pub const BIN: &str = env!("CARGO_BIN_EXE_stormctl");

/// A Redis with a bus on it.
pub struct Env {
    pub redis: RedisServer,
    pub bus: Bus,
}

impl Env {
    pub async fn start() -> Self {
        Self::with(RedisServer::start().expect("redis-server")).await
    }

    pub async fn with(redis: RedisServer) -> Self {
        let mut cfg = BusConfig::new(redis.url());
        cfg.response_timeout = Duration::from_secs(2);
        let bus = Bus::connect(cfg, CancellationToken::new()).await.expect("bus");
        Self { redis, bus }
    }

    pub fn url(&self) -> String {
        self.redis.url()
    }

    /// `stormctl --redis-url <this redis> <args>`, not yet run.
    pub fn cmd(&self, args: &[&str]) -> Command {
        ctl(&self.url(), args)
    }

    /// Runs `stormctl` to completion.
    pub fn run(&self, args: &[&str]) -> Out {
        Out::from(self.cmd(args).output().expect("run stormctl"))
    }

    pub async fn conn(&self) -> redis::aio::ConnectionManager {
        self.bus.conn()
    }
}

/// `stormctl --redis-url <url> <args>` in a clean environment, run from the system's temp folder:
/// from inside the checkout, stormctl would find and read its `config/storm.toml` (the demo's).
pub fn ctl(url: &str, args: &[&str]) -> Command {
    let mut c = bare();
    c.arg("--redis-url").arg(url).args(args);
    c
}

/// `stormctl` without arguments yet, no `STORM_*` of ours, run from the system's temp folder.
pub fn bare() -> Command {
    let mut c = Command::new(BIN);
    for var in ["STORM_CONFIG", "STORM_REDIS_URL", "STORM_NAMESPACE", "STORM_WEBHOOK_URL", "RUST_LOG"] {
        c.env_remove(var);
    }
    c.current_dir(std::env::temp_dir()).stdin(Stdio::null());
    c
}

/// What a run printed.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Out {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Out {
    /// Exit 0, else a message with everything printed.
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "stormctl failed:\n{self:?}");
        assert!(!self.stderr.contains("panicked"), "{self:?}");
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }
}

pub fn levels(pairs: &[(&str, &str)]) -> Vec<Level> {
    pairs.iter().map(|(p, q)| Level::parse(p, q).unwrap()).collect()
}

/// Writes a book hash the way booksync does (`storm_bus::book::fields`), `age_ms` old.
pub async fn seed_book(
    env: &Env,
    venue: &str,
    sym: &str,
    status: BookStatus,
    bids: &[(&str, &str)],
    asks: &[(&str, &str)],
    age_ms: u64,
) {
    let t = (now_millis() - age_ms) * 1_000;
    let top = BookTop {
        symbol: Symbol::new(sym),
        bids: levels(bids),
        asks: levels(asks),
        update_id: 50_093_239_224,
        time_exchange: t,
        time_received: t,
        time_local: t,
        status,
    };
    let key = env.bus.keys().book(venue, &Symbol::new(sym));
    let fields = storm_bus::book::fields(&top, 1000);
    let mut c = env.conn().await;
    let _: () = c.hset_multiple(&key, &fields).await.unwrap();
    let _: () = c.pexpire(&key, 30_000).await.unwrap();
}

/// A realistic triangular opportunity.
pub fn opportunity(id: &str, bps: i64) -> Opportunity {
    let leg = |s: &str, side, p: &str, q: &str| OppLeg {
        venue: VenueId::new("sim"),
        symbol: Symbol::new(s),
        side,
        price: p.parse::<Price>().unwrap(),
        qty: q.parse::<Qty>().unwrap(),
    };
    let now = now_millis();
    Opportunity {
        id: id.into(),
        kind: OppKind::Triangular,
        venue: VenueId::new("sim"),
        path: "USDT>BTC>ETH>USDT".into(),
        asset: Asset::new("USDT"),
        size: Decimal::new(1000, 0),
        profit: Decimal::new(bps, 1),
        profit_bps: Decimal::new(bps, 0),
        confidence: 0.75,
        created_ms: now,
        expires_ms: now + 5_000,
        legs: vec![
            leg("BTCUSDT", Side::Buy, "60000.00", "0.01666"),
            leg("ETHBTC", Side::Buy, "0.05000", "0.3332"),
            leg("ETHUSDT", Side::Sell, "3100.00", "0.3331"),
        ],
        book_ids: vec![1, 2, 3],
        time_trigger_us: now * 1_000,
    }
}

pub async fn publish(env: &Env, entries: &[Entry]) {
    Publisher::new(&env.bus, "stormctl-test").publish(entries).await.unwrap();
}

/// An outcome on `storm:arb:log` shaped like storm-executor's (plain fields plus msgpack `m`);
/// `realized` in USDT, also the whole `pnl`.
pub fn outcome(env: &Env, id: &str, outcome: &str, realized: &str) -> Entry {
    #[derive(serde::Serialize)]
    struct Logged {
        id: String,
        outcome: String,
    }
    let reason = if outcome == "executed" { "" } else { "book moved" };
    Entry::record(env.bus.keys().arb_log(), 10_000, None, &Logged { id: id.into(), outcome: outcome.into() })
        .unwrap()
        .field("id", id)
        .field("outcome", outcome)
        .field("reason", reason)
        .field("venue", "sim")
        .field("path", "USDT>BTC>ETH>USDT")
        .field("asset", "USDT")
        .field("mode", "paper")
        .field("predicted", "0.5")
        .field("realized", realized)
        .field("pnl", format!(r#"{{"USDT":"{realized}"}}"#))
        .field("orders", "3")
        .field("time_ms", now_millis().to_string())
        .field("executor", "main")
}

/// A broken chain on `storm:exec:failed`, shaped like storm-executor's.
pub fn failure(env: &Env, id: &str, reason: &str) -> Entry {
    Entry::new(env.bus.keys().exec_failed(), 10_000)
        .field("id", id)
        .field("path", "USDT>BTC>ETH>USDT")
        .field("reason", reason)
        .field("residue", r#"{"BTC":"0.00010000"}"#)
        .field("pnl", r#"{"BTC":"0.00010000","USDT":"-6.00000000"}"#)
        .field("time_ms", now_millis().to_string())
}

/// A running `stormctl`, killed when dropped (a failing test leaves no process behind).
pub struct Proc(Option<Child>);

impl Proc {
    pub fn new(child: Child) -> Self {
        Self(Some(child))
    }

    /// Sends a signal with `kill` (no libc needed).
    pub fn signal(&self, sig: &str) {
        let pid = self.0.as_ref().map(Child::id).expect("running");
        let ok = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().unwrap().success();
        assert!(ok, "kill -{sig}");
    }

    /// Signals `sig` and waits at most `limit` for the exit; the status, how long it took, and
    /// what it printed (stdout, stderr when piped). Panics when it does not exit in time.
    pub async fn stop(mut self, sig: &str, limit: Duration) -> (std::process::ExitStatus, Duration, String, String) {
        self.signal(sig);
        let t0 = Instant::now();
        let mut child = self.0.take().expect("running");
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                let took = t0.elapsed();
                let out = child.wait_with_output().unwrap();
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                return (st, took, text(&out.stdout), text(&out.stderr));
            }
            if t0.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("stormctl did not exit within {limit:?} of SIG{sig}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A port nothing listens on.
pub fn dead_url() -> String {
    format!("redis://127.0.0.1:{}/", storm_testkit::process::free_port().unwrap())
}
