//! Binance's own `@kline_1m` frames against its `@aggTrade` frames, in the cryptofeed recording
//! (`testdata/binance-spot-multi/BINANCE.ws.1.0`, lines `<ts>: <frame>`).
//!
//! A forming kline carries the first and last trade ids of its minute so far (`f`, `L`) and its
//! o/h/l/c/v/n/q/V/Q; every aggTrade carries the trade ids it aggregates (`f`..`l`), one price
//! and their quantity. Where the recorded aggTrades cover every trade id from `f` to `L`, the
//! candle computed from them up to `L` must be the kline, field for field. Where they cover only
//! `L`, the close is still checked (and that trade's time is in the minute). The recording is 30 seconds long:
//! it has two kline frames, and the aggTrades cover one of them completely.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};

use rust_decimal::Decimal;
use serde_json::Value;

/// One aggTrade: trade ids `first..=last` at one price.
#[derive(Clone, Debug)]
struct Agg {
    symbol: String,
    first: i64,
    last: i64,
    price: Decimal,
    qty: Decimal,
    time_ms: u64,
    buyer_is_maker: bool,
}

fn dec(v: &Value) -> Decimal {
    v.as_str().unwrap().parse().unwrap()
}

/// The `data` objects of every frame of the recording, in order.
fn frames() -> Vec<Value> {
    let path = storm_testkit::fixtures::testdata_file("binance-spot-multi/BINANCE.ws.1.0");
    let file = std::fs::File::open(path).unwrap();
    let mut out = Vec::new();
    for line in BufReader::new(file).lines().skip(1) {
        let line = line.unwrap();
        let Some((_, json)) = line.split_once(": ") else { continue };
        let Ok(v) = serde_json::from_str::<Value>(json) else { continue };
        if v["data"].is_object() {
            out.push(v["data"].clone());
        }
    }
    out
}

fn aggs(frames: &[Value]) -> Vec<Agg> {
    frames
        .iter()
        .filter(|d| d["e"] == "aggTrade")
        .map(|d| Agg {
            symbol: d["s"].as_str().unwrap().to_owned(),
            first: d["f"].as_i64().unwrap(),
            last: d["l"].as_i64().unwrap(),
            price: dec(&d["p"]),
            qty: dec(&d["q"]),
            time_ms: d["T"].as_u64().unwrap(),
            buyer_is_maker: d["m"].as_bool().unwrap(),
        })
        .collect()
}

/// The aggTrades of `symbol` that hold every trade id of `first..=last`, in id order, or None
/// when some id is not in the recording (or an aggTrade straddles the range's edge).
fn covering<'a>(all: &'a [Agg], symbol: &str, first: i64, last: i64) -> Option<Vec<&'a Agg>> {
    let mut mine: Vec<&Agg> = all.iter().filter(|a| a.symbol == symbol && a.last >= first && a.first <= last).collect();
    mine.sort_by_key(|a| a.first);
    let mut next = first;
    for a in &mine {
        if a.first != next || a.last > last {
            return None;
        }
        next = a.last + 1;
    }
    (next == last + 1).then_some(mine)
}

/// What the kline frame says, in the order compared.
fn kline_fields(k: &Value) -> Vec<(&'static str, String)> {
    let d = |f: &str| dec(&k[f]).normalize().to_string();
    vec![
        ("o", d("o")),
        ("h", d("h")),
        ("l", d("l")),
        ("c", d("c")),
        ("v", d("v")),
        ("n", k["n"].as_u64().unwrap().to_string()),
        ("q", d("q")),
        ("V", d("V")),
        ("Q", d("Q")),
    ]
}

/// The same fields computed from the aggTrades of the minute up to `L`.
fn computed(aggs: &[&Agg]) -> Vec<(&'static str, String)> {
    let n = |d: Decimal| d.normalize().to_string();
    let sum = |f: &dyn Fn(&Agg) -> Decimal| aggs.iter().fold(Decimal::ZERO, |s, a| s.checked_add(f(a)).unwrap());
    let taker = |a: &Agg, v: Decimal| if a.buyer_is_maker { Decimal::ZERO } else { v };
    let quote = |a: &Agg| a.price.checked_mul(a.qty).unwrap();
    vec![
        ("o", n(aggs[0].price)),
        ("h", n(aggs.iter().map(|a| a.price).max().unwrap())),
        ("l", n(aggs.iter().map(|a| a.price).min().unwrap())),
        ("c", n(aggs[aggs.len() - 1].price)),
        ("v", n(sum(&|a| a.qty))),
        ("n", aggs.iter().map(|a| a.last - a.first + 1).sum::<i64>().to_string()),
        ("q", n(sum(&quote))),
        ("V", n(sum(&|a| taker(a, a.qty)))),
        ("Q", n(sum(&|a| taker(a, quote(a))))),
    ]
}

#[test]
fn kline_frames_equal_the_candle_of_their_aggtrades() {
    let frames = frames();
    let aggs = aggs(&frames);
    let klines: Vec<&Value> = frames.iter().filter(|d| d["e"] == "kline").collect();
    assert!(!klines.is_empty() && !aggs.is_empty(), "{} klines, {} aggTrades", klines.len(), aggs.len());
    let (mut full, mut close_only, mut mismatches) = (0, 0, Vec::new());
    for e in &klines {
        let k = &e["k"];
        let sym = k["s"].as_str().unwrap();
        let (t, close_t) = (k["t"].as_u64().unwrap(), k["T"].as_u64().unwrap());
        let (f, l) = (k["f"].as_i64().unwrap(), k["L"].as_i64().unwrap());
        if let Some(mine) = covering(&aggs, sym, f, l) {
            full += 1;
            for a in &mine {
                assert!(
                    (t..=close_t).contains(&a.time_ms),
                    "{sym}: aggTrade {}..{} outside its minute",
                    a.first,
                    a.last
                );
            }
            // Trade f opens the minute: the trade before it, if recorded, is of an earlier minute.
            if let Some(before) = aggs.iter().find(|a| a.symbol == sym && a.last == f - 1) {
                assert!(before.time_ms < t, "{sym}: trade {} before f={f} is in the minute", before.last);
            }
            let want = kline_fields(k);
            let got = computed(&mine);
            for ((name, w), (_, g)) in want.iter().zip(&got) {
                if w != g {
                    mismatches.push(format!("{sym} {t} f={f} L={l}: {name} kline {w}, aggTrades {g}"));
                }
            }
        } else if let Some(last) = aggs.iter().find(|a| a.symbol == sym && a.last == l) {
            close_only += 1;
            if last.price != dec(&k["c"]) {
                mismatches.push(format!("{sym} {t} L={l}: c kline {}, last aggTrade {}", k["c"], last.price));
            }
            if !(t..=close_t).contains(&last.time_ms) {
                mismatches.push(format!("{sym} {t} L={l}: last trade at {}, outside its minute", last.time_ms));
            }
        }
    }
    eprintln!(
        "{} kline frames: {full} covered by the recorded aggTrades (every field compared), {close_only} only at L \
         (close compared), {} mismatches",
        klines.len(),
        mismatches.len()
    );
    assert!(full > 0, "no kline frame is covered by the recorded aggTrades");
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}
