//! Candles from the real BTCUSDT and ETHUSDT trades recorded on Binance (testdata/
//! binance-spot-replay, 2024-08-08 23:54 → 2024-08-09 00:05 UTC, across a day boundary), fed in
//! arrival order on the recording's own clock, equal candles computed here independently: every
//! trade grouped by the interval of its venue time, open/close by (time, id), flat intervals at
//! the previous close.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};

use rust_decimal::Decimal;
use storm_candles::{Candle, Edge, Emitted, Plan, Series, Tick, Timeframe};

/// (local receive ms, trade) in arrival order.
fn trades(sym: &str) -> Vec<(u64, Tick)> {
    let mut out = Vec::new();
    for day in ["20240808", "20240809"] {
        let path = storm_testkit::fixtures::testdata_file(&format!("binance-spot-replay/spot_{sym}_{day}.gz"));
        let file = std::fs::File::open(&path).expect("recording");
        for line in BufReader::new(flate2::read::GzDecoder::new(file)).lines() {
            let line = line.unwrap();
            let Some((ns, json)) = line.split_once(' ') else { continue };
            if !json.contains("@trade") {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(json).unwrap();
            let d = &v["data"];
            out.push((
                ns.parse::<u64>().unwrap() / 1_000_000,
                Tick {
                    trade_id: d["t"].as_u64().unwrap(),
                    time_ms: d["T"].as_u64().unwrap(),
                    price: d["p"].as_str().unwrap().parse().unwrap(),
                    qty: d["q"].as_str().unwrap().parse().unwrap(),
                },
            ));
        }
    }
    out
}

/// The candles of `tf` from scratch, every interval from the first trade's to `until` (exclusive).
fn expected(ticks: &[Tick], tf: Timeframe, until: u64) -> Vec<Candle> {
    let mut sorted = ticks.to_vec();
    sorted.sort_by_key(|t| (t.time_ms, t.trade_id));
    let mut by_open: BTreeMap<u64, Vec<Tick>> = BTreeMap::new();
    for t in &sorted {
        by_open.entry(tf.open_of(t.time_ms)).or_default().push(*t);
    }
    let mut out = Vec::new();
    let mut open = tf.open_of(sorted[0].time_ms);
    let mut prev = sorted[0].price;
    while tf.next_open(open) <= until {
        let c = match by_open.get(&open) {
            None => Candle::flat(tf, open, prev),
            Some(ts) => {
                let mut c = Candle::flat(tf, open, ts[0].price);
                c.open = ts[0].price;
                c.close = ts[ts.len() - 1].price;
                c.high = ts.iter().map(|t| t.price).max().unwrap();
                c.low = ts.iter().map(|t| t.price).min().unwrap();
                c.volume = ts.iter().map(|t| t.qty).sum();
                c.quote_volume = ts.iter().map(|t| t.price * t.qty).sum::<Decimal>();
                c.trades = ts.len() as u64;
                c.first = Some(Edge { time_ms: ts[0].time_ms, trade_id: ts[0].trade_id, price: ts[0].price });
                let l = ts[ts.len() - 1];
                c.last = Some(Edge { time_ms: l.time_ms, trade_id: l.trade_id, price: l.price });
                c
            }
        };
        prev = c.close;
        out.push(c);
        open = tf.next_open(open);
    }
    out
}

/// Every timeframe that ends in the recording (the 23:00 hour ends at midnight, in it).
fn check_symbol(sym: &str) {
    let feed = trades(sym);
    assert!(feed.len() > 1_000, "{sym}: {} trades", feed.len());
    let tfs = [Timeframe::S1, Timeframe::M1, Timeframe::M5, Timeframe::H1];
    let plan = Plan::new(&tfs, 250, 5_000).unwrap();
    let mut series: Option<Series> = None;
    let mut closed: BTreeMap<Timeframe, Vec<Candle>> = BTreeMap::new();
    let mut keep = |out: Vec<Emitted>| {
        for e in out {
            match e {
                Emitted::Closed(c) => closed.entry(c.tf).or_default().push(c),
                other => panic!("{sym}: unexpected {other:?} in an on-time recording"),
            }
        }
    };
    for (now, t) in &feed {
        match series.as_mut() {
            None => series = Some(Series::start(&plan, t).unwrap()),
            Some(s) => {
                keep(s.on_clock(&plan, *now));
                keep(s.on_trade(&plan, t, *now).unwrap());
            }
        }
    }
    let last_ms = feed.iter().map(|(_, t)| t.time_ms).max().unwrap();
    let end = Timeframe::M5.open_of(last_ms);
    keep(series.as_mut().unwrap().on_clock(&plan, end + 250));
    let ticks: Vec<Tick> = feed.iter().map(|(_, t)| *t).collect();
    for tf in tfs {
        let got = closed.remove(&tf).unwrap_or_default();
        // The recording's own clock may close a few intervals past `end` before the feed ends.
        let until = got.last().map_or(end, |c| tf.next_open(c.open_ms)).max(end);
        let want = expected(&ticks, tf, until);
        assert!(!want.is_empty(), "{sym} {tf}: no candle");
        assert_eq!(got.len(), want.len(), "{sym} {tf}: candle count");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{sym} {tf} candle at {}", w.open_ms);
        }
        let flats = got.iter().filter(|c| c.is_flat()).count();
        eprintln!("{sym} {tf}: {} candles equal ({} flat), {} trades", got.len(), flats, ticks.len());
    }
}

#[test]
fn btcusdt_candles_equal_candles_from_scratch() {
    check_symbol("btcusdt");
}

#[test]
fn ethusdt_candles_equal_candles_from_scratch() {
    check_symbol("ethusdt");
}
