//! Re-evaluating every cycle through one changed book, on the real Binance graph.
//!
//! The graph comes from the real exchangeInfo of 2023-08-13 (start assets USDT, BTC, BNB, and
//! every asset). Books are synthetic but consistent: each asset gets a value (walking the graph
//! out from USDT = 1, a symbol's first price guessed as 30,000 ticks, the usual Binance tick
//! granularity), each symbol's bid is floored and its ask ceiled to its tick 5 bps around the
//! fair cross rate, 10 levels a side 2 bps apart, about 1,000 USDT a level. Since every bid is
//! below and every ask above the fair rate, no cycle pays: the normal case, where the work per
//! book change is all screening. A second market sells BTC 1 % under fair, so that the cycles
//! buying BTC pay and go through full sizing: the busy case.
//!
//! One iteration = one book change of BTCUSDT (alternating between two books that differ in the
//! best quantity): `screened` updates the f64 screen and evaluates only the cycles it lets
//! through (the engine's path); `evaluate_all` calls `evaluate` on every cycle through BTCUSDT
//! (its exact Decimal top-of-book check is the only prefilter).
//! Run: `cargo bench -p storm-core --bench arb_reeval`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/arb_support/mod.rs"]
mod arb_support;

use std::collections::{HashMap, VecDeque};
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use storm_core::arb::eval::RateScreen;
use storm_core::arb::{evaluate, BookView, EvalParams, TriangleGraph};
use storm_core::{Asset, Instrument, Level, Price, Qty, Symbol};

use arb_support::exchange_info;

type Book = (Vec<Level>, Vec<Level>);

/// Asset values in USDT, walking the symbols out from USDT.
fn values(instruments: &[Instrument]) -> HashMap<Asset, f64> {
    let mut values = HashMap::from([(Asset::new("USDT"), 1.0)]);
    let mut queue = VecDeque::from([Asset::new("USDT")]);
    while let Some(asset) = queue.pop_front() {
        let v = values[&asset];
        for i in instruments.iter().filter(|i| i.is_trading() && (i.base == asset || i.quote == asset)) {
            let price = i.tick_size.to_f64().unwrap_or(0.0).max(1e-8) * 30_000.0;
            let (other, value) = if i.quote == asset { (&i.base, v * price) } else { (&i.quote, v / price) };
            if !values.contains_key(other) {
                values.insert(other.clone(), value);
                queue.push_back(other.clone());
            }
        }
    }
    values
}

fn dec(x: f64) -> Decimal {
    Decimal::from_f64_retain(x).unwrap_or(Decimal::ZERO)
}

/// Ten levels a side around `fair`: bids floored, asks ceiled to the tick, `skew` moving both.
fn book(i: &Instrument, fair: f64, usdt_per_base: f64, skew: f64) -> Book {
    let tick = i.tick_size.max(Decimal::new(1, 8));
    let step = i.step_size.max(Decimal::new(1, 8));
    let qty = (dec(1_000.0 / usdt_per_base) / step).floor().max(Decimal::ONE) * step;
    let level = |bps: f64, up: bool| {
        let ticks = dec(fair * skew * (1.0 + bps / 10_000.0)) / tick;
        let ticks = if up { ticks.ceil() } else { ticks.floor() };
        Level::new(Price(ticks * tick), Qty(qty))
    };
    let bids: Vec<Level> =
        (0..10).map(|k| level(-5.0 - 2.0 * k as f64, false)).filter(|l| l.price.0 > Decimal::ZERO).collect();
    let mut asks: Vec<Level> = (0..10).map(|k| level(5.0 + 2.0 * k as f64, true)).collect();
    asks.dedup_by_key(|l| l.price);
    let mut bids = bids;
    bids.dedup_by_key(|l| l.price);
    (bids, asks)
}

struct Market {
    instruments: Vec<Instrument>,
    index: HashMap<Symbol, usize>,
    books: Vec<Book>,
}

impl Market {
    fn new(all: &[Instrument], btc_skew: f64) -> Self {
        let values = values(all);
        let instruments: Vec<Instrument> = all
            .iter()
            .filter(|i| i.is_trading() && values.contains_key(&i.base) && values.contains_key(&i.quote))
            .cloned()
            .collect();
        let books = instruments
            .iter()
            .map(|i| {
                let skew = if i.symbol.as_str() == "BTCUSDT" { btc_skew } else { 1.0 };
                book(i, values[&i.base] / values[&i.quote], values[&i.base], skew)
            })
            .collect();
        let index = instruments.iter().enumerate().map(|(k, i)| (i.symbol.clone(), k)).collect();
        Self { instruments, index, books }
    }

