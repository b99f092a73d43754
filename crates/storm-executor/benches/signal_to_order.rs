//! Opportunity on `storm:opps` → the first leg's order request arriving at the venue.
//!
//! The real `storm-executor` binary (release) in `live` mode against a stub venue on loopback
//! that timestamps each `POST /api/v3/order` when its first bytes are read off the socket (no
//! HTTP framework in between) and answers an expired IOC
//! (so the chain ends at once). The bench XADDs one opportunity at a time and measures, on one
//! clock, from just before the XADD to the order's arrival: Redis delivery, decode, the
//! pipelined pre-trade read, the journal intent write, signing and the HTTP request over
//! loopback. Percentiles over 1,000 opportunities after 100 of warm-up.
//!
//! `cargo bench -p storm-executor --bench signal_to_order` (`STORM_BENCH_KEEP_AWAKE=1`: with the
//! vCPUs kept out of their idle halt, see [`KeepAwake`])
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde_json::json;
use storm_bus::{opps, Bus, BusConfig};
use storm_core::arb::{OppKind, OppLeg, Opportunity};
use storm_core::{Asset, Instrument, Price, Qty, Side, Symbol, VenueId};
use storm_testkit::process::EngineProcess;
use storm_testkit::RedisServer;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const WARMUP: usize = 100;
const MEASURED: usize = 1_000;

fn opportunity(n: usize) -> Opportunity {
    let leg = |s: &str, side, p: i64, q: i64, scale| OppLeg {
        venue: VenueId::new("stub"),
        symbol: Symbol::new(s),
        side,
        price: Price(Decimal::new(p, 2)),
        qty: Qty(Decimal::new(q, scale)),
    };
    let now = storm_core::time::now_millis();
    Opportunity {
        id: format!("{n:016x}"),
        kind: OppKind::Triangular,
        venue: VenueId::new("stub"),
        path: "USDT>BTC>ETH>USDT".into(),
        asset: Asset::new("USDT"),
        size: Decimal::new(100, 0),
        profit: Decimal::new(1, 1),
        profit_bps: Decimal::new(10, 0),
        confidence: 0.9,
        created_ms: now,
        expires_ms: now + 5_000,
        legs: vec![
            leg("BTCUSDT", Side::Buy, 3_000_000, 333, 5),
            leg("ETHBTC", Side::Buy, 5, 6, 2),
            leg("ETHUSDT", Side::Sell, 150_000, 6, 2),
        ],
        book_ids: vec![1, 2, 3],
        time_trigger_us: 0,
    }
}

fn instrument(s: &str, base: &str, quote: &str) -> Instrument {
    let d = |v: i64, scale| Decimal::new(v, scale);
    Instrument {
        symbol: Symbol::new(s),
        base: Asset::new(base),
        quote: Asset::new(quote),
        status: storm_core::SymbolStatus::Trading,
        tick_size: d(1, 2),
        min_price: d(1, 2),
        max_price: d(1_000_000, 0),
        step_size: d(1, 5),
        min_qty: d(1, 5),
        max_qty: d(9_000, 0),
        min_notional: d(0, 0),
        max_notional: d(0, 0),
    }
}

