//! The market-data WebSocket's injected faults (`POST /_sim/fault`), each seen from a real
//! client: what a booksync or ingester has to survive.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod ws_market_support;

use std::time::Duration;

use serde_json::json;
use storm_sim::config::WsLimits;
use storm_venues::binance::wire::{parse_frame, Frame};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use ws_market_support::{closes_within, next_diff, next_message, next_text, relaxed, start, PATIENCE};

#[tokio::test]
async fn close_streams_closes_every_connection_and_new_ones_work() {
    let sim = start(relaxed()).await;
    let mut raw = sim.connect("/ws/btcusdt@depth@100ms").await;
    let mut combined = sim.connect("/stream?streams=ethusdt@depth@100ms").await;
    let mut idle = sim.connect("/ws").await;
    next_diff(&mut raw).await;
    next_diff(&mut combined).await;
    sim.fault(json!({"kind": "close_streams"})).await;
    for ws in [&mut raw, &mut combined, &mut idle] {
        assert!(closes_within(ws, PATIENCE).await, "every connection is closed");
    }
    let mut again = sim.connect("/ws/btcusdt@depth@100ms").await;
    next_diff(&mut again).await;
}

#[tokio::test]
async fn stall_sends_nothing_for_its_duration_then_resumes_without_holes() {
    let limits = WsLimits { ping_interval_ms: 100, pong_timeout_ms: 5_000, ..relaxed() };
    let sim = start(limits).await;
    let mut ws = sim.connect("/ws/btcusdt@depth@100ms/ethusdt@depth@100ms/bnbusdt@depth@100ms").await;
    next_diff(&mut ws).await;
    sim.fault(json!({"kind": "stall", "ms": 1_000})).await;
    let injected = Instant::now();

    // Every message (frames and pings) with its arrival time, for 3 s.
    let mut arrivals = vec![injected];
    let mut last_u = std::collections::HashMap::new();
    while injected.elapsed() < Duration::from_millis(3_000) {
        let Some(m) = next_message(&mut ws, PATIENCE).await else { panic!("the connection survives a stall") };
        arrivals.push(Instant::now());
        if let Message::Text(t) = m {
            if let Ok(Frame::Depth(d)) = parse_frame(t.as_str(), 0) {
                if let Some(prev) = last_u.insert(d.symbol.clone(), d.last_update_id) {
                    assert_eq!(d.first_update_id, prev + 1, "no diff is lost across the stall");
                }
            }
        }
    }
    let longest = arrivals.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(longest >= Duration::from_millis(600), "silent for the stall, longest gap {longest:?}");
    assert!(arrivals.len() > 20, "frames and pings resume after the stall");
}

#[tokio::test]
async fn gap_drops_exactly_one_depth_frame_per_connection() {
    let sim = start(relaxed()).await;
    let mut ws = sim.connect("/ws/btcusdt@depth@100ms").await;
    let mut prev = next_diff(&mut ws).await;
    sim.fault(json!({"kind": "gap"})).await;
    let mut gaps = 0;
    for _ in 0..12 {
        let d = next_diff(&mut ws).await;
        if d.first_update_id > prev.last_update_id + 1 {
            gaps += 1;
        } else {
            assert_eq!(d.first_update_id, prev.last_update_id + 1);
        }
        prev = d;
    }
    assert_eq!(gaps, 1, "a booksync sees U > local + 1 once");
}

#[tokio::test]
async fn malformed_sends_one_bad_frame_and_the_connection_goes_on() {
    let sim = start(relaxed()).await;
    let mut ws = sim.connect("/stream?streams=btcusdt@depth@100ms").await;
    next_diff(&mut ws).await;
    sim.fault(json!({"kind": "malformed"})).await;
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < PATIENCE, "no malformed frame arrived");
        if parse_frame(&next_text(&mut ws).await, 0).is_err() {
            break;
        }
    }
    let mut prev = next_diff(&mut ws).await;
    for _ in 0..5 {
        let d = next_diff(&mut ws).await;
        assert_eq!(d.first_update_id, prev.last_update_id + 1, "valid, contiguous frames follow");
        prev = d;
    }
}

#[tokio::test]
async fn unknown_fault_kinds_are_refused() {
    let sim = start(relaxed()).await;
    let r = reqwest::Client::new()
        .post(format!("http://{}/_sim/fault", sim.addr))
        .json(&json!({"kind": "stall"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "stall needs ms");
}
