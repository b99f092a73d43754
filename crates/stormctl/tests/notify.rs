//! `notify` against a local webhook receiver (axum on a free port) and a real redis-server: the
//! exact posts, the 429 retry, the "…and K more" summary, no repost after a restart, a 4xx given
//! up with a log line, and the webhook token never appearing in the output.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use common::{failure, outcome, publish, Env};
use redis::AsyncCommands;
use serde_json::Value;

const TOKEN: &str = "s3cr3tT0kenDoNotLog";

/// What the receiver saw.
#[derive(Clone, Default)]
struct Hook {
    accepted: Arc<Mutex<Vec<String>>>,
    requests: Arc<AtomicUsize>,
    throttle_next: Arc<AtomicBool>,
}

impl Hook {
    fn posts(&self) -> Vec<String> {
        self.accepted.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.posts().len() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let posts = self.posts();
        assert_eq!(posts.len(), n, "posts: {posts:#?}");
        posts
    }
}

async fn receive(State(h): State<Hook>, Json(body): Json<Value>) -> Response {
    h.requests.fetch_add(1, Ordering::SeqCst);
    if h.throttle_next.swap(false, Ordering::SeqCst) {
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "slow down").into_response();
    }
    let content = body["content"].as_str().unwrap_or_default().to_owned();
    assert_eq!(body["text"].as_str(), Some(content.as_str()), "Slack reads text, Discord content");
    if content.contains("reject-me") {
        return (StatusCode::BAD_REQUEST, r#"{"message": "Invalid Form Body", "code": 50006}"#).into_response();
    }
    h.accepted.lock().unwrap().push(content);
    StatusCode::NO_CONTENT.into_response()
}

/// The receiver's URL (with the token in its path, as Discord's) and its state.
async fn receiver() -> (String, Hook) {
    let hook = Hook::default();
    let app = Router::new().route("/api/webhooks/42/{token}", post(receive)).with_state(hook.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/api/webhooks/42/{TOKEN}"), hook)
}

fn notify(env: &Env, hook_url: &str, args: &[&str]) -> common::Proc {
    let mut all = vec!["notify"];
    all.extend_from_slice(args);
    let child =
        env.cmd(&all).env("STORM_WEBHOOK_URL", hook_url).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    common::Proc::new(child)
}

/// SIGTERM, exit 0 within 2 s; returns stdout + stderr.
async fn stop(child: common::Proc) -> String {
    let (st, _, stdout, stderr) = child.stop("TERM", Duration::from_secs(2)).await;
    let text = format!("{stdout}{stderr}");
    assert!(st.success(), "{st:?}: {text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_posts_summarizes_the_excess_and_never_reposts_after_a_restart() {
    let env = Env::start().await;
    let (url, hook) = receiver().await;
    publish(
        &env,
        &[
            outcome(&env, "o1", "executed", "0.51200000"),
            outcome(&env, "o2", "executed", "0.10000000"),
            outcome(&env, "o3", "rejected", "0"),
            outcome(&env, "o4", "executed", "0.20000000"),
            outcome(&env, "o5", "partial", "-0.01000000"),
            failure(&env, "f1", "leg 3 rejected"),
        ],
    )
    .await;
    hook.throttle_next.store(true, Ordering::SeqCst); // the first attempt gets a 429
    let child = notify(&env, &url, &["--per-minute", "4", "--start", "beginning"]);
    let posts = hook.wait_for(4).await;
    let first = r#"[storm] arb:log executed: id=o1 venue=sim path=USDT>BTC>ETH>USDT realized=0.51200000 pnl={"USDT":"0.51200000"} predicted=0.5 asset=USDT executor=main mode=paper orders=3 time_ms="#;
    assert!(posts[0].starts_with(first), "{posts:#?}");
    assert!(!posts[0].contains("reason=") && !posts[0].contains("v=1"), "empty fields and v are left out: {posts:#?}");
    assert!(posts[1].contains("id=o2") && posts[2].contains("rejected: id=o3"), "{posts:#?}");
    assert_eq!(posts[3], "…and 3 more (executed 1, failed 1, partial 1)");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(hook.posts().len(), 4, "nothing more");
    assert_eq!(hook.requests.load(Ordering::SeqCst), 5, "one 429, retried once");

    let keys = env.bus.keys().clone();
    let mut c = env.conn().await;
    let saved: std::collections::HashMap<String, String> = c.hgetall(keys.notify_last()).await.unwrap();
    let arb_tail: redis::streams::StreamRangeReply = c.xrevrange_count(keys.arb_log(), "+", "-", 1).await.unwrap();
    let failed_tail: redis::streams::StreamRangeReply =
        c.xrevrange_count(keys.exec_failed(), "+", "-", 1).await.unwrap();
    assert_eq!(saved.get(&keys.arb_log()), Some(&arb_tail.ids[0].id));
    assert_eq!(saved.get(&keys.exec_failed()), Some(&failed_tail.ids[0].id));
    let out = stop(child).await;
    assert!(out.contains("webhook busy; retrying") && !out.contains(TOKEN), "{out}");

    // Restart: nothing is posted again; new entries are, and a refused post is given up on.
    let child = notify(&env, &url, &["--per-minute", "4", "--start", "beginning"]);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(hook.posts().len(), 4, "a restart must not repost: {:#?}", hook.posts());
    publish(&env, &[outcome(&env, "o6", "executed", "0.30000000")]).await;
    let posts = hook.wait_for(5).await;
    assert!(posts[4].contains("id=o6"), "{posts:#?}");
    publish(&env, &[failure(&env, "f2", "reject-me")]).await;
    publish(&env, &[outcome(&env, "o7", "expired", "0")]).await;
    let posts = hook.wait_for(6).await;
    assert!(posts[5].contains("expired: id=o7"), "{posts:#?}");
    let out = stop(child).await;
    assert!(out.contains("webhook refused the post; giving up on it") && out.contains("Invalid Form Body"), "{out}");
    assert!(!out.contains(TOKEN), "the token leaked: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_starts_at_the_end_and_catches_up_on_entries_written_while_it_was_down() {
    let env = Env::start().await;
    let (url, hook) = receiver().await;
    publish(&env, &[outcome(&env, "old", "executed", "1")]).await;
    let child = notify(&env, &url, &[]);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert!(hook.posts().is_empty(), "history is not posted on a first run: {:#?}", hook.posts());
    stop(child).await;
    publish(&env, &[failure(&env, "while-down", "unwound")]).await;
    let child = notify(&env, &url, &[]);
    let posts = hook.wait_for(1).await;
    assert!(posts[0].starts_with("[storm] exec:failed failed: id=while-down path="), "{posts:#?}");
    assert!(posts[0].contains("reason=unwound"), "{posts:#?}");
    stop(child).await;
}

#[tokio::test]
async fn notify_refuses_to_start_without_a_webhook_url() {
    let env = Env::start().await;
    let out = common::Out::from(env.cmd(&["notify"]).output().unwrap());
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("STORM_WEBHOOK_URL is not set"), "{out:?}");
}
