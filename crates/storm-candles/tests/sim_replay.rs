//! storm-candles end to end on real recorded trades: storm-sim replays the hftbacktest BTCUSDT and
//! ETHUSDT recording (`testdata/binance-spot-replay`, 2024-08-08 23:54 → 2024-08-09 00:05 UTC)
//! over its WebSocket, the real ingester writes the `@trade` frames to Redis, the real candle
//! engine builds candles. Every candle in Redis must equal the candle computed here, without
//! storm-candles' code, from the recorded trades the sim played.
//!
//! The engine closes candles on storm's clock and refuses trades an hour old, so the sim moves
//! the recording's venue times forward by whole minutes (`Shift`, `--replay-now`) and plays it
//! when the wall clock reaches them: the expected candles are the recording's, open times moved
//! by the shift. The test plays a slice of about 90–150 s chosen so that it starts a few seconds
//! from now and ends just before a minute boundary (1s and 1m candles); `scripts/candles-replay`
//! runs the ignored test over the whole 11 minutes (1m and 5m, the shift whole 5 minutes).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::Duration;

use redis::AsyncCommands;
use rust_decimal::Decimal;
use storm_bus::Keys;
use storm_core::time::now_millis;
use storm_core::Symbol;
use storm_service::Config;
use storm_sim::replay::Recording;
use storm_sim::{schedule, ReplayOptions, Shift, Window};
use storm_testkit::RedisServer;
use tokio_util::sync::CancellationToken;

const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];

/// Lead between now and the first replayed frame: the ingester subscribes meanwhile.
const WAIT_MS: u64 = 6_000;

fn files() -> Vec<PathBuf> {
    ["btcusdt_20240808", "btcusdt_20240809", "ethusdt_20240808", "ethusdt_20240809"]
        .iter()
        .map(|f| storm_testkit::fixtures::testdata_file(&format!("binance-spot-replay/spot_{f}.gz")))
        .collect()
}

/// A recorded `@trade` frame.
#[derive(Clone, Debug)]
struct Recorded {
    recv_ns: u64,
    symbol: String,
    id: u64,
    price: Decimal,
    qty: Decimal,
    time_ms: u64,
}

/// The first receive time of the files (ns) and every trade, read here with serde_json.
fn recorded() -> (u64, Vec<Recorded>) {
    let (mut first, mut out) = (u64::MAX, Vec::new());
    for path in files() {
        let file = std::fs::File::open(&path).unwrap();
        for line in BufReader::new(flate2::read::GzDecoder::new(file)).lines() {
            let line = line.unwrap();
            let (ns, json) = line.split_once(' ').unwrap();
            let recv_ns: u64 = ns.parse().unwrap();
            first = first.min(recv_ns);
            if !json.contains("@trade") {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(json).unwrap();
            let d = &v["data"];
            out.push(Recorded {
                recv_ns,
                symbol: d["s"].as_str().unwrap().to_owned(),
                id: d["t"].as_u64().unwrap(),
                price: d["p"].as_str().unwrap().parse().unwrap(),
                qty: d["q"].as_str().unwrap().parse().unwrap(),
                time_ms: d["T"].as_u64().unwrap(),
            });
        }
    }
    (first, out)
}

/// A candle as expected: OHLC, volumes, count, first and last trade ids (None: flat).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Want {
    open_ms: u64,
    ohlc: [Decimal; 4],
    volume: Decimal,
    quote_volume: Decimal,
    trades: u64,
    ids: Option<(u64, u64)>,
}

/// Every `tf_ms` candle from the first trade's to the last trade's, flat ones at the previous close.
fn expected(trades: &[&Recorded], tf_ms: u64, shift_ms: u64) -> Vec<Want> {
    let mut sorted: Vec<&Recorded> = trades.to_vec();
    sorted.sort_by_key(|t| (t.time_ms, t.id));
    let open_of = |t: &Recorded| (t.time_ms + shift_ms) / tf_ms * tf_ms;
    let mut by_open: BTreeMap<u64, Vec<&Recorded>> = BTreeMap::new();
    for t in &sorted {
        by_open.entry(open_of(t)).or_default().push(t);
    }
    let (Some(&first), Some(&last)) = (by_open.keys().next(), by_open.keys().next_back()) else { return Vec::new() };
    let mut prev = sorted[0].price;
    let mut out = Vec::new();
    for open_ms in (first..=last).step_by(tf_ms as usize) {
        let w = match by_open.get(&open_ms) {
            None => Want {
                open_ms,
                ohlc: [prev; 4],
                volume: Decimal::ZERO,
                quote_volume: Decimal::ZERO,
                trades: 0,
                ids: None,
            },
            Some(ts) => {
                let sum = |f: &dyn Fn(&Recorded) -> Decimal| {
                    ts.iter().fold(Decimal::ZERO, |s, t| s.checked_add(f(t)).unwrap())
                };
                let (o, c) = (ts[0], ts[ts.len() - 1]);
                Want {
                    open_ms,
                    ohlc: [
                        o.price,
                        ts.iter().map(|t| t.price).max().unwrap(),
                        ts.iter().map(|t| t.price).min().unwrap(),
                        c.price,
                    ],
                    volume: sum(&|t| t.qty),
                    quote_volume: sum(&|t| t.price.checked_mul(t.qty).unwrap()),
                    trades: ts.len() as u64,
                    ids: Some((o.id, c.id)),
                }
            }
        };
        prev = w.ohlc[3];
        out.push(w);
    }
    out
}

