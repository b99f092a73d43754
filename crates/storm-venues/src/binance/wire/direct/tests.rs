//! The fast path agrees with the serde decoder: on every frame of the real recordings (which it
//! must all take) and on thousands of single-byte mutations of real frames (which it may decline,
//! but must never decode differently, accept when serde refuses, or panic on).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};

use flate2::read::GzDecoder;
use storm_testkit::fixtures::testdata_file;

use super::parse;
use crate::binance::wire::frame::parse_with_serde;
use crate::binance::wire::samples::{DEPTH, TICKER, TRADE};
use crate::binance::wire::Frame;

/// Same frame, and every decimal with the same scale (`Decimal`'s `==` ignores scale, its
/// `Debug` does not).
fn same(a: &Frame, b: &Frame) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// Checks one input: whatever the fast path decodes, serde decodes identically.
fn agrees(text: &str) -> bool {
    let fast = parse(text, 7);
    if let Some(fast) = &fast {
        match parse_with_serde(text, 7) {
            Ok(slow) => assert!(same(fast, &slow), "fast path differs on {text}:\n{fast:?}\n{slow:?}"),
            Err(e) => panic!("fast path accepted what serde refuses ({e}): {text}"),
        }
    }
    fast.is_some()
}

fn combined(stream: &str, data: &str) -> String {
    format!(r#"{{"stream":"{stream}","data":{data}}}"#)
}

#[test]
fn documented_frames_take_the_fast_path() {
    for text in [DEPTH, TICKER, TRADE] {
        assert!(agrees(text), "raw {text}");
        assert!(agrees(&combined("x@depth@100ms", text)) == (text == DEPTH), "{text}");
    }
    assert!(agrees(&combined("btcusdt@depth", DEPTH)));
    assert!(agrees(&combined("bnbusdt@bookTicker", TICKER)));
    assert!(agrees(&combined("btcusdt@trade", TRADE)));
    let empty = DEPTH.replace(r#""b":[["55653.87000000","0.00000000"]]"#, r#""b":[]"#);
    assert!(agrees(&empty));
}

#[test]
fn other_shapes_are_left_to_serde() {
    let cases = [
        String::new(),
        "{}".to_owned(),
        r#"{"result":null,"id":1}"#.to_owned(),
        combined("nknusdt@kline_1m", r#"{"e":"kline"}"#),
        combined("btcusdt@aggTrade", TRADE),
        format!(r#"{{"data":{TRADE},"stream":"btcusdt@trade"}}"#),
        format!("{DEPTH} "),
        DEPTH.replace(r#","s":"BTCUSDT""#, r#", "s":"BTCUSDT""#),
        DEPTH.replace("BTCUSDT", r"BTC\u0055SDT"),
        DEPTH.replace(r#""U":50093239203"#, r#""U":18446744073709551615"#),
        TICKER.replace("25.35190000", "2.5e1"),
    ];
    for text in cases {
        assert_eq!(parse(&text, 0), None, "{text}");
    }
}

#[test]
fn mutated_frames_never_decode_differently() {
    let originals = [
        DEPTH.to_owned(),
        TICKER.to_owned(),
        TRADE.to_owned(),
        combined("btcusdt@depth@100ms", DEPTH),
        combined("bnbusdt@bookTicker", TICKER),
        combined("btcusdt@trade", TRADE),
    ];
    let replacements = ['0', '1', '9', '"', '\\', ' ', '.', '-', '+', 'e', 'x', ',', ':', '[', ']', '{', '}', '\u{0}'];
    let (mut cases, mut fast) = (0, 0);
    for original in &originals {
        let bytes = original.as_bytes();
        for i in 0..bytes.len() {
            let mut variants = vec![[&bytes[..i], &bytes[i + 1..]].concat()];
            for r in replacements {
                let mut buf = [0u8; 4];
                let r = r.encode_utf8(&mut buf).as_bytes();
                variants.push([&bytes[..i], r, &bytes[i + 1..]].concat());
                variants.push([&bytes[..i], r, &bytes[i..]].concat());
            }
            for variant in variants {
                let Ok(text) = String::from_utf8(variant) else { continue };
                cases += 1;
                fast += usize::from(agrees(&text));
            }
        }
    }
    assert!(cases > 30_000 && fast > 1_000, "{cases} mutations, {fast} on the fast path");
}

#[test]
fn every_recorded_frame_takes_the_fast_path_and_agrees_with_serde() {
    let mut frames = 0;
    for rel in ["binance-spot-replay/spot_btcusdt_20240808.gz", "binance-spot-replay/spot_ethusdt_20240808.gz"] {
        let path = testdata_file(rel);
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for line in BufReader::new(GzDecoder::new(file)).lines() {
            let line = line.expect("readable gzip");
            let (_, json) = line.split_once(' ').expect("`<ns> <json>` line");
            if !json.starts_with(r#"{"stream""#) {
                continue; // the inline REST snapshot
            }
            let start = json.find(r#","data":"#).expect("combined frame") + r#","data":"#.len();
            let data = json[start..].strip_suffix('}').expect("frame ends with }");
            assert!(agrees(json), "combined frame not on the fast path: {json}");
            assert!(agrees(data), "raw frame not on the fast path: {data}");
            frames += 1;
        }
    }
    assert!(frames > 70_000, "only {frames} frames");
}