/// One keep-alive connection of the stub venue: a request is timestamped when its first bytes
/// are read off the socket (before any parsing), then answered by hand.
async fn stub_connection(mut sock: tokio::net::TcpStream, tx: mpsc::UnboundedSender<(String, Instant)>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut first_byte_at: Option<Instant> = None;
    let mut chunk = [0u8; 8192];
    loop {
        let Ok(n) = sock.read(&mut chunk).await else { return };
        if n == 0 {
            return;
        }
        if buf.is_empty() {
            first_byte_at = Some(Instant::now());
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let length: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
            .unwrap_or(0);
        if buf.len() < head_end + 4 + length {
            continue;
        }
        buf.drain(..head_end + 4 + length);
        let target = head.split(' ').nth(1).unwrap_or("").to_owned();
        let body = if target.starts_with("/api/v3/order") {
            let cid = target.split('&').find_map(|kv| kv.strip_prefix("newClientOrderId=")).unwrap_or("").to_owned();
            if let Some(at) = first_byte_at.take() {
                let _ = tx.send((cid.clone(), at));
            }
            json!({
                "symbol": "BTCUSDT", "orderId": 1, "orderListId": -1, "clientOrderId": cid,
                "transactTime": 1, "price": "30000.00", "origQty": "0.00333", "executedQty": "0",
                "cummulativeQuoteQty": "0", "status": "EXPIRED", "timeInForce": "IOC",
                "type": "LIMIT", "side": "BUY", "fills": []
            })
        } else {
            json!({ "serverTime": storm_core::time::now_millis() })
        }
        .to_string();
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if sock.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// `STORM_BENCH_KEEP_AWAKE=1`: two busy loops at the lowest priority keep both vCPUs out of their
/// idle halt, as `idle=poll` or a busy-polling setup would on a latency-tuned host. They yield to
/// every real task at once (CFS wake-up preemption), and take the VM's wake-up from idle (tens of
/// µs per hop here) out of the measurement.
struct KeepAwake(Vec<std::process::Child>);

impl KeepAwake {
    fn start() -> Self {
        let on = std::env::var("STORM_BENCH_KEEP_AWAKE").is_ok_and(|v| v == "1");
        let spin = || std::process::Command::new("nice").args(["-n", "19", "sh", "-c", "while :; do :; done"]).spawn();
        Self(if on { (0..2).filter_map(|_| spin().ok()).collect() } else { Vec::new() })
    }
}

impl Drop for KeepAwake {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn main() {
    let awake = KeepAwake::start();
    if !awake.0.is_empty() {
        println!("STORM_BENCH_KEEP_AWAKE: {} idle-priority spinners keep the vCPUs awake", awake.0.len());
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(run());
}

async fn run() {
    let redis = RedisServer::start().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, Instant)>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let _ = sock.set_nodelay(true);
            tokio::spawn(stub_connection(sock, tx.clone()));
        }
    });

    let bus = Bus::connect(BusConfig::new(redis.url()), CancellationToken::new()).await.unwrap();
    let list = [
        instrument("BTCUSDT", "BTC", "USDT"),
        instrument("ETHBTC", "ETH", "BTC"),
        instrument("ETHUSDT", "ETH", "USDT"),
    ];
    storm_bus::instruments::write(&bus, "stub", &list).await.unwrap();
    let metrics_port = storm_testkit::process::free_port().unwrap();
    std::env::set_var("STORM_BENCH_KEY", "bench-key");
    std::env::set_var("STORM_BENCH_SECRET", "bench-secret");
    let config = format!(
        r#"
        redis_url = "{redis}"
        instance = "bench"
        log_level = "warn"
        metrics_addr = "127.0.0.1:{metrics_port}"
        [[venue]]
        name = "stub"
        kind = "binance"
        rest_url = "http://{addr}"
        ws_url = "ws://{addr}"
        api_key_env = "STORM_BENCH_KEY"
        api_secret_env = "STORM_BENCH_SECRET"
        [executor]
        venue = "stub"
        mode = "live"
        live_enabled = true
        orders_per_10s = 1000
        max_open_chains = 0
        [executor.max_notional]
        USDT = "1000"
        "#,
        redis = redis.url(),
        metrics_port = metrics_port,
    );
    let exec = EngineProcess::start(env!("CARGO_BIN_EXE_storm-executor"), &config, &[]).unwrap();
    // For scripts/executor-trace, which attaches `perf trace` to the executor.
    println!("executor pid {} venue port {}", exec.pid(), addr.port());
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut c = bus.conn();
    let mut samples = Vec::with_capacity(MEASURED);
    for n in 0..WARMUP + MEASURED {
        let opp = opportunity(n);
        let e = opps::entry(bus.keys(), 100_000, &opp).unwrap();
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&e.key).arg("*");
        for (k, v) in &e.fields {
            cmd.arg(*k).arg(v.as_slice());
        }
        let t0 = Instant::now();
        let _: String = cmd.query_async(&mut c).await.unwrap();
        let want = format!("st{}-1", opp.id);
        let arrived = loop {
            let (cid, at) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no order for opportunity {n}"))
                .unwrap();
            if cid == want {
                break at;
            }
        };
        if n >= WARMUP {
            samples.push(arrived.duration_since(t0).as_secs_f64() * 1e6);
        }
        // Paced under the 1,000 orders / 10 s the config allows.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    samples.sort_by(f64::total_cmp);
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "signal_to_order: {} opportunities, opp XADD -> first leg request at the venue (loopback): p50 {:.0} us, p90 {:.0} us, p99 {:.0} us, max {:.0} us",
        samples.len(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        samples[samples.len() - 1]
    );
    components(&bus, &redis.url(), addr, &mut rx).await;
    // Inside the executor: from the entry read off Redis to the order handed to the HTTP client
    // (after the gate, which journals leg 1's intent, and the weight reservation), and the gate.
    let body = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics")).await.unwrap().text().await.unwrap();
    for (name, what) in [
        (
            "storm_executor_signal_to_send_us",
            "entry read -> request handed to the HTTP client (gate, weight reserved, signed)",
        ),
        ("storm_executor_gate_us", "of which the gate's Redis round trip"),
    ] {
        let buckets: Vec<(f64, f64)> = body
            .lines()
            .filter(|l| l.starts_with(&format!("{name}_bucket")))
            .filter_map(|l| {
                let le = l.split("le=\"").nth(1)?.split('"').next()?;
                let n: f64 = l.rsplit(' ').next()?.parse().ok()?;
                Some((if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? }, n))
            })
            .collect();
        let total = buckets.last().map_or(0.0, |b| b.1);
        let bucket_of = |q: f64| buckets.iter().find(|(_, n)| *n >= q * total).map_or(f64::INFINITY, |b| b.0);
        println!(
            "  inside the executor, {what} ({total} samples): p50 <= {} us, p90 <= {} us, p99 <= {} us (bucket bounds)",
            bucket_of(0.5),
            bucket_of(0.9),
            bucket_of(0.99)
        );
    }
}

