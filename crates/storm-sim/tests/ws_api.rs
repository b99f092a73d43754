//! The simulator's WebSocket API (`/ws-api/v3`) over a real socket, driven with an ordinary
//! WebSocket client and requests signed as Binance documents: user-data subscription, order
//! entry, the events that follow, and the errors a client must be able to tell apart.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use storm_core::{Asset, Qty, Symbol};
use storm_sim::config::WsLimits;
use storm_sim::server::{self, SimState};
use storm_sim::ws_api::Request;
use storm_sim::{Exchange, ModelConfig};
use storm_venues::binance::sign;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

const KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const WAIT: Duration = Duration::from_secs(5);

struct Sim {
    http: String,
    ws: String,
    state: Arc<SimState>,
    _stop: tokio_util::sync::DropGuard,
}

async fn start(ws: WsLimits) -> Sim {
    let mut ex = Exchange::new(&ModelConfig::default(), 7, storm_core::time::now_millis());
    ex.add_account(
        KEY,
        SECRET,
        &[(Asset::new("USDT"), Decimal::from(10_000_000)), (Asset::new("BTC"), Decimal::from(10))],
    );
    ex.add_account("other-key", "other-secret", &[(Asset::new("USDT"), Decimal::from(1_000))]);
    let state = SimState::new(ex, 6000, ws);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    tokio::spawn(server::serve(listener, state.clone(), shutdown.clone()));
    Sim { http: format!("http://{addr}"), ws: format!("ws://{addr}/ws-api/v3"), state, _stop: shutdown.drop_guard() }
}

fn d(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("not a decimal string: {v}"))).unwrap()
}

/// Adds `apiKey`, `timestamp` and the WS-API `signature` (sorted parameters) to `params`.
fn signed(params: Value, key: &str, secret: &str) -> Value {
    let mut m: Map<String, Value> = params.as_object().cloned().unwrap_or_default();
    m.insert("apiKey".into(), key.into());
    m.entry("timestamp").or_insert_with(|| storm_core::time::now_millis().into());
    let text: Vec<(String, String)> =
        m.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned))).collect();
    let pairs: Vec<(&str, &str)> = text.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    m.insert("signature".into(), sign::sign(secret, &sign::ws_api_payload(&pairs)).into());
    Value::Object(m)
}

/// A WS-API client that keeps user events aside while it waits for a response.
struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    events: VecDeque<Value>,
    next_id: u64,
}

impl Client {
    async fn connect(url: &str) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Self { ws, events: VecDeque::new(), next_id: 1 }
    }

    async fn send_text(&mut self, text: String) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// The next JSON text frame.
    async fn frame(&mut self) -> Value {
        loop {
            let msg = timeout(WAIT, self.ws.next()).await.expect("no frame in time").expect("closed").unwrap();
            if let Message::Text(t) = msg {
                return serde_json::from_str(&t).unwrap();
            }
        }
    }

    /// The response with `id`, user events met on the way kept for [`Client::event`].
    async fn response(&mut self, id: &Value) -> Value {
        loop {
            let f = self.frame().await;
            if f.get("event").is_some() {
                self.events.push_back(f);
            } else if &f["id"] == id {
                return f;
            }
        }
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = json!(format!("req-{}", self.next_id));
        self.next_id += 1;
        self.send_text(json!({ "id": id, "method": method, "params": params }).to_string()).await;
        self.response(&id).await
    }

    async fn event(&mut self) -> Value {
        match self.events.pop_front() {
            Some(e) => e,
            None => {
                let f = self.frame().await;
                assert!(f.get("event").is_some(), "expected an event, got {f}");
                f
            }
        }
    }

    /// The next `executionReport` (account positions are skipped).
    async fn report(&mut self) -> Value {
        loop {
            let e = self.event().await;
            if e["event"]["e"] == "executionReport" {
                return e;
            }
        }
    }
}

