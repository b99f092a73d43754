//! The market-data WebSocket over real sockets, read with an ordinary WebSocket client: control
//! replies, raw and combined frames, the book-sync procedure of BINANCE.md, and every limit.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod ws_market_support;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use futures_util::SinkExt;
use serde_json::Value;
use storm_core::{DepthDiff, Price, Qty};
use storm_sim::config::WsLimits;
use storm_venues::binance::wire::{parse_frame, Frame};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use ws_market_support::{
    closes_within, next_diff, next_message, next_text, relaxed, request, start, SilentClient, PATIENCE,
};

#[tokio::test]
async fn control_messages_get_binance_replies() {
    let sim = start(relaxed()).await;
    let mut ws = sim.connect("/ws").await;
    let sub = r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","ethbtc@depth@100ms"],"id":1}"#;
    assert_eq!(request(&mut ws, sub).await, r#"{"result":null,"id":1}"#);
    let list = request(&mut ws, r#"{"method":"LIST_SUBSCRIPTIONS","id":3}"#).await;
    assert_eq!(list, r#"{"result":["btcusdt@trade","ethbtc@depth@100ms"],"id":3}"#);
    let unsub = r#"{"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":"a-36-char-id"}"#;
    assert_eq!(request(&mut ws, unsub).await, r#"{"result":null,"id":"a-36-char-id"}"#);
    let list = request(&mut ws, r#"{"method":"LIST_SUBSCRIPTIONS","id":null}"#).await;
    assert_eq!(list, r#"{"result":["ethbtc@depth@100ms"],"id":null}"#);

    let bad_json = request(&mut ws, r#"{"method":"SUBSCRIBE","#).await;
    assert!(bad_json.starts_with(r#"{"error":{"code":3,"msg":"Invalid JSON: "#), "{bad_json}");
    assert!(bad_json.ends_with(r#""id":null}"#), "{bad_json}");
    let unknown = request(&mut ws, r#"{"method":"SUBSCRIBE_ALL","params":[],"id":4}"#).await;
    assert!(unknown.starts_with(r#"{"error":{"code":2,"msg":"Invalid request: unknown variant"#), "{unknown}");
    assert!(unknown.ends_with(r#""id":4}"#), "{unknown}");
    let bad_stream = request(&mut ws, r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","nope@trade"],"id":5}"#).await;
    assert!(bad_stream.starts_with(r#"{"error":{"code":2,"msg":"Invalid request: "#), "{bad_stream}");
    let bad_prop = request(&mut ws, r#"{"method":"SET_PROPERTY","params":["combined","yes"],"id":6}"#).await;
    assert_eq!(bad_prop, r#"{"error":{"code":1,"msg":"Invalid value type: expected Boolean"},"id":6}"#);
    let list = request(&mut ws, r#"{"method":"LIST_SUBSCRIPTIONS","id":7}"#).await;
    assert_eq!(list, r#"{"result":["ethbtc@depth@100ms"],"id":7}"#, "a refused SUBSCRIBE adds nothing");

    // Binance's SET_PROPERTY switches an open raw connection to combined frames.
    let set = request(&mut ws, r#"{"method":"SET_PROPERTY","params":["combined",true],"id":8}"#).await;
    assert_eq!(set, r#"{"result":null,"id":8}"#);
    assert_eq!(
        request(&mut ws, r#"{"method":"GET_PROPERTY","params":["combined"],"id":9}"#).await,
        r#"{"result":true,"id":9}"#
    );
    loop {
        let v: Value = serde_json::from_str(&next_text(&mut ws).await).unwrap();
        if v.get("stream").is_some() {
            assert_eq!(v["stream"], "ethbtc@depth@100ms");
            break;
        }
    }
}

#[tokio::test]
async fn raw_and_combined_frames_carry_the_same_contiguous_diffs() {
    let sim = start(relaxed()).await;
    let streams = "btcusdt@depth@100ms/btcusdt@bookTicker/btcusdt@trade/ethusdt@kline_1s";
    let mut combined = sim.connect(&format!("/stream?streams={streams}")).await;
    let mut raw = sim.connect("/ws/btcusdt@depth@100ms/ethusdt@trade").await;

    let mut kinds = std::collections::BTreeSet::new();
    let mut combined_diffs = Vec::new();
    while combined_diffs.len() < 15 || kinds.len() < 4 {
        let text = next_text(&mut combined).await;
        let v: Value = serde_json::from_str(&text).unwrap();
        let stream = v["stream"].as_str().unwrap().to_owned();
        assert!(streams.split('/').any(|s| s == stream), "{stream}");
        assert!(text.starts_with(&format!(r#"{{"stream":"{stream}","data":{{"#)), "Binance's key order: {text}");
        let frame = parse_frame(&text, 0).unwrap();
        match (&frame, stream.split_once('@').unwrap().1) {
            (Frame::Depth(d), "depth@100ms") => combined_diffs.push(d.clone()),
            (Frame::Ticker(t), "bookTicker") => assert!(t.bid_price < t.ask_price),
            (Frame::Trade(t), "trade") => assert_eq!(t.symbol.as_str(), "BTCUSDT"),
            (Frame::Kline(k), "kline_1s") => assert_eq!((k.symbol.as_str(), k.interval.as_str()), ("ETHUSDT", "1s")),
            other => panic!("frame does not match its stream: {other:?}"),
        }
        kinds.insert(stream);
    }
    assert_contiguous(&combined_diffs);

    let mut raw_diffs = Vec::new();
    while raw_diffs.len() < 15 {
        let text = next_text(&mut raw).await;
        assert!(!text.starts_with(r#"{"stream""#), "raw frames are bare payloads");
        match parse_frame(&text, 0).unwrap() {
            Frame::Depth(d) => raw_diffs.push(d),
            Frame::Trade(t) => assert_eq!(t.symbol.as_str(), "ETHUSDT"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_contiguous(&raw_diffs);
    // Both connections see the same diffs: the same event, serialised once.
    let overlap: Vec<_> = raw_diffs.iter().filter(|d| combined_diffs.contains(d)).collect();
    assert!(!overlap.is_empty(), "the two connections share diffs");
}

fn assert_contiguous(diffs: &[DepthDiff]) {
    for w in diffs.windows(2) {
        assert_eq!(w[1].first_update_id, w[0].last_update_id + 1, "U == previous u + 1");
        assert!(w[1].last_update_id >= w[1].first_update_id);
    }
}

type Side = BTreeMap<Price, Qty>;

fn apply(side: &mut Side, levels: &[storm_core::Level]) {
    for l in levels {
        if l.qty.is_zero() {
            side.remove(&l.price);
        } else {
            side.insert(l.price, l.qty);
        }
    }
}

fn levels(v: &Value) -> Side {
    v.as_array()
        .unwrap()
        .iter()
        .map(|l| (Price::from_str(l[0].as_str().unwrap()).unwrap(), Qty::from_str(l[1].as_str().unwrap()).unwrap()))
        .collect()
}

#[tokio::test]
async fn snapshot_plus_diffs_rebuilds_the_sim_book_exactly() {
    let sim = start(relaxed()).await;
    let mut ws = sim.connect("/ws/btcusdt@depth@100ms").await;
    // BINANCE.md steps 1-5: buffer, snapshot (fresh enough), drop old events, apply the rest.
    let mut buffered = vec![next_diff(&mut ws).await];
    let snapshot = loop {
        let s = sim.get("/api/v3/depth?symbol=BTCUSDT&limit=1000").await;
        if s["lastUpdateId"].as_u64().unwrap() >= buffered[0].first_update_id {
            break s;
        }
        buffered.push(next_diff(&mut ws).await);
    };
    let (mut bids, mut asks) = (levels(&snapshot["bids"]), levels(&snapshot["asks"]));
    let mut local = snapshot["lastUpdateId"].as_u64().unwrap();
    let mut applied = 0;
    let deadline = Instant::now() + Duration::from_millis(1_500);
    let mut apply_diff = |d: DepthDiff| {
        if d.last_update_id <= local {
            return; // older than the snapshot
        }
        assert!(d.first_update_id <= local + 1, "gap: U {} after local {local}", d.first_update_id);
        apply(&mut bids, &d.bids);
        apply(&mut asks, &d.asks);
        local = d.last_update_id;
        applied += 1;
    };
    buffered.into_iter().for_each(&mut apply_diff);
    while Instant::now() < deadline {
        apply_diff(next_diff(&mut ws).await);
    }
    // Stop the market, drain what is in flight, then compare with the exchange's own book.
    sim.clock.cancel();
    while let Some(m) = next_message(&mut ws, Duration::from_millis(400)).await {
        if let Message::Text(t) = m {
            if let Ok(Frame::Depth(d)) = parse_frame(t.as_str(), 0) {
                apply_diff(d);
            }
        }
    }
    assert!(applied >= 5, "only {applied} diffs applied");
    let truth = sim.get("/api/v3/depth?symbol=BTCUSDT&limit=1000").await;
    assert_eq!(truth["lastUpdateId"].as_u64().unwrap(), local, "local id is the exchange's");
    assert_eq!(bids, levels(&truth["bids"]));
    assert_eq!(asks, levels(&truth["asks"]));
}

#[tokio::test]
async fn one_second_depth_merges_the_fast_diffs_and_stays_contiguous() {
    let sim = start(relaxed()).await;
    let mut ws = sim.connect("/stream?streams=btcusdt@depth/btcusdt@depth@100ms").await;
    let (mut slow, mut fast) = (Vec::new(), Vec::new());
    let started = Instant::now();
    while slow.len() < 3 {
        assert!(started.elapsed() < Duration::from_secs(10), "too few @depth events");
        let text = next_text(&mut ws).await;
        let v: Value = serde_json::from_str(&text).unwrap();
        let Ok(Frame::Depth(d)) = parse_frame(&text, 0) else { panic!("{text}") };
        match v["stream"].as_str().unwrap() {
            "btcusdt@depth" => slow.push(d),
            _ => fast.push(d),
        }
    }
    assert_contiguous(&slow);
    assert_contiguous(&fast);
    // An event covered by the fast stream equals the merge of its diffs (last quantity wins).
    for event in &slow[1..] {
        let parts: Vec<_> = fast
            .iter()
            .filter(|d| d.first_update_id >= event.first_update_id && d.last_update_id <= event.last_update_id)
            .collect();
        assert_eq!(parts.first().map(|d| d.first_update_id), Some(event.first_update_id));
        assert_eq!(parts.last().map(|d| d.last_update_id), Some(event.last_update_id));
        assert!(parts.len() > 1, "a second holds several diffs");
        let (mut bids, mut asks) = (BTreeMap::new(), BTreeMap::new());
        for d in &parts {
            bids.extend(d.bids.iter().map(|l| (l.price, l.qty)));
            asks.extend(d.asks.iter().map(|l| (l.price, l.qty)));
        }
        let merged_bids: Vec<_> = bids.into_iter().rev().collect();
        let merged_asks: Vec<_> = asks.into_iter().collect();
        assert_eq!(event.bids.iter().map(|l| (l.price, l.qty)).collect::<Vec<_>>(), merged_bids);
        assert_eq!(event.asks.iter().map(|l| (l.price, l.qty)).collect::<Vec<_>>(), merged_asks);
    }
}

#[tokio::test]
async fn server_pings_and_drops_a_client_that_never_pongs() {
    let limits = WsLimits { ping_interval_ms: 200, pong_timeout_ms: 600, max_incoming_per_sec: 100, ..relaxed() };
    let sim = start(limits).await;
    let connected = Instant::now(); // no later than the server's own clock starts
    let mut answering = sim.connect("/ws").await;
    let mut silent = SilentClient::connect(&sim.addr, "/ws").await;

    // The answering client (tungstenite pongs every ping) reads all along, past the timeout.
    let answering = tokio::spawn(async move {
        let mut pings = 0;
        while connected.elapsed() < Duration::from_millis(1_600) {
            match next_message(&mut answering, PATIENCE).await {
                Some(Message::Ping(_)) => pings += 1,
                Some(_) => {}
                None => panic!("a client that answers pings must stay connected"),
            }
        }
        (answering, pings)
    });

    // The silent client reads every frame but never pongs: pings, then close 1008 once the
    // first ping (at 200 ms) has gone unanswered for 600 ms.
    let mut silent_pings = 0;
    let close = loop {
        match silent.frame(PATIENCE).await {
            Some((0x9, payload)) => {
                assert!(!payload.is_empty(), "a payload to echo");
                silent_pings += 1;
            }
            Some((0x8, payload)) => break payload,
            other => panic!("expected pings then a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.get(..2), Some(&1008u16.to_be_bytes()[..]), "policy violation");
    assert!(connected.elapsed() >= Duration::from_millis(800), "not before the timeout: {:?}", connected.elapsed());
    assert!(silent_pings >= 2, "pinged every 200 ms until then, got {silent_pings}");

    let (mut answering, pings) = answering.await.unwrap();
    assert!(pings >= 5, "a ping every 200 ms, got {pings}");
    assert_eq!(request(&mut answering, r#"{"method":"LIST_SUBSCRIPTIONS","id":1}"#).await, r#"{"result":[],"id":1}"#);
}

#[tokio::test]
async fn more_than_five_messages_in_a_second_disconnects() {
    let sim = start(WsLimits::default()).await;
    let list = r#"{"method":"LIST_SUBSCRIPTIONS","id":1}"#;
    let mut polite = sim.connect("/ws").await;
    for _ in 0..5 {
        assert_eq!(request(&mut polite, list).await, r#"{"result":[],"id":1}"#);
    }
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(request(&mut polite, list).await, r#"{"result":[],"id":1}"#, "five a second are fine");

    let mut eager = sim.connect("/ws").await;
    for _ in 0..6 {
        eager.send(Message::Text(list.into())).await.unwrap();
    }
    let deadline = Instant::now() + PATIENCE;
    let mut replies = 0;
    let closed = loop {
        match tokio::time::timeout_at(deadline, futures_util::StreamExt::next(&mut eager)).await {
            Err(_) => break false,
            Ok(Some(Ok(Message::Text(_)))) => replies += 1,
            Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) => break true,
            Ok(Some(Ok(_))) => {}
        }
    };
    assert!(closed, "six messages within a second close the connection");
    assert!(replies <= 5, "the sixth message is not answered ({replies} replies)");
}

#[tokio::test]
async fn a_fourth_stream_is_refused_when_three_are_allowed() {
    let sim = start(WsLimits { max_streams: 3, ..relaxed() }).await;
    let mut ws = sim.connect("/ws/btcusdt@trade").await;
    let three = r#"{"method":"SUBSCRIBE","params":["ethusdt@trade","btcusdt@trade","bnbusdt@trade"],"id":1}"#;
    assert_eq!(request(&mut ws, three).await, r#"{"result":null,"id":1}"#, "a held stream does not count twice");
    let fourth = request(&mut ws, r#"{"method":"SUBSCRIBE","params":["solusdt@trade"],"id":2}"#).await;
    assert!(
        fourth.starts_with(r#"{"error":{"code":2,"msg":"Invalid request: "#) && fourth.ends_with(r#""id":2}"#),
        "{fourth}"
    );
    let list = request(&mut ws, r#"{"method":"LIST_SUBSCRIPTIONS","id":3}"#).await;
    assert_eq!(list, r#"{"result":["btcusdt@trade","ethusdt@trade","bnbusdt@trade"],"id":3}"#);

    let url = format!("ws://{}/ws/btcusdt@trade/ethusdt@trade/bnbusdt@trade/solusdt@trade", sim.addr);
    assert!(tokio_tungstenite::connect_async(url).await.is_err(), "four streams in the URL are refused");
}

#[tokio::test]
async fn an_old_connection_gets_server_shutdown_then_closes() {
    let sim = start(WsLimits { max_connection_age_ms: 500, ..relaxed() }).await;
    let opened = Instant::now(); // no later than the server's own clock starts
    let mut ws = sim.connect("/ws/btcusdt@depth@100ms").await;
    let bye = loop {
        let text = next_text(&mut ws).await;
        if let Ok(Frame::ServerShutdown { time_ms }) = parse_frame(&text, 0) {
            break time_ms;
        }
    };
    assert!(opened.elapsed() >= Duration::from_millis(500), "not before the age limit");
    assert!(bye > 1_700_000_000_000, "E is a time in ms");
    assert!(closes_within(&mut ws, PATIENCE).await, "closed after serverShutdown");
}

/// Binance accepts a connection whose URL names no known stream (ccxt opens `/ws/0`) and carries
/// nothing until the client subscribes.
#[tokio::test]
async fn unknown_url_stream_opens_an_empty_connection() {
    let sim = start(relaxed()).await;
    let mut ws = sim.connect("/ws/0").await;
    assert_eq!(request(&mut ws, r#"{"method":"LIST_SUBSCRIPTIONS","id":1}"#).await, r#"{"result":[],"id":1}"#);
    let sub = r#"{"method":"SUBSCRIBE","params":["btcusdt@depth@100ms"],"id":2}"#;
    assert_eq!(request(&mut ws, sub).await, r#"{"result":null,"id":2}"#);
    let diff = next_diff(&mut ws).await;
    assert_eq!(diff.symbol.as_str(), "BTCUSDT");
}

/// Bursts bigger than a connection's send batch, a second clock and orders placed while the
/// clocks run never cost a client a diff: every symbol's ids stay contiguous. (Two bugs this
/// caught: a batch dropped the frame it fetched last, and events published after the exchange
/// lock was released could overtake each other.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_and_concurrent_orders_never_gap() {
    use rust_decimal::Decimal;
    use storm_core::{Asset, Side, Symbol};
    use storm_sim::{OrderRequest, OrderType, TimeInForce};

    let sim = start(relaxed()).await;
    sim.state.exchange().add_account("k", "s", &[(Asset::new("USDT"), Decimal::from(10_000_000))]);
    let names: Vec<String> = sim
        .state
        .exchange()
        .instruments()
        .map(|i| format!("{}@depth@100ms", i.symbol.as_str().to_lowercase()))
        .collect();
    let mut ws = sim.connect(&format!("/stream?streams={}", names.join("/"))).await;
    // Bursts of 400 updates — more than a connection's 256-frame send batch — at a modest average
    // rate, so a loaded machine cannot turn the client into a slow consumer.
    tokio::spawn(storm_sim::server::market_clock(
        sim.state.clone(),
        Duration::from_millis(200),
        400,
        sim.clock.clone(),
    ));
    let state = sim.state.clone();
    let orders = tokio::spawn(async move {
        let btc = Symbol::new("BTCUSDT");
        for _ in 0..200 {
            let ask = state.exchange().book_ticker(&btc).unwrap().1.price.0;
            let req = OrderRequest {
                symbol: btc.clone(),
                side: Side::Buy,
                kind: OrderType::Limit,
                time_in_force: Some(TimeInForce::Ioc),
                quantity: Some(Decimal::new(1, 3)),
                quote_order_qty: None,
                price: Some(ask),
                client_order_id: None,
            };
            let now = state.now_ms();
            state.act(|ex| ex.place("k", req, now)).unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    // Count-bound, not time-bound: load only makes the test slower, never weaker.
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    let check = async {
        for _ in 0..10_000 {
            let d = next_diff(&mut ws).await;
            if let Some(prev) = last.insert(d.symbol.to_string(), d.last_update_id) {
                assert_eq!(d.first_update_id, prev + 1, "{}: gap after {prev}", d.symbol);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(90), check).await.expect("10,000 diffs within 90 s");
    orders.await.unwrap();
}
