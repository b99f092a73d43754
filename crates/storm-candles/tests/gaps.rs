//! Holes, end to end with real processes: the `storm-sim` binary (Binance dialect, trade ids per
//! symbol without holes, REST klines from its own trades), the real `storm-ingester` and
//! `storm-candles` binaries on a throwaway redis-server. One engine is killed with SIGKILL for
//! `STORM_TEST_GAP_S` seconds (default 65: at least one whole minute; 120 in the measurement
//! docs/STATUS.md quotes) and started again. Afterwards the latest version of every 1m and 5m
//! candle from the first whole minute to the last closed one must equal the sim's REST klines:
//! no hole, no interval twice, the ones the engine could not see marked `backfilled`.
//!
//! * the ingester killed: the trades of the outage never reach Redis; the candle engine closes
//!   those minutes flat on time, notices the jump in trade ids after the restart and rewrites them
//!   from the venue's klines;
//! * the candle engine killed, with a trade stream short enough (`stream_maxlen`) that the trades
//!   of the outage are trimmed before it returns: it resumes from its restart point, sees the jump
//!   and backfills likewise.
//!
//! The binaries are the ones `cargo test --workspace` builds next to this test's.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redis::Commands;
use rust_decimal::Decimal;
use storm_bus::Keys;
use storm_candles::Timeframe;
use storm_core::time::now_millis;
use storm_core::Symbol;
use storm_testkit::process::{free_port, http_get, EngineProcess};
use storm_testkit::RedisServer;

const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];

fn bin(name: &str) -> String {
    let dir = Path::new(env!("CARGO_BIN_EXE_storm-candles")).parent().unwrap().to_path_buf();
    let p: PathBuf = dir.join(name);
    assert!(p.is_file(), "{} is not built: run `cargo test --workspace` (or `cargo build --bins`)", p.display());
    p.to_string_lossy().into_owned()
}

fn gap() -> Duration {
    Duration::from_secs(std::env::var("STORM_TEST_GAP_S").ok().and_then(|s| s.parse().ok()).unwrap_or(65))
}

struct Suite {
    redis: RedisServer,
    sim_port: u16,
    _sim: EngineProcess,
    ingester: EngineProcess,
    candles: EngineProcess,
}

impl Suite {
    fn start(stream_maxlen: usize) -> Self {
        let redis = RedisServer::start().unwrap();
        let sim_port = free_port().unwrap();
        let common = format!(
            "redis_url = \"{}\"\n[[venue]]\nname = \"sim\"\nkind = \"binance\"\nrest_url = \"http://127.0.0.1:{sim_port}\"\n\
             ws_url = \"ws://127.0.0.1:{sim_port}\"\n",
            redis.url()
        );
        let sim = format!("{common}[sim]\nlisten = \"127.0.0.1:{sim_port}\"\nevents_per_second = 600\n");
        let sim = EngineProcess::start(&bin("storm-sim"), &sim, &[]).unwrap();
        wait_for_port(sim_port);
        let subs: Vec<String> = SYMBOLS.iter().map(|s| format!("\"trade:{s}\"")).collect();
        let ingester = format!(
            "{common}[ingester]\nvenue = \"sim\"\nsubscriptions = [{}]\nstream_maxlen = {stream_maxlen}\n",
            subs.join(", ")
        );
        let ingester = EngineProcess::start(&bin("storm-ingester"), &ingester, &[]).unwrap();
        let candles = format!(
            "{common}[candles]\nvenue = \"sim\"\ntimeframes = [\"1m\", \"5m\"]\nbackfill_after_ms = 1000\nforming_every_ms = 500\n"
        );
        let candles = EngineProcess::start(&bin("storm-candles"), &candles, &[]).unwrap();
        Self { redis, sim_port, _sim: sim, ingester, candles }
    }

    fn conn(&self) -> redis::Connection {
        redis::Client::open(self.redis.url()).unwrap().get_connection().unwrap()
    }