fn best(sim: &Sim) -> (Decimal, Decimal, Decimal) {
    let (_, bids, asks) = sim.state.exchange().depth(&Symbol::new("BTCUSDT"), 10).unwrap();
    (bids[5].price.0, asks[0].price.0, asks[0].qty.0)
}

async fn subscribe(c: &mut Client) -> u64 {
    let r = c.call("userDataStream.subscribe.signature", signed(json!({}), KEY, SECRET)).await;
    assert_eq!(r["status"], 200, "{r}");
    r["result"]["subscriptionId"].as_u64().unwrap()
}

/// Binance's documented WS-API example verifies through the simulator's request path: the JSON
/// params (numbers as written) give the documented payload and signature, and over the socket
/// the request fails only on its 2022 timestamp (-1021), never on the signature (-1022).
#[tokio::test]
async fn documented_ws_api_signature_verifies() {
    let frame = json!({"id": "doc", "method": "order.place", "params": {
        "symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
        "quantity": "0.01000000", "price": "52000.00", "recvWindow": 100, "timestamp": 1645423376532u64,
        "apiKey": KEY, "signature": "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"}})
    .to_string();
    let req = Request::parse(&frame).unwrap();
    assert_eq!(req.params.payload, "apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT");
    assert_eq!(
        sign::sign(SECRET, &req.params.payload),
        "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
    );
    assert_eq!(storm_sim::auth::verify(&req.params, SECRET, 1_645_423_376_532 + 50), Ok(()));

    let sim = start(WsLimits::default()).await;
    let mut c = Client::connect(&sim.ws).await;
    c.send_text(frame).await;
    let r = c.response(&json!("doc")).await;
    assert_eq!((r["status"].as_u64(), r["error"]["code"].as_i64()), (Some(400), Some(-1021)), "{r}");
}

/// An IOC buy for 1.5 × the best ask level at the best ask fills that level and expires the
/// rest: the response carries the fill, and the subscribed connection receives NEW, TRADE,
/// EXPIRED and the account position, all under the subscription id, with consistent totals.
#[tokio::test]
async fn ioc_via_ws_api_fills_partially_and_streams_its_events() {
    let sim = start(WsLimits::default()).await;
    let mut c = Client::connect(&sim.ws).await;
    let sub = subscribe(&mut c).await;
    let (_, ask, ask_qty) = best(&sim);
    let inst = sim.state.exchange().instrument(&Symbol::new("BTCUSDT")).unwrap().clone();
    let qty = inst.floor_qty(Qty(ask_qty * Decimal::from_str("1.5").unwrap())).0;
    assert!(qty > ask_qty);

    let params = json!({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "IOC",
        "quantity": qty.to_string(), "price": ask.to_string(), "newClientOrderId": "ws-ioc-1"});
    let r = c.call("order.place", signed(params, KEY, SECRET)).await;
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["rateLimits"][0]["rateLimitType"], "REQUEST_WEIGHT");
    let o = &r["result"];
    assert_eq!((o["status"].as_str(), o["clientOrderId"].as_str()), (Some("EXPIRED"), Some("ws-ioc-1")));
    assert_eq!(o["fills"].as_array().unwrap().len(), 1, "{o}");
    assert_eq!(d(&o["executedQty"]), ask_qty);

    let mut kinds = Vec::new();
    let mut trades = Vec::new();
    let mut positions = 0;
    while kinds.last().map(String::as_str) != Some("EXPIRED") || positions == 0 {
        let e = c.event().await;
        assert_eq!(e["subscriptionId"].as_u64(), Some(sub), "{e}");
        let ev = &e["event"];
        match ev["e"].as_str().unwrap() {
            "executionReport" => {
                assert_eq!(ev["c"], "ws-ioc-1");
                kinds.push(ev["x"].as_str().unwrap().to_owned());
                if ev["x"] == "TRADE" {
                    trades.push(ev.clone());
                }
                if ev["x"] == "EXPIRED" {
                    assert_eq!(ev["X"], "EXPIRED");
                    assert_eq!(ev["eR"], "UNFILLED_IOC_QUANTITY_EXPIRED");
                    assert_eq!(ev["N"], Value::Null, "no commission on a non-trade report");
                    let (z, zq) = (d(&ev["z"]), d(&ev["Z"]));
                    assert_eq!(z, trades.iter().map(|t| d(&t["l"])).sum::<Decimal>());
                    assert_eq!(zq, trades.iter().map(|t| d(&t["Y"])).sum::<Decimal>());
                    assert_eq!(zq / z, ask, "average price Z/z");
                    assert_eq!(z, d(&o["executedQty"]));
                }
            }
            "outboundAccountPosition" => {
                let assets: Vec<&str> = ev["B"].as_array().unwrap().iter().map(|b| b["a"].as_str().unwrap()).collect();
                assert!(assets.contains(&"BTC") && assets.contains(&"USDT"), "{ev}");
                positions += 1;
            }
            other => panic!("unexpected event {other}"),
        }
    }
    assert_eq!(kinds.first().map(String::as_str), Some("NEW"));
    assert!(kinds[1..kinds.len() - 1].iter().all(|k| k == "TRADE") && !trades.is_empty(), "{kinds:?}");
    for t in &trades {
        assert_eq!(
            (t["N"].as_str(), t["m"].as_bool(), t["L"].as_str()),
            (Some("BTC"), Some(false), Some(&*ask.to_string()))
        );
        assert_eq!(d(&t["n"]), (d(&t["l"]) * Decimal::from_str("0.001").unwrap()).round_dp(8), "fee in base for a BUY");
        assert!(t["t"].as_i64().unwrap() > 0);
    }
    let fill = &o["fills"][0];
    assert_eq!((d(&fill["qty"]), d(&fill["commission"])), (d(&trades[0]["l"]), d(&trades[0]["n"])));
}

