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

#[test]
fn only_old_closed_orders_that_hold_no_trade_mark_are_prunable() {
    let with = |id: u64, status: OrderStatus, update_ms: u64, trade: Option<u64>| OrderState {
        order_id: id,
        last_trade_id: trade,
        ..order(status, "0", update_ms)
    };
    let mut book = AccountBook::new(vec![
        with(1, OrderStatus::Canceled, 100, None),    // old, closed, no trade: goes
        with(2, OrderStatus::Filled, 100, Some(50)),  // old, filled before the mark: goes
        with(3, OrderStatus::Filled, 100, Some(90)),  // old but holds the newest trade: stays
        with(4, OrderStatus::Expired, 100, Some(90)), // same trade id (a self-trade): stays
        with(5, OrderStatus::New, 100, None),         // open, however old: stays
        with(6, OrderStatus::PartiallyFilled, 100, Some(80)), // open: stays
        with(7, OrderStatus::Rejected, 5_000, None),  // closed but recent: stays
    ]);
    let symbol = Symbol::new("ETHUSDT");
    assert_eq!(book.prunable(1_000), vec![(symbol.clone(), vec![1, 2])]);
    book.forget(&symbol, &[1, 2]);
    assert_eq!(book.order_count(), 5);
    assert_eq!(book.trade_mark(&symbol), Some(90), "the mark survives the prune");
    assert!(book.prunable(1_000).is_empty(), "nothing more to prune");
    assert_eq!(book.prunable(10_000), vec![(symbol.clone(), vec![7])]);
    book.forget(&symbol, &[3, 4, 5, 6, 7]);
    assert_eq!(book.symbols().count(), 0, "an emptied symbol leaves the book");
}
