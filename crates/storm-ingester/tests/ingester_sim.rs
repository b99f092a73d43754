//! The ingester engine end to end: an in-process `storm-sim` (Binance's strict limits: 5 client
//! messages per second, else disconnected) and a real redis-server. Subscriptions come and go
//! through `storm:subs:sim`; data lands on `storm:md:sim:*`; sharding opens several connections;
//! a dropped connection comes back by itself with a reset marker. Every wait is bounded.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use redis::AsyncCommands;
use storm_bus::{md, StartAt, StreamReader};
use storm_core::{Channel, MdEvent};
use storm_sim::config::WsLimits;
use storm_sim::server::{self, SimState};
use storm_sim::{Exchange, ModelConfig};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Waits for a `reconnect` reset marker followed by `n` diffs of `symbol`, checks they are
/// contiguous, and that the ingester counted the reconnect.
async fn expect_reconnect(h: &Harness, depth: &mut StreamReader, symbol: &str, n: usize) {
    let after = read_until(depth, |ev| {
        let reset = ev.iter().position(|e| matches!(e, MdEvent::Reset(r) if r.reason == "reconnect"));
        reset.is_some_and(|i| diffs_of(&ev[i..], symbol).count() >= n)
    })
    .await;
    assert_contiguous(&after, symbol);
    assert!(h.counter("storm_ingester_reconnects_total") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sadd_subscribes_and_srem_unsubscribes() {
    let mut h = start(200).await;
    let mut depth = h.reader(Channel::Depth, StartAt::Beginning).await;
    let mut trades = h.reader(Channel::Trade, StartAt::Beginning).await;
    h.sadd(&["depth:BTCUSDT", "trade:ETHUSDT"]).await;

    let events = read_until(&mut depth, |ev| diffs_of(ev, "BTCUSDT").count() >= 30).await;
    assert!(matches!(&events[0], MdEvent::Reset(r) if r.symbol.as_str() == "BTCUSDT"), "a marker opens the stream");
    assert!(events.iter().all(|e| e.symbol().is_none_or(|s| s.as_str() == "BTCUSDT")));
    assert_contiguous(&events, "BTCUSDT");
    let trades = read_until(&mut trades, |ev| !ev.is_empty()).await;
    assert!(trades.iter().all(|e| matches!(e, MdEvent::Trade(t) if t.symbol.as_str() == "ETHUSDT")), "{trades:?}");
    // The connection vouches for its acknowledged depth symbol (the trade stream is not listed).
    let alive = |e: &MdEvent| matches!(e, MdEvent::Alive(a) if a.symbols.iter().map(|s| s.as_str()).eq(["BTCUSDT"]));
    read_until(&mut depth, |ev| ev.iter().any(alive)).await;

    h.srem(&["depth:BTCUSDT", "trade:ETHUSDT"]).await;
    let after = read_until(&mut depth, |ev| ev.iter().any(|e| matches!(e, MdEvent::Unsubscribed(_)))).await;
    let unsub = after.iter().position(|e| matches!(e, MdEvent::Unsubscribed(u) if u.symbol.as_str() == "BTCUSDT"));
    let unsub = unsub.expect("an unsub marker for BTCUSDT");
    assert!(after[unsub..].iter().all(|e| !matches!(e, MdEvent::Depth(_))), "no diff after the marker");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let depth_len: usize = h.redis.xlen("storm:md:sim:depth").await.unwrap();
    let trade_len: usize = h.redis.xlen("storm:md:sim:trade").await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(h.redis.xlen::<_, usize>("storm:md:sim:depth").await.unwrap(), depth_len, "depth stopped");
    assert_eq!(h.redis.xlen::<_, usize>("storm:md:sim:trade").await.unwrap(), trade_len, "trades stopped");
    assert_eq!(h.counter("storm_ingester_malformed_total"), 0);
    assert_eq!(h.counter("storm_ingester_rejected_total"), 0);
    assert_eq!(h.counter("storm_ingester_reconnects_total"), 0, "never disconnected for going over 5 msg/s");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_sharded_over_connections_and_all_flow() {
    let mut h = start(2).await;
    let symbols = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"];
    let members: Vec<String> = symbols.iter().map(|s| format!("depth:{s}")).collect();
    let mut depth = h.reader(Channel::Depth, StartAt::Beginning).await;
    h.sadd(&members.iter().map(String::as_str).collect::<Vec<_>>()).await;

    let events = read_until(&mut depth, |ev| symbols.iter().all(|s| diffs_of(ev, s).count() >= 5)).await;
    for symbol in symbols {
        assert_contiguous(&events, symbol);
    }
    assert_eq!(h.gauge("storm_ingester_connections"), 3.0, "5 streams at 2 per connection");
    assert_eq!(h.gauge("storm_ingester_connected"), 3.0);
    assert_eq!(h.counter("storm_ingester_connects_total"), 3);
    assert_eq!(h.counter("storm_ingester_reconnects_total"), 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_reconnects_with_a_reset_marker() {
    let mut h = start(200).await;
    let mut depth = h.reader(Channel::Depth, StartAt::Beginning).await;
    h.sadd(&["depth:BTCUSDT"]).await;
    read_until(&mut depth, |ev| diffs_of(ev, "BTCUSDT").count() >= 5).await;

    let url = format!("http://{}/_sim/fault", h.sim.addr);
    let r = reqwest::Client::new().post(url).json(&serde_json::json!({"kind":"close_streams"})).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);

    expect_reconnect(&h, &mut depth, "BTCUSDT", 5).await;
    assert_eq!(h.counter("storm_ingester_connects_total"), 2);
    h.stop().await;
}

/// 1,500 streams wanted at once (500 symbols × depth, trade and ticker): the first connection
/// takes 1,024 of them, six 200-stream SUBSCRIBE messages — one more than Binance allows in a
/// second — plus pings, so they must be spread out. The sim enforces the 5-per-second limit by
/// disconnecting offenders; the ingester is never disconnected and every symbol flows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_symbols_at_once_stay_within_five_messages_a_second() {
    let model = storm_sim::app::model(&storm_sim::config::SimConfig { extra_assets: 157, ..Default::default() });
    let symbols: Vec<String> = model.pairs.iter().map(|(b, q)| format!("{b}{q}")).collect();
    assert_eq!(symbols.len(), 500);
    let mut h = start_with(1_024, &model, 20, WsLimits::default()).await;
    let mut depth = h.reader(Channel::Depth, StartAt::Beginning).await;
    let members: Vec<String> =
        symbols.iter().flat_map(|s| [format!("depth:{s}"), format!("trade:{s}"), format!("ticker:{s}")]).collect();
    assert_eq!(members.len(), 1_500);
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    h.sadd(&refs).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < symbols.len() {
        assert!(Instant::now() < deadline, "only {} of 500 symbols delivered depth in 60 s", seen.len());
        for entry in depth.next_batch().await.unwrap() {
            if let MdEvent::Depth(d) = md::decode(&entry).unwrap() {
                seen.insert(d.symbol.to_string());
            }
        }
    }
    assert_eq!(h.counter("storm_ingester_reconnects_total"), 0, "the sim never dropped us for the message rate");
    assert_eq!(h.counter("storm_ingester_connects_total"), 2, "1,024 streams on one connection, 476 on another");
    assert_eq!(h.counter("storm_ingester_rejected_total"), 0);
    assert!(h.counter("storm_ingester_client_messages_total") >= 9, "6 + 3 SUBSCRIBE batches at least");
    let mut trade = h.reader(Channel::Trade, StartAt::Beginning).await;
    assert!(!trade.next_batch().await.unwrap().is_empty(), "trades flow too");
    h.stop().await;
}

/// A stream that goes silent (no frames, no pings) for longer than `silence_timeout_ms` (5 s
/// here) is given up and reconnected by the ingester itself; a reset marker precedes the new data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stream_is_detected_and_reconnected() {
    let mut h = start(200).await;
    let mut depth = h.reader(Channel::Depth, StartAt::Beginning).await;
    h.sadd(&["depth:BTCUSDT"]).await;
    read_until(&mut depth, |ev| diffs_of(ev, "BTCUSDT").count() >= 5).await;

    fault(&h, serde_json::json!({"kind": "stall", "ms": 6000})).await;
    expect_reconnect(&h, &mut depth, "BTCUSDT", 3).await;
    h.stop().await;
}

/// A malformed frame is counted and skipped; the stream goes on, contiguous, without a reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_frame_is_counted_and_skipped() {
    let mut h = start(200).await;
    let mut depth = h.reader(Channel::Depth, StartAt::Beginning).await;
    h.sadd(&["depth:BTCUSDT"]).await;
    read_until(&mut depth, |ev| diffs_of(ev, "BTCUSDT").count() >= 5).await;

    fault(&h, serde_json::json!({"kind": "malformed"})).await;
    let after = read_until(&mut depth, |ev| diffs_of(ev, "BTCUSDT").count() >= 20).await;
    assert_contiguous(&after, "BTCUSDT");
    assert!(h.counter("storm_ingester_malformed_total") >= 1, "the bad frame was counted");
    assert_eq!(h.counter("storm_ingester_reconnects_total"), 0, "and did not cost the connection");
    h.stop().await;
}

/// Redis restarted empty in the middle of a run: the writer and the subscription poll reconnect by
/// themselves; once the operator re-adds the subscription (Redis lost it), data lands again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_run_recovers_by_itself() {
    let mut h = start(200).await;
    let mut depth = h.reader(Channel::Depth, StartAt::Beginning).await;
    h.sadd(&["depth:BTCUSDT"]).await;
    read_until(&mut depth, |ev| diffs_of(ev, "BTCUSDT").count() >= 5).await;

    tokio::task::block_in_place(|| h._redis.restart_after(Duration::from_millis(500))).unwrap();
    // The test's own connection does not reconnect by itself; the ingester's must.
    h.redis = redis::Client::open(h._redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    h.sadd(&["depth:BTCUSDT"]).await;
    let after = read_until(&mut depth, |ev| diffs_of(ev, "BTCUSDT").count() >= 5).await;
    assert_contiguous(&after, "BTCUSDT");
    h.stop().await;
}

/// The venue announces a planned disconnect with `serverShutdown` (the sim does at its maximum
/// connection age, 3 s here): the ingester reconnects at once, marks the break, and data resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_shutdown_leads_to_a_reconnect() {
    let limits = WsLimits { max_connection_age_ms: 3_000, ..WsLimits::default() };
    let mut h = start_with(200, &ModelConfig::default(), 5, limits).await;
    let mut depth = h.reader(Channel::Depth, StartAt::Beginning).await;
    h.sadd(&["depth:BTCUSDT"]).await;
    expect_reconnect(&h, &mut depth, "BTCUSDT", 3).await;
    h.stop().await;
}

