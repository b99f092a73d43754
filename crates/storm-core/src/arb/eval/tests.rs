//! Hand-made books: every number below can be checked with a pencil.

use std::str::FromStr;

use super::*;
use crate::arb::graph::TriangleGraph;
use crate::{Asset, SymbolStatus};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("test decimal")
}

fn levels(l: &[(&str, &str)]) -> Vec<Level> {
    l.iter().map(|(p, q)| Level::parse(p, q).expect("test level")).collect()
}

fn instrument(symbol: &str, base: &str, quote: &str, tick: &str, step: &str, min_notional: &str) -> Instrument {
    Instrument {
        symbol: Symbol::new(symbol),
        base: Asset::new(base),
        quote: Asset::new(quote),
        status: SymbolStatus::Trading,
        tick_size: d(tick),
        min_price: d(tick),
        max_price: d("1000000"),
        step_size: d(step),
        min_qty: d(step),
        max_qty: d("9000000"),
        min_notional: d(min_notional),
        max_notional: Decimal::ZERO,
    }
}

/// BTCUSDT, ETHBTC and ETHUSDT with their books, age and status.
struct Market {
    instruments: Vec<Instrument>,
    books: Vec<(Vec<Level>, Vec<Level>)>,
    live: [bool; 3],
    age_ms: [u64; 3],
}

const SYMBOLS: [&str; 3] = ["BTCUSDT", "ETHBTC", "ETHUSDT"];

impl Market {
    /// Books as `[bids, asks]` for BTCUSDT, ETHBTC, ETHUSDT.
    fn new(books: [[&[(&str, &str)]; 2]; 3]) -> Self {
        Self {
            instruments: vec![
                instrument("BTCUSDT", "BTC", "USDT", "0.01", "0.00001", "5"),
                instrument("ETHBTC", "ETH", "BTC", "0.00001", "0.0001", "0.0001"),
                instrument("ETHUSDT", "ETH", "USDT", "0.01", "0.0001", "5"),
            ],
            books: books.iter().map(|[b, a]| (levels(b), levels(a))).collect(),
            live: [true; 3],
            age_ms: [0; 3],
        }
    }

    fn index(&self, symbol: &Symbol) -> usize {
        SYMBOLS.iter().position(|s| *s == symbol.as_str()).expect("known symbol")
    }

    fn cycle(&self, path: &str) -> Cycle {
        let graph = TriangleGraph::build(&self.instruments, &[]);
        graph.cycles().iter().find(|c| c.path() == path).expect("cycle in graph").clone()
    }

    fn view(&self, i: usize) -> BookView<'_> {
        let (bids, asks) = &self.books[i];
        BookView { bids, asks, update_id: 1, age_ms: self.age_ms[i], live: self.live[i] }
    }

    fn eval(&self, path: &str, params: &EvalParams) -> Result<Evaluation, Reject> {
        let cycle = self.cycle(path);
        let idx = cycle.legs.each_ref().map(|l| self.index(&l.symbol));
        let views = idx.map(|i| self.view(i));
        evaluate(&cycle, views.each_ref(), idx.map(|i| &self.instruments[i]), params)
    }
}

fn params(fee: &str, bps: &str, max_start: Option<&str>) -> EvalParams {
    EvalParams { taker_fee: d(fee), min_profit_bps: d(bps), max_start: max_start.map(d), max_age_ms: 1_000 }
}

/// USDT>BTC>ETH>USDT at 1/100 × 1/0.1 × 10.02 = 1.002 before fees, deep enough for 1000 USDT.
fn twenty_bps_before_fees() -> Market {
    Market::new([
        [&[("99.99", "10")], &[("100", "10")]],
        [&[("0.09999", "100")], &[("0.1", "100")]],
        [&[("10.02", "100")], &[("10.03", "100")]],
    ])
}

const USDT_PATH: &str = "USDT>BTC>ETH>USDT";
const BTC_PATH: &str = "BTC>USDT>ETH>BTC";

