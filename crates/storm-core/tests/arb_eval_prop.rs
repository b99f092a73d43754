//! Property test of the triangular evaluation on random consistent books.
//!
//! Three assets get random values; each symbol's book sits around the fair cross rate (one
//! symbol mispriced by −30..+250 bps so that about half the cycles pay), with random spreads,
//! depths, quantities, tick/step sizes, filters, fees, minimum profits and start caps. For each
//! case `evaluate` must equal the exact brute force of `arb_support::brute` (same outcome; same
//! size, end and legs to the last digit), and every plan it emits must be safe: each leg filled
//! at its limit with the fee spends at most what the previous one produced and receives what it
//! states, the visible book holds every leg's quantity at its limit or better, the filters pass,
//! and the end beats the size by the minimum profit. The f64 screen must let every such cycle
//! through. Coverage counters make sure the interesting cases really occur.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod arb_support;

use std::cell::RefCell;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rust_decimal::Decimal;
use storm_core::arb::eval::RateScreen;
use storm_core::arb::{evaluate, BookView, EvalParams, Reject, TriangleGraph};
use storm_core::{Asset, Instrument, Level, Price, Qty, Side, Symbol, SymbolStatus};

use arb_support::brute;

#[derive(Clone, Debug)]
struct LegSpec {
    buy: bool,
    half_spread: u32,
    gaps: Vec<u32>,
    n_bids: usize,
    n_asks: usize,
    bid_qty: Vec<u32>,
    ask_qty: Vec<u32>,
    step_off: i32,
    min_qty: usize,
    min_notional: usize,
    max_qty: Option<u32>,
    max_notional: Option<u32>,
}

#[derive(Clone, Debug)]
struct Spec {
    legs: [LegSpec; 3],
    log_values: [f64; 2],
    mis_leg: usize,
    mis_bps: f64,
    fee: usize,
    bps: usize,
    max_start: Option<(i64, i32)>,
    ages: Vec<u64>,
    /// Few significant digits, no fee half the time: exact ties between levels, steps and caps.
    round: bool,
}

fn leg_spec() -> impl Strategy<Value = LegSpec> {
    let depth = (1u32..=3, vec(1u32..=4, 5), 1usize..=5, 1usize..=5, vec(1u32..=999, 5), vec(1u32..=999, 5));
    // Filters mostly loose, sometimes binding: coarse steps, min qty and notional, max qty and notional.
    let step_off = prop_oneof![5 => Just(0i32), 3 => Just(1), 1 => Just(2), 2 => Just(-4)];
    let filters = (
        any::<bool>(),
        step_off,
        0usize..4,
        0usize..4,
        option::weighted(0.1, 1u32..=3000),
        option::weighted(0.1, 1u32..=500),
    );
    (depth, filters).prop_map(|((half_spread, gaps, n_bids, n_asks, bid_qty, ask_qty), f)| LegSpec {
        buy: f.0,
        half_spread,
        gaps,
        n_bids,
        n_asks,
        bid_qty,
        ask_qty,
        step_off: f.1,
        min_qty: f.2,
        min_notional: f.3,
        max_qty: f.4,
        max_notional: f.5,
    })
}

fn spec() -> impl Strategy<Value = Spec> {
    let legs = (leg_spec(), leg_spec(), leg_spec());
    let market = (-2.0f64..2.0, -2.0f64..2.0, 0usize..3, -30.0f64..250.0);
    let params =
        (0usize..4, 0usize..5, option::of((1i64..=999, -2i32..=0)), vec(0u64..1_000, 3), proptest::bool::weighted(0.3));
    (legs, market, params).prop_map(|((l1, l2, l3), (vb, vc, mis_leg, mis_bps), (fee, bps, max_start, ages, round))| {
        Spec { legs: [l1, l2, l3], log_values: [vb, vc], mis_leg, mis_bps, fee, bps, max_start, ages, round }
    })
}

/// `mantissa × 10^exp`, exactly.
fn dec(mantissa: i64, exp: i32) -> Decimal {
    if exp >= 0 {
        Decimal::from(mantissa) * Decimal::from(10i64.pow(exp as u32))
    } else {
        Decimal::new(mantissa, (-exp) as u32)
    }
}

/// `x` with two significant digits (0 stays 0).
fn two_digits(x: f64) -> Decimal {
    if x <= 0.0 {
        return Decimal::ZERO;
    }
    let exp = x.log10().floor() as i32 - 1;
    dec((x / 10f64.powi(exp)).round() as i64, exp)
}

struct Scenario {
    instruments: Vec<Instrument>,
    books: Vec<(Vec<Level>, Vec<Level>)>,
    params: EvalParams,
}

const ASSETS: [&str; 3] = ["AAA", "BBB", "CCC"];

