//! A small Prometheus registry: counters, gauges and histograms, rendered in the text exposition
//! format on `GET /metrics`, and summarized into the `storm:health:*` heartbeat.
//!
//! Handles are cheap clones of atomics: the hot path increments without locks; only registration
//! and rendering take the registry lock (never across an `.await`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::{http::header, routing::get, Router};
use storm_bus::{heartbeat, Bus};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// A monotonically increasing count.
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (stored as f64 bits).
#[derive(Clone, Debug, Default)]
pub struct Gauge(Arc<AtomicU64>);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
    /// Current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

#[derive(Debug)]
struct HistogramInner {
    bounds: Vec<f64>,
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_bits: AtomicU64,
}

/// A distribution of observations over fixed buckets (latencies in ms, sizes).
#[derive(Clone, Debug)]
pub struct Histogram(Arc<HistogramInner>);

impl Histogram {
    fn new(bounds: &[f64]) -> Self {
        Self(Arc::new(HistogramInner {
            bounds: bounds.to_vec(),
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }))
    }

    /// Records one observation.
    pub fn observe(&self, v: f64) {
        let h = &self.0;
        if let Some(i) = h.bounds.iter().position(|b| v <= *b) {
            h.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        h.count.fetch_add(1, Ordering::Relaxed);
        let _ = h
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some((f64::from_bits(bits) + v).to_bits()));
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.0.count.load(Ordering::Relaxed)
    }
}

/// Latency buckets in milliseconds, 0.05 ms to 10 s.
pub const LATENCY_MS_BUCKETS: &[f64] =
    &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0, 10000.0];

#[derive(Clone, Debug)]
enum Handle {
    Counter(Counter),
    Gauge(Gauge),
    Histogram(Histogram),
}

#[derive(Debug, Default)]
struct Family {
    help: String,
    series: BTreeMap<String, Handle>, // rendered label set → handle
}

/// The process' metrics registry. Clone freely.
#[derive(Clone, Debug, Default)]
pub struct Metrics(Arc<Mutex<BTreeMap<String, Family>>>);

fn labels_text(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")))
        .collect();
    format!("{{{}}}", inner.join(","))
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn register(&self, name: &str, help: &str, labels: &[(&str, &str)], make: impl FnOnce() -> Handle) -> Handle {
        let mut families = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let family = families.entry(name.to_owned()).or_default();
        if family.help.is_empty() {
            family.help = help.to_owned();
        }
        family.series.entry(labels_text(labels)).or_insert_with(make).clone()
    }

    /// The counter `name{labels}` (created on first use).
    pub fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Counter {
        match self.register(name, help, labels, || Handle::Counter(Counter::default())) {
            Handle::Counter(c) => c,
            _ => Counter::default(), // name reused with another type: a detached handle, never a panic
        }
    }

    /// The gauge `name{labels}`.
    pub fn gauge(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Gauge {
        match self.register(name, help, labels, || Handle::Gauge(Gauge::default())) {
            Handle::Gauge(g) => g,
            _ => Gauge::default(),
        }
    }

    /// Removes the series `name{labels}` (a connection that is gone, say), so neither
    /// `/metrics` nor the health hash keeps reporting its last value. Handles still held keep
    /// working, detached.
    pub fn remove(&self, name: &str, labels: &[(&str, &str)]) {
        let mut families = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(family) = families.get_mut(name) {
            family.series.remove(&labels_text(labels));
            if family.series.is_empty() {
                families.remove(name);
            }
        }
    }

    /// The histogram `name{labels}` with the given bucket upper bounds.
    pub fn histogram(&self, name: &str, help: &str, labels: &[(&str, &str)], bounds: &[f64]) -> Histogram {
        match self.register(name, help, labels, || Handle::Histogram(Histogram::new(bounds))) {
            Handle::Histogram(h) => h,
            _ => Histogram::new(bounds),
        }
    }

    /// Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let families = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for (name, fam) in families.iter() {
            let kind = match fam.series.values().next() {
                Some(Handle::Counter(_)) => "counter",
                Some(Handle::Gauge(_)) => "gauge",
                Some(Handle::Histogram(_)) => "histogram",
                None => continue,
            };
            let _ = writeln!(out, "# HELP {name} {}", fam.help.replace('\n', " "));
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, h) in &fam.series {
                match h {
                    Handle::Counter(c) => {
                        let _ = writeln!(out, "{name}{labels} {}", c.get());
                    }
                    Handle::Gauge(g) => {
                        let _ = writeln!(out, "{name}{labels} {}", g.get());
                    }
                    Handle::Histogram(h) => render_histogram(&mut out, name, labels, h),
                }
            }
        }
        out
    }

    /// `name{labels} = value` pairs of counters and gauges, for the heartbeat hash.
    pub fn summary(&self) -> Vec<(String, String)> {
        let families = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for (name, fam) in families.iter() {
            for (labels, h) in &fam.series {
                let value = match h {
                    Handle::Counter(c) => c.get().to_string(),
                    Handle::Gauge(g) => g.get().to_string(),
                    Handle::Histogram(h) => h.count().to_string(),
                };
                out.push((format!("{name}{labels}"), value));
            }
        }
        out
    }

    /// Serves `GET /metrics` on `addr` until shutdown; returns the bound address (port 0 picks one).
    pub async fn serve(&self, addr: &str, shutdown: CancellationToken) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let metrics = self.clone();
        let app = Router::new().route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], m.render()) }
            }),
        );
        tokio::spawn(async move {
            let res = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await;
            if let Err(e) = res {
                warn!(error = %e, "metrics server stopped");
            }
        });
        info!(%local, "metrics on http://{local}/metrics");
        Ok(local)
    }

    /// Spawns the heartbeat for `engine`, carrying this registry's counters and gauges.
    pub fn spawn_heartbeat(
        &self,
        bus: &Bus,
        engine: &str,
        instance: &str,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let m = self.clone();
        tokio::spawn(heartbeat::run(bus.clone(), engine.to_owned(), instance.to_owned(), interval, move || m.summary()))
    }
}