#[test]
fn profitable_before_fees_but_not_after_is_not_profitable() {
    let m = twenty_bps_before_fees();
    let e = m.eval(USDT_PATH, &params("0", "0", Some("1000"))).expect("20 bps without fees");
    assert_eq!((e.size, e.end, e.profit, e.profit_bps), (d("1000"), d("1002"), d("2"), d("20")));
    let qty: Vec<_> = e.legs.iter().map(|l| (l.side, l.price.0, l.qty.0)).collect();
    assert_eq!(
        qty,
        [(Side::Buy, d("100"), d("10")), (Side::Buy, d("0.1"), d("100")), (Side::Sell, d("10.02"), d("100"))]
    );
    // 1.002 × 0.999³ = 0.998999...: the same books lose with a 0.1 % taker fee.
    assert_eq!(m.eval(USDT_PATH, &params("0.001", "0", Some("1000"))), Err(Reject::NotProfitable));
    // And the minimum profit is a hard floor: 20 bps clears 20, not 21.
    assert!(m.eval(USDT_PATH, &params("0", "20", Some("1000"))).is_ok());
    assert_eq!(m.eval(USDT_PATH, &params("0", "21", Some("1000"))), Err(Reject::NotProfitable));
}

/// BTC>USDT>ETH>BTC: sell BTCUSDT at the bids, buy ETHUSDT at the asks, sell ETHBTC at the bids.
fn btc_start(btc_bids: &[(&str, &str)], eth_asks: &[(&str, &str)]) -> Market {
    Market::new([
        [btc_bids, &[("100.01", "10")]],
        [&[("0.102", "1000")], &[("0.1021", "10")]],
        [&[("9.99", "10")], eth_asks],
    ])
}

#[test]
fn depth_sizing_stops_at_the_level_where_the_marginal_rate_turns_unprofitable() {
    // Marginal rates after 0.1 % per leg: 100 → 1.01694, 99.5 → 1.01185, 98 → 0.99660.
    let m = btc_start(&[("100", "1"), ("99.5", "1"), ("98", "5")], &[("10", "1000")]);
    let e = m.eval(BTC_PATH, &params("0.001", "0", None)).expect("two profitable levels");
    assert_eq!(e.size, d("2"), "the sum of the two profitable levels, not the third");
    assert_eq!(e.legs[0].price.0, d("99.5"), "limit = the worst profitable level");
    // 2 × 99.5 × 0.999 = 198.801 USDT → 19.8801 ETH → × 0.999 = 19.8602199 → 19.8602 sold at 0.102.
    assert_eq!(e.legs[1].qty.0, d("19.8801"));
    assert_eq!(e.legs[2].qty.0, d("19.8602"));
    assert_eq!(e.end, d("2.0237146596"));
    assert_eq!(e.profit, d("0.0237146596"));
    // Asking for 150 bps stops one level earlier: the second level only makes 118 bps.
    let e = m.eval(BTC_PATH, &params("0.001", "150", None)).expect("the first level makes 169 bps");
    assert_eq!((e.size, e.legs[0].price.0), (d("1"), d("100")));
}

#[test]
fn depth_sizing_stops_on_a_later_leg_too() {
    // ETHUSDT's third ask makes the cycle lose: 100 / 10.5 × 0.102 = 0.971.
    let m = btc_start(&[("100", "10")], &[("10", "5"), ("10.05", "5"), ("10.5", "100")]);
    let e = m.eval(BTC_PATH, &params("0", "0", None)).expect("profitable");
    // The two profitable ETHUSDT levels cost 50 + 50.25 = 100.25 USDT = 1.0025 BTC at 100.
    assert_eq!(e.size, d("1.0025"));
    let limits: Vec<_> = e.legs.iter().map(|l| l.price.0).collect();
    assert_eq!(limits, [d("100"), d("10.05"), d("0.102")]);
    // 100.25 / 10.05 = 9.975124... → 9.9751 ETH, sold for 9.9751 × 0.102 BTC.
    assert_eq!((e.legs[1].qty.0, e.legs[1].input), (d("9.9751"), d("100.249755")));
    assert_eq!((e.end, e.profit), (d("1.0174602"), d("0.0149602")));
    // Leg 1 and leg 2 ending together: the tie advances both, the third leg stops nothing.
    let m = btc_start(&[("100", "0.5"), ("99", "10")], &[("10", "5"), ("10.05", "5"), ("10.5", "100")]);
    let e = m.eval(BTC_PATH, &params("0", "0", None)).expect("profitable");
    // 0.5 BTC at 100 = 50 USDT = ETHUSDT's first level; then 99 / 10.05 × 0.102 = 1.00478 still pays.
    assert_eq!(e.legs[0].price.0, d("99"));
    assert_eq!(e.legs[1].price.0, d("10.05"));
    // 0.5 + 50.25 / 99 BTC = 1.007575..., floored to BTCUSDT's step.
    assert_eq!(e.size, d("1.00757"));
}

