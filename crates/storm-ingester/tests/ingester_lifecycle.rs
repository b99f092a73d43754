//! The ingester over a connection's life: rotation before the venue's maximum age without losing
//! or duplicating an event, "all markets" from the venue listing at run time, ping lag per
//! connection in the health hash, and SUBSCRIBEs the venue rejected sent again.
//! Real parts: an in-process `storm-sim` over real sockets and a real redis-server.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use redis::AsyncCommands;
use storm_bus::{md, StartAt};
use storm_core::{Channel, MdEvent};
use storm_sim::config::WsLimits;
use storm_sim::ModelConfig;
use storm_venues::binance::{parse_frame, Frame};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Collects the trade ids of `stream` from a plain WebSocket client of the sim, as a reference
/// that never rotates, until `stop` fires.
async fn reference_trades(addr: String, stream: &'static str, stop: tokio_util::sync::CancellationToken) -> Vec<u64> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/stream")).await.unwrap();
    let subscribe = format!(r#"{{"method":"SUBSCRIBE","params":["{stream}"],"id":1}}"#);
    ws.send(Message::Text(subscribe.into())).await.unwrap();
    let mut ids = Vec::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return ids,
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(Frame::Trade(t)) = parse_frame(text.as_str(), 0) {
                        ids.push(t.trade_id);
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("reference connection ended: {other:?}"),
            },
        }
    }
}

