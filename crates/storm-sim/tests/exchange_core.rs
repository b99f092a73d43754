//! The simulated exchange's pure core: books, diff continuity, matching, balances, determinism.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use storm_core::{Asset, BookSide, OrderBook, Side, Symbol};
use storm_sim::{Exchange, ModelConfig, OrderRef, OrderRequest, OrderStatus, OrderType, SimEvent, TimeInForce};

const KEY: &str = "test-key";

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn exchange() -> Exchange {
    let mut ex = Exchange::new(&ModelConfig::default(), 42, 1_000);
    ex.add_account(KEY, "secret", &[(Asset::new("USDT"), d("100000")), (Asset::new("BTC"), d("2"))]);
    ex
}

fn btc() -> Symbol {
    Symbol::new("BTCUSDT")
}

#[test]
fn books_are_deep_and_uncrossed() {
    let ex = exchange();
    let mut n = 0;
    for inst in ex.instruments() {
        let (_, bids, asks) = ex.depth(&inst.symbol, 5000).unwrap();
        assert!(bids.len() >= 100 && asks.len() >= 100, "{}: {} / {}", inst.symbol, bids.len(), asks.len());
        assert!(bids[0].price < asks[0].price, "{} crossed", inst.symbol);
        n += 1;
    }
    assert_eq!(n, 29);
}

/// Every diff continues its symbol's sequence (U = previous u + 1), and a book built from a
/// snapshot plus the diffs equals the exchange's own book afterwards.
#[test]
fn diffs_are_contiguous_and_rebuild_the_book_exactly() {
    let mut ex = exchange();
    let mut books: HashMap<Symbol, OrderBook> = HashMap::new();
    for inst in ex.instruments() {
        let (id, bids, asks) = ex.depth(&inst.symbol, 5000).unwrap();
        let mut b = OrderBook::default();
        b.replace(&bids, &asks, id).unwrap();
        books.insert(inst.symbol.clone(), b);
    }
    let mut diffs = 0;
    for t in 0..300 {
        for ev in ex.step(2_000 + t, 20) {
            if let SimEvent::Depth(diff) = ev {
                let b = books.get_mut(&diff.symbol).unwrap();
                assert_eq!(diff.first_update_id, b.update_id() + 1, "{} not contiguous", diff.symbol);
                b.apply_diff(&diff).unwrap();
                diffs += 1;
            }
        }
    }
    assert!(diffs >= 5_000, "only {diffs} diffs");
    for (sym, book) in &books {
        let (id, bids, asks) = ex.depth(sym, 5000).unwrap();
        assert_eq!(book.update_id(), id);
        assert_eq!(book.top(BookSide::Bid, 5000), bids, "{sym} bids");
        assert_eq!(book.top(BookSide::Ask, 5000), asks, "{sym} asks");
        assert!(!book.is_crossed());
    }
}

/// Each symbol numbers its public trades 1, 2, 3, ... without holes, as Binance does: a reader
/// of `@trade` (storm-candles) notices a missed trade by the jump. Failed before (one counter for
/// the whole exchange: BTCUSDT's ids skipped every other symbol's trades).
#[test]
fn each_symbol_numbers_its_trades_without_holes() {
    let mut ex = exchange();
    let mut last: HashMap<Symbol, u64> = HashMap::new();
    let mut trades = 0;
    for t in 0..2_000 {
        for ev in ex.step(2_000 + t, 20) {
            if let SimEvent::Trade(tr) = ev {
                let prev = last.insert(tr.symbol.clone(), tr.trade_id).unwrap_or(0);
                assert_eq!(tr.trade_id, prev + 1, "{} trade ids", tr.symbol);
                trades += 1;
            }
        }
    }
    assert!(trades > 100 && last.len() > 1, "{trades} trades on {} symbols", last.len());
}