fn scenario(s: &Spec) -> Scenario {
    // Round markets: values from a set whose ratios have few digits, and a wide mispricing so
    // that the coarse spreads still leave profitable cycles to size.
    let nice = |x: f64| [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 8.0, 10.0, 20.0, 40.0][((x + 2.0) * 2.4) as usize % 10];
    let values = if s.round {
        [1.0, nice(s.log_values[0]), nice(s.log_values[1])]
    } else {
        [1.0, 10f64.powf(s.log_values[0]), 10f64.powf(s.log_values[1])]
    };
    let mis_bps = if s.round { 300.0 + s.mis_bps.abs() * 4.0 } else { s.mis_bps };
    let mut instruments = Vec::new();
    let mut books = Vec::new();
    for (k, leg) in s.legs.iter().enumerate() {
        let (from, to) = (k, (k + 1) % 3);
        let (base, quote) = if leg.buy { (to, from) } else { (from, to) };
        let mut fair = values[base] / values[quote];
        if k == s.mis_leg {
            fair *= if leg.buy { 1.0 - mis_bps / 10_000.0 } else { 1.0 + mis_bps / 10_000.0 };
        }
        let digits = if s.round { 2 } else { 3 };
        let tick_exp = fair.log10().floor() as i32 - digits;
        let mid = (fair / 10f64.powi(tick_exp)).round() as i64;
        let qty_exp = (10.0 / values[base]).log10().floor() as i32 - if s.round { 0 } else { 2 };
        let side = |n: usize, qty: &[u32], sign: i64| -> Vec<Level> {
            let mut ticks = mid + sign * i64::from(leg.half_spread);
            (0..n)
                .map(|i| {
                    if i > 0 {
                        ticks += sign * i64::from(leg.gaps[i - 1]);
                    }
                    let q = if s.round { qty[i] % 3 + 1 } else { qty[i] };
                    Level::new(Price(dec(ticks, tick_exp)), Qty(dec(i64::from(q), qty_exp)))
                })
                .collect()
        };
        books.push((side(leg.n_bids, &leg.bid_qty, -1), side(leg.n_asks, &leg.ask_qty, 1)));
        let step = dec(1, qty_exp + if s.round { leg.step_off.min(0) - 2 } else { leg.step_off });
        let notional_target = [0.0, 0.0, 0.5, 5.0][leg.min_notional];
        instruments.push(Instrument {
            symbol: Symbol::new(format!("{}{}", ASSETS[base], ASSETS[quote])),
            base: Asset::new(ASSETS[base]),
            quote: Asset::new(ASSETS[quote]),
            status: SymbolStatus::Trading,
            tick_size: dec(1, tick_exp),
            min_price: dec(1, tick_exp),
            max_price: Decimal::ZERO,
            step_size: step,
            min_qty: step * Decimal::from([1, 1, 1, 5][leg.min_qty]),
            max_qty: leg.max_qty.map_or(Decimal::ZERO, |k| step * Decimal::from(k)),
            min_notional: two_digits(notional_target / values[quote]),
            max_notional: leg.max_notional.map_or(Decimal::ZERO, |v| two_digits(f64::from(v) / values[quote])),
        });
    }
    let params = EvalParams {
        taker_fee: ["0", "0.001", "0.0005", "0.00075"][if s.round { s.fee % 2 * 2 } else { s.fee }]
            .parse()
            .expect("fee"),
        min_profit_bps: ["0", "1", "5", "12.5", "30"][s.bps].parse().expect("bps"),
        max_start: s.max_start.map(|(m, e)| if s.round { dec(m % 5 + 1, e + 1) } else { dec(m, e) }),
        max_age_ms: 1_000,
    };
    Scenario { instruments, books, params }
}

#[derive(Debug, Default)]
struct Coverage {
    ok: u32,
    not_profitable: u32,
    filters: u32,
    past_the_top: u32,
    limit_deep_on_a_later_leg: u32,
    capped_by_max_start: u32,
    tie_before_the_stop: u32,
}

