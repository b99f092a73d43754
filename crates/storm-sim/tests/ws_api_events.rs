//! The simulator's user-data events against a real Binance `executionReport`
//! (`testdata/orders/ws_spot_execution_report_binance_us.json`): same field names, same
//! JSON types, so a parser written for Binance reads the simulator's frames unchanged.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;
use storm_core::{Asset, Side, Symbol};
use storm_sim::orders::{Balance, Fill, Order};
use storm_sim::ws_api::events::{account_position, execution_report};
use storm_sim::{ExecutionReport, OrderStatus, OrderType, TimeInForce};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn order(status: OrderStatus, tif: TimeInForce) -> Order {
    Order {
        order_id: 2_281_896_601,
        client_order_id: "T0ESHzso0banw0QiPFZYgj".into(),
        symbol: Symbol::new("BTCUSD"),
        side: Side::Sell,
        kind: OrderType::Limit,
        time_in_force: tif,
        price: d("117290.77"),
        orig_qty: d("0.00042"),
        orig_quote_qty: Decimal::ZERO,
        executed_qty: d("0.00042"),
        cummulative_quote_qty: d("49.2621234"),
        status,
        time_ms: 1_759_347_763_167,
        update_time_ms: 1_759_347_763_167,
        fills: Vec::new(),
    }
}

fn fill() -> Fill {
    Fill {
        trade_id: 88_685_053,
        order_id: 2_281_896_601,
        symbol: Symbol::new("BTCUSD"),
        side: Side::Sell,
        price: d("117290.77"),
        qty: d("0.00042"),
        quote_qty: d("49.2621234"),
        commission: d("0.00492621"),
        commission_asset: Asset::new("USD"),
        is_maker: false,
        time_ms: 1_759_347_763_167,
    }
}

#[test]
fn execution_report_matches_a_real_binance_frame() {
    let path = storm_testkit::fixtures::testdata_file("orders/ws_spot_execution_report_binance_us.json");
    let real: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let real = real["data"].as_object().unwrap();

    let report = ExecutionReport {
        order: order(OrderStatus::Filled, TimeInForce::Gtc),
        exec_type: "TRADE",
        last: Some(fill()),
        time_ms: 1_759_347_763_167,
    };
    let ours = execution_report(&report);
    let ours = ours.as_object().unwrap();
    for (k, v) in real {
        let mine = ours.get(k).unwrap_or_else(|| panic!("field {k} missing"));
        assert_eq!(json_type(mine), json_type(v), "type of {k}: ours {mine}, Binance {v}");
    }
    for k in ours.keys() {
        assert!(real.contains_key(k), "field {k} is not in Binance's frame");
    }
    // The values a client reads agree exactly with the real frame (V, the STP mode, differs by
    // account setting; I is ignored by Binance's own docs).
    for k in ["e", "E", "s", "c", "S", "o", "f", "q", "p", "P", "F", "g", "C", "x", "X", "r", "i", "l", "z", "L", "n"] {
        assert_eq!(ours[k], real[k], "{k}");
    }
    for k in ["N", "T", "t", "w", "m", "M", "O", "Z", "Y", "Q", "W"] {
        assert_eq!(ours[k], real[k], "{k}");
    }
}

#[test]
fn new_cancel_and_expired_reports_carry_binance_defaults() {
    let mut o = order(OrderStatus::New, TimeInForce::Gtc);
    o.executed_qty = Decimal::ZERO;
    o.cummulative_quote_qty = Decimal::ZERO;
    let new = execution_report(&ExecutionReport { order: o.clone(), exec_type: "NEW", last: None, time_ms: 5 });
    assert_eq!((&new["N"], &new["n"], &new["t"], &new["w"]), (&Value::Null, &"0".into(), &(-1).into(), &true.into()));
    assert_eq!((&new["l"], &new["L"], &new["C"]), (&"0.00000000".into(), &"0.00000000".into(), &"".into()));
    assert!(new.get("eR").is_none());

    o.status = OrderStatus::Canceled;
    let c = execution_report(&ExecutionReport { order: o.clone(), exec_type: "CANCELED", last: None, time_ms: 6 });
    assert_eq!(c["C"], "T0ESHzso0banw0QiPFZYgj", "original client id on cancel");
    assert_ne!(c["c"], c["C"], "c is the cancel request's own id, as on Binance");
    assert_eq!(c["w"], false);

    let mut fok = order(OrderStatus::Expired, TimeInForce::Fok);
    fok.executed_qty = Decimal::ZERO;
    let e = execution_report(&ExecutionReport { order: fok, exec_type: "EXPIRED", last: None, time_ms: 7 });
    assert_eq!((e["x"].as_str(), e["eR"].as_str()), (Some("EXPIRED"), Some("UNFILLED_FOK_ORDER_EXPIRED")));
}

#[test]
fn account_position_has_binance_shape() {
    let p = account_position(9, &[(Asset::new("ETH"), Balance { free: d("10000"), locked: Decimal::ZERO })]);
    assert_eq!(
        p,
        serde_json::json!({"e": "outboundAccountPosition", "E": 9, "u": 9,
            "B": [{"a": "ETH", "f": "10000.00000000", "l": "0.00000000"}]})
    );
}