/// Average levels per diff over 300 steps, after checking that the diffs rebuild every book.
fn levels_per_diff(levels_per_event: usize) -> f64 {
    let mut ex = Exchange::new(&ModelConfig { levels_per_event, ..ModelConfig::default() }, 42, 1_000);
    let mut books: HashMap<Symbol, OrderBook> = HashMap::new();
    for inst in ex.instruments() {
        let (id, bids, asks) = ex.depth(&inst.symbol, 5000).unwrap();
        let mut b = OrderBook::default();
        b.replace(&bids, &asks, id).unwrap();
        books.insert(inst.symbol.clone(), b);
    }
    let (mut diffs, mut levels) = (0usize, 0usize);
    for t in 0..300 {
        for ev in ex.step(2_000 + t, 20) {
            if let SimEvent::Depth(diff) = ev {
                books.get_mut(&diff.symbol).unwrap().apply_diff(&diff).unwrap();
                diffs += 1;
                levels += diff.bids.len() + diff.asks.len();
            }
        }
    }
    for (sym, book) in &books {
        let (_, bids, asks) = ex.depth(sym, 5000).unwrap();
        assert_eq!((book.top(BookSide::Bid, 5000), book.top(BookSide::Ask, 5000)), (bids, asks), "{sym}");
    }
    levels as f64 / diffs as f64
}

/// `levels_per_event` sets the diff size: small by default, about the real feed's 46 levels at 90.
#[test]
fn levels_per_event_sets_the_diff_size() {
    let small = levels_per_diff(4);
    let real = levels_per_diff(90);
    assert!((2.0..10.0).contains(&small), "default diffs average {small} levels");
    assert!((35.0..60.0).contains(&real), "levels_per_event 90 diffs average {real} levels");
}

#[test]
fn same_seed_same_market() {
    let mut a = exchange();
    let mut b = exchange();
    for t in 0..50 {
        assert_eq!(a.step(t, 10), b.step(t, 10));
    }
}

#[test]
fn ioc_partially_fills_moves_the_book_and_updates_balances() {
    let mut ex = exchange();
    let (_, _, asks) = ex.depth(&btc(), 5).unwrap();
    let best = asks[0];
    // Ask for more than the best level holds, at the best price: a partial fill.
    let inst = ex.instrument(&btc()).unwrap().clone();
    let qty = inst.floor_qty(storm_core::Qty(best.qty.0 * d("1.5"))).0;
    let req = OrderRequest {
        symbol: btc(),
        side: Side::Buy,
        kind: OrderType::Limit,
        time_in_force: Some(TimeInForce::Ioc),
        quantity: Some(qty),
        quote_order_qty: None,
        price: Some(best.price.0),
        client_order_id: Some("leg-1".into()),
    };
    let (order, events) = ex.place(KEY, req, 5_000).unwrap();
    assert_eq!(order.status, OrderStatus::Expired);
    assert_eq!(order.executed_qty, best.qty.0);
    let cost = (best.price.0 * best.qty.0).round_dp(8);
    assert_eq!(order.cummulative_quote_qty, cost);

    // Balances: quote paid, base received net of the 0.1 % fee charged in base.
    let acct = ex.account(KEY).unwrap();
    let fee = (best.qty.0 * d("0.001")).round_dp(8);
    assert_eq!(acct.free(&Asset::new("USDT")), d("100000") - cost);
    assert_eq!(acct.free(&Asset::new("BTC")), d("2") + best.qty.0 - fee);
    assert_eq!(order.fills[0].commission, fee);
    assert_eq!(order.fills[0].commission_asset, Asset::new("BTC"));

    // The book moved: the best ask level is gone.
    let (_, _, asks_after) = ex.depth(&btc(), 5).unwrap();
    assert!(asks_after[0].price > best.price);

    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            SimEvent::Execution { report, .. } => report.exec_type,
            SimEvent::Position { .. } => "POSITION",
            SimEvent::Depth(_) => "DEPTH",
            SimEvent::Ticker(_) => "TICKER",
            SimEvent::Trade(_) => "PUBLIC_TRADE",
        })
        .collect();
    for k in ["NEW", "TRADE", "EXPIRED", "POSITION", "DEPTH", "TICKER", "PUBLIC_TRADE"] {
        assert!(kinds.contains(&k), "missing {k} in {kinds:?}");
    }
    // The client id is free again once the IOC closed: Binance allows the resend (that is why
    // the executor must query before resending).
    assert_eq!(ex.query(KEY, &btc(), &OrderRef::ClientId("leg-1".into())).unwrap().order_id, order.order_id);
}

