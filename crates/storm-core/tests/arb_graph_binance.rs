//! The triangle graph on the real Binance exchangeInfo of 2023-08-13 (`testdata/`).
//!
//! Counts, asserted below: 13,986 cycles from every start (2,331 triangles × 2 directions × 3
//! rotations), 2,016 starting at USDT, 1,828 at BTC, 958 at BNB (4,802 through the three); a
//! change of BTCUSDT touches 1,178 of those (1,764 with every start).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod arb_support;

use std::collections::{BTreeSet, HashMap, HashSet};

use storm_core::arb::{Cycle, TriangleGraph};
use storm_core::{Asset, Instrument, Side, Symbol};

use arb_support::exchange_info;

fn assets(names: &[&str]) -> Vec<Asset> {
    names.iter().map(Asset::new).collect()
}

/// Triangles counted without the graph: unordered triples of assets pairwise joined by a TRADING
/// symbol (each pair has at most one symbol in this file).
fn triangles(instruments: &[Instrument]) -> usize {
    let mut neighbours: HashMap<&Asset, BTreeSet<&Asset>> = HashMap::new();
    for i in instruments.iter().filter(|i| i.is_trading()) {
        neighbours.entry(&i.base).or_default().insert(&i.quote);
        neighbours.entry(&i.quote).or_default().insert(&i.base);
    }
    let mut count = 0;
    for (a, na) in &neighbours {
        for b in na.iter().filter(|b| *b > a) {
            count += neighbours[b].iter().filter(|c| *c > b && na.contains(*c)).count();
        }
    }
    count
}

fn check_cycle(c: &Cycle, by_symbol: &HashMap<&Symbol, &Instrument>) {
    assert_eq!(c.legs[0].from, c.start);
    assert_eq!(c.legs[2].to, c.start);
    assert_eq!(c.legs[0].to, c.legs[1].from);
    assert_eq!(c.legs[1].to, c.legs[2].from);
    let distinct: HashSet<_> = c.legs.iter().map(|l| &l.from).collect();
    assert_eq!(distinct.len(), 3, "{}", c.path());
    for leg in &c.legs {
        let i = by_symbol[&leg.symbol];
        assert!(i.is_trading(), "{}", leg.symbol);
        let (from, to) = match leg.side {
            Side::Buy => (&i.quote, &i.base),
            Side::Sell => (&i.base, &i.quote),
        };
        assert_eq!((&leg.from, &leg.to), (from, to), "{} {}", c.path(), leg.symbol);
    }
}

#[test]
fn real_binance_2023_graph_has_thousands_of_cycles() {
    let instruments = exchange_info::load(exchange_info::BINANCE_2023);
    assert_eq!(instruments.len(), 2_276);
    assert_eq!(instruments.iter().filter(|i| i.is_trading()).count(), 1_393);
    let by_symbol: HashMap<&Symbol, &Instrument> = instruments.iter().map(|i| (&i.symbol, i)).collect();

    let all = TriangleGraph::build(&instruments, &[]);
    let three = TriangleGraph::build(&instruments, &assets(&["USDT", "BTC", "BNB"]));
    let count_from = |start: &str| all.cycles().iter().filter(|c| c.start.as_str() == start).count();
    let btcusdt = Symbol::new("BTCUSDT");
    println!(
        "cycles: all starts {}, USDT {}, BTC {}, BNB {}, USDT|BTC|BNB {}; through BTCUSDT {} (all) / {} (USDT|BTC|BNB)",
        all.cycles().len(),
        count_from("USDT"),
        count_from("BTC"),
        count_from("BNB"),
        three.cycles().len(),
        all.cycles_of(&btcusdt).len(),
        three.cycles_of(&btcusdt).len(),
    );

    assert_eq!(triangles(&instruments), 2_331);
    assert_eq!(all.cycles().len(), 6 * 2_331);
    assert_eq!((count_from("USDT"), count_from("BTC"), count_from("BNB")), (2_016, 1_828, 958));
    assert_eq!(three.cycles().len(), 2_016 + 1_828 + 958);
    assert_eq!(TriangleGraph::build(&instruments, &assets(&["USDT"])).cycles().len(), 2_016);
    assert_eq!(all.cycles_of(&btcusdt).len(), 1_764);
    assert_eq!(three.cycles_of(&btcusdt).len(), 1_178);

    for graph in [&all, &three] {
        let mut through: HashMap<&Symbol, Vec<u32>> = HashMap::new();
        for (pos, c) in graph.cycles().iter().enumerate() {
            assert_eq!(c.id as usize, pos);
            check_cycle(c, &by_symbol);
            for leg in &c.legs {
                through.entry(&leg.symbol).or_default().push(c.id);
            }
        }
        assert!(graph.cycles().windows(2).all(|w| w[0].path() <= w[1].path()), "sorted by path");
        let distinct: HashSet<_> = graph.cycles().iter().map(|c| (c.path(), c.legs.clone())).collect();
        assert_eq!(distinct.len(), graph.cycles().len(), "no duplicates");
        for (symbol, ids) in through {
            assert_eq!(graph.cycles_of(symbol), ids.as_slice(), "{symbol}");
        }
    }
    // A symbol in BREAK is in no cycle.
    let halted = instruments.iter().find(|i| !i.is_trading()).expect("a BREAK symbol");
    assert!(all.cycles_of(&halted.symbol).is_empty());
}