    /// Time of the first trade storm-candles took, per symbol (from its forming 1m hash).
    fn wait_first_trades(&self) {
        let mut conn = self.conn();
        let deadline = Instant::now() + Duration::from_secs(30);
        for s in SYMBOLS {
            let key = Keys::default().candle("sim", &Symbol::new(s), "1m");
            while !conn.exists::<_, bool>(&key).unwrap() {
                assert!(Instant::now() < deadline, "no forming candle of {s} after 30 s");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }

    /// The sim's REST klines of `sym` in `tf` opening in `[from, to)`.
    fn venue_klines(&self, sym: &str, tf: &str, from: u64, to: u64) -> BTreeMap<u64, Vec<String>> {
        let path = format!("/api/v3/klines?symbol={sym}&interval={tf}&startTime={from}&endTime={}&limit=1000", to - 1);
        let body = http_get(self.sim_port, &path);
        let rows: Vec<Vec<serde_json::Value>> = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        rows.into_iter()
            .map(|r| {
                let s = |i: usize| r[i].as_str().map_or_else(|| r[i].to_string(), str::to_owned);
                (r[0].as_u64().unwrap(), vec![s(1), s(2), s(3), s(4), s(5), s(7), s(8)])
            })
            .collect()
    }
}

/// Sleeps until the first whole minute after `start_ms` closed and 20 s of the next passed, so
/// the comparison covers a minute before the outage, the one it starts in and the ones after.
fn wait_for_a_whole_minute(start_ms: u64) {
    let at = Timeframe::M1.next_open(Timeframe::M1.next_open(start_ms)) + 20_000;
    std::thread::sleep(Duration::from_millis(at.saturating_sub(now_millis())));
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the sim does not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Latest version of each candle in the stream: open → (version, backfilled, values as the
/// venue's kline row orders them).
fn ours(conn: &mut redis::Connection, sym: &str, tf: &str) -> BTreeMap<u64, (u32, bool, Vec<String>)> {
    let key = Keys::default().candles("sim", &Symbol::new(sym), tf);
    let reply: redis::streams::StreamRangeReply = conn.xrange_all(&key).unwrap();
    let mut out = BTreeMap::new();
    for e in reply.ids {
        let f = |name: &str| redis::from_redis_value::<String>(e.map.get(name).unwrap()).unwrap();
        let open: u64 = f("open_ms").parse().unwrap();
        let version: u32 = f("version").parse().unwrap();
        assert_eq!(e.id, format!("{open}-{version}"), "entry id of {key}");
        let values = ["open", "high", "low", "close", "volume", "quote_volume", "trades"].map(f).to_vec();
        out.insert(open, (version, f("backfilled") == "1", values));
    }
    out
}

fn same(a: &[String], b: &[String]) -> bool {
    let num = |s: &String| s.parse::<Decimal>().unwrap();
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| num(x) == num(y))
}

/// Compares every 1m and 5m candle from the first whole minute after `start_ms` to the last
/// closed one with the venue's; the number of backfilled minutes, or what differs.
fn compare(suite: &Suite, start_ms: u64) -> Result<usize, String> {
    let mut conn = suite.conn();
    let mut backfilled = 0;
    // The minute storm-candles started in is checked too: its trades before the first one it
    // saw are backfilled at start.
    let first_minute = Timeframe::M1.open_of(start_ms);
    for sym in SYMBOLS {
        for tf in [Timeframe::M1, Timeframe::M5] {
            let from = if tf.open_of(first_minute) == first_minute { first_minute } else { tf.next_open(first_minute) };
            let to = tf.open_of(now_millis() - 250);
            if to <= from {
                continue;
            }
            let venue = suite.venue_klines(sym, tf.as_str(), from, to);
            let mine = ours(&mut conn, sym, tf.as_str());
            let mut open = from;
            while open < to {
                let want = venue.get(&open).ok_or(format!("the venue has no {sym} {tf} {open}"))?;
                let (version, filled, got) = mine.get(&open).ok_or(format!("hole: no {sym} {tf} candle at {open}"))?;
                if !same(got, want) {
                    return Err(format!(
                        "{sym} {tf} {open} v{version} backfilled={filled}: ours {got:?}, venue {want:?}"
                    ));
                }
                if tf == Timeframe::M1 && *filled {
                    backfilled += 1;
                }
                open = tf.next_open(open);
            }
            eprintln!("{sym} {tf}: {} candles equal the venue's", venue.len());
        }
    }
    Ok(backfilled)
}

/// Waits until the minute holding `t` is closed, then [`compare`]s until it holds or a minute
/// and a half has passed (the backfill runs `backfill_after_ms` after the venue closed the hole).
fn check_against_venue(suite: &Suite, start_ms: u64, t: u64) -> usize {
    let closed = Timeframe::M1.next_open(t) + 250 + 1_000;
    std::thread::sleep(Duration::from_millis(closed.saturating_sub(now_millis())));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match compare(suite, start_ms) {
            Ok(n) => return n,
            Err(e) if Instant::now() > deadline => panic!("{e}"),
            Err(e) => eprintln!("not yet: {e}"),
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// With the feed stopped, each symbol's 24 h ticker counts exactly the trades of its 1m candles
/// (closed ones, latest version, plus the forming one): a backfill reaches the ticker too.
fn check_ticker(suite: &mut Suite) {
    suite.ingester.kill();
    let mut conn = suite.conn();
    let keys = Keys::default();
    let deadline = Instant::now() + Duration::from_secs(10);
    for sym in SYMBOLS {
        loop {
            std::thread::sleep(Duration::from_millis(1_000));
            let closed: u64 = ours(&mut conn, sym, "1m").values().map(|(_, _, v)| v[6].parse::<u64>().unwrap()).sum();
            let forming: String = conn.hget(keys.candle("sim", &Symbol::new(sym), "1m"), "trades").unwrap();
            let json: String = conn.hget(keys.ticker("sim"), sym).unwrap();
            let t: serde_json::Value = serde_json::from_str(&json).unwrap();
            let ticker = t["trades_24h"].as_u64().unwrap();
            let want = closed + forming.parse::<u64>().unwrap();
            if ticker == want {
                break;
            }
            assert!(Instant::now() < deadline, "{sym}: ticker trades_24h {ticker}, candles {want}");
        }
    }
}

#[test]
fn the_ingester_killed_for_minutes_leaves_no_hole() {
    let mut suite = Suite::start(100_000);
    suite.wait_first_trades();
    let start_ms = now_millis();
    wait_for_a_whole_minute(start_ms);
    suite.ingester.kill();
    let down = now_millis();
    std::thread::sleep(gap());
    suite.ingester.restart(&bin("storm-ingester"), &[]).unwrap();
    let up = now_millis();
    eprintln!("ingester down {} s", (up - down) / 1_000);
    let filled = check_against_venue(&suite, start_ms, up + 3_000);
    let outage_minutes = ((up - down) / 60_000) as usize;
    assert!(filled >= outage_minutes, "{filled} minutes backfilled for {outage_minutes} whole minutes down");
    check_ticker(&mut suite);
}

#[test]
fn the_candle_engine_killed_while_its_trades_are_trimmed_leaves_no_hole() {
    let mut suite = Suite::start(200);
    suite.wait_first_trades();
    let start_ms = now_millis();
    wait_for_a_whole_minute(start_ms);
    suite.candles.kill();
    let down = now_millis();
    std::thread::sleep(gap());
    suite.candles.restart(&bin("storm-candles"), &[]).unwrap();
    let up = now_millis();
    eprintln!("candle engine down {} s", (up - down) / 1_000);
    let filled = check_against_venue(&suite, start_ms, up + 3_000);
    assert!(filled >= 1, "the trimmed trades were not backfilled");
    check_ticker(&mut suite);
}
