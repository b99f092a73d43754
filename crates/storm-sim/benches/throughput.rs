//! End-to-end throughput of the `storm-sim` binary: 500 symbols producing depth diffs at a target
//! rate, read over one combined WebSocket (`<sym>@depth@100ms` for every symbol), with the sim's
//! own CPU share taken from /proc. Every diff is checked for continuity (U = previous u + 1).
//!
//! Run: `cargo bench -p storm-sim --bench throughput` (env `STORM_BENCH_EPS`, default 20000,
//! and `STORM_BENCH_SECS`, default 10). Prints one result line; see docs/BENCHMARKS.md.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use storm_testkit::process::{cpu_ticks, free_port, TICKS_PER_SECOND};
use storm_venues::binance::wire::{parse_frame, Frame};
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let eps: u64 = std::env::var("STORM_BENCH_EPS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let secs: u64 = std::env::var("STORM_BENCH_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let port = free_port().unwrap();
    let dir = std::env::temp_dir().join(format!("storm-sim-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("storm.toml");
    std::fs::write(
        &cfg,
        format!(
            "log_level = \"warn\"\n[sim]\nlisten = \"127.0.0.1:{port}\"\nextra_assets = 157\nevents_per_second = {eps}\nstep_ms = 10\n\
             [sim.mispricing]\nevery_ms = 0\n[sim.ws]\nmax_streams = 1024\n"
        ),
    )
    .unwrap();
    let mut sim = Command::new(env!("CARGO_BIN_EXE_storm-sim"))
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start storm-sim");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut info = None;
    for _ in 0..100 {
        if let Ok(r) = client.get(format!("{base}/api/v3/exchangeInfo")).send().await {
            info = r.json::<serde_json::Value>().await.ok();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let info = info.expect("sim answers");
    let symbols: Vec<String> =
        info["symbols"].as_array().unwrap().iter().map(|s| s["symbol"].as_str().unwrap().to_lowercase()).collect();
    let streams: Vec<String> = symbols.iter().map(|s| format!("{s}@depth@100ms")).collect();
    let url = format!("ws://127.0.0.1:{port}/stream?streams={}", streams.join("/"));
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.expect("websocket");

    // Warm up 2 s, then measure.
    let warm = Instant::now() + Duration::from_secs(2);
    let mut last_u: HashMap<String, u64> = HashMap::new();
    let (mut frames, mut levels, mut gaps, mut bad) = (0u64, 0u64, 0u64, 0u64);
    let mut t0 = None;
    let mut ticks0 = 0;
    let end_after = Duration::from_secs(secs);
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        let Ok(Message::Text(text)) = msg else { continue };
        match parse_frame(&text, 0) {
            Ok(Frame::Depth(d)) => {
                let sym = d.symbol.as_str().to_owned();
                if let Some(prev) = last_u.insert(sym, d.last_update_id) {
                    if d.first_update_id != prev + 1 {
                        gaps += 1;
                        eprintln!(
                            "gap on {}: previous u {prev}, next U {} (measuring: {})",
                            d.symbol,
                            d.first_update_id,
                            t0.is_some()
                        );
                    }
                }
                if let Some(start) = t0 {
                    if Instant::now().duration_since(start) >= end_after {
                        break;
                    }
                    frames += 1;
                    levels += d.level_count() as u64;
                } else if Instant::now() >= warm {
                    t0 = Some(Instant::now());
                    ticks0 = cpu_ticks(sim.id());
                }
            }
            Ok(_) => {}
            Err(_) => bad += 1,
        }
    }
    let elapsed = t0.map(|t| t.elapsed().as_secs_f64()).unwrap_or(f64::NAN);
    let ticks = cpu_ticks(sim.id()) - ticks0;
    let cpu = ticks as f64 / TICKS_PER_SECOND / elapsed;
    let _ = sim.kill();
    let _ = sim.wait();
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "sim_throughput: symbols={} target_eps={eps} received_eps={:.0} levels_per_s={:.0} sim_cpu_cores={:.2} gaps={gaps} bad_frames={bad} secs={elapsed:.1}",
        symbols.len(),
        frames as f64 / elapsed,
        levels as f64 / elapsed,
        cpu
    );
}