/// The two hops outside the executor's own code, measured alone in this process with the same
/// clients: Redis stream delivery (XADD → a blocked XREADGROUP returns) and an HTTP request
/// through reqwest to the stub venue's socket.
async fn components(
    bus: &Bus,
    redis_url: &str,
    venue: std::net::SocketAddr,
    rx: &mut mpsc::UnboundedReceiver<(String, Instant)>,
) {
    let n = 500;
    let client = redis::Client::open(redis_url).unwrap();
    let mut reader = client.get_multiplexed_async_connection().await.unwrap();
    let _: Result<(), _> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("bench:probe")
        .arg("g")
        .arg("$")
        .arg("MKSTREAM")
        .query_async(&mut reader)
        .await;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Instant>();
    tokio::spawn(async move {
        loop {
            let Ok(v) = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg("g")
                .arg("c")
                .arg("COUNT")
                .arg(1)
                .arg("BLOCK")
                .arg(1000)
                .arg("STREAMS")
                .arg("bench:probe")
                .arg(">")
                .query_async::<redis::Value>(&mut reader)
                .await
            else {
                return;
            };
            if !matches!(v, redis::Value::Nil) && done_tx.send(Instant::now()).is_err() {
                return;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut c = bus.conn();
    let mut redis_hop = Vec::new();
    for _ in 0..n {
        let t0 = Instant::now();
        let _: String =
            redis::cmd("XADD").arg("bench:probe").arg("*").arg("f").arg("v").query_async(&mut c).await.unwrap();
        let got = done_rx.recv().await.unwrap();
        redis_hop.push(got.duration_since(t0).as_secs_f64() * 1e6);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let url = redis_url.to_owned();
    let sync_rtt = tokio::task::spawn_blocking(move || {
        let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
        let mut v = Vec::new();
        for _ in 0..2000 {
            let t0 = Instant::now();
            let _: String = redis::cmd("PING").query(&mut conn).unwrap();
            v.push(t0.elapsed().as_secs_f64() * 1e6);
        }
        v
    })
    .await
    .unwrap();
    let mut async_rtt = Vec::new();
    for _ in 0..2000 {
        let t0 = Instant::now();
        let _: String = redis::cmd("PING").query_async(&mut c).await.unwrap();
        async_rtt.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    let http = reqwest::Client::new();
    let mut http_hop = Vec::new();
    for i in 0..n {
        let url = format!("http://{venue}/api/v3/order?symbol=BTCUSDT&newClientOrderId=probe-{i}");
        let t0 = Instant::now();
        let _ = http.post(&url).header("x-mbx-apikey", "k").send().await.unwrap().text().await;
        let (_, at) = rx.recv().await.unwrap();
        http_hop.push(at.duration_since(t0).as_secs_f64() * 1e6);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for (name, mut v) in [
        ("PING round trip, blocking connection", sync_rtt),
        ("PING round trip, redis-rs ConnectionManager (async)", async_rtt),
        ("XADD -> a blocked XREADGROUP returns", redis_hop),
        ("reqwest POST -> first byte at the venue socket", http_hop),
    ] {
        v.sort_by(f64::total_cmp);
        println!("  hop {name}: p50 {:.0} us, p90 {:.0} us", v[v.len() / 2], v[v.len() * 9 / 10]);
    }
}
