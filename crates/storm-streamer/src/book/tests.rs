#![allow(clippy::unwrap_used, clippy::expect_used)]

use storm_bus::account::{avg_price, OrderStatus, Source};
use storm_core::{Price, Qty, Side};

use super::*;

fn q(s: &str) -> Qty {
    s.parse().unwrap()
}

fn order(status: OrderStatus, executed: &str, update_ms: u64) -> OrderState {
    let quote = Qty(q(executed).0 * rust_decimal::Decimal::from(100));
    OrderState {
        symbol: Symbol::new("ETHUSDT"),
        order_id: 7,
        client_order_id: "c-7".into(),
        side: Side::Buy,
        order_type: "LIMIT".into(),
        time_in_force: "GTC".into(),
        price: Price(100.into()),
        orig_qty: q("2"),
        status,
        executed_qty: q(executed),
        cumulative_quote_qty: quote,
        avg_price: avg_price(q(executed), quote),
        created_ms: 1,
        update_ms,
        last_trade_id: None,
        source: Source::Ws,
    }
}

fn fill(trade_id: u64, qty: &str) -> Fill {
    Fill {
        symbol: Symbol::new("ETHUSDT"),
        order_id: 7,
        client_order_id: "c-7".into(),
        trade_id,
        side: Side::Buy,
        price: Price(100.into()),
        qty: q(qty),
        quote_qty: Qty(q(qty).0 * rust_decimal::Decimal::from(100)),
        commission: Qty::ZERO,
        commission_asset: Asset::new("ETH"),
        maker: true,
        time_ms: 5,
        source: Source::Ws,
    }
}

fn apply(book: &mut AccountBook, p: &Planned) {
    if let Some(w) = &p.write {
        book.commit(w);
    }
}

#[test]
fn an_older_report_never_overwrites_a_newer_state() {
    let mut book = AccountBook::default();
    let p = book.plan_order(order(OrderStatus::PartiallyFilled, "1", 20), Some(fill(11, "1")));
    assert!(matches!(p.write, Some(Write::Fill(_, _))));
    apply(&mut book, &p);
    let late_new = book.plan_order(order(OrderStatus::New, "0", 10), None);
    assert_eq!((late_new.write, late_new.stale), (None, true));
    let stored = book.order(&Symbol::new("ETHUSDT"), 7).unwrap();
    assert_eq!(
        (stored.status, stored.executed_qty, stored.last_trade_id),
        (OrderStatus::PartiallyFilled, q("1"), Some(11))
    );
}

#[test]
fn a_final_status_wins_and_stays() {
    let mut book = AccountBook::default();
    let p = book.plan_order(order(OrderStatus::Canceled, "1", 20), None);
    apply(&mut book, &p);
    let p = book.plan_order(order(OrderStatus::PartiallyFilled, "1", 30), None);
    assert_eq!((p.write, p.stale), (None, true), "a later but open report cannot reopen a cancelled order");
    let mut book = AccountBook::default();
    let p = book.plan_order(order(OrderStatus::PartiallyFilled, "1", 30), None);
    apply(&mut book, &p);
    let p = book.plan_order(order(OrderStatus::Canceled, "1", 25), None);
    assert!(matches!(p.write, Some(Write::Order(ref o)) if o.status == OrderStatus::Canceled));
}

#[test]
fn a_replayed_fill_is_recorded_once_even_with_a_stale_state() {
    let mut book = AccountBook::default();
    let first = book.plan_order(order(OrderStatus::PartiallyFilled, "1", 20), Some(fill(11, "1")));
    apply(&mut book, &first);
    let replay = book.plan_order(order(OrderStatus::PartiallyFilled, "1", 20), Some(fill(11, "1")));
    assert_eq!((replay.write, replay.duplicate_fill), (None, true));
    // REST already wrote the final state, the stream's second fill arrives afterwards: the state
    // stays final but the fill is still new.
    let p = book.plan_order(order(OrderStatus::Filled, "2", 30), None);
    apply(&mut book, &p);
    let second = book.plan_order(order(OrderStatus::PartiallyFilled, "1.5", 25), Some(fill(12, "0.5")));
    let Some(Write::Fill(f, o)) = second.write else { panic!("{second:?}") };
    assert_eq!((f.trade_id, o.status, o.last_trade_id), (12, OrderStatus::Filled, Some(12)));
}

#[test]
fn rest_fills_need_a_known_order_and_states_keep_what_rest_lacks() {
    let mut book = AccountBook::default();
    assert!(book.plan_fill(fill(3, "1")).is_none());
    let p = book.plan_order(order(OrderStatus::New, "0", 10), None);
    apply(&mut book, &p);
    let mut rest = order(OrderStatus::Filled, "2", 40);
    rest.created_ms = 0;
    rest.source = Source::Rest;
    let p = book.plan_order(rest, None);
    apply(&mut book, &p);
    let p = book.plan_fill(fill(3, "2")).unwrap();
    apply(&mut book, &p);
    let o = book.order(&Symbol::new("ETHUSDT"), 7).unwrap();
    assert_eq!((o.created_ms, o.last_trade_id, o.source), (1, Some(3), Source::Rest));
    assert_eq!(book.trade_mark(&Symbol::new("ETHUSDT")), Some(3));
    assert_eq!(book.working_orders().count(), 0);
}

#[test]
fn balances_follow_update_time_and_snapshots_remove_what_is_gone() {
    let b = |free: &str, time| Balance { free: q(free), locked: Qty::ZERO, time };
    let mut book = AccountBook::default();
    book.commit(&book.plan_snapshot(vec![(Asset::new("BTC"), b("1", 100)), (Asset::new("ETH"), b("5", 100))], 100));
    assert!(book.plan_balances(vec![(Asset::new("BTC"), b("0.5", 99))]).is_none(), "older event ignored");
    let w = book.plan_balances(vec![(Asset::new("BTC"), b("0.5", 100)), (Asset::new("ETH"), b("5", 100))]);
    assert_eq!(
        w,
        Some(Write::Balances(vec![(Asset::new("BTC"), b("0.5", 100))])),
        "same time applies, unchanged skipped"
    );
    book.commit(&w.unwrap());
    book.commit(&book.plan_balances(vec![(Asset::new("SOL"), b("3", 150))]).unwrap());
    // A snapshot at 120 without ETH and SOL: ETH is gone, SOL came from a newer event and stays.
    let Write::ReplaceBalances(map) = book.plan_snapshot(vec![(Asset::new("BTC"), b("0.4", 120))], 120) else {
        panic!("replace")
    };
    let assets: Vec<&str> = map.keys().map(Asset::as_str).collect();
    assert_eq!(assets, ["BTC", "SOL"]);
    assert_eq!(map[&Asset::new("BTC")].free, q("0.4"));
}
