//! `stormctl audit` against a real throwaway redis-server and a real storm-sim over a socket:
//! a consistent state passes, and each check fails on its own planted fault — a wrong book
//! level, a book that never catches up, a missing outcome, a duplicate outcome, a wrong
//! balance, a client order id sent twice.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{opportunity, outcome, publish, Env, Out};
use redis::AsyncCommands;
use rust_decimal::Decimal;
use serde_json::Value;
use storm_core::time::now_millis;
use storm_core::{Asset, BookStatus, BookTop, Level, Qty, Symbol};
use storm_sim::server::{self, SimState};
use storm_sim::{Exchange, ModelConfig};
use storm_venues::binance::sign;
use tokio_util::sync::CancellationToken;

const KEY: &str = "auditTestKey00000000000000000000000000000000000000000000000000001";
const SECRET: &str = "auditTestSecret000000000000000000000000000000000000000000000000001";
const KEY_ENV: &str = "STORM_AUDIT_TEST_API_KEY";
const SECRET_ENV: &str = "STORM_AUDIT_TEST_API_SECRET";
const BOOKS: [&str; 3] = ["BTCUSDT", "ETHUSDT", "ETHBTC"];

/// A sim (no market clock: the books stand still unless an order moves them), a Redis, and a
/// storm.toml naming both.
struct World {
    env: Env,
    base: String,
    _dir: tempdir::Dir,
    config: String,
    stop: CancellationToken,
    http: reqwest::Client,
}