    fn view(&self, k: usize) -> BookView<'_> {
        BookView { bids: &self.books[k].0, asks: &self.books[k].1, update_id: 1, age_ms: 10, live: true }
    }
}

struct Setup {
    graph: TriangleGraph,
    market: Market,
    /// Market index of each leg, per cycle id.
    legs: Vec<[usize; 3]>,
    params: EvalParams,
    /// The other BTCUSDT book the changes alternate with.
    alt: Book,
}

impl Setup {
    fn new(instruments: &[Instrument], starts: &[&str], btc_skew: f64) -> Self {
        let market = Market::new(instruments, btc_skew);
        let starts: Vec<Asset> = starts.iter().map(Asset::new).collect();
        let graph = TriangleGraph::build(&market.instruments, &starts);
        let legs = graph.cycles().iter().map(|c| c.legs.each_ref().map(|l| market.index[&l.symbol])).collect();
        let params = EvalParams {
            taker_fee: Decimal::new(1, 3),
            min_profit_bps: Decimal::ONE,
            max_start: Some(Decimal::from(10_000)),
            max_age_ms: 1_000,
        };
        let (mut bids, asks) = market.books[market.index[&Symbol::new("BTCUSDT")]].clone();
        bids[0].qty = Qty(bids[0].qty.0 + Decimal::ONE);
        Self { graph, market, legs, params, alt: (bids, asks) }
    }

    fn eval(&self, id: u32, changed: usize, book: &BookView<'_>) -> bool {
        let legs = self.legs[id as usize];
        let views = legs.map(|k| if k == changed { *book } else { self.market.view(k) });
        let cycle = &self.graph.cycles()[id as usize];
        evaluate(cycle, views.each_ref(), legs.map(|k| &self.market.instruments[k]), &self.params).is_ok()
    }
}

fn bench(c: &mut Criterion) {
    let instruments = exchange_info::load(exchange_info::BINANCE_2023);
    let btcusdt = Symbol::new("BTCUSDT");
    let mut group = c.benchmark_group("arb_reeval_btcusdt");
    for (name, starts, skew) in [
        ("usdt_btc_bnb", &["USDT", "BTC", "BNB"][..], 1.0),
        ("all_starts", &[][..], 1.0),
        ("usdt_btc_bnb_btc_1pct_cheap", &["USDT", "BTC", "BNB"][..], 0.99),
    ] {
        let s = Setup::new(&instruments, starts, skew);
        let changed = s.market.index[&btcusdt];
        let ids = s.graph.cycles_of(&btcusdt).to_vec();
        let mut screen = RateScreen::new(&s.graph, &s.params);
        for (k, i) in s.market.instruments.iter().enumerate() {
            if let Some(slot) = screen.slot(&i.symbol) {
                let _ = screen.update(slot, &s.market.view(k));
            }
        }
        let slot = screen.slot(&btcusdt).expect("BTCUSDT in the graph");
        let view = s.market.view(changed);
        let passing: Vec<u32> = screen.candidates(slot).collect();
        let profitable = ids.iter().filter(|&&id| s.eval(id, changed, &view)).count();
        println!(
            "{name}: {} symbols, {} cycles, {} through BTCUSDT, {} pass the screen, {} profitable",
            s.market.instruments.len(),
            s.graph.cycles().len(),
            ids.len(),
            passing.len(),
            profitable
        );
        assert!(passing.iter().all(|id| ids.contains(id)));
        assert!(ids.iter().all(|&id| !s.eval(id, changed, &view) || passing.contains(&id)), "screen is sound");

        let alt = BookView { bids: &s.alt.0, asks: &s.alt.1, update_id: 2, age_ms: 0, live: true };
        let books = [view, alt];
        let mut tick = 0usize;
        group.bench_function(format!("screened/{name}"), |b| {
            b.iter(|| {
                tick += 1;
                let book = &books[tick & 1];
                let _ = screen.update(slot, book);
                let mut found = 0u32;
                for id in screen.candidates(slot) {
                    found += u32::from(s.eval(id, changed, book));
                }
                black_box(found)
            })
        });
        group.bench_function(format!("evaluate_all/{name}"), |b| {
            b.iter(|| {
                tick += 1;
                let book = &books[tick & 1];
                black_box(ids.iter().filter(|&&id| s.eval(id, changed, book)).count())
            })
        });
    }
    group.finish();

    let mut build = c.benchmark_group("arb_graph_build");
    build.sample_size(10);
    for (name, starts) in
        [("usdt_btc_bnb", vec![Asset::new("USDT"), Asset::new("BTC"), Asset::new("BNB")]), ("all", vec![])]
    {
        build
            .bench_function(name, |b| b.iter(|| black_box(TriangleGraph::build(&instruments, &starts).cycles().len())));
    }
    build.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