fn limit(side: Side, price: Decimal, qty: Decimal, tif: TimeInForce) -> OrderRequest {
    OrderRequest {
        symbol: btc(),
        side,
        kind: OrderType::Limit,
        time_in_force: Some(tif),
        quantity: Some(qty),
        quote_order_qty: None,
        price: Some(price),
        client_order_id: None,
    }
}

#[test]
fn rejections_use_binance_codes() {
    let mut ex = exchange();
    let (_, bids, _) = ex.depth(&btc(), 1).unwrap();
    let p = bids[0].price.0;
    let err = ex.place(KEY, limit(Side::Buy, p, d("100"), TimeInForce::Gtc), 1).unwrap_err();
    assert_eq!((err.code, err.msg.as_str()), (-2010, "Account has insufficient balance for requested action."));
    let err = ex.place(KEY, limit(Side::Buy, p, d("0.0000001"), TimeInForce::Gtc), 1).unwrap_err();
    assert_eq!((err.code, err.msg.as_str()), (-1013, "Filter failure: LOT_SIZE"));
    let err = ex.place(KEY, limit(Side::Buy, p + d("0.01"), d("0.01"), TimeInForce::Gtc), 1).unwrap_err();
    assert_eq!((err.code, err.msg.as_str()), (-1013, "Filter failure: PRICE_FILTER"));
    let err = ex.place("nobody", limit(Side::Buy, p, d("0.01"), TimeInForce::Gtc), 1).unwrap_err();
    assert_eq!(err.code, -2015);
    let mut dup = limit(Side::Buy, p - d("100"), d("0.01"), TimeInForce::Gtc);
    dup.client_order_id = Some("same".into());
    ex.place(KEY, dup.clone(), 1).unwrap();
    assert_eq!(ex.place(KEY, dup, 1).unwrap_err().msg, "Duplicate order sent.");
}

#[test]
fn resting_order_locks_funds_cancel_releases_them() {
    let mut ex = exchange();
    let (_, bids, _) = ex.depth(&btc(), 1).unwrap();
    let price = bids[0].price.0 - d("50");
    let (order, _) = ex.place(KEY, limit(Side::Buy, price, d("0.5"), TimeInForce::Gtc), 1).unwrap();
    assert_eq!(order.status, OrderStatus::New);
    let locked = (price * d("0.5")).round_dp(8);
    let bal = |ex: &Exchange| ex.account(KEY).unwrap().balances[&Asset::new("USDT")];
    assert_eq!(bal(&ex).locked, locked);
    assert_eq!(ex.open_orders(KEY, Some(&btc())).unwrap().len(), 1);
    let (_, bids_now, _) = ex.depth(&btc(), 5000).unwrap();
    assert!(bids_now.iter().any(|l| l.price.0 == price && l.qty.0 >= d("0.5")), "resting qty visible in the book");

    let (c, _) = ex.cancel(KEY, &btc(), &OrderRef::Id(order.order_id), 2).unwrap();
    assert_eq!(c.status, OrderStatus::Canceled);
    assert_eq!(bal(&ex).locked, Decimal::ZERO);
    assert_eq!(bal(&ex).free, d("100000"));
    assert_eq!(ex.cancel(KEY, &btc(), &OrderRef::Id(order.order_id), 3).unwrap_err().code, -2011);
}

#[test]
fn fok_that_cannot_fill_whole_expires_untouched() {
    let mut ex = exchange();
    let (_, _, asks) = ex.depth(&btc(), 1).unwrap();
    let inst = ex.instrument(&btc()).unwrap().clone();
    let qty = inst.floor_qty(storm_core::Qty(asks[0].qty.0 * d("3"))).0;
    let (order, _) = ex.place(KEY, limit(Side::Buy, asks[0].price.0, qty, TimeInForce::Fok), 1).unwrap();
    assert_eq!(order.status, OrderStatus::Expired);
    assert_eq!(order.executed_qty, Decimal::ZERO);
    assert_eq!(ex.account(KEY).unwrap().free(&Asset::new("USDT")), d("100000"));
}

#[test]
fn mispricing_moves_one_book_away_from_fair() {
    let mut ex = exchange();
    let sym = Symbol::new("ETHBTC");
    let mid = |ex: &Exchange| {
        let (b, a) = ex.book_ticker(&sym).unwrap();
        (b.price.0 + a.price.0) / d("2")
    };
    let before = mid(&ex);
    assert!(ex.misprice(&sym, d("0.01"), 1_000_000));
    for t in 0..400 {
        ex.step(10_000 + t, 5);
    }
    let moved = (mid(&ex) - before) / before;
    assert!(moved > d("0.004"), "ETHBTC moved only {moved}");
}

