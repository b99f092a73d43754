//! `parse_frame` on the real Binance recordings (`testdata/binance-spot-replay`, BTCUSDT and
//! ETHUSDT 2024-08-08): the ingester's per-frame cost, exact decimals included.
//!
//! - `depth`: every combined `@depth@100ms` frame (6,885 frames, ~1.2 KB and ~32 levels each).
//! - `all`: every combined frame of the recordings (depth, bookTicker and trade interleaved as
//!   recorded; the inline REST snapshots are not market-data frames and are left out).
//!
//! Throughput is in frames. Run: `cargo bench -p storm-venues --bench parse_frames`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::io::{BufRead, BufReader};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flate2::read::GzDecoder;
use storm_testkit::fixtures::testdata_file;
use storm_venues::binance::wire::{parse_frame, Frame};

const RECORDINGS: [&str; 2] =
    ["binance-spot-replay/spot_btcusdt_20240808.gz", "binance-spot-replay/spot_ethusdt_20240808.gz"];

/// The combined-stream JSON of every recorded frame, in file order.
fn combined_frames() -> Vec<String> {
    let mut frames = Vec::new();
    for rel in RECORDINGS {
        let path = testdata_file(rel);
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for line in BufReader::new(GzDecoder::new(file)).lines() {
            let line = line.expect("readable gzip");
            let Some((_, json)) = line.split_once(' ') else { continue };
            if json.starts_with(r#"{"stream":""#) {
                frames.push(json.to_owned());
            }
        }
    }
    frames
}

/// Parses every frame once; returns the number of book levels seen so the work is not elided.
fn parse_all(frames: &[String]) -> usize {
    let mut levels = 0;
    for text in frames {
        match parse_frame(black_box(text), 0) {
            Ok(Frame::Depth(d)) => levels += d.bids.len() + d.asks.len(),
            Ok(other) => {
                black_box(other);
            }
            Err(e) => panic!("{e}: {text}"),
        }
    }
    levels
}

fn bench(c: &mut Criterion) {
    let all = combined_frames();
    let depth: Vec<String> = all.iter().filter(|f| f.contains(r#"@depth@100ms","data""#)).cloned().collect();
    assert!(depth.len() > 6_000, "recordings look truncated: {} depth frames", depth.len());
    let bytes: usize = depth.iter().map(String::len).sum();
    let levels = parse_all(&depth);
    eprintln!(
        "depth: {} frames, {:.0} B and {:.1} levels per frame; all: {} frames",
        depth.len(),
        bytes as f64 / depth.len() as f64,
        levels as f64 / depth.len() as f64,
        all.len()
    );

    let mut group = c.benchmark_group("parse_frame");
    group.throughput(Throughput::Elements(depth.len() as u64));
    group.bench_function("depth", |b| b.iter(|| parse_all(&depth)));
    group.throughput(Throughput::Elements(all.len() as u64));
    group.bench_function("all", |b| b.iter(|| parse_all(&all)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