/// The real BTCUSDT recording (both days, 6,495 diffs), replayed by the sim over its WebSocket at
/// 100× speed, arrives in Redis complete and in order: exactly the recorded update ids, none
/// missing, none duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_recording_arrives_complete_and_in_order() {
    use storm_sim::replay::{Item, Recording};
    let files = [
        storm_testkit::fixtures::testdata_file("binance-spot-replay/spot_btcusdt_20240808.gz"),
        storm_testkit::fixtures::testdata_file("binance-spot-replay/spot_btcusdt_20240809.gz"),
    ];
    let rec = Recording::load(&files).unwrap();
    let recorded: Vec<(u64, u64)> = rec
        .items
        .iter()
        .filter_map(|(_, i)| match i {
            Item::Event(storm_sim::SimEvent::Depth(d)) => Some((d.first_update_id, d.last_update_id)),
            _ => None,
        })
        .collect();
    let mut ex = Exchange::new(&ModelConfig { assets: vec![], pairs: vec![], ..ModelConfig::default() }, 1, 0);
    storm_sim::app::prepare(&mut ex, &rec);
    let state = SimState::new(ex, 6000, WsLimits::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stop = CancellationToken::new();
    tokio::spawn(server::serve(listener, state.clone(), stop.clone()));
    let mut h = start_on(Sim { addr, _state: state.clone(), stop: stop.clone() }, 200).await;

    let mut depth = h.reader(Channel::Depth, StartAt::Beginning).await;
    h.sadd(&["depth:BTCUSDT"]).await;
    read_until(&mut depth, |ev| ev.iter().any(|e| matches!(e, MdEvent::Reset(_)))).await;
    // The marker is written when SUBSCRIBE is sent; give the sim the loopback round trip to
    // register the stream before the first recorded frame goes out (a real venue, too, streams
    // only after the subscription), so the test can demand every recorded id.
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::spawn(storm_sim::app::play(state, rec, 100.0, stop.clone()));

    let last_u = recorded.last().unwrap().1;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = Vec::new();
    while got.last().map(|&(_, u)| u) != Some(last_u) {
        assert!(Instant::now() < deadline, "{} of {} diffs after 60 s", got.len(), recorded.len());
        for entry in depth.next_batch().await.unwrap() {
            match md::decode(&entry).unwrap() {
                MdEvent::Depth(d) => got.push((d.first_update_id, d.last_update_id)),
                MdEvent::Reset(r) => panic!("continuity broken during the replay: {r:?}"),
                MdEvent::Alive(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(got.len(), recorded.len());
    assert_eq!(got, recorded, "every recorded diff, in order, once");
    h.stop().await;
}
