//! Parsing of user-data frames, with the real Binance executionReport from `testdata/`.

use std::str::FromStr;

use super::*;
use crate::binance::sign::{sign, verify};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

fn real_report() -> Value {
    let path = storm_testkit::fixtures::testdata_file("orders/ws_spot_execution_report_binance_us.json");
    let text = std::fs::read_to_string(&path).expect("fixture");
    let mut v: Value = serde_json::from_str(&text).expect("json");
    v["data"].take()
}

#[test]
fn the_real_binance_execution_report_parses_exactly() {
    let frame = json!({ "subscriptionId": 0, "event": real_report() }).to_string();
    let UserFrame::Event { subscription_id: 0, event: UserEvent::Execution(r) } =
        parse_user_frame(&frame).expect("parses")
    else {
        panic!("not an execution event");
    };
    assert_eq!((r.symbol.as_str(), r.side, r.order_id), ("BTCUSD", Side::Sell, 2_281_896_601));
    assert_eq!((r.execution_type, r.status), (ExecutionType::Trade, OrderStatus::Filled));
    assert_eq!((r.quantity, r.price), (d("0.00042"), d("117290.77")));
    assert_eq!((r.last_qty, r.cumulative_qty, r.last_price), (d("0.00042"), d("0.00042"), d("117290.77")));
    assert_eq!((r.cumulative_quote_qty, r.last_quote_qty), (d("49.2621234"), d("49.2621234")));
    assert_eq!((r.commission, r.commission_asset.as_deref()), (d("0.00492621"), Some("USD")));
    assert_eq!(
        (r.fill_trade_id(), r.transaction_time, r.created_time),
        (Some(88_685_053), 1_759_347_763_167, 1_759_347_763_167)
    );
    assert_eq!(r.order_client_id(), "T0ESHzso0banw0QiPFZYgj");
    assert!(!r.maker && !r.on_book);
    assert_eq!(r.cumulative_quote_qty / r.cumulative_qty, d("117290.77"), "average price = Z / z");
}

#[test]
fn a_new_report_without_fill_and_a_cancel_with_its_original_id() {
    let mut v = real_report();
    v["x"] = "NEW".into();
    v["X"] = "NEW".into();
    v["t"] = (-1).into();
    v["N"] = Value::Null;
    let UserEvent::Execution(r) = parse_event(v.clone()).expect("parses") else { panic!("kind") };
    assert_eq!((r.fill_trade_id(), r.commission_asset), (None, None));
    v["x"] = "CANCELED".into();
    v["X"] = "CANCELED".into();
    v["c"] = "cancel-req-1".into();
    v["C"] = "my-order-1".into();
    let UserEvent::Execution(r) = parse_event(v).expect("parses") else { panic!("kind") };
    assert_eq!(r.order_client_id(), "my-order-1");
}

#[test]
fn account_position_balance_update_and_termination_parse() {
    let pos = r#"{"subscriptionId":3,"event":{"e":"outboundAccountPosition","E":1564034571105,"u":1564034571073,"B":[{"a":"ETH","f":"10000.000000","l":"0.000000"}]}}"#;
    let UserFrame::Event { subscription_id: 3, event: UserEvent::Position(p) } = parse_user_frame(pos).expect("pos")
    else {
        panic!("position")
    };
    assert_eq!(
        (p.update_time, p.balances[0].asset.as_str(), p.balances[0].free),
        (1_564_034_571_073, "ETH", d("10000"))
    );
    let upd = r#"{"subscriptionId":0,"event":{"e":"balanceUpdate","E":1573200697110,"a":"BTC","d":"-100.00000000","T":1573200697068}}"#;
    assert!(
        matches!(parse_user_frame(upd), Ok(UserFrame::Event { event: UserEvent::BalanceDelta(b), .. }) if b.delta == d("-100"))
    );
    let end = r#"{"subscriptionId":0,"event":{"e":"eventStreamTerminated","E":1728973001334}}"#;
    assert!(matches!(parse_user_frame(end), Ok(UserFrame::Event { event: UserEvent::Terminated(_), .. })));
}

#[test]
fn responses_and_errors_are_told_apart_from_events() {
    let ok = r#"{"id":"s-1","status":200,"result":{"subscriptionId":0},"rateLimits":[]}"#;
    let UserFrame::Response(r) = parse_user_frame(ok).expect("ok") else { panic!("response") };
    assert_eq!((&r.id, r.subscription_id()), (&json!("s-1"), Some(0)));
    let err = r#"{"id":"s-2","status":400,"error":{"code":-1022,"msg":"Signature for this request is not valid."}}"#;
    let UserFrame::Response(r) = parse_user_frame(err).expect("err") else { panic!("response") };
    assert_eq!((r.status, r.error.as_ref().map(|e| e.code), r.subscription_id()), (400, Some(-1022), None));
}

#[test]
fn garbage_and_unknown_events_are_errors_or_unknown_never_panics() {
    assert!(matches!(parse_user_frame("{not json"), Err(UserWireError::NotJson(_))));
    assert!(matches!(parse_user_frame("[1,2]"), Err(UserWireError::NotJson(_))));
    assert_eq!(parse_user_frame(r#"{"hello":1}"#), Err(UserWireError::Unrecognized));
    assert_eq!(parse_user_frame(r#"{"event":{"e":"x"}}"#), Err(UserWireError::Unrecognized));
    let unknown = r#"{"subscriptionId":0,"event":{"e":"listStatus","E":1}}"#;
    assert!(
        matches!(parse_user_frame(unknown), Ok(UserFrame::Event { event: UserEvent::Unknown(k), .. }) if k == "listStatus")
    );
    let mut bad = real_report();
    bad["z"] = "not-a-number".into();
    let frame = json!({ "subscriptionId": 0, "event": bad }).to_string();
    assert!(
        matches!(parse_user_frame(&frame), Err(UserWireError::BadEvent { event, .. }) if event == "executionReport")
    );
    let mut float = real_report();
    float["X"] = "MAYBE".into();
    assert!(parse_event(float).is_err());
    assert!(parse_event(json!({"E": 1})).is_err());
}

#[test]
fn subscribe_request_is_signed_over_sorted_params_with_the_api_key() {
    let creds = Credentials::new(
        "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
        "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
    );
    let text = subscribe_request("s-9", &creds, 1_645_423_376_532);
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!((v["id"].as_str(), v["method"].as_str()), (Some("s-9"), Some(SUBSCRIBE_METHOD)));
    let payload = format!("apiKey={}&timestamp=1645423376532", creds.api_key());
    let sig = v["params"]["signature"].as_str().expect("signature");
    assert!(verify("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j", &payload, sig));
    assert_eq!(sig, sign("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j", &payload));
    assert_eq!(v["params"]["timestamp"], json!(1_645_423_376_532_i64));
    assert!(!text.contains("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"), "secret never sent");
}