/// A candle as Redis holds it (the plain fields of a stream entry or a forming hash).
fn parse(fields: &HashMap<String, String>) -> Want {
    let dec = |f: &str| fields[f].parse::<Decimal>().unwrap_or_else(|e| panic!("{f} in {fields:?}: {e}"));
    let id = |f: &str| fields[f].parse::<u64>().ok();
    Want {
        open_ms: fields["open_ms"].parse().unwrap(),
        ohlc: [dec("open"), dec("high"), dec("low"), dec("close")],
        volume: dec("volume"),
        quote_volume: dec("quote_volume"),
        trades: fields["trades"].parse().unwrap(),
        ids: id("first_trade_id").zip(id("last_trade_id")),
    }
}

/// The plain fields of an entry or hash (`m`, the msgpack, left out).
fn text(map: HashMap<String, redis::Value>) -> HashMap<String, String> {
    map.into_iter()
        .filter(|(k, _)| k != "m")
        .map(|(k, v)| (k, redis::from_redis_value::<String>(&v).unwrap_or_default()))
        .collect()
}

/// What one (symbol, timeframe) showed.
#[derive(Debug, Default)]
struct Tally {
    closed: usize,
    forming: usize,
    flat: usize,
    amended: usize,
    mismatches: Vec<String>,
}

/// Compares the closed candles of a series (latest version of each) and its forming hash with
/// `want`; a candle not closed yet must be the last one and in the forming hash.
async fn check(conn: &mut redis::aio::MultiplexedConnection, sym: &str, tf: &str, want: &[Want], t: &mut Tally) {
    let keys = Keys::default();
    let symbol = Symbol::new(sym);
    let reply: redis::streams::StreamRangeReply = conn.xrange_all(keys.candles("sim", &symbol, tf)).await.unwrap();
    let mut closed: BTreeMap<u64, (u64, Want)> = BTreeMap::new();
    for e in reply.ids {
        let (open, version) = e.id.split_once('-').unwrap();
        let (open, version): (u64, u64) = (open.parse().unwrap(), version.parse().unwrap());
        t.amended += usize::from(version > 0);
        if closed.get(&open).is_none_or(|(v, _)| *v < version) {
            closed.insert(open, (version, parse(&text(e.map))));
        }
    }
    let forming: HashMap<String, redis::Value> = conn.hgetall(keys.candle("sim", &symbol, tf)).await.unwrap();
    let forming = (!forming.is_empty()).then(|| parse(&text(forming)));
    for (i, w) in want.iter().enumerate() {
        let got = match closed.remove(&w.open_ms) {
            Some((_, c)) => {
                t.closed += 1;
                c
            }
            None if i + 1 == want.len() && forming.as_ref().is_some_and(|f| f.open_ms == w.open_ms) => {
                t.forming += 1;
                forming.clone().unwrap()
            }
            None => {
                t.mismatches.push(format!("{sym} {tf} {}: missing", w.open_ms));
                continue;
            }
        };
        t.flat += usize::from(w.ids.is_none());
        if &got != w {
            t.mismatches.push(format!("{sym} {tf} {}:\n  redis    {got:?}\n  expected {w:?}", w.open_ms));
        }
    }
    // Candles after the last trade's are flat at its close; none before the first.
    let last = want.last().map(|w| (w.open_ms, w.ohlc[3]));
    for (open, (_, c)) in closed {
        match last {
            Some((l, close)) if open > l && c.trades == 0 && c.ohlc == [close; 4] => {}
            _ => t.mismatches.push(format!("{sym} {tf} {open}: unexpected {c:?}")),
        }
    }
}

fn config(redis: &str, sim_port: u16, tfs: &[&str]) -> toml::Table {
    let tfs = tfs.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(", ");
    let subs = SYMBOLS.map(|s| format!("\"trade:{s}\"")).join(", ");
    format!(
        r#"
        redis_url = "{redis}"
        instance = "sim-replay"
        [[venue]]
        name = "sim"
        kind = "binance"
        rest_url = "http://127.0.0.1:{sim_port}"
        ws_url = "ws://127.0.0.1:{sim_port}"
        [sim]
        listen = "127.0.0.1:{sim_port}"
        [ingester]
        venue = "sim"
        subscriptions = [{subs}]
        [candles]
        venue = "sim"
        timeframes = [{tfs}]
        grace_ms = 250
        "#
    )
    .parse()
    .unwrap()
}

