//! The admin kinds a chaos run needs (`scripts/chaos`), over a real socket: `pause`/`resume`
//! freeze and unfreeze the market, `rate_limit` answers 429 on demand without executing anything
//! (and without the 418 ban a real over-limit client earns), and `GET /_sim/orders` lists every
//! placement attempt, accepted or rejected, so a client id sent twice shows.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{json, Value};
use storm_core::Asset;
use storm_sim::server::{self, SimState};
use storm_sim::{Exchange, ModelConfig};
use storm_venues::binance::sign;
use tokio_util::sync::CancellationToken;

const KEY: &str = "chaosAdminTestKey000000000000000000000000000000000000000000000001";
const SECRET: &str = "chaosAdminTestSecret0000000000000000000000000000000000000000000001";

struct Sim {
    base: String,
    state: Arc<SimState>,
    stop: CancellationToken,
    http: reqwest::Client,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn start() -> Sim {
    let mut ex = Exchange::new(&ModelConfig::default(), 11, storm_core::time::now_millis());
    ex.add_account(KEY, SECRET, &[(Asset::new("USDT"), Decimal::from(100_000)), (Asset::new("BTC"), Decimal::from(1))]);
    let state = SimState::new(ex, 6000, Default::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(server::serve(listener, state.clone(), stop.clone()));
    // A fast clock: every symbol moves many times a second.
    tokio::spawn(server::market_clock(state.clone(), Duration::from_millis(5), 20, stop.clone()));
    Sim { base, state, stop, http: reqwest::Client::new() }
}

impl Sim {
    async fn fault(&self, body: Value) {
        let r = self.http.post(format!("{}/_sim/fault", self.base)).json(&body).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 204, "fault {body} accepted");
    }

    async fn get(&self, path: &str) -> (u16, Option<String>, Value) {
        let r = self.http.get(format!("{}{path}", self.base)).header("X-MBX-APIKEY", KEY).send().await.unwrap();
        let status = r.status().as_u16();
        let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        (status, retry, r.json().await.unwrap())
    }

    async fn update_id(&self, sym: &str) -> u64 {
        let (status, _, v) = self.get(&format!("/api/v3/depth?symbol={sym}&limit=5")).await;
        assert_eq!(status, 200, "{v}");
        v["lastUpdateId"].as_u64().unwrap()
    }

    async fn order(&self, params: &str) -> (u16, Value) {
        let q = format!("{params}&timestamp={}", storm_core::time::now_millis());
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
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn orders(&self, query: &str) -> Vec<Value> {
        let (status, _, v) = self.get(&format!("/_sim/orders{query}")).await;
        assert_eq!(status, 200, "{v}");
        v["orders"].as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn pause_freezes_every_book_and_resume_moves_them_again() {
    let sim = start().await;
    let first = sim.update_id("BTCUSDT").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sim.update_id("BTCUSDT").await > first, "the market moves");

    sim.fault(json!({"kind": "pause"})).await;
    assert!(sim.state.faults.paused());
    tokio::time::sleep(Duration::from_millis(50)).await; // a step in progress finishes
    let frozen: Vec<u64> = update_ids(&sim, &["BTCUSDT", "ETHUSDT", "ETHBTC", "BNBUSDT"]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(update_ids(&sim, &["BTCUSDT", "ETHUSDT", "ETHBTC", "BNBUSDT"]).await, frozen, "nothing moves");

    // Orders still match against the frozen book (a chain in flight can finish).
    let (status, placed) =
        sim.order("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001&newClientOrderId=paused-buy").await;
    assert_eq!(status, 200, "{placed}");
    assert_eq!(placed["status"], "FILLED");
    let after_order = sim.update_id("BTCUSDT").await;
    assert!(after_order > frozen[0], "the order's own diff");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.update_id("BTCUSDT").await, after_order, "and then nothing again");

    sim.fault(json!({"kind": "resume"})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sim.update_id("BTCUSDT").await > after_order, "resumed");

    // `clear` resumes too.
    sim.fault(json!({"kind": "pause"})).await;
    sim.fault(json!({"kind": "clear"})).await;
    assert!(!sim.state.faults.paused());
}

async fn update_ids(sim: &Sim, syms: &[&str]) -> Vec<u64> {
    let mut ids = Vec::new();
    for s in syms {
        ids.push(sim.update_id(s).await);
    }
    ids
}

#[tokio::test]
async fn rate_limit_answers_429_on_demand_without_executing_or_banning() {
    let sim = start().await;
    sim.fault(json!({"kind": "rate_limit", "count": 2, "retry_after_s": 3})).await;
    let (status, retry, body) = sim.get("/api/v3/depth?symbol=BTCUSDT&limit=5").await;
    assert_eq!((status, retry.as_deref()), (429, Some("3")), "{body}");
    assert_eq!(body["code"], -1003);
    // The second one is an order: not placed.
    let (status, body) =
        sim.order("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001&newClientOrderId=limited-buy").await;
    assert_eq!(status, 429, "{body}");
    assert!(sim.orders("").await.is_empty(), "a 429 executes nothing");
    // Used up: served again at once, no 418 for having sent while "limited".
    let (status, _, body) = sim.get("/api/v3/depth?symbol=BTCUSDT&limit=5").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        sim.order("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001&newClientOrderId=limited-buy").await;
    assert_eq!(status, 200, "{body}");

    // Defaults: one request, Retry-After 1.
    sim.fault(json!({"kind": "rate_limit"})).await;
    let (status, retry, _) = sim.get("/api/v3/ping").await;
    assert_eq!((status, retry.as_deref()), (429, Some("1")));
    assert_eq!(sim.get("/api/v3/ping").await.0, 200);
    // `clear` removes pending ones.
    sim.fault(json!({"kind": "rate_limit", "count": 5})).await;
    sim.fault(json!({"kind": "clear"})).await;
    assert_eq!(sim.get("/api/v3/ping").await.0, 200);
    // Unknown fields are refused like every other fault.
    let r = sim
        .http
        .post(format!("{}/_sim/fault", sim.base))
        .json(&json!({"kind": "rate_limit", "counts": 2}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
}

#[tokio::test]
async fn order_log_lists_every_attempt_with_account_status_and_errors() {
    let sim = start().await;
    sim.fault(json!({"kind": "pause"})).await; // stable books for exact expectations
    let (s1, _) = sim.order("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001&newClientOrderId=st00aa-1").await;
    let (s2, _) = sim.order("symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.0005&newClientOrderId=st00aa-2").await;
    // Rejected: far more BTC than the account has. Still in the log, with its error.
    let (s3, rejected) = sim.order("symbol=BTCUSDT&side=SELL&type=MARKET&quantity=50&newClientOrderId=st00aa-3").await;
    // The same client id again (allowed by Binance once the first is closed): visible twice.
    let (s4, _) = sim.order("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001&newClientOrderId=st00aa-1").await;
    assert_eq!((s1, s2, s3, s4), (200, 200, 400, 200), "{rejected}");

    let log = sim.orders("").await;
    assert_eq!(log.len(), 4, "{log:?}");
    let acct = sign::account_id(KEY);
    assert!(log.iter().all(|o| o["account"] == acct.as_str()));
    assert_eq!(log[0]["clientOrderId"], "st00aa-1");
    assert_eq!(log[0]["side"], "BUY");
    assert_eq!(log[0]["symbol"], "BTCUSDT");
    assert_eq!(log[0]["quantity"], "0.00100000");
    assert_eq!(log[0]["status"], "FILLED");
    assert!(log[0]["orderId"].as_u64().is_some());
    assert_eq!(log[2]["error"]["code"], -2010);
    assert!(log[2]["orderId"].is_null() && log[2]["status"].is_null());
    let dup = log.iter().filter(|o| o["clientOrderId"] == "st00aa-1").count();
    assert_eq!(dup, 2, "a client id sent twice shows twice");
    assert!(!serde_json::to_string(&log).unwrap().contains(KEY), "never the API key");

    assert_eq!(sim.orders(&format!("?account={acct}")).await.len(), 4);
    assert!(sim.orders("?account=00000000").await.is_empty());
}