mod tempdir {
    /// A folder removed when dropped.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Self {
            let p = std::env::temp_dir().join(format!("stormctl-audit-{}-{}", std::process::id(), rand_suffix()));
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn rand_suffix() -> u128 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl World {
    async fn start() -> Self {
        let env = Env::start().await;
        let mut ex = Exchange::new(&ModelConfig::default(), 5, now_millis());
        ex.add_account(KEY, SECRET, &[(Asset::new("USDT"), Decimal::from(10_000)), (Asset::new("BTC"), Decimal::ONE)]);
        let state: Arc<SimState> = SimState::new(ex, 6000, Default::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        tokio::spawn(server::serve(listener, state, stop.clone()));
        let dir = tempdir::Dir::new();
        let config = dir.0.join("storm.toml");
        std::fs::write(
            &config,
            format!(
                "redis_url = \"{}\"\n[[venue]]\nname = \"sim\"\nkind = \"binance\"\nrest_url = \"http://{addr}\"\n\
                 ws_url = \"ws://{addr}\"\nws_api_url = \"ws://{addr}/ws-api/v3\"\n\
                 api_key_env = \"{KEY_ENV}\"\napi_secret_env = \"{SECRET_ENV}\"\n",
                env.url()
            ),
        )
        .unwrap();
        Self {
            env,
            base: format!("http://{addr}"),
            config: config.to_string_lossy().into_owned(),
            _dir: dir,
            stop,
            http: reqwest::Client::new(),
        }
    }

    fn acct(&self) -> String {
        sign::account_id(KEY)
    }

    /// `stormctl --config .. audit --venue sim --json --settle-ms 1500 [extra]`, with the keys in env.
    fn audit(&self, extra: &[&str]) -> (Out, Value) {
        let mut args =
            vec!["--config", self.config.as_str(), "audit", "--venue", "sim", "--json", "--settle-ms", "1500"];
        args.extend_from_slice(extra);
        let mut cmd = self.env.cmd(&args);
        cmd.env(KEY_ENV, KEY).env(SECRET_ENV, SECRET);
        let out = Out::from(cmd.output().unwrap());
        assert!(!out.stderr.contains("panicked") && !out.stdout.is_empty(), "{out:?}");
        let json = out.json();
        (out, json)
    }

    async fn get(&self, path: &str, signed_query: Option<&str>) -> Value {
        let url = match signed_query {
            Some(q) => {
                let q = format!("{q}{}timestamp={}", if q.is_empty() { "" } else { "&" }, now_millis());
                format!("{}{path}?{q}&signature={}", self.base, sign::sign(SECRET, &q))
            }
            None => format!("{}{path}", self.base),
        };
        let r = self.http.get(url).header("X-MBX-APIKEY", KEY).send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn order(&self, params: &str) -> Value {
        let q = format!("{params}&timestamp={}", now_millis());
        let body = format!("{q}&signature={}", sign::sign(SECRET, &q));
        let r = self
            .http
            .post(format!("{}/api/v3/order", self.base))
            .header("X-MBX-APIKEY", KEY)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "order {params}: {}", r.status());
        r.json().await.unwrap()
    }

    /// Copies the sim's book into Redis as booksync writes it (top 20, `update_id` = lastUpdateId).
    async fn mirror_book(&self, sym: &str, status: BookStatus) {
        let d = self.get(&format!("/api/v3/depth?symbol={sym}&limit=20"), None).await;
        let levels = |side: &str| -> Vec<Level> {
            d[side]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| Level::parse(l[0].as_str().unwrap(), l[1].as_str().unwrap()).unwrap())
                .collect()
        };
        let t = now_millis() * 1_000;
        let top = BookTop {
            symbol: Symbol::new(sym),
            bids: levels("bids"),
            asks: levels("asks"),
            update_id: d["lastUpdateId"].as_u64().unwrap(),
            time_exchange: t,
            time_received: t,
            time_local: t,
            status,
        };
        let key = self.env.bus.keys().book("sim", &Symbol::new(sym));
        let mut c = self.env.conn().await;
        let _: () = c.hset_multiple(&key, &storm_bus::book::fields(&top, 1000)).await.unwrap();
    }

    /// Copies the sim's account into `storm:balance:sim:<acct>` as the streamer writes it.
    async fn mirror_balances(&self) {
        let a = self.get("/api/v3/account", Some("")).await;
        let key = self.env.bus.keys().balance("sim", &self.acct());
        let mut c = self.env.conn().await;
        let _: () = c.del(&key).await.unwrap();
        for b in a["balances"].as_array().unwrap() {
            let bal = storm_bus::account::Balance {
                free: b["free"].as_str().unwrap().parse::<Qty>().unwrap(),
                locked: b["locked"].as_str().unwrap().parse::<Qty>().unwrap(),
                time: now_millis(),
            };
            let _: () = c
                .hset(&key, b["asset"].as_str().unwrap(), storm_bus::account::encode_balance(&bal).unwrap())
                .await
                .unwrap();
        }
    }

    async fn hset(&self, key: &str, field: &str, value: &str) {
        let mut c = self.env.conn().await;
        let _: () = c.hset(key, field, value).await.unwrap();
    }

    async fn hget(&self, key: &str, field: &str) -> String {
        let mut c = self.env.conn().await;
        c.hget(key, field).await.unwrap()
    }
}

fn assert_ok(out: &Out, j: &Value) {
    assert_eq!(out.code, 0, "a consistent state passes:\n{}\n{}", out.stdout, out.stderr);
    assert_eq!(j["ok"], true, "{j:#}");
}

fn assert_failed(out: &Out, j: &Value) {
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(j["ok"], false, "{j:#}");
}

/// A consistent world: three live books and a stale one mirrored, two traded opportunities with
/// one outcome each, their legs on the sim with distinct client ids, balances mirrored.
async fn consistent() -> World {
    let w = World::start().await;
    // Orders first (they move the books), then the mirrors.
    let (a, b) = ("00000000000000a1", "00000000000000b2");
    w.order(&format!("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.002&newClientOrderId=st{a}-1")).await;
    w.order(&format!("symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.001&newClientOrderId=st{a}-2")).await;
    w.order(&format!("symbol=ETHBTC&side=BUY&type=MARKET&quantity=0.1&newClientOrderId=st{b}-1")).await;
    for sym in BOOKS {
        w.mirror_book(sym, BookStatus::Live).await;
    }
    w.mirror_book("BNBUSDT", BookStatus::Stale).await;
    w.mirror_balances().await;
    let keys = w.env.bus.keys().clone();
    publish(
        &w.env,
        &[
            storm_bus::opps::entry(&keys, 1000, &opportunity(a, 12)).unwrap(),
            storm_bus::opps::entry(&keys, 1000, &opportunity(b, 9)).unwrap(),
        ],
    )
    .await;
    publish(&w.env, &[outcome(&w.env, a, "executed", "0.4"), outcome(&w.env, b, "partial", "-0.1")]).await;
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consistent_state_passes_in_json_and_in_text() {
    let w = consistent().await;
    let (out, j) = w.audit(&[]);
    assert_ok(&out, &j);
    assert_eq!(j["books"]["total"], 4);
    assert_eq!(j["books"]["checked"], 3);
    assert_eq!(j["books"]["equal"], 3);
    assert_eq!(j["books"]["not_live"]["BNBUSDT"], "stale");
    assert_eq!(j["opps"]["opportunities"], 2);
    assert_eq!(j["opps"]["outcomes"], 2);
    assert_eq!(j["opps"]["with_one_outcome"], 2);
    assert_eq!(j["orders"]["available"], true);
    assert_eq!(j["orders"]["placements"], 3);
    assert_eq!(j["orders"]["chains"], 2);
    assert_eq!(j["orders"]["account"], w.acct());
    assert_eq!(j["balances"]["equal"], true);
    assert!(j["balances"]["assets"].as_u64().unwrap() >= 3, "USDT, BTC and the ETH bought");

    let mut cmd = w.env.cmd(&["--config", &w.config, "audit", "--venue", "sim"]);
    cmd.env(KEY_ENV, KEY).env(SECRET_ENV, SECRET);
    let text = Out::from(cmd.output().unwrap()).ok().stdout;
    assert!(text.contains("3 live checked, 3 equal, 0 mismatches"), "{text}");
    assert!(text.contains("2 opportunities, 2 outcomes, 2 with exactly one, 0 duplicates, 0 lost"), "{text}");
    assert!(text.contains("equal") && text.contains("result    OK"), "{text}");
    assert!(!text.contains(KEY) && !text.contains(SECRET) && !out.stdout.contains(KEY), "no key in the output");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_book_level_and_a_book_that_never_catches_up_are_mismatches() {
    let w = consistent().await;
    let key = w.env.bus.keys().book("sim", &Symbol::new("ETHUSDT"));
    let bids = w.hget(&key, "bids").await;
    let mut levels: Vec<[String; 2]> = serde_json::from_str(&bids).unwrap();
    let good = levels[2][1].clone();
    levels[2][1] = (good.parse::<Decimal>().unwrap() + Decimal::ONE).to_string();
    w.hset(&key, "bids", &serde_json::to_string(&levels).unwrap()).await;
    let (out, j) = w.audit(&[]);
    assert_failed(&out, &j);
    let m = &j["books"]["mismatches"];
    assert_eq!(m.as_array().unwrap().len(), 1, "{j:#}");
    assert_eq!(m[0]["symbol"], "ETHUSDT");
    assert_eq!(m[0]["kind"], "levels");
    assert!(m[0]["detail"].as_str().unwrap().contains("bid level 3"), "{m}");
    assert_eq!(j["books"]["equal"], 2);
    // Human output names the symbol too.
    let mut cmd = w.env.cmd(&["--config", &w.config, "audit", "--venue", "sim", "--settle-ms", "500"]);
    cmd.env(KEY_ENV, KEY).env(SECRET_ENV, SECRET);
    let text = Out::from(cmd.output().unwrap());
    assert_eq!(text.code, 1);
    assert!(text.stdout.contains("MISMATCH ETHUSDT (levels): bid level 3"), "{}", text.stdout);
    assert!(text.stdout.contains("result    FAILED"), "{}", text.stdout);
    assert!(text.stderr.contains("found problems"), "{}", text.stderr);

    // Fixed again: passes. Then a live book stuck one update behind the venue.
    w.hset(&key, "bids", &bids).await;
    let (out, j) = w.audit(&[]);
    assert_ok(&out, &j);
    let id: u64 = w.hget(&key, "update_id").await.parse().unwrap();
    w.hset(&key, "update_id", &(id - 1).to_string()).await;
    let (out, j) = w.audit(&[]);
    assert_failed(&out, &j);
    assert_eq!(j["books"]["mismatches"][0]["symbol"], "ETHUSDT");
    assert_eq!(j["books"]["mismatches"][0]["kind"], "behind");
    assert_eq!(j["books"]["mismatches"][0]["venue_update_id"], id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_and_a_duplicate_outcome_are_reported() {
    let w = consistent().await;
    let keys = w.env.bus.keys().clone();
    // An opportunity that expired without an outcome: lost.
    let mut lost = opportunity("00000000000000c3", 7);
    lost.expires_ms = now_millis() - 1_000;
    // One that has not expired yet: pending, not lost.
    let fresh = opportunity("00000000000000d4", 7);
    publish(
        &w.env,
        &[storm_bus::opps::entry(&keys, 1000, &lost).unwrap(), storm_bus::opps::entry(&keys, 1000, &fresh).unwrap()],
    )
    .await;
    // One in flight: neither.
    let mut inflight = opportunity("00000000000000e5", 7);
    inflight.expires_ms = now_millis() - 1_000;
    publish(&w.env, &[storm_bus::opps::entry(&keys, 1000, &inflight).unwrap()]).await;
    w.hset(&keys.exec_open(), "00000000000000e5", "main").await;
    let (out, j) = w.audit(&[]);
    assert_failed(&out, &j);
    assert_eq!(j["opps"]["lost"], serde_json::json!(["00000000000000c3"]), "{j:#}");
    assert_eq!(j["opps"]["pending"], serde_json::json!(["00000000000000d4"]));
    assert_eq!(j["opps"]["in_flight"], serde_json::json!(["00000000000000e5"]));
    assert!(j["opps"]["duplicates"].as_object().unwrap().is_empty());

    // The outcomes arrive: all good again ...
    publish(
        &w.env,
        &[
            outcome(&w.env, "00000000000000c3", "expired", "0"),
            outcome(&w.env, "00000000000000d4", "expired", "0"),
            outcome(&w.env, "00000000000000e5", "rejected", "0"),
        ],
    )
    .await;
    let mut c = w.env.conn().await;
    let _: () = c.hdel(keys.exec_open(), "00000000000000e5").await.unwrap();
    let (out, j) = w.audit(&[]);
    assert_ok(&out, &j);
    // ... until one of them is logged twice.
    publish(&w.env, &[outcome(&w.env, "00000000000000a1", "executed", "0.4")]).await;
    let (out, j) = w.audit(&[]);
    assert_failed(&out, &j);
    assert_eq!(j["opps"]["duplicates"]["00000000000000a1"], 2, "{j:#}");
    assert!(j["opps"]["lost"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_balance_and_a_client_id_sent_twice_are_reported() {
    let w = consistent().await;
    let key = w.env.bus.keys().balance("sim", &w.acct());
    let usdt = w.hget(&key, "USDT").await;
    w.hset(&key, "USDT", r#"{"free":"10000.00000001","locked":"0","time":1}"#).await;
    let (out, j) = w.audit(&[]);
    assert_failed(&out, &j);
    assert_eq!(j["balances"]["equal"], false);
    let diffs = j["balances"]["differences"].as_array().unwrap();
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    assert!(diffs[0].as_str().unwrap().starts_with("USDT: redis free 10000.00000001"), "{diffs:?}");
    // An asset the venue has and Redis lacks is a difference as well.
    w.hset(&key, "USDT", &usdt).await;
    let mut c = w.env.conn().await;
    let _: () = c.hdel(&key, "BTC").await.unwrap();
    let (out, j) = w.audit(&[]);
    assert_failed(&out, &j);
    assert!(j["balances"]["differences"][0].as_str().unwrap().starts_with("BTC:"), "{j:#}");
    w.mirror_balances().await;
    let (out, j) = w.audit(&[]);
    assert_ok(&out, &j);

    // The same leg placed twice (same client id, the first one already closed).
    w.order("symbol=ETHBTC&side=BUY&type=MARKET&quantity=0.1&newClientOrderId=st00000000000000b2-1").await;
    w.mirror_balances().await;
    for sym in BOOKS {
        w.mirror_book(sym, BookStatus::Live).await;
    }
    let (out, j) = w.audit(&[]);
    assert_failed(&out, &j);
    assert_eq!(j["orders"]["duplicates"]["st00000000000000b2-1"], 2, "{j:#}");
    assert_eq!(j["orders"]["placements"], 4);
    assert_eq!(j["books"]["mismatches"].as_array().unwrap().len(), 0, "only the order log is wrong");
    assert_eq!(j["balances"]["equal"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_venue_that_is_not_configured_is_an_error() {
    let w = World::start().await;
    let mut cmd = w.env.cmd(&["--config", &w.config, "audit", "--venue", "binance"]);
    cmd.env(KEY_ENV, KEY).env(SECRET_ENV, SECRET);
    let out = Out::from(cmd.output().unwrap());
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("venue binance is not in the config"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_account_keys_the_audit_is_partial_and_says_what_it_skipped() {
    let w = consistent().await;
    // Everything that can be checked without the keys is consistent; the keys are not in env.
    let args = ["--config", w.config.as_str(), "audit", "--venue", "sim", "--settle-ms", "1500"];
    let out = Out::from(w.env.cmd(&args).output().unwrap());
    assert_eq!(out.code, 1, "half an audit must not pass a gate:\n{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("SKIPPED   orders: the account's keys are unavailable"), "{}", out.stdout);
    assert!(out.stdout.contains("SKIPPED   balances: the account's keys are unavailable"), "{}", out.stdout);
    assert!(out.stdout.contains(KEY_ENV), "names the missing variable: {}", out.stdout);
    assert!(out.stdout.contains("result    PARTIAL") && !out.stdout.contains("result    OK"), "{}", out.stdout);
    assert!(out.stderr.contains("PARTIAL: nothing found, but orders and balances not checked"), "{}", out.stderr);

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let out = Out::from(w.env.cmd(&json_args).output().unwrap());
    assert_eq!(out.code, 1);
    let j = out.json();
    assert_eq!(j["result"], "PARTIAL", "{j:#}");
    assert_eq!(j["ok"], true, "nothing found in what was checked: {j:#}");
    assert_eq!(j["skipped"].as_array().map(Vec::len), Some(2), "{j:#}");

    // With the keys: every check runs, OK.
    let (out, j) = w.audit(&[]);
    assert_ok(&out, &j);
    assert_eq!(j["result"], "OK", "{j:#}");
}