#[test]
fn max_start_caps_the_size() {
    let m = twenty_bps_before_fees();
    let e = m.eval(USDT_PATH, &params("0", "0", Some("250"))).expect("profitable");
    assert_eq!((e.size, e.end), (d("250"), d("250.5")));
    let e = m.eval(USDT_PATH, &params("0", "0", None)).expect("profitable");
    assert_eq!(e.size, d("1000"), "uncapped: the 10 BTC of the ask");
    assert_eq!(m.eval(USDT_PATH, &params("0", "0", Some("0"))), Err(Reject::NotProfitable));
}

#[test]
fn rounding_that_eats_the_profit_is_not_profitable() {
    let mut m = twenty_bps_before_fees();
    // 149 USDT → 1.49 BTC → ETH in whole units: 14 ETH, 0.09 BTC left behind, 140.28 USDT back.
    m.instruments[1].step_size = d("1");
    m.instruments[1].min_qty = d("1");
    assert_eq!(m.eval(USDT_PATH, &params("0", "0", Some("149"))), Err(Reject::NotProfitable));
    // The same cycle at a size the step divides keeps its 20 bps.
    let e = m.eval(USDT_PATH, &params("0", "0", Some("150"))).expect("no remainder");
    assert_eq!(e.profit_bps, d("20"));
    // A step that only trims the profit below the minimum is also not profitable.
    let mut m = twenty_bps_before_fees();
    m.instruments[2].step_size = d("0.1");
    // 998.5 USDT → 99.85 ETH, of which 99.8 sold for 999.996 USDT: 14.98 bps instead of 20.
    let e = m.eval(USDT_PATH, &params("0", "0", Some("998.5"))).expect("still profitable");
    assert_eq!(e.profit, d("1.496"));
    assert_eq!(m.eval(USDT_PATH, &params("0", "18", Some("998.5"))), Err(Reject::NotProfitable));
}

#[test]
fn min_notional_min_qty_and_max_qty_reject_as_filters() {
    let m = twenty_bps_before_fees();
    assert_eq!(m.eval(USDT_PATH, &params("0", "0", Some("4"))), Err(Reject::Filters), "4 USDT < 5 notional");
    assert!(m.eval(USDT_PATH, &params("0", "0", Some("5"))).is_ok());
    let tweaks: [fn(&mut Market); 4] = [
        |m: &mut Market| m.instruments[1].min_qty = d("200"),
        |m: &mut Market| m.instruments[2].max_qty = d("50"),
        |m: &mut Market| m.instruments[2].max_notional = d("500"),
        |m: &mut Market| m.instruments[0].min_price = d("101"),
    ];
    for tweak in tweaks {
        let mut m = twenty_bps_before_fees();
        tweak(&mut m);
        assert_eq!(m.eval(USDT_PATH, &params("0", "0", Some("1000"))), Err(Reject::Filters));
    }
}

#[test]
fn a_level_off_the_tick_is_filters() {
    let mut m = twenty_bps_before_fees();
    m.books[0].1 = levels(&[("99.995", "10")]);
    assert_eq!(m.eval(USDT_PATH, &params("0", "0", Some("1000"))), Err(Reject::Filters));
}