/// Connections rotated every 2 s (Binance: before 24 h) for three rounds: the replacement opens
/// and subscribes while the old one still flows, so the depth streams stay contiguous with no
/// reset marker after the first, and the trades equal those of a client that never rotated —
/// nothing lost, nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_before_the_maximum_age_loses_and_duplicates_nothing() {
    let sim = start_sim(&ModelConfig::default(), 5, WsLimits::default()).await;
    let extra = "max_connection_age_ms = 2000\nrotation_overlap_ms = 1000";
    let mut h = start_configured(sim, 200, extra).await;
    let stop_reference = tokio_util::sync::CancellationToken::new();
    let reference = tokio::spawn(reference_trades(h.sim.addr.clone(), "btcusdt@trade", stop_reference.clone()));
    let mut depth = h.reader(Channel::Depth, StartAt::Beginning).await;
    let mut trades = h.reader(Channel::Trade, StartAt::Beginning).await;
    h.sadd(&["depth:BTCUSDT", "depth:ETHUSDT", "trade:BTCUSDT"]).await;

    let deadline = Instant::now() + Duration::from_secs(30);
    while h.counter("storm_ingester_rotations_total") < 3 {
        assert!(Instant::now() < deadline, "{} rotations in 30 s", h.counter("storm_ingester_rotations_total"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let the third rotation finish, then stop the reference and the ingester at the same time.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let rotations = h.counter("storm_ingester_rotations_total");
    stop_reference.cancel();
    let copies = h.counter("storm_ingester_handover_copies_total");
    let connects = h.counter("storm_ingester_connects_total");
    let reconnects = h.counter("storm_ingester_reconnects_total");
    h.stop_engine().await;
    let reference = reference.await.unwrap();

    let mut events = Vec::new();
    loop {
        let batch = depth.next_batch().await.unwrap();
        if batch.is_empty() {
            break;
        }
        events.extend(batch.iter().map(|e| md::decode(e).unwrap()));
    }
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        let resets: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                MdEvent::Reset(r) if r.symbol.as_str() == symbol => Some(r.reason.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(resets.len(), 1, "{symbol}: only the opening marker, none from rotations: {resets:?}");
        assert!(!events.iter().any(|e| matches!(e, MdEvent::Unsubscribed(_))), "a rotation drops no book");
        assert!(diffs_of(&events, symbol).count() > 100, "{symbol} flowed throughout");
        assert_contiguous(&events, symbol);
    }

    let mut got = Vec::new();
    loop {
        let batch = trades.next_batch().await.unwrap();
        if batch.is_empty() {
            break;
        }
        for entry in batch {
            if let MdEvent::Trade(t) = md::decode(&entry).unwrap() {
                got.push(t.trade_id);
            }
        }
    }
    assert!(got.windows(2).all(|w| w[0] < w[1]), "trades in order, none twice");
    let got_set: BTreeSet<u64> = got.iter().copied().collect();
    let (first, last) = (got[0], *got.last().unwrap());
    let expected: BTreeSet<u64> = reference.into_iter().filter(|id| (first..=last).contains(id)).collect();
    assert!(expected.len() > 10, "the reference saw trades in the window: {}", expected.len());
    let missing: Vec<u64> = expected.difference(&got_set).copied().collect();
    assert!(missing.is_empty(), "trades lost across rotations: {missing:?}");

    assert!(rotations >= 3 && connects > rotations, "{rotations} rotations, {connects} connects");
    assert_eq!(reconnects, 0, "rotation is not a reconnect");
    assert!(copies > 0, "both connections delivered during the overlaps; the copies were dropped");
    drop(h);
}

/// `all_markets_quotes = ["BTC"]` subscribes every TRADING market with BTC as quote or base, read
/// from the venue's exchangeInfo at run time (no static subscription at all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_markets_of_an_asset_are_subscribed_from_the_venue_listing() {
    let model = ModelConfig::default();
    let expected: BTreeSet<String> = model
        .pairs
        .iter()
        .filter(|(b, q)| b.as_str() == "BTC" || q.as_str() == "BTC")
        .map(|(b, q)| format!("{b}{q}"))
        .collect();
    assert!(expected.len() >= 3, "the default universe has BTC markets: {expected:?}");
    let sim = start_sim(&model, 5, WsLimits::default()).await;
    let h = start_configured(sim, 200, "all_markets_quotes = [\"btc\"]\nall_markets_channels = [\"depth\"]").await;
    let mut depth = h.reader(Channel::Depth, StartAt::Beginning).await;

    let events = read_until(&mut depth, |ev| {
        let seen: BTreeSet<String> = ev.iter().filter_map(|e| e.symbol()).map(|s| s.to_string()).collect();
        expected.iter().all(|s| seen.contains(s))
    })
    .await;
    let seen: BTreeSet<String> = events.iter().filter_map(|e| e.symbol()).map(|s| s.to_string()).collect();
    assert_eq!(seen, expected, "exactly the BTC markets");
    assert_eq!(h.gauge("storm_ingester_wanted_streams") as usize, expected.len());
    h.stop().await;
}

/// Our own pings measure the round trip of each connection; the lag of every live connection is
/// a field of `storm:health:ingester:<instance>`, and a connection that is gone leaves no field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_lag_of_each_connection_is_in_the_health_hash() {
    let sim = start_sim(&ModelConfig::default(), 5, WsLimits::default()).await;
    let mut h = start_configured(sim, 1, "").await;
    h.sadd(&["depth:BTCUSDT", "depth:ETHUSDT"]).await;
    let field = |conn: u32| format!("storm_ingester_conn_ping_lag_ms{{venue=\"sim\",conn=\"conn-{conn}\"}}");

    let deadline = Instant::now() + Duration::from_secs(15);
    let health: BTreeMap<String, String> = loop {
        assert!(Instant::now() < deadline, "no ping lag for both connections in the health hash");
        let health: BTreeMap<String, String> = h.redis.hgetall("storm:health:ingester:test").await.unwrap();
        let lags: Vec<f64> =
            (0..2).filter_map(|c| health.get(&field(c))).filter_map(|v| v.parse().ok()).filter(|v| *v > 0.0).collect();
        if lags.len() == 2 {
            break health;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for conn in 0..2 {
        let lag: f64 = health[&field(conn)].parse().unwrap();
        assert!(lag > 0.0 && lag < 1_000.0, "conn-{conn}: {lag} ms on loopback");
    }

    h.srem(&["depth:ETHUSDT"]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "the closed connection's lag stayed in the health hash");
        let health: BTreeMap<String, String> = h.redis.hgetall("storm:health:ingester:test").await.unwrap();
        if health.contains_key(&field(0)) && !health.contains_key(&field(1)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    h.stop().await;
}

/// The sim refuses a whole SUBSCRIBE when one stream in it is unknown (as a venue may refuse a
/// batch): the ingester sends the rejected streams again, split in halves, later each time, so
/// the good stream flows and the bad one is retried alone, ever more slowly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_subscribe_is_sent_again_and_the_good_streams_flow() {
    let sim = start_sim(&ModelConfig::default(), 5, WsLimits::default()).await;
    let mut h = start_configured(sim, 200, "resubscribe_delay_ms = 300").await;
    let mut depth = h.reader(Channel::Depth, StartAt::Beginning).await;
    h.sadd(&["depth:BTCUSDT", "depth:NOPEUSDT"]).await;

    let events = read_until(&mut depth, |ev| diffs_of(ev, "BTCUSDT").count() >= 5).await;
    assert_contiguous(&events, "BTCUSDT");
    assert!(events
        .iter()
        .all(|e| e.symbol().is_none_or(|s| s.as_str() != "NOPEUSDT") || matches!(e, MdEvent::Reset(_))));
    let first = h.counter("storm_ingester_rejected_total");
    assert!(first >= 2, "the batch, then the bad half alone: {first}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.counter("storm_ingester_rejected_total") == first {
        assert!(Instant::now() < deadline, "the bad stream is not retried");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(h.counter("storm_ingester_reconnects_total"), 0, "within the message budget");
    h.stop().await;
}