/// A resting order at the top of the book is filled as maker by the market's own flow; its
/// locked funds pay for it and the fee is charged in the received asset.
#[test]
fn resting_order_is_filled_as_maker_by_market_flow() {
    let mut ex = exchange();
    let (_, _, asks) = ex.depth(&btc(), 1).unwrap();
    let (order, _) = ex.place(KEY, limit(Side::Sell, asks[0].price.0, d("0.01"), TimeInForce::Gtc), 1).unwrap();
    assert_eq!(order.status, OrderStatus::New);
    let mut filled = None;
    for t in 0..20_000 {
        ex.step(10 + t, 5);
        let o = ex.query(KEY, &btc(), &OrderRef::Id(order.order_id)).unwrap();
        if o.status == OrderStatus::Filled {
            filled = Some(o);
            break;
        }
    }
    let o = filled.expect("market flow fills the resting order");
    assert!(o.fills.iter().all(|f| f.is_maker));
    let acct = ex.account(KEY).unwrap();
    let btc_bal = acct.balances[&Asset::new("BTC")];
    assert_eq!(btc_bal.locked, Decimal::ZERO);
    assert_eq!(btc_bal.free, d("1.99"));
    let quote: Decimal = o.fills.iter().map(|f| f.quote_qty - f.commission).sum();
    assert_eq!(acct.free(&Asset::new("USDT")), d("100000") + quote);
    // The book never crossed while the order rested and was taken.
    let (b, a) = ex.book_ticker(&btc()).unwrap();
    assert!(b.price < a.price);
}

/// The load-test universe (real pairs plus synthetic coins with tiny prices in BTC and ETH) keeps
/// every symbol's diffs contiguous too.
#[test]
fn diffs_stay_contiguous_on_the_500_symbol_universe() {
    let cfg = storm_sim::config::SimConfig { extra_assets: 157, ..Default::default() };
    let mut ex = Exchange::new(&storm_sim::app::model(&cfg), 42, 0);
    let mut last: HashMap<Symbol, u64> = HashMap::new();
    for inst in ex.instruments() {
        last.insert(inst.symbol.clone(), ex.depth(&inst.symbol, 1).unwrap().0);
    }
    assert!(last.len() >= 500);
    let mut diffs = 0;
    for t in 0..500 {
        for ev in ex.step(t, 100) {
            if let SimEvent::Depth(d) = ev {
                let prev = last.insert(d.symbol.clone(), d.last_update_id).unwrap();
                assert_eq!(d.first_update_id, prev + 1, "{} jumped from {prev} to {}", d.symbol, d.first_update_id);
                diffs += 1;
            }
        }
    }
    assert!(diffs > 40_000);
}

/// Gross return of USDT → BTC → ETH → USDT at the touch, after a 0.1 % fee per leg.
fn triangle_return(ex: &Exchange) -> Decimal {
    let ask = |s: &str| ex.book_ticker(&Symbol::new(s)).unwrap().1.price.0;
    let bid = |s: &str| ex.book_ticker(&Symbol::new(s)).unwrap().0.price.0;
    let fee = d("0.999");
    bid("ETHUSDT") / (ask("BTCUSDT") * ask("ETHBTC")) * fee * fee * fee
}

/// The default injected mispricing (0.8 %) opens a triangle that pays after three 0.1 % fees;
/// without it, the consistent cross rates leave nothing to take.
#[test]
fn default_mispricing_opens_a_triangle_profitable_after_fees() {
    let mut ex = exchange();
    for t in 0..200 {
        ex.step(t, 10);
    }
    let fair = triangle_return(&ex);
    assert!(fair < Decimal::ONE, "no free lunch on consistent cross rates: {fair}");
    let size = storm_sim::config::MispricingConfig::default().size;
    assert!(ex.misprice(&Symbol::new("ETHBTC"), -size, 1_000_000));
    for t in 200..600 {
        ex.step(t, 10);
    }
    let opened = triangle_return(&ex);
    assert!(opened > Decimal::ONE, "mispricing left the triangle at {opened}");
}
