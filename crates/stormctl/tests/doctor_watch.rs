//! `doctor` (exit status as a gate: unreachable Redis, broken config and stopped heartbeats fail;
//! clock skew warns, measured against a local `/api/v3/time`) and `watch` (ends on SIGTERM and
//! SIGINT within 2 s, also while Redis is down, without spinning).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use common::{dead_url, seed_book, Env};
use redis::AsyncCommands;
use storm_bus::{heartbeat, Entry};
use storm_core::time::now_millis;
use storm_core::{BookStatus, Channel};
use storm_testkit::{Persistence, RedisServer};

/// A venue REST endpoint whose `/api/v3/time` is `offset` ms off our clock.
async fn time_server(offset: Arc<AtomicI64>) -> String {
    let app = Router::new().route(
        "/api/v3/time",
        get(move || {
            let off = offset.load(Ordering::Relaxed);
            async move { Json(serde_json::json!({ "serverTime": now_millis() as i64 + off })) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn write_config(dir: &std::path::Path, redis_url: &str, rest_url: &str) -> std::path::PathBuf {
    let path = dir.join("storm.toml");
    let text = format!(
        "redis_url = \"{redis_url}\"\nheartbeat_ms = 1000\n[[venue]]\nname = \"sim\"\nkind = \"binance\"\n\
         rest_url = \"{rest_url}\"\nws_url = \"ws://127.0.0.1:1\"\n[stormctl]\nnotify_per_minute = 5\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Everything a running suite leaves in Redis.
async fn seed_healthy(env: &Env) {
    let keys = env.bus.keys().clone();
    seed_book(env, "sim", "BTCUSDT", BookStatus::Live, &[("100.0", "1")], &[("100.1", "1")], 50).await;
    let mut c = env.conn().await;
    let _: () = c.sadd(keys.subs("sim"), "depth:BTCUSDT").await.unwrap();
    let _: () = c.hset(keys.instruments("sim"), "BTCUSDT", r#"{"symbol":"BTCUSDT"}"#).await.unwrap();
    common::publish(env, &[Entry::new(keys.md("sim", Channel::Depth), 100).field("sym", "BTCUSDT")]).await;
    storm_bus::ensure_group(&env.bus, &keys.opps(), "executor", true).await.unwrap();
    heartbeat::beat(&env.bus, "booksync", "main", now_millis(), Duration::from_secs(10), &[]).await.unwrap();
}

fn checks(out: &common::Out) -> Vec<(String, String, String)> {
    out.json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().into(),
                c["level"].as_str().unwrap().into(),
                c["detail"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_on_a_healthy_suite_and_fails_on_a_stopped_heartbeat() {
    let env = Env::with(RedisServer::start_with(Persistence::Aof).unwrap()).await;
    seed_healthy(&env).await;
    let offset = Arc::new(AtomicI64::new(0));
    let rest = time_server(offset.clone()).await;
    let dir = env.redis.dir().join("cfg");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = write_config(&dir, &env.url(), &rest);
    let cfg = cfg.to_str().unwrap();

    let out = env.run(&["doctor", "--config", cfg]).ok();
    assert!(out.stdout.contains("doctor: ") && out.stdout.contains("0 warning(s), 0 failure(s)"), "{}", out.stdout);
    assert!(out.stdout.contains("[ ok ] clock sim: venue clock"), "{}", out.stdout);
    assert!(out.stdout.contains("[ ok ] append-only file: on"), "{}", out.stdout);

    // A venue clock 2 s ahead warns, and does not fail.
    offset.store(2_000, Ordering::Relaxed);
    let out = env.run(&["doctor", "--config", cfg, "--json"]).ok();
    let clock = checks(&out).into_iter().find(|c| c.0 == "clock sim").unwrap();
    assert_eq!(clock.1, "warn", "{clock:?}");
    assert!(clock.2.contains("+19") || clock.2.contains("+20"), "{clock:?}");

    // A heartbeat much older than 3 beats: the engine is frozen.
    let mut c = env.conn().await;
    let _: () = c.hset(env.bus.keys().health("booksync", "main"), "last_beat", now_millis() - 60_000).await.unwrap();
    let out = env.run(&["doctor", "--config", cfg, "--json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let hb = checks(&out).into_iter().find(|c| c.0 == "heartbeat booksync:main").unwrap();
    assert_eq!(hb.1, "fail", "{hb:?}");
    assert_eq!(out.json()["ok"], false);
}

#[tokio::test]
async fn doctor_fails_when_redis_is_unreachable_or_the_config_is_broken() {
    let out = common::Out::from(common::ctl(&dead_url(), &["doctor"]).output().unwrap());
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("[FAIL] redis: redis unreachable at"), "{}", out.stdout);

    let env = Env::start().await;
    seed_healthy(&env).await;
    // Without AOF: a warning, not a failure.
    let out = env.run(&["doctor"]).ok();
    assert!(out.stdout.contains("[WARN] append-only file: off"), "{}", out.stdout);

    let bad = env.redis.dir().join("bad.toml");
    std::fs::write(&bad, "redis_url = \"redis://x\"\nno_such_key = 1\n").unwrap();
    let out = env.run(&["doctor", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("[FAIL] config:") && out.stdout.contains("no_such_key"), "{}", out.stdout);
    assert!(out.stdout.contains("[ ok ] redis:"), "the other checks still run: {}", out.stdout);
    // Any other subcommand refuses a broken config outright.
    let out = env.run(&["status", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("invalid config"), "{out:?}");
}

/// Starts `watch`, lets it draw for a while, signals it; how long it took to exit and its output.
async fn watch_then(url: &str, interval_ms: &str, sig: &str) -> (Duration, String) {
    let child = common::ctl(url, &["watch", "--interval-ms", interval_ms])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let child = common::Proc::new(child);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let (status, took, stdout, stderr) = child.stop(sig, Duration::from_secs(5)).await;
    assert!(status.success(), "watch exited with {status:?}: {stderr}");
    (took, stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_redraws_and_exits_on_sigterm_and_sigint_within_2s() {
    let env = Env::start().await;
    seed_healthy(&env).await;
    let (took, out) = watch_then(&env.url(), "300", "TERM").await;
    assert!(took < Duration::from_secs(2), "SIGTERM: {took:?}");
    assert!(out.contains("books live 1/1") && out.contains("latest opportunities"), "{out}");
    assert!(out.matches("----").count() >= 2, "redrawn every 300 ms: {out}");
    // Between two frames of a long interval: the wait itself must give way to the signal.
    let (took, out) = watch_then(&env.url(), "30000", "INT").await;
    assert!(took < Duration::from_secs(2), "SIGINT: {took:?}");
    assert_eq!(out.matches("----").count(), 1, "one frame in 1.2 s: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_waits_for_an_unreachable_redis_without_spinning() {
    let (took, out) = watch_then(&dead_url(), "300", "TERM").await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(out.contains("redis unreachable, retrying"), "{out}");
    let frames = out.matches("redis unreachable, retrying").count();
    // 1.2 s at one attempt per 300 ms: about 4, never a busy loop.
    assert!((2..=6).contains(&frames), "{frames} frames: {out}");
}