/// An order placed over REST also reaches a subscribed WS-API connection.
#[tokio::test]
async fn rest_orders_produce_events_on_the_ws_api() {
    let sim = start(WsLimits::default()).await;
    let mut c = Client::connect(&sim.ws).await;
    let sub = subscribe(&mut c).await;
    let (bid, _, _) = best(&sim);
    let q = format!(
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price={bid}&newClientOrderId=rest-1&timestamp={}",
        storm_core::time::now_millis()
    );
    let body = format!("{q}&signature={}", sign::sign(SECRET, &q));
    let r = reqwest::Client::new()
        .post(format!("{}/api/v3/order", sim.http))
        .header("X-MBX-APIKEY", KEY)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let e = c.report().await;
    assert_eq!(e["subscriptionId"].as_u64(), Some(sub));
    assert_eq!((e["event"]["c"].as_str(), e["event"]["x"].as_str()), (Some("rest-1"), Some("NEW")));
    assert_eq!(e["event"]["w"], true, "a resting GTC order is on the book");
    let pos = c.event().await;
    assert_eq!(pos["event"]["e"], "outboundAccountPosition");
}

/// Bad signature, unknown key, stale timestamp and malformed frames are answered with Binance's
/// codes on a connection that stays usable.
#[tokio::test]
async fn auth_errors_and_malformed_frames_keep_the_connection() {
    let sim = start(WsLimits::default()).await;
    let mut c = Client::connect(&sim.ws).await;
    let code = |r: &Value| (r["status"].as_u64().unwrap(), r["error"]["code"].as_i64().unwrap());

    let mut bad = signed(json!({"symbol": "BTCUSDT"}), KEY, SECRET);
    bad["symbol"] = json!("ETHUSDT"); // signed for another symbol
    assert_eq!(code(&c.call("openOrders.status", bad).await), (400, -1022));
    let unknown = signed(json!({"symbol": "BTCUSDT"}), "nobody", SECRET);
    assert_eq!(code(&c.call("openOrders.status", unknown).await), (401, -2015));
    let stale = signed(json!({"timestamp": 1_499_827_319_559u64}), KEY, SECRET);
    assert_eq!(code(&c.call("userDataStream.subscribe.signature", stale).await), (400, -1021));
    let r = c.call("no.such.method", json!({})).await;
    assert_eq!(r["status"], 400, "{r}");

    c.send_text("{\"id\":\"x\",\"method\":".into()).await;
    let r = c.frame().await;
    assert_eq!((&r["id"], code(&r)), (&Value::Null, (400, -1135)), "{r}");
    c.send_text(json!({"id": 9, "method": "ping", "params": "nope"}).to_string()).await;
    let r = c.response(&json!(9)).await;
    assert_eq!(code(&r), (400, -1135));

    let r = c.call("ping", json!({})).await;
    assert_eq!((r["status"].as_u64(), &r["result"]), (Some(200), &json!({})), "still connected");
    let t = c.call("time", json!({})).await;
    assert!(t["result"]["serverTime"].as_u64().unwrap() > 1_700_000_000_000);
}

