//! Binance's account shapes (user-data events, REST replies) turned into the bus's
//! [`storm_bus::account`] shapes, so every reader sees one format whatever the source.

use rust_decimal::Decimal;
use storm_bus::account::{avg_price, Fill, OrderState, OrderStatus, Source};
use storm_core::{Asset, Price, Qty, Side, Symbol};
use storm_venues::binance::trade_wire::{MyTrade, OrderReply};
use storm_venues::binance::user_wire::ExecutionReport;

fn state(
    symbol: Symbol,
    order_id: u64,
    client_order_id: String,
    side: Side,
    amounts: (Decimal, Decimal, Decimal, Decimal),
    status: OrderStatus,
) -> OrderState {
    let (price, orig_qty, executed, quote) = amounts;
    let (executed_qty, cumulative_quote_qty) = (Qty(executed), Qty(quote));
    OrderState {
        symbol,
        order_id,
        client_order_id,
        side,
        order_type: String::new(),
        time_in_force: String::new(),
        price: Price(price),
        orig_qty: Qty(orig_qty),
        status,
        executed_qty,
        cumulative_quote_qty,
        avg_price: avg_price(executed_qty, cumulative_quote_qty),
        created_ms: 0,
        update_ms: 0,
        last_trade_id: None,
        source: Source::Ws,
    }
}

/// The order state an executionReport describes.
pub fn report_state(r: &ExecutionReport) -> OrderState {
    let amounts = (r.price, r.quantity, r.cumulative_qty, r.cumulative_quote_qty);
    let sym = Symbol::new(&r.symbol);
    let mut o = state(sym, r.order_id, r.order_client_id().to_owned(), r.side, amounts, r.status);
    o.order_type.clone_from(&r.order_type);
    o.time_in_force.clone_from(&r.time_in_force);
    o.created_ms = r.created_time;
    o.update_ms = r.transaction_time;
    o
}

/// The fill of an executionReport of type `TRADE`.
pub fn report_fill(r: &ExecutionReport) -> Option<Fill> {
    Some(Fill {
        symbol: Symbol::new(&r.symbol),
        order_id: r.order_id,
        client_order_id: r.order_client_id().to_owned(),
        trade_id: r.fill_trade_id()?,
        side: r.side,
        price: Price(r.last_price),
        qty: Qty(r.last_qty),
        quote_qty: Qty(r.last_quote_qty),
        commission: Qty(r.commission),
        commission_asset: Asset::new(r.commission_asset.as_deref().unwrap_or("")),
        maker: r.maker,
        time_ms: r.transaction_time,
        source: Source::Ws,
    })
}

/// The order state of a REST order reply (`openOrders`, `order`); `None` for an unknown side.
pub fn reply_state(o: &OrderReply) -> Option<OrderState> {
    let side = match o.side.as_str() {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        _ => return None,
    };
    let amounts = (o.price, o.orig_qty, o.executed_qty, o.cummulative_quote_qty);
    let mut s = state(Symbol::new(&o.symbol), o.order_id, o.client_order_id.clone(), side, amounts, o.status);
    s.order_type.clone_from(&o.kind);
    s.time_in_force.clone_from(&o.time_in_force);
    s.update_ms = o.update_time.or(o.transact_time).unwrap_or(0);
    s.source = Source::Rest;
    Some(s)
}

/// The fill of one `/myTrades` element (`client_order_id` from the order, when known).
pub fn trade_fill(t: &MyTrade, client_order_id: &str) -> Fill {
    Fill {
        symbol: Symbol::new(&t.symbol),
        order_id: t.order_id,
        client_order_id: client_order_id.to_owned(),
        trade_id: t.id,
        side: if t.is_buyer { Side::Buy } else { Side::Sell },
        price: Price(t.price),
        qty: Qty(t.qty),
        quote_qty: Qty(t.quote_qty),
        commission: Qty(t.commission),
        commission_asset: Asset::new(&t.commission_asset),
        maker: t.is_maker,
        time_ms: t.time,
        source: Source::Rest,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use storm_venues::binance::user_wire::{parse_event, UserEvent};

    use super::*;

    fn real_report() -> ExecutionReport {
        let path = storm_testkit::fixtures::testdata_file("orders/ws_spot_execution_report_binance_us.json");
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        match parse_event(v["data"].clone()).unwrap() {
            UserEvent::Execution(r) => *r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_real_fill_report_becomes_a_filled_state_and_a_fill() {
        let r = real_report();
        let o = report_state(&r);
        assert_eq!((o.status, o.order_id, o.side), (OrderStatus::Filled, 2_281_896_601, Side::Sell));
        assert_eq!(o.avg_price, Some("117290.77".parse().unwrap()));
        assert_eq!((o.created_ms, o.update_ms, o.source), (1_759_347_763_167, 1_759_347_763_167, Source::Ws));
        let f = report_fill(&r).expect("a TRADE report has a fill");
        assert_eq!(
            (f.trade_id, f.qty.to_string(), f.commission_asset.as_str()),
            (88_685_053, "0.00042000".into(), "USD")
        );
    }
}
