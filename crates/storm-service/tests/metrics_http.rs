//! `/metrics` over a real socket, read with an HTTP client as Prometheus would.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use storm_service::Metrics;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn metrics_endpoint_serves_prometheus_text_until_shutdown() {
    let m = Metrics::new();
    m.counter("storm_reconnects_total", "Reconnects", &[("venue", "sim")]).add(2);
    let shutdown = CancellationToken::new();
    let addr = m.serve("127.0.0.1:0", shutdown.clone()).await.unwrap();
    let resp = reqwest::get(format!("http://{addr}/metrics")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let body = resp.text().await.unwrap();
    assert!(body.contains("storm_reconnects_total{venue=\"sim\"} 2"), "{body}");

    shutdown.cancel();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(reqwest::get(format!("http://{addr}/metrics")).await.is_err(), "server stops on shutdown");
}
