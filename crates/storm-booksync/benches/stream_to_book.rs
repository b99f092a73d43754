//! booksync end to end on real data: Redis stream in → book hashes + tops stream out.
//!
//! The real BTCUSDT recording (both days: the recorded 1000-level snapshot and 6,495 diffs) is
//! copied under `n` symbol names (`X000USDT`, ...): a replay sim serves the snapshot of each by
//! REST, and the bench writes the diffs of all copies to `storm:md:sim:depth`, interleaved as a
//! multi-symbol feed would be, while the release booksync binary is stopped (SIGSTOP); then it is
//! resumed and drains them. Reported: diffs processed per second from the resume until every diff
//! is applied (snapshot fetches included), booksync's and Redis' CPU over that time, tops entries
//! written, and booksync's resident memory per live 1000-level book.
//!
//! Run: `cargo bench -p storm-booksync --bench stream_to_book` (env `STORM_BENCH_SYMBOLS`, copies
//! of the recording, default 20; `STORM_BENCH_MEM_SYMBOLS`, books for the memory figure, default 200).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use storm_bus::{md, Keys};
use storm_core::{DepthDiff, MdEvent, Symbol, VenueId};
use storm_sim::replay::{Item, Recording};
use storm_sim::server::{self, SimState};
use storm_sim::{Exchange, ModelConfig, SimEvent};
use storm_testkit::process::{cpu_ticks, free_port, EngineProcess, TICKS_PER_SECOND};
use storm_testkit::RedisServer;
use tokio_util::sync::CancellationToken;

fn metric(body: &str, name: &str) -> u64 {
    storm_testkit::process::metric(body, name) as u64
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn write_diffs(redis: &mut redis::aio::MultiplexedConnection, diffs: &[DepthDiff]) {
    let keys = Keys::default();
    let venue = VenueId::new("sim");
    for chunk in diffs.chunks(512) {
        let mut pipe = redis::pipe();
        for d in chunk {
            let e = md::entry(&keys, &venue, 0, &MdEvent::Depth(d.clone())).unwrap();
            let cmd = pipe.cmd("XADD").arg(&e.key).arg("*");
            for (k, v) in &e.fields {
                cmd.arg(*k).arg(v.as_slice());
            }
            cmd.ignore();
        }
        let _: () = pipe.query_async(redis).await.unwrap();
    }
}

fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill").arg(sig).arg(pid.to_string()).status().expect("kill");
    assert!(status.success(), "kill {sig} {pid}");
}

