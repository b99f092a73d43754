//! Order-book apply on the real BTCUSDT recording (`testdata/binance-spot-replay`).
//!
//! Each iteration starts from the recorded REST snapshot and applies every applicable diff
//! (6,493 diffs, 298,094 level updates) from the venue's decimal strings: parsing included.
//! Two baselines run the same input through B-tree books, to justify the book's structure.
//! Run: `cargo bench -p storm-core --bench book_replay`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::str::FromStr;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rust_decimal::Decimal;
use storm_core::book::fixed::parse_fixed;
use storm_core::{BookSide, OrderBook};
use storm_testkit::fixtures::{btcusdt_replay, ReplayMsg};

type StrLevels = Vec<(String, String)>;

struct Input {
    snapshot: OrderBook,
    snap_levels: (StrLevels, StrLevels),
    diffs: Vec<(StrLevels, StrLevels)>,
    level_updates: u64,
}

fn strings(levels: &[storm_core::Level]) -> StrLevels {
    levels.iter().map(|l| (l.price.to_string(), l.qty.to_string())).collect()
}

fn load() -> Input {
    let msgs = btcusdt_replay().expect("testdata/binance-spot-replay must be present");
    let (last_id, bids, asks) = msgs
        .iter()
        .find_map(|(_, m)| match m {
            ReplayMsg::Snapshot { last_update_id, bids, asks } => Some((*last_update_id, bids, asks)),
            _ => None,
        })
        .expect("recording holds a snapshot");
    let mut snapshot = OrderBook::default();
    snapshot.replace(bids, asks, last_id).unwrap();
    let diffs: Vec<_> = msgs
        .iter()
        .filter_map(|(_, m)| match m {
            ReplayMsg::Diff(d) if d.last_update_id > last_id => Some((strings(&d.bids), strings(&d.asks))),
            _ => None,
        })
        .collect();
    let level_updates = diffs.iter().map(|(b, a)| (b.len() + a.len()) as u64).sum();
    Input { snapshot, snap_levels: (strings(bids), strings(asks)), diffs, level_updates }
}

/// Baseline: B-tree keyed by fixed-point integers, same parser as the book.
#[derive(Clone, Default)]
struct BTreeFixed {
    bids: BTreeMap<u64, u128>,
    asks: BTreeMap<u64, u128>,
}

impl BTreeFixed {
    fn set(&mut self, bid: bool, p: &str, q: &str) {
        let p = parse_fixed(p, 8).unwrap() as u64;
        let q = parse_fixed(q, 8).unwrap();
        let m = if bid { &mut self.bids } else { &mut self.asks };
        if q == 0 {
            m.remove(&p);
        } else {
            m.insert(p, q);
        }
    }
}

/// Baseline: B-tree keyed by `Decimal`, parsing with `Decimal::from_str`.
#[derive(Clone, Default)]
struct BTreeDecimal {
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
}

impl BTreeDecimal {
    fn set(&mut self, bid: bool, p: &str, q: &str) {
        let p = Decimal::from_str(p).unwrap();
        let q = Decimal::from_str(q).unwrap();
        let m = if bid { &mut self.bids } else { &mut self.asks };
        if q.is_zero() {
            m.remove(&p);
        } else {
            m.insert(p, q);
        }
    }
}

fn bench(c: &mut Criterion) {
    let input = load();
    let mut g = c.benchmark_group("btcusdt_replay");
    g.throughput(Throughput::Elements(input.level_updates));
    g.sample_size(30);

    g.bench_function("vec_ladder_fixed", |b| {
        b.iter_batched_ref(
            || input.snapshot.clone(),
            |book| {
                for (bids, asks) in &input.diffs {
                    for (p, q) in bids {
                        book.apply_str(BookSide::Bid, p, q).unwrap();
                    }
                    for (p, q) in asks {
                        book.apply_str(BookSide::Ask, p, q).unwrap();
                    }
                    // The finder needs best bid/ask after every diff: it must stay O(1).
                    black_box((book.best_bid(), book.best_ask()));
                }
            },
            BatchSize::LargeInput,
        )
    });

    let mut fixed = BTreeFixed::default();
    let mut dec = BTreeDecimal::default();
    for (p, q) in &input.snap_levels.0 {
        fixed.set(true, p, q);
        dec.set(true, p, q);
    }
    for (p, q) in &input.snap_levels.1 {
        fixed.set(false, p, q);
        dec.set(false, p, q);
    }
    g.bench_function("btreemap_fixed", |b| {
        b.iter_batched_ref(
            || fixed.clone(),
            |book| {
                for (bids, asks) in &input.diffs {
                    bids.iter().for_each(|(p, q)| book.set(true, p, q));
                    asks.iter().for_each(|(p, q)| book.set(false, p, q));
                    black_box((book.bids.last_key_value(), book.asks.first_key_value()));
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("btreemap_decimal", |b| {
        b.iter_batched_ref(
            || dec.clone(),
            |book| {
                for (bids, asks) in &input.diffs {
                    bids.iter().for_each(|(p, q)| book.set(true, p, q));
                    asks.iter().for_each(|(p, q)| book.set(false, p, q));
                    black_box((book.bids.last_key_value(), book.asks.first_key_value()));
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
    eprintln!("btcusdt_replay: {} diffs, {} level updates per iteration", input.diffs.len(), input.level_updates);
}

criterion_group!(benches, bench);
criterion_main!(benches);