#[test]
fn stale_and_old_books_are_not_trusted() {
    let mut m = twenty_bps_before_fees();
    let p = params("0", "0", Some("1000"));
    m.live[1] = false;
    assert_eq!(m.eval(USDT_PATH, &p), Err(Reject::NotLive));
    m.live[1] = true;
    m.age_ms[2] = 1_001;
    assert_eq!(m.eval(USDT_PATH, &p), Err(Reject::TooOld));
    m.age_ms[2] = 1_000;
    let e = m.eval(USDT_PATH, &p).expect("exactly max_age_ms old is still trusted");
    assert!(e.confidence.abs() < 1e-12, "but has no confidence left");
}

#[test]
fn confidence_falls_with_the_share_of_depth_taken_and_with_age() {
    let mut m = twenty_bps_before_fees();
    let small = m.eval(USDT_PATH, &params("0", "0", Some("100"))).expect("profitable");
    let all = m.eval(USDT_PATH, &params("0", "0", Some("1000"))).expect("profitable");
    assert!((small.confidence - 0.9).abs() < 1e-12, "takes 10 % of each side: {}", small.confidence);
    assert!(all.confidence.abs() < 1e-12, "takes the whole BTCUSDT ask: {}", all.confidence);
    m.age_ms = [0, 500, 250];
    let old = m.eval(USDT_PATH, &params("0", "0", Some("100"))).expect("profitable");
    assert!((old.confidence - 0.45).abs() < 1e-12, "{}", old.confidence);
}