async fn wait_applied(metrics_url: &str, want: u64, patience: Duration) -> String {
    let t0 = Instant::now();
    loop {
        let body = reqwest::get(metrics_url).await.unwrap().text().await.unwrap();
        let done = metric(&body, "storm_booksync_diffs_applied_total")
            + metric(&body, "storm_booksync_snapshot_dropped_total")
            + metric(&body, "storm_booksync_stale_diffs_total");
        if done >= want {
            return body;
        }
        assert!(t0.elapsed() < patience, "booksync processed {done} of {want} diffs");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main]
async fn main() {
    let copies: usize = std::env::var("STORM_BENCH_SYMBOLS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let mem_copies: usize = std::env::var("STORM_BENCH_MEM_SYMBOLS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let files = ["binance-spot-replay/spot_btcusdt_20240808.gz", "binance-spot-replay/spot_btcusdt_20240809.gz"]
        .map(storm_testkit::fixtures::testdata_file);
    let rec = Recording::load(&files).unwrap();
    let snapshot = rec
        .items
        .iter()
        .find_map(|(_, i)| match i {
            Item::Snapshot { snapshot, .. } => Some(snapshot.clone()),
            _ => None,
        })
        .unwrap();
    let diffs: Vec<DepthDiff> = rec
        .items
        .iter()
        .filter_map(|(_, i)| match i {
            Item::Event(SimEvent::Depth(d)) => Some(d.clone()),
            _ => None,
        })
        .collect();
    let name = |i: usize| Symbol::new(format!("X{i:03}USDT"));

    // A replay sim holding the recorded snapshot under every name; weight is not the subject here.
    let mut ex = Exchange::new(&ModelConfig { assets: vec![], pairs: vec![], ..ModelConfig::default() }, 1, 0);
    for i in 0..copies + mem_copies {
        ex.load_snapshot(&name(i), &snapshot);
    }
    let state = SimState::new(ex, 10_000_000, Default::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_addr = listener.local_addr().unwrap().to_string();
    let stop = CancellationToken::new();
    tokio::spawn(server::serve(listener, state, stop.clone()));

    let redis_server = RedisServer::start().unwrap();
    let mut redis = redis::Client::open(redis_server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let metrics_port = free_port().unwrap();
    let config = format!(
        "redis_url = \"{}\"\nlog_level = \"warn\"\nmetrics_addr = \"127.0.0.1:{metrics_port}\"\n\
         [[venue]]\nname = \"sim\"\nkind = \"binance\"\nrest_url = \"http://{sim_addr}\"\nws_url = \"ws://{sim_addr}\"\n\
         [booksync]\nvenue = \"sim\"\nstale_after_ms = 600000\n",
        redis_server.url()
    );
    let booksync =
        EngineProcess::start(env!("CARGO_BIN_EXE_storm-booksync"), &config, &[]).expect("start storm-booksync");
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    tokio::time::sleep(Duration::from_secs(2)).await; // instruments read, stream reader at its end
    let pid = booksync.pid();

    // Memory: books made live with the first diffs only (the recorded 1000-level snapshot each).
    let first: Vec<DepthDiff> = diffs.iter().take(3).cloned().collect();
    let rss_before = rss_kib(pid);
    let mem_feed: Vec<DepthDiff> = (copies..copies + mem_copies)
        .flat_map(|i| first.iter().map(move |d| DepthDiff { symbol: name(i), ..d.clone() }))
        .collect();
    write_diffs(&mut redis, &mem_feed).await;
    wait_applied(&metrics_url, mem_feed.len() as u64, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_live = rss_kib(pid);

    // Throughput: every diff of every copy, interleaved diff by diff across symbols.
    let feed: Vec<DepthDiff> =
        diffs.iter().flat_map(|d| (0..copies).map(move |i| DepthDiff { symbol: name(i), ..d.clone() })).collect();
    let before = reqwest::get(&metrics_url).await.unwrap().text().await.unwrap();
    let done_before = metric(&before, "storm_booksync_diffs_applied_total")
        + metric(&before, "storm_booksync_snapshot_dropped_total")
        + metric(&before, "storm_booksync_stale_diffs_total");
    let tops_before = metric(&before, "storm_booksync_tops_total");
    // The feed is written while booksync is stopped (SIGSTOP), so what is timed is booksync alone
    // draining the stream into books, hashes and tops, with Redis serving it on the same cores.
    signal(pid, "-STOP");
    let w0 = Instant::now();
    write_diffs(&mut redis, &feed).await;
    let written_in = w0.elapsed();
    let (b0, r0) = (cpu_ticks(pid), cpu_ticks(redis_server.pid().unwrap()));
    let t0 = Instant::now();
    signal(pid, "-CONT");
    let body = wait_applied(&metrics_url, done_before + feed.len() as u64, Duration::from_secs(300)).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let (b1, r1) = (cpu_ticks(pid), cpu_ticks(redis_server.pid().unwrap()));
    let applied = metric(&body, "storm_booksync_diffs_applied_total");
    let tops = metric(&body, "storm_booksync_tops_total") - tops_before;
    let resyncs = metric(&body, "storm_booksync_resyncs_total");
    drop(booksync);
    stop.cancel();
    println!(
        "stream_to_book: symbols={copies} diffs={} diffs_per_s={:.0} written_in={:.2}s booksync_cpu_cores={:.2} \
         redis_cpu_cores={:.2} tops_entries={tops} applied_total={applied} resyncs={resyncs} secs={elapsed:.2}",
        feed.len(),
        feed.len() as f64 / elapsed,
        written_in.as_secs_f64(),
        (b1 - b0) as f64 / TICKS_PER_SECOND / elapsed,
        (r1 - r0) as f64 / TICKS_PER_SECOND / elapsed,
    );
    println!(
        "book_memory: books={mem_copies} levels_per_side=1000 rss_before_kib={rss_before} rss_live_kib={rss_live} \
         kib_per_book={:.1}",
        (rss_live.saturating_sub(rss_before)) as f64 / mem_copies as f64
    );
}