/// A resting GTC order can be queried and cancelled over the WS-API; the cancel arrives as a
/// CANCELED report carrying the original client id in `C`. A second subscription of the same
/// account on one connection is refused.
#[tokio::test]
async fn status_and_cancel_of_a_resting_order() {
    let sim = start(WsLimits::default()).await;
    let mut c = Client::connect(&sim.ws).await;
    subscribe(&mut c).await;
    let again = c.call("userDataStream.subscribe.signature", signed(json!({}), KEY, SECRET)).await;
    assert_eq!(again["error"]["code"], -2035, "one subscription per account per connection");

    let (bid, _, _) = best(&sim);
    let params = json!({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
        "quantity": "0.002", "price": bid.to_string(), "newClientOrderId": "rest-gtc", "newOrderRespType": "RESULT"});
    let placed = c.call("order.place", signed(params, KEY, SECRET)).await;
    assert_eq!(placed["result"]["status"], "NEW", "{placed}");
    assert!(placed["result"].get("fills").is_none(), "RESULT has no fills");
    let id = placed["result"]["orderId"].as_u64().unwrap();

    let st = c.call("order.status", signed(json!({"symbol": "BTCUSDT", "orderId": id}), KEY, SECRET)).await;
    assert_eq!((st["result"]["status"].as_str(), st["result"]["isWorking"].as_bool()), (Some("NEW"), Some(true)));
    let open = c.call("openOrders.status", signed(json!({"symbol": "BTCUSDT"}), KEY, SECRET)).await;
    assert_eq!(open["result"].as_array().unwrap().len(), 1);

    let cancel = signed(json!({"symbol": "BTCUSDT", "origClientOrderId": "rest-gtc"}), KEY, SECRET);
    let r = c.call("order.cancel", cancel).await;
    assert_eq!(
        (r["result"]["status"].as_str(), r["result"]["origClientOrderId"].as_str()),
        (Some("CANCELED"), Some("rest-gtc"))
    );
    let again = c.call("order.cancel", signed(json!({"symbol": "BTCUSDT", "orderId": id}), KEY, SECRET)).await;
    assert_eq!(again["error"]["code"], -2011);

    assert_eq!(c.report().await["event"]["x"], "NEW");
    let e = c.report().await;
    let ev = &e["event"];
    assert_eq!(
        (ev["x"].as_str(), ev["X"].as_str(), ev["C"].as_str()),
        (Some("CANCELED"), Some("CANCELED"), Some("rest-gtc"))
    );
    assert_eq!((ev["i"].as_u64(), ev["w"].as_bool(), ev["t"].as_i64()), (Some(id), Some(false), Some(-1)));
}