fn check(spec: &Spec, coverage: &RefCell<Coverage>) -> Result<(), TestCaseError> {
    let sc = scenario(spec);
    let graph = TriangleGraph::build(&sc.instruments, &[Asset::new("AAA")]);
    let cycle = graph.cycles().iter().find(|c| c.path() == "AAA>BBB>CCC>AAA").expect("the cycle");
    let views: Vec<BookView<'_>> = (0..3)
        .map(|k| BookView {
            bids: &sc.books[k].0,
            asks: &sc.books[k].1,
            update_id: 7,
            age_ms: spec.ages[k],
            live: true,
        })
        .collect();
    for (k, leg) in cycle.legs.iter().enumerate() {
        prop_assert_eq!(leg.side == Side::Buy, spec.legs[k].buy, "graph orientation");
    }
    let got = evaluate(
        cycle,
        [&views[0], &views[1], &views[2]],
        [&sc.instruments[0], &sc.instruments[1], &sc.instruments[2]],
        &sc.params,
    );
    let taken = |k: usize| if spec.legs[k].buy { &sc.books[k].1 } else { &sc.books[k].0 };
    let legs =
        [0, 1, 2].map(|k| brute::Leg { side: cycle.legs[k].side, levels: taken(k), instrument: &sc.instruments[k] });
    let want = brute::evaluate(&legs, sc.params.taker_fee, sc.params.min_profit_bps, sc.params.max_start);

    let mut cov = coverage.borrow_mut();
    match (&got, &want) {
        (Err(g), Err(w)) => {
            prop_assert_eq!(g, w);
            match g {
                Reject::NotProfitable => cov.not_profitable += 1,
                Reject::Filters => cov.filters += 1,
                other => prop_assert!(false, "unexpected reject {other:?}"),
            }
            return Ok(());
        }
        (Ok(_), Ok(_)) => {}
        _ => prop_assert!(false, "evaluate {got:?} but brute force {want:?}"),
    }
    let (e, w) = (got.expect("ok"), want.expect("ok"));
    cov.ok += 1;
    cov.past_the_top += u32::from(w.limits != [0, 0, 0]);
    cov.limit_deep_on_a_later_leg += u32::from(w.limits[1] > 0 || w.limits[2] > 0);
    cov.capped_by_max_start += u32::from(w.capped);
    cov.tie_before_the_stop += u32::from(w.tie);

    // Equal to the brute force, digit for digit.
    prop_assert_eq!((e.size, e.end, e.profit), (w.size, w.end, w.end - w.size));
    let legs: Vec<_> = e.legs.iter().map(|l| (l.price.0, l.qty.0, l.input, l.output)).collect();
    prop_assert_eq!(legs, w.legs.to_vec());
    prop_assert_eq!(e.profit_bps, e.profit * Decimal::from(10_000) / e.size);

    // Safe: filled at the stated limits with the stated fee, it never loses.
    let keep = Decimal::ONE - sc.params.taker_fee;
    let mut available = e.size;
    for (k, leg) in e.legs.iter().enumerate() {
        let (p, q) = (leg.price.0, leg.qty.0);
        prop_assert_eq!((&leg.symbol, leg.side), (&cycle.legs[k].symbol, cycle.legs[k].side));
        let (spend, receive) = match leg.side {
            Side::Buy => (q * p, q * keep),
            Side::Sell => (q, q * p * keep),
        };
        prop_assert_eq!((leg.input, leg.output), (spend, receive), "leg {} amounts", k);
        prop_assert!(spend <= available, "leg {k} spends {spend} of {available}");
        available = receive;
        prop_assert!(sc.instruments[k].check_limit(leg.price, leg.qty).is_ok(), "leg {k} filters");
        let fillable: Decimal = taken(k)
            .iter()
            .filter(|l| if leg.side == Side::Buy { l.price.0 <= p } else { l.price.0 >= p })
            .map(|l| l.qty.0)
            .sum();
        prop_assert!(q <= fillable, "leg {k} needs {q}, book has {fillable} at {p} or better");
    }
    prop_assert_eq!(e.end, available);
    prop_assert!(e.end > e.size);
    prop_assert!(e.profit * Decimal::from(10_000) >= sc.params.min_profit_bps * e.size);
    prop_assert!(sc.params.max_start.is_none_or(|m| e.size <= m));
    prop_assert!((0.0..=1.0).contains(&e.confidence));

    // The f64 screen never skips what evaluate accepts.
    let mut screen = RateScreen::new(&graph, &sc.params);
    for (k, view) in views.iter().enumerate() {
        let slot = screen.slot(&sc.instruments[k].symbol).expect("slot");
        prop_assert!(screen.update(slot, view).is_ok());
    }
    prop_assert!(screen.may_profit(cycle.id), "screen skipped a profitable cycle");
    Ok(())
}

#[test]
fn evaluate_equals_exact_brute_force_and_never_loses() {
    let cases = std::env::var("ARB_PROP_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(3_000);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let coverage = RefCell::new(Coverage::default());
    if let Err(e) = runner.run(&spec(), |s| check(&s, &coverage)) {
        panic!("{e}");
    }
    let c = coverage.into_inner();
    println!("{c:?}");
    // The cases that matter must really occur (proportions at 3,000 cases, with a wide margin).
    let share = |n: u32| f64::from(n) / f64::from(cases);
    assert!(share(c.ok) > 0.12, "{c:?}");
    assert!(share(c.not_profitable) > 0.15, "{c:?}");
    assert!(share(c.filters) > 0.03, "{c:?}");
    assert!(share(c.past_the_top) > 0.05, "{c:?}");
    assert!(share(c.limit_deep_on_a_later_leg) > 0.03, "{c:?}");
    assert!(share(c.capped_by_max_start) > 0.01, "{c:?}");
    assert!(share(c.tie_before_the_stop) > 0.01, "{c:?}");
}
