use std::collections::BTreeMap;
use std::str::FromStr;

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;
use crate::Symbol;

fn lv(p: &str, q: &str) -> Level {
    Level::parse(p, q).expect("test level")
}

fn prices(levels: &[Level]) -> Vec<String> {
    levels.iter().map(|l| l.price.to_string()).collect()
}

#[test]
fn apply_inserts_updates_and_removes_levels() {
    let mut b = OrderBook::default();
    b.apply_str(BookSide::Bid, "100.0", "1").expect("apply");
    b.apply_str(BookSide::Bid, "101.0", "2").expect("apply");
    b.apply_str(BookSide::Bid, "99.5", "3").expect("apply");
    assert_eq!(prices(&b.top(BookSide::Bid, 10)), ["101.00000000", "100.00000000", "99.50000000"]);

    b.apply_str(BookSide::Bid, "100", "5").expect("update");
    assert_eq!(b.top(BookSide::Bid, 3)[1].qty.to_string(), "5.00000000");

    b.apply_str(BookSide::Bid, "101", "0.00000000").expect("remove");
    assert_eq!(b.best_bid().map(|l| l.price.to_string()), Some("100.00000000".into()));
    // Removing a level we never had is normal on Binance, not an error.
    b.apply_str(BookSide::Bid, "42", "0").expect("remove unknown");
    assert_eq!(b.depth(BookSide::Bid), 2);
}

#[test]
fn asks_are_best_first_ascending() {
    let mut b = OrderBook::default();
    for p in ["103", "101", "102"] {
        b.apply_str(BookSide::Ask, p, "1").expect("apply");
    }
    assert_eq!(prices(&b.top(BookSide::Ask, 2)), ["101.00000000", "102.00000000"]);
}

#[test]
fn crossing_is_detected() {
    let mut b = OrderBook::default();
    b.apply_str(BookSide::Bid, "100", "1").expect("apply");
    b.apply_str(BookSide::Ask, "101", "1").expect("apply");
    assert!(!b.is_crossed());
    b.apply_str(BookSide::Bid, "101", "1").expect("apply"); // bid == ask is crossed too
    assert!(b.is_crossed());
    b.apply_str(BookSide::Bid, "101", "0").expect("apply");
    assert!(!b.is_crossed());
    b.apply_str(BookSide::Ask, "99", "1").expect("apply");
    assert!(b.is_crossed());
}

#[test]
fn bad_numbers_are_errors_and_a_bad_diff_changes_nothing() {
    let mut b = OrderBook::default();
    assert!(b.apply_str(BookSide::Bid, "1.000000001", "1").is_err()); // finer than scale 8
    assert!(b.apply_str(BookSide::Bid, "x", "1").is_err());
    assert!(b.apply(BookSide::Ask, Price(Decimal::NEGATIVE_ONE), Qty(Decimal::ONE)).is_err());

    let diff = DepthDiff {
        symbol: Symbol::new("BTCUSDT"),
        first_update_id: 1,
        last_update_id: 2,
        bids: vec![lv("100", "1")],
        asks: vec![lv("0.000000001", "1")],
        time_exchange: 0,
        time_received: 0,
    };
    assert!(b.apply_diff(&diff).is_err());
    assert_eq!(b.depth(BookSide::Bid), 0, "nothing of a rejected diff is applied");
    assert_eq!(b.update_id(), 0);
}

#[test]
fn replace_sorts_and_drops_zero_levels() {
    let mut b = OrderBook::default();
    b.replace(&[lv("1", "1"), lv("3", "1"), lv("2", "0")], &[lv("5", "1"), lv("4", "2")], 77).expect("snapshot");
    assert_eq!(prices(&b.top(BookSide::Bid, 5)), ["3.00000000", "1.00000000"]);
    assert_eq!(prices(&b.top(BookSide::Ask, 5)), ["4.00000000", "5.00000000"]);
    assert_eq!(b.update_id(), 77);
    assert_eq!(b.mid().map(|p| p.to_string()), Some("3.50000000".into()));
}

/// The naive model: one `BTreeMap<Decimal, Decimal>` per side, obviously correct.
#[derive(Default)]
struct Model {
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
}

impl Model {
    fn apply(&mut self, side: BookSide, p: Decimal, q: Decimal) {
        let m = match side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        };
        if q.is_zero() {
            m.remove(&p);
        } else {
            m.insert(p, q);
        }
    }
    fn bids(&self) -> Vec<(Decimal, Decimal)> {
        self.bids.iter().rev().map(|(p, q)| (*p, *q)).collect()
    }
    fn asks(&self) -> Vec<(Decimal, Decimal)> {
        self.asks.iter().map(|(p, q)| (*p, *q)).collect()
    }
}

fn side_strategy() -> impl Strategy<Value = BookSide> {
    prop_oneof![Just(BookSide::Bid), Just(BookSide::Ask)]
}

fn op_strategy() -> impl Strategy<Value = (BookSide, Decimal, Decimal)> {
    // Few distinct prices so that updates and removals hit existing levels often;
    // a third of the quantities are zero (removals).
    (side_strategy(), 1u64..60, 0u64..3_000_000, 0u8..3).prop_map(|(s, p, q, zero)| {
        let price = Decimal::new(p as i64 * 25, 2); // 0.25 tick
        let qty = if zero == 0 { Decimal::ZERO } else { Decimal::new(q as i64, 8) };
        (s, price, qty)
    })
}

fn pairs(book: &OrderBook, side: BookSide) -> Vec<(Decimal, Decimal)> {
    book.levels(side).map(|l| (l.price.0, l.qty.0)).collect()
}

proptest! {
    #[test]
    fn book_matches_naive_model(ops in prop::collection::vec(op_strategy(), 0..400)) {
        let mut book = OrderBook::default();
        let mut model = Model::default();
        for (side, p, q) in ops {
            // Alternate between the Decimal API and the string fast path: both must agree.
            if p.mantissa() % 2 == 0 {
                book.apply(side, Price(p), Qty(q)).expect("valid level");
            } else {
                book.apply_str(side, &p.to_string(), &q.to_string()).expect("valid level");
            }
            model.apply(side, p, q);
            prop_assert_eq!(book.best_bid().map(|l| l.price.0), model.bids().first().map(|x| x.0));
            prop_assert_eq!(book.best_ask().map(|l| l.price.0), model.asks().first().map(|x| x.0));
        }
        prop_assert_eq!(pairs(&book, BookSide::Bid), model.bids());
        prop_assert_eq!(pairs(&book, BookSide::Ask), model.asks());
        let crossed = match (model.bids().first(), model.asks().first()) {
            (Some(b), Some(a)) => b.0 >= a.0,
            _ => false,
        };
        prop_assert_eq!(book.is_crossed(), crossed);
    }

    #[test]
    fn parse_fixed_agrees_with_decimal(int in 0u64..10_000_000_000, frac in 0u32..100_000_000) {
        let s = format!("{int}.{frac:08}");
        let want = Decimal::from_str(&s).expect("decimal");
        let got = fixed::parse_fixed(&s, 8).expect("fits");
        prop_assert_eq!(fixed::fixed_to_decimal(got, 8), want);
    }
}
