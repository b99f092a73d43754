//! Loaders for the real recordings in the repository's `testdata/` (sources, licences and the
//! facts tests count: `testdata/README.md`). They sit inside the repository so that a fresh clone
//! runs every test with nothing beside it.
//!
//! The Binance replay files hold one message per line, `<receive ns> <raw JSON>`: combined-stream
//! frames (`depth@100ms`, `bookTicker`, `trade`) and one bare REST depth snapshot. They are parsed
//! here into storm-core events for tests and benchmarks; production parsing of the same wire
//! format lives in the venue adapter.

use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;

use flate2::read::GzDecoder;
use serde::Deserialize;
use storm_core::{time::millis_to_micros, DepthDiff, Level, Price, Qty, Symbol, Ticker};

/// `<workspace>/testdata`: the recorded data kept in the repository.
pub fn testdata_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Path of a file under `testdata/`, e.g. `binance-spot-replay/spot_btcusdt_20240808.gz`.
pub fn testdata_file(rel: &str) -> PathBuf {
    testdata_dir().join(rel)
}

/// One message of a Binance replay recording.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplayMsg {
    /// A `depthUpdate` diff.
    Diff(DepthDiff),
    /// The REST `/api/v3/depth` reply written inline.
    Snapshot {
        /// `lastUpdateId`.
        last_update_id: u64,
        /// Bids, best first.
        bids: Vec<Level>,
        /// Asks, best first.
        asks: Vec<Level>,
    },
    /// A `bookTicker` frame.
    BookTicker(Ticker),
    /// Anything else (trades, ...), kept raw.
    Other(String),
}

#[derive(Deserialize)]
struct Combined<'a> {
    #[serde(borrow)]
    stream: &'a str,
    data: serde_json::Value,
}

#[derive(Deserialize)]
struct RawDiff {
    #[serde(rename = "E")]
    time: u64,
    #[serde(rename = "s")]
    symbol: String,
    #[serde(rename = "U")]
    first: u64,
    #[serde(rename = "u")]
    last: u64,
    #[serde(rename = "b")]
    bids: Vec<Level>,
    #[serde(rename = "a")]
    asks: Vec<Level>,
}

#[derive(Deserialize)]
struct RawTicker {
    u: u64,
    s: String,
    b: Price,
    #[serde(rename = "B")]
    bq: Qty,
    a: Price,
    #[serde(rename = "A")]
    aq: Qty,
}

#[derive(Deserialize)]
struct RawSnapshot {
    #[serde(rename = "lastUpdateId")]
    last_update_id: u64,
    bids: Vec<Level>,
    asks: Vec<Level>,
}

fn bad(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Parses one recorded line.
pub fn parse_replay_line(line: &str) -> io::Result<(u64, ReplayMsg)> {
    let (ns, json) = line.split_once(' ').ok_or_else(|| bad("line without timestamp"))?;
    let ns: u64 = ns.parse().map_err(bad)?;
    let received = ns / 1_000;
    if json.starts_with("{\"lastUpdateId\"") {
        let s: RawSnapshot = serde_json::from_str(json).map_err(bad)?;
        return Ok((ns, ReplayMsg::Snapshot { last_update_id: s.last_update_id, bids: s.bids, asks: s.asks }));
    }
    let frame: Combined<'_> = serde_json::from_str(json).map_err(bad)?;
    let msg = if frame.stream.ends_with("@depth@100ms") || frame.stream.ends_with("@depth") {
        let d: RawDiff = serde_json::from_value(frame.data).map_err(bad)?;
        ReplayMsg::Diff(DepthDiff {
            symbol: Symbol::new(d.symbol),
            first_update_id: d.first,
            last_update_id: d.last,
            bids: d.bids,
            asks: d.asks,
            time_exchange: millis_to_micros(d.time),
            time_received: received,
        })
    } else if frame.stream.ends_with("@bookTicker") {
        let t: RawTicker = serde_json::from_value(frame.data).map_err(bad)?;
        ReplayMsg::BookTicker(Ticker {
            symbol: Symbol::new(t.s),
            update_id: t.u,
            bid_price: t.b,
            bid_qty: t.bq,
            ask_price: t.a,
            ask_qty: t.aq,
            time_exchange: 0,
            time_received: received,
        })
    } else {
        ReplayMsg::Other(json.to_owned())
    };
    Ok((ns, msg))
}

/// Every message of one gzip recording, e.g. `binance-spot-replay/spot_btcusdt_20240808.gz`.
pub fn load_replay(rel: &str) -> io::Result<Vec<(u64, ReplayMsg)>> {
    let path = testdata_file(rel);
    let file = std::fs::File::open(&path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    for line in BufReader::new(GzDecoder::new(file)).lines() {
        let line = line?;
        if !line.trim().is_empty() {
            out.push(parse_replay_line(&line)?);
        }
    }
    Ok(out)
}

/// The BTCUSDT recording as one gap-free sequence: both days' files, in order.
pub fn btcusdt_replay() -> io::Result<Vec<(u64, ReplayMsg)>> {
    let mut all = load_replay("binance-spot-replay/spot_btcusdt_20240808.gz")?;
    all.extend(load_replay("binance-spot-replay/spot_btcusdt_20240809.gz")?);
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh clone runs its tests with nothing beside it: the data sits inside the repository.
    #[test]
    fn recorded_data_lives_inside_the_repository() {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
        let dir = testdata_dir();
        let dir = dir.canonicalize().unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert!(dir.starts_with(&repo), "{} is outside the repository {}", dir.display(), repo.display());
        assert!(dir.join("README.md").is_file(), "the data's README (sources, licences, facts)");
        assert_eq!(btcusdt_replay().unwrap().len(), 41_249 + 58_325, "both BTCUSDT files, every line");
    }
}
