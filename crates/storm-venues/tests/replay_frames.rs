//! Every frame of a real Binance recording (`testdata/binance-spot-replay`, BTCUSDT
//! 2024-08-08) parses with `parse_frame`, and the wire types write frames back byte for byte:
//! what the simulator emits is what the ingester was tested on.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};

use flate2::read::GzDecoder;
use storm_testkit::fixtures::testdata_file;
use storm_venues::binance::wire::{parse_frame, BookTicker, DepthSnapshot, DepthUpdate, Frame, TradeEvent};

/// Every decimal of `t`, as written.
fn trade_decimals(t: &storm_core::Trade) -> [String; 2] {
    [t.price.to_string(), t.qty.to_string()]
}

const RECORDING: &str = "binance-spot-replay/spot_btcusdt_20240808.gz";

/// `(receive ns, raw JSON)` of every line of the recording.
fn recorded_lines() -> Vec<(u64, String)> {
    let path = testdata_file(RECORDING);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    BufReader::new(GzDecoder::new(file))
        .lines()
        .map(|line| line.expect("readable gzip"))
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (ns, json) = line.split_once(' ').expect("`<ns> <json>` line");
            (ns.parse().expect("ns timestamp"), json.to_owned())
        })
        .collect()
}

/// The `data` object of a combined frame, exactly as recorded.
fn data_of(json: &str) -> &str {
    let start = json.find(r#","data":"#).expect("combined frame") + r#","data":"#.len();
    json[start..].strip_suffix('}').expect("frame ends with }")
}

#[test]
fn every_recorded_frame_parses() {
    let lines = recorded_lines();
    assert!(lines.len() > 40_000, "recording looks truncated: {} lines", lines.len());
    let (mut depth, mut ticker, mut trade, mut snapshots) = (0, 0, 0, 0);
    let mut last_received = 0;
    for (ns, json) in &lines {
        if json.starts_with(r#"{"lastUpdateId""#) {
            let snapshot: DepthSnapshot = serde_json::from_str(json).expect("REST snapshot");
            assert_eq!(snapshot.last_update_id, 50_093_239_218);
            assert_eq!((snapshot.bids.len(), snapshot.asks.len()), (1000, 1000));
            assert_eq!(serde_json::to_string(&snapshot).unwrap(), *json, "snapshot must re-serialize exactly");
            snapshots += 1;
            continue;
        }
        let received = ns / 1_000;
        match parse_frame(json, received).unwrap_or_else(|e| panic!("{e}: {json}")) {
            Frame::Depth(d) => {
                assert!(d.first_update_id <= d.last_update_id, "U > u in {json}");
                assert_eq!(d.symbol.as_str(), "BTCUSDT");
                assert_eq!(d.time_received, received);
                assert!(d.time_exchange > 0);
                depth += 1;
            }
            Frame::Ticker(t) => {
                assert!(t.bid_price < t.ask_price, "crossed bookTicker {json}");
                ticker += 1;
            }
            Frame::Trade(t) => {
                assert!(!t.qty.is_zero());
                trade += 1;
            }
            other => panic!("unexpected {other:?} for {json}"),
        }
        last_received = received;
    }
    assert!(last_received > 0);
    assert_eq!(snapshots, 1);
    // Counted with `grep -c` on the same file.
    assert_eq!((depth, ticker, trade), (3_451, 28_040, 9_757));
}

#[test]
fn recorded_frames_reserialize_byte_for_byte() {
    let lines = recorded_lines();
    let (mut depth, mut ticker, mut trade) = (0, 0, 0);
    for (_, json) in &lines {
        if !json.starts_with(r#"{"stream""#) {
            continue;
        }
        let data = data_of(json);
        let again = if json.contains("@depth@100ms") {
            depth += 1;
            let update: DepthUpdate = serde_json::from_str(data).unwrap();
            // Through the storm-core event and back, as the simulator does.
            let diff = update.into_diff(0);
            serde_json::to_string(&DepthUpdate::from(&diff)).unwrap()
        } else if json.contains("@bookTicker") {
            ticker += 1;
            let bt: BookTicker = serde_json::from_str(data).unwrap();
            serde_json::to_string(&BookTicker::from(&bt.into_ticker(0))).unwrap()
        } else if json.contains("@trade") {
            trade += 1;
            serde_json::to_string(&serde_json::from_str::<TradeEvent>(data).unwrap()).unwrap()
        } else {
            panic!("unexpected stream in {json}");
        };
        assert_eq!(again, data, "re-serialized frame differs");
    }
    assert!(depth >= 100, "only {depth} depth frames compared");
    assert!(ticker > 0 && trade > 0);
}

#[test]
fn parse_frame_keeps_every_decimal_exact() {
    let lines = recorded_lines();
    let mut compared = 0;
    for (_, json) in lines.iter().filter(|(_, json)| json.starts_with(r#"{"stream""#)) {
        let data = data_of(json);
        let again = match parse_frame(json, 0).unwrap_or_else(|e| panic!("{e}: {json}")) {
            Frame::Depth(d) => serde_json::to_string(&DepthUpdate::from(&d)).unwrap(),
            Frame::Ticker(t) => serde_json::to_string(&BookTicker::from(&t)).unwrap(),
            // storm-core keeps one trade time, so a trade cannot be written back; compare it with
            // what serde reads instead, scale included.
            Frame::Trade(t) => {
                let wire: TradeEvent = serde_json::from_str(data).unwrap();
                let expected = wire.into_trade(0);
                assert_eq!((&t, trade_decimals(&t)), (&expected, trade_decimals(&expected)), "{json}");
                data.to_owned()
            }
            other => panic!("unexpected {other:?} for {json}"),
        };
        assert_eq!(again, data, "parsed frame writes back differently");
        compared += 1;
    }
    assert_eq!(compared, 3_451 + 28_040 + 9_757);
}