/// After `userDataStream.unsubscribe` the connection gets no more user events; another
/// connection still subscribed does.
#[tokio::test]
async fn unsubscribe_stops_events() {
    let sim = start(WsLimits::default()).await;
    let mut c = Client::connect(&sim.ws).await;
    let mut watcher = Client::connect(&sim.ws).await;
    let sub = subscribe(&mut c).await;
    subscribe(&mut watcher).await;
    let bad = c.call("userDataStream.unsubscribe", json!({"subscriptionId": sub + 7})).await;
    assert_eq!(bad["error"]["code"], -2036);
    let r = c.call("userDataStream.unsubscribe", json!({"subscriptionId": sub})).await;
    assert_eq!((r["status"].as_u64(), &r["result"]), (Some(200), &json!({})));

    let (bid, _, _) = best(&sim);
    let params = json!({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
        "quantity": "0.001", "price": bid.to_string()});
    let placed = c.call("order.place", signed(params, KEY, SECRET)).await;
    assert_eq!(placed["status"], 200, "{placed}");
    assert_eq!(watcher.report().await["event"]["x"], "NEW", "the events were published");
    assert!(c.events.is_empty());
    let silent = timeout(Duration::from_millis(300), c.ws.next()).await;
    assert!(silent.is_err(), "no frame after unsubscribe: {silent:?}");
}

/// The server pings at the configured interval and answers the client's pings with pongs.
#[tokio::test]
async fn keepalive_pings_and_pongs() {
    let sim = start(WsLimits { ping_interval_ms: 100, ..WsLimits::default() }).await;
    let mut c = Client::connect(&sim.ws).await;
    c.ws.send(Message::Ping(b"hi".to_vec().into())).await.unwrap();
    let (mut got_pong, mut got_ping) = (false, false);
    while !(got_pong && got_ping) {
        match timeout(WAIT, c.ws.next()).await.unwrap().unwrap().unwrap() {
            Message::Pong(p) => {
                assert_eq!(&p[..], b"hi");
                got_pong = true;
            }
            Message::Ping(_) => got_ping = true,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// A connection that falls behind the event broadcast is closed (1013), never left running
/// with user events silently missing. (The test runtime is single-threaded, so publishing more
/// than the broadcast holds before the connection task runs makes it lag deterministically.)
#[tokio::test]
async fn lagging_connection_is_closed_not_silently_gapped() {
    let sim = start(WsLimits::default()).await;
    let mut c = Client::connect(&sim.ws).await;
    subscribe(&mut c).await;
    let ev = storm_sim::SimEvent::Position { api_key: KEY.into(), time_ms: 1, balances: Vec::new() };
    sim.state.act(|_| Ok::<_, std::convert::Infallible>(((), vec![ev; 70_000]))).unwrap();
    match timeout(WAIT, c.ws.next()).await.unwrap() {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1013, "{frame:?}"),
        Some(Ok(Message::Text(t))) => panic!("no event may arrive after a gap: {t}"),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// An injected 5xx after placement reaches the WS-API client as status 500 (outcome unknown),
/// and `order.status` then finds the order: the executor's "query, never resend" rule.
#[tokio::test]
async fn injected_5xx_is_answered_after_the_order_was_placed() {
    let sim = start(WsLimits::default()).await;
    let fault = json!({"kind": "order_error", "mode": "5xx", "count": 1});
    let r = reqwest::Client::new().post(format!("{}/_sim/fault", sim.http)).json(&fault).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let mut c = Client::connect(&sim.ws).await;
    let (_, ask, _) = best(&sim);
    let params = json!({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "IOC",
        "quantity": "0.001", "price": ask.to_string(), "newClientOrderId": "ws-5xx"});
    let r = c.call("order.place", signed(params, KEY, SECRET)).await;
    assert_eq!((r["status"].as_u64(), r["error"]["code"].as_i64()), (Some(500), Some(-1000)), "{r}");
    let q =
        c.call("order.status", signed(json!({"symbol": "BTCUSDT", "origClientOrderId": "ws-5xx"}), KEY, SECRET)).await;
    assert_eq!((q["status"].as_u64(), q["result"]["clientOrderId"].as_str()), (Some(200), Some("ws-5xx")), "{q}");
}