/// Plays `window` of the recording shifted by `shift_ms` through sim → ingester → Redis → candles,
/// waits until `read_at_ms` (wall clock) and compares `tfs` for both symbols.
async fn replay_and_compare(window: Window, shift_ms: u64, tfs: &[(&str, u64)], read_at_ms: u64) {
    let (first_ns, all) = recorded();
    let from_ns = first_ns + window.from_ms * 1_000_000;
    let to_ns = window.to_ms.map_or(u64::MAX, |to| first_ns + to * 1_000_000);
    let played: Vec<&Recorded> = all.iter().filter(|t| (from_ns..to_ns).contains(&t.recv_ns)).collect();
    assert!(played.len() > 500, "{} trades in the window", played.len());

    let redis = RedisServer::start().unwrap();
    let port = storm_testkit::process::free_port().unwrap();
    let table = config(&redis.url(), port, &tfs.iter().map(|(n, _)| *n).collect::<Vec<_>>());
    let stop = CancellationToken::new();
    let none = BTreeMap::new();
    let replay = ReplayOptions { files: files(), speed: 1.0, window, shift: Shift::By(shift_ms) };
    let sim =
        tokio::spawn(storm_sim::run(Config::from_parts(table.clone(), &none, &[]).unwrap(), replay, stop.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await; // the sim binds its port
    let ingester =
        tokio::spawn(storm_ingester::run(Config::from_parts(table.clone(), &none, &[]).unwrap(), stop.clone()));
    let candles = tokio::spawn(storm_candles::run(Config::from_parts(table, &none, &[]).unwrap(), stop.clone()));

    let wait = read_at_ms.saturating_sub(now_millis());
    eprintln!(
        "{} trades played from {} ms to {:?} ms, shift {shift_ms} ms; reading in {wait} ms",
        played.len(),
        window.from_ms,
        window.to_ms
    );
    tokio::time::sleep(Duration::from_millis(wait)).await;
    assert!(!sim.is_finished() && !ingester.is_finished() && !candles.is_finished(), "an engine stopped early");

    let mut conn = redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let mut mismatches = Vec::new();
    for sym in SYMBOLS {
        let mine: Vec<&Recorded> = played.iter().copied().filter(|t| t.symbol == sym).collect();
        for (tf, tf_ms) in tfs {
            let want = expected(&mine, *tf_ms, shift_ms);
            let mut t = Tally::default();
            check(&mut conn, sym, tf, &want, &mut t).await;
            eprintln!(
                "{sym} {tf}: {} expected, {} closed and {} forming compared ({} flat), {} amendments, {} mismatches",
                want.len(),
                t.closed,
                t.forming,
                t.flat,
                t.amended,
                t.mismatches.len()
            );
            assert!(want.len() >= 2, "{sym} {tf}: too few candles to compare");
            mismatches.extend(t.mismatches);
        }
    }
    stop.cancel();
    for task in [sim.await.map(|r| r.is_ok()), ingester.await.map(|r| r.is_ok()), candles.await.map(|r| r.is_ok())] {
        assert!(task.unwrap(), "an engine failed");
    }
    assert!(mismatches.is_empty(), "{} mismatches:\n{}", mismatches.len(), mismatches.join("\n"));
}

/// A slice of about 90–150 s of both symbols, 1s and 1m candles, ending just before a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slice_of_the_recording_served_by_the_sim_makes_the_recordings_candles() {
    let rec = Recording::load(&files()).unwrap();
    let now = now_millis();
    let (from_ms, shift_ms) = schedule::window_for_now(&rec, 60_000, WAIT_MS, now);
    let start = now + WAIT_MS;
    let end = (start + 90_000).div_ceil(60_000) * 60_000; // the minute boundary it ends before
    let to_ms = from_ms + (end - 400 - start);
    let window = Window { from_ms, to_ms: Some(to_ms) };
    replay_and_compare(window, shift_ms, &[("1s", 1_000), ("1m", 60_000)], end + 1_500).await;
}

/// The whole recording (about 11 minutes, shifted by whole 5 minutes so the wait for its start is
/// up to 5 minutes more), 1m and 5m candles: `scripts/candles-replay`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "takes 12 to 18 minutes: scripts/candles-replay"]
async fn the_whole_recording_served_by_the_sim_makes_the_recordings_candles() {
    let rec = Recording::load(&files()).unwrap();
    let shift_ms = schedule::shift_for(&rec, 0, 300_000, now_millis() + WAIT_MS);
    let (first_ns, all) = recorded();
    let last_ms = all.iter().map(|t| t.time_ms).max().unwrap() + shift_ms;
    let first_ms = first_ns / 1_000_000 + shift_ms;
    eprintln!("the recording plays from {} s from now", first_ms.saturating_sub(now_millis()) / 1_000);
    // Read once the last trade's minute has closed; its five minutes are still forming.
    let read_at = (last_ms / 60_000 + 1) * 60_000 + 1_500;
    replay_and_compare(Window::default(), shift_ms, &[("1m", 60_000), ("5m", 300_000)], read_at).await;
}