#[test]
fn bad_books_are_rejected_not_panicked_on() {
    type Case = (&'static str, fn(&mut Market), Reject);
    let cases: [Case; 9] = [
        ("zero ask", |m| m.books[0].1 = levels(&[("0", "10")]), Reject::BadBook),
        ("negative bid", |m| m.books[2].0 = levels(&[("-10.02", "100")]), Reject::BadBook),
        ("zero quantity", |m| m.books[1].1 = levels(&[("0.1", "0")]), Reject::BadBook),
        ("crossed", |m| m.books[2].1 = levels(&[("10.02", "100")]), Reject::BadBook),
        ("empty side taken", |m| m.books[0].1.clear(), Reject::EmptySide),
        ("deeper level better than the best", |m| m.books[0].1 = levels(&[("100", "1"), ("99", "1")]), Reject::BadBook),
        ("deeper level at zero", |m| m.books[0].1 = levels(&[("100", "1"), ("0", "1")]), Reject::BadBook),
        (
            "overflowing amounts",
            |m| m.books[0].1 = levels(&[("100", "79228162514264337593543950335")]),
            Reject::BadBook,
        ),
        (
            "not live beats bad",
            |m| {
                m.books[0].1.clear();
                m.live[2] = false;
            },
            Reject::NotLive,
        ),
    ];
    for (name, tweak, want) in cases {
        let mut m = twenty_bps_before_fees();
        tweak(&mut m);
        assert_eq!(m.eval(USDT_PATH, &params("0", "0", None)), Err(want), "{name}");
    }
    // An empty side the cycle does not take is no reason to reject.
    let mut m = twenty_bps_before_fees();
    m.books[0].0.clear();
    assert!(m.eval(USDT_PATH, &params("0", "0", Some("1000"))).is_ok());
}

#[test]
fn without_a_step_a_leg_never_spends_more_than_it_has() {
    let mut m = Market::new([
        [&[("99.99", "10")], &[("100.03", "10")]],
        [&[("0.0999", "100")], &[("0.09997", "100")]],
        [&[("10.03", "100")], &[("10.04", "100")]],
    ]);
    for i in &mut m.instruments {
        (i.step_size, i.min_qty, i.tick_size, i.min_notional) =
            (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    }
    let e = m.eval(USDT_PATH, &params("0.00075", "0", Some("777.77"))).expect("profitable");
    assert!(e.size <= d("777.77"));
    let mut available = e.size;
    for leg in &e.legs {
        assert!(leg.input <= available, "{} spends {} of {available}", leg.symbol, leg.input);
        available = leg.output;
    }
    assert!(e.end > e.size);
}

#[test]
fn the_screen_and_quick_rate_let_through_what_evaluate_accepts() {
    let m = twenty_bps_before_fees();
    let graph = TriangleGraph::build(&m.instruments, &[]);
    let id = graph.cycles().iter().position(|c| c.path() == USDT_PATH).expect("cycle") as u32;
    let cycle = m.cycle(USDT_PATH);
    let views = [0, 1, 2].map(|i| m.view(i));
    assert_eq!(quick_rate(&cycle, views.each_ref(), d("0")), Some(d("1.002")));
    assert!(quick_rate(&cycle, views.each_ref(), d("0.001")).expect("rate") < Decimal::ONE);
    for (fee, bps, pass) in [("0", "0", true), ("0", "20", true), ("0", "21", false), ("0.001", "0", false)] {
        let p = params(fee, bps, Some("1000"));
        let mut screen = RateScreen::new(&graph, &p);
        assert!(!screen.may_profit(id), "no rates yet");
        for (i, symbol) in SYMBOLS.iter().enumerate() {
            let slot = screen.slot(&Symbol::new(symbol)).expect("slot");
            screen.update(slot, &m.view(i)).expect("sane book");
        }
        assert_eq!(screen.may_profit(id), pass, "fee {fee} bps {bps}");
        assert_eq!(screen.may_profit(id), m.eval(USDT_PATH, &p).is_ok());
        let slot = screen.slot(&Symbol::new("ETHBTC")).expect("slot");
        assert_eq!(screen.candidates(slot).any(|c| c == id), pass);
        // Both directions of all three rotations go through ETHBTC; only one direction can pay.
        assert_eq!(graph.cycles_of(&Symbol::new("ETHBTC")).len(), 6);
        assert_eq!(screen.candidates(slot).count(), if pass { 3 } else { 0 });
    }
}

#[test]
fn the_screen_skips_a_crossed_book() {
    let m = twenty_bps_before_fees();
    let graph = TriangleGraph::build(&m.instruments, &[]);
    let mut screen = RateScreen::new(&graph, &params("0", "0", None));
    let crossed = levels(&[("100", "1")]);
    let view = BookView { bids: &crossed, asks: &crossed, update_id: 1, age_ms: 0, live: true };
    assert_eq!(screen.update(0, &view), Err(Reject::BadBook));
    assert!(!(0..6).any(|id| screen.may_profit(id)));
}

#[test]
fn max_start_exactly_at_a_breakpoint_keeps_the_shallower_limits() {
    // Each deeper level below still pays; a cap landing exactly on a level end must not reach it.
    type Levels = &'static [(&'static str, &'static str)];
    let cases: [(&str, Levels, Levels, [&str; 3]); 3] = [
        ("at leg 1's level end", &[("100", "0.5"), ("99.5", "10")], &[("10", "100")], ["100", "10", "0.102"]),
        ("at leg 2's level end", &[("100", "10")], &[("10", "5"), ("10.05", "5")], ["100", "10", "0.102"]),
        ("at leg 3's level end", &[("100", "10")], &[("10", "100")], ["100", "10", "0.102"]),
    ];
    for (name, btc_bids, eth_asks, limits) in cases {
        let mut m = btc_start(btc_bids, eth_asks);
        if name.contains("leg 3") {
            m.books[1].0 = levels(&[("0.102", "5"), ("0.1019", "100")]);
        }
        // 0.5 BTC = 50 USDT = 5 ETH.
        let e = m.eval(BTC_PATH, &params("0", "0", Some("0.5"))).expect(name);
        let got: Vec<_> = e.legs.iter().map(|l| l.price.0).collect();
        assert_eq!(got, limits.map(d), "{name}");
        assert_eq!((e.size, e.legs[1].qty.0, e.end), (d("0.5"), d("5"), d("0.51")), "{name}");
    }
}

#[test]
fn a_rounded_up_quotient_is_stepped_back() {
    let mut i = instrument("X", "A", "B", "0", "0", "0");
    // 2 / 3 rounds up in the 28th digit: 0.666...667 × 3 > 2.
    i.step_size = Decimal::ZERO;
    let q = plan::floor_div(&i, d("2"), d("3")).expect("divides");
    assert!(q * d("3") <= d("2"), "{q}");
    assert_eq!(q, d("0.6666666666666666666666666666"));
    i.step_size = d("0.01");
    assert_eq!(plan::floor_div(&i, d("2"), d("3")).expect("divides"), d("0.66"));
}