fn render_histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    let inner = labels.trim_start_matches('{').trim_end_matches('}');
    let sep = if inner.is_empty() { "" } else { "," };
    let mut cumulative = 0;
    for (bound, count) in h.0.bounds.iter().zip(&h.0.buckets) {
        cumulative += count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{inner}{sep}le=\"{bound}\"}} {cumulative}");
    }
    let total = h.count();
    let _ = writeln!(out, "{name}_bucket{{{inner}{sep}le=\"+Inf\"}} {total}");
    let _ = writeln!(out, "{name}_sum{labels} {}", f64::from_bits(h.0.sum_bits.load(Ordering::Relaxed)));
    let _ = writeln!(out, "{name}_count{labels} {total}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        m.counter("storm_events_total", "Events written", &[("venue", "sim"), ("channel", "depth")]).add(3);
        m.counter("storm_events_total", "Events written", &[("venue", "sim"), ("channel", "depth")]).inc();
        m.gauge("storm_books_live", "Books live", &[]).set(2.0);
        let h = m.histogram("storm_lag_ms", "Lag", &[("venue", "sim")], &[1.0, 10.0]);
        h.observe(0.5);
        h.observe(5.0);
        h.observe(50.0);
        let text = m.render();
        assert!(text.contains("# TYPE storm_events_total counter\n"), "{text}");
        assert!(text.contains("storm_events_total{venue=\"sim\",channel=\"depth\"} 4\n"), "{text}");
        assert!(text.contains("storm_books_live 2\n"), "{text}");
        assert!(text.contains("storm_lag_ms_bucket{venue=\"sim\",le=\"1\"} 1\n"), "{text}");
        assert!(text.contains("storm_lag_ms_bucket{venue=\"sim\",le=\"10\"} 2\n"), "{text}");
        assert!(text.contains("storm_lag_ms_bucket{venue=\"sim\",le=\"+Inf\"} 3\n"), "{text}");
        assert!(text.contains("storm_lag_ms_count{venue=\"sim\"} 3\n"), "{text}");
        assert!(m.summary().contains(&("storm_books_live".to_string(), "2".to_string())));
        m.remove("storm_lag_ms", &[("venue", "sim")]);
        m.remove("storm_events_total", &[("venue", "other")]);
        let text = m.render();
        assert!(!text.contains("storm_lag_ms"), "{text}");
        assert!(text.contains("storm_events_total{venue=\"sim\",channel=\"depth\"} 4\n"), "{text}");
    }
}
