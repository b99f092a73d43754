//! The kline streams on a quiet market, over a real socket: as on Binance, a candle goes out
//! closed (`"x":true`) at its boundary for every interval, an interval without a trade included
//! (open = high = low = close = the previous close, no volume, `"n":0`, `"f":-1`, `"L":-1`), and
//! the forming candle is sent again every second (`1s`) or every two seconds (other intervals)
//! even when nothing trades.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod ws_market_support;

use std::time::Duration;

use serde_json::{json, Value};
use storm_core::time::now_millis;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use ws_market_support::{next_message, relaxed, start};

/// One kline frame as received: (arrival ms on the test's clock, the `data` object).
type Seen = (u64, Value);

/// Every kline frame that arrives within `wait`.
async fn collect(ws: &mut ws_market_support::Ws, wait: Duration) -> Vec<Seen> {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Some(msg) = next_message(ws, left).await else { break };
        let Message::Text(text) = msg else { continue };
        let v: Value = serde_json::from_str(&text).unwrap();
        if v["data"]["e"] == "kline" {
            out.push((now_millis(), v["data"].clone()));
        }
    }
    out
}

fn interval(k: &Value) -> &str {
    k["k"]["i"].as_str().unwrap()
}

#[tokio::test]
async fn a_quiet_market_still_gets_every_interval_closed_on_time() {
    let sim = start(relaxed()).await;
    let mut ws = sim.connect("/stream?streams=btcusdt@kline_1s/btcusdt@kline_1m").await;
    // Let the symbol trade, then freeze the market: no trade from now on.
    let before = collect(&mut ws, Duration::from_millis(2_500)).await;
    assert!(!before.is_empty(), "klines while the market trades");
    sim.fault(json!({"kind": "pause"})).await;
    let paused_at = now_millis();
    let frames = collect(&mut ws, Duration::from_millis(4_600)).await;

    let closed_1s: Vec<&Seen> = frames.iter().filter(|(_, k)| interval(k) == "1s" && k["k"]["x"] == true).collect();
    // Every second after the pause (plus the one it happened in) is closed, none skipped.
    let quiet: Vec<&Seen> =
        closed_1s.iter().copied().filter(|(_, k)| k["k"]["t"].as_u64().unwrap() > paused_at + 200).collect();
    assert!(quiet.len() >= 3, "closed 1s candles after the pause: {quiet:#?}");
    for w in closed_1s.windows(2) {
        let (a, b) = (&w[0].1["k"], &w[1].1["k"]);
        assert_eq!(b["t"].as_u64().unwrap(), a["t"].as_u64().unwrap() + 1_000, "no 1s interval skipped: {a} {b}");
    }
    let close = quiet[0].1["k"]["c"].clone();
    for (arrived, e) in &quiet {
        let k = &e["k"];
        let t = k["t"].as_u64().unwrap();
        assert_eq!(k["T"].as_u64().unwrap(), t + 999);
        assert_eq!((k["n"].as_u64(), k["f"].as_i64(), k["L"].as_i64()), (Some(0), Some(-1), Some(-1)), "{e}");
        for f in ["o", "h", "l", "c"] {
            assert_eq!(k[f], close, "{f} is the previous close: {e}");
        }
        for f in ["v", "q", "V", "Q"] {
            assert_eq!(k[f], "0.00000000", "{f}: {e}");
        }
        // On time: sent at the boundary by the hub's clock, received within 300 ms of it.
        let event_ms = e["E"].as_u64().unwrap();
        assert!(event_ms > t + 999 && event_ms <= t + 1_000 + 300, "closed at E={event_ms}, interval ends {t}+1000");
        assert!(*arrived <= t + 1_000 + 300, "received at {arrived}, interval ends at {}", t + 1_000);
    }

    // The forming minute is sent again every two seconds although nothing trades.
    let forming_1m: Vec<&Seen> = frames.iter().filter(|(_, k)| interval(k) == "1m" && k["k"]["x"] == false).collect();
    assert!(forming_1m.len() >= 2, "1m updates in 4.6 quiet seconds: {forming_1m:#?}");
    for w in forming_1m.windows(2) {
        let gap = w[1].1["E"].as_u64().unwrap() - w[0].1["E"].as_u64().unwrap();
        assert!(gap <= 2_100, "1m updates {gap} ms apart");
    }
    eprintln!("{} closed 1s candles since the pause, {} forming 1m updates", quiet.len(), forming_1m.len());
}
