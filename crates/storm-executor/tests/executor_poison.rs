//! Poison opportunities against the real `storm-executor` binary, storm-sim and a throwaway Redis:
//! every field of an entry on `storm:opps` in turn — each leg's price and quantity, the legs
//! themselves, `size`, `profit`, `profit_bps`, `expires_ms`, `created_ms`, `venue`, `asset` in the
//! msgpack record, and every plain field — set to 28 digits, negative, zero, a value too fine for
//! any filter, or garbage. Each entry must end as one logged outcome (`rejected` unless the value
//! is a usable one), acknowledged, with the process alive; a good opportunity still trades after.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{json, Value};
use storm_bus::opps;
use storm_testkit::process::EngineProcess;
use tokio::time::Instant;

use common::Rig;

const BIN: &str = env!("CARGO_BIN_EXE_storm-executor");
/// `Decimal::MAX`: parses, but overflows any product with a number above one.
const BIG: &str = "79228162514264337593543950335";
/// The smallest positive `Decimal`: a quotient by it overflows.
const TINY: &str = "0.0000000000000000000000000001";

/// One poisoned entry: what was changed, and the outcome it must end with.
struct Case {
    what: String,
    fields: Vec<(String, Vec<u8>)>,
    id: String,
    expect: &'static str,
}

fn decimal_values() -> Vec<(&'static str, Value)> {
    vec![
        ("28 digits", json!(BIG)),
        ("negative 28 digits", json!(format!("-{BIG}"))),
        ("negative", json!("-1")),
        ("zero", json!("0")),
        ("tiny", json!(TINY)),
        ("garbage", json!("garbage")),
    ]
}

fn integer_values() -> Vec<(&'static str, Value)> {
    vec![
        ("28 digits", json!(7.922_816_251_426_434e28)),
        ("u64::MAX", json!(u64::MAX)),
        ("negative", json!(-1)),
        ("zero", json!(0)),
        ("garbage", json!("garbage")),
    ]
}

/// Values of a poisoned field that are legitimately usable, and what they lead to.
fn usable(field: &str, value: &str) -> Option<&'static str> {
    match (field, value) {
        ("expires_ms", "zero") => Some("expired"),
        // A predicted profit of nothing (or next to nothing) is not a reason to refuse.
        ("profit" | "profit_bps", "zero" | "tiny") => Some("executed"),
        _ => None,
    }
}

/// The fields of `opp` as the finder writes them, with the msgpack record replaced by `m`. When
/// `m` is still an `Opportunity`, the plain fields are written from it (so that only the record's
/// values are on trial, not their agreement with the plain fields, which has its own cases).
fn entry_fields(rig: &Rig, opp: &storm_core::arb::Opportunity, m: Option<&Value>) -> Vec<(String, Vec<u8>)> {
    let readable = m.and_then(|m| serde_json::from_value::<storm_core::arb::Opportunity>(m.clone()).ok());
    let e = opps::entry(rig.bus.keys(), 10_000, readable.as_ref().unwrap_or(opp)).unwrap();
    e.fields
        .into_iter()
        .map(|(n, v)| match (n, m) {
            ("m", Some(m)) => (n.to_owned(), rmp_serde::to_vec_named(m).unwrap()),
            _ => (n.to_owned(), v),
        })
        .collect()
}

fn cases(rig: &Rig) -> Vec<Case> {
    let mut out = Vec::new();
    let mut n = 0;
    let mut next = |rig: &Rig| {
        n += 1;
        let mut opp = rig.triangle(&format!("p{n:015}"), Decimal::from(150), Decimal::new(5, 3), 120_000);
        // Each priced on a newer version of the books than the one before: a traded case does
        // not make the next one `superseded`.
        opp.book_ids = vec![n * 10; 3];
        opp
    };
    let mut push = |what: String, fields, id: String, expect| out.push(Case { what, fields, id, expect });
    // The msgpack record, field by field.
    let mut record_fields: Vec<(String, Vec<(&'static str, Value)>)> = Vec::new();
    for leg in 0..3 {
        for f in ["price", "qty"] {
            record_fields.push((format!("legs/{leg}/{f}"), decimal_values()));
        }
    }
    for f in ["size", "profit", "profit_bps"] {
        record_fields.push((f.to_owned(), decimal_values()));
    }
    for f in ["expires_ms", "created_ms"] {
        record_fields.push((f.to_owned(), integer_values()));
    }
    let strings = || {
        vec![("28 digits", json!(BIG)), ("negative", json!("-1")), ("empty", json!("")), ("garbage", json!("garbage"))]
    };
    for f in ["venue", "asset", "legs/0/venue", "legs/1/symbol"] {
        record_fields.push((f.to_owned(), strings()));
    }
    let mut legs = decimal_values();
    legs.push(("empty", json!([])));
    legs.push(("negative number", json!(-1)));
    record_fields.push(("legs".to_owned(), legs));
    for (field, values) in record_fields {
        for (label, value) in values {
            let opp = next(rig);
            let mut m = serde_json::to_value(&opp).unwrap();
            *m.pointer_mut(&format!("/{field}")).unwrap() = value;
            let short = field.rsplit('/').next().unwrap_or(&field);
            let expect = usable(short, label).unwrap_or("rejected");
            push(format!("m.{field} = {label}"), entry_fields(rig, &opp, Some(&m)), opp.id.clone(), expect);
        }
    }
    // A lifetime that looks short but lies in the far future.
    let opp = next(rig);
    let mut m = serde_json::to_value(&opp).unwrap();
    m["created_ms"] = json!(u64::MAX - 1_000);
    m["expires_ms"] = json!(u64::MAX);
    push(
        "m.created_ms and m.expires_ms near u64::MAX".into(),
        entry_fields(rig, &opp, Some(&m)),
        opp.id.clone(),
        "rejected",
    );
    // The plain fields, with an intact record.
    for field in ["id", "kind", "venue", "path", "profit_bps", "size", "asset", "expires_ms"] {
        let values: [(&str, Vec<u8>); 5] = [
            ("28 digits", BIG.into()),
            ("negative", b"-1".to_vec()),
            ("zero", b"0".to_vec()),
            ("garbage", b"garbage".to_vec()),
            ("not utf-8", vec![0xff, 0xfe, 0x00]),
        ];
        for (label, value) in values {
            let opp = next(rig);
            let mut fields = entry_fields(rig, &opp, None);
            fields.iter_mut().find(|(n, _)| n == field).unwrap().1 = value;
            push(format!("plain {field} = {label}"), fields, opp.id.clone(), "rejected");
        }
    }
    // The record and its version themselves.
    for (label, name, value) in [("garbage m", "m", b"\xc1garbage".to_vec()), ("garbage v", "v", b"99x".to_vec())] {
        let opp = next(rig);
        let mut fields = entry_fields(rig, &opp, None);
        fields.iter_mut().find(|(n, _)| n == name).unwrap().1 = value;
        push(label.to_owned(), fields, opp.id.clone(), "rejected");
    }
    out
}

async fn xadd(rig: &Rig, fields: &[(String, Vec<u8>)]) {
    let mut cmd = redis::cmd("XADD");
    cmd.arg("storm:opps").arg("*");
    for (n, v) in fields {
        cmd.arg(n).arg(v.as_slice());
    }
    let _: String = cmd.query_async(&mut rig.bus.conn()).await.unwrap();
}

async fn pending(rig: &Rig) -> i64 {
    let reply: redis::Value =
        redis::cmd("XPENDING").arg("storm:opps").arg("executor").query_async(&mut rig.bus.conn()).await.unwrap();
    match reply {
        redis::Value::Array(v) => match v.first() {
            Some(redis::Value::Int(n)) => *n,
            other => panic!("XPENDING: {other:?}"),
        },
        other => panic!("XPENDING: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_entries_are_logged_rejected_acknowledged_and_the_process_lives_on() {
    let rig = Rig::start(6000, &[("USDT", 100_000)]).await;
    let mut exec = EngineProcess::start(BIN, &rig.config(""), &[]).unwrap();
    let cases = cases(&rig);
    for c in &cases {
        xadd(&rig, &c.fields).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let logged = rig.outcomes_all().await;
        let ids: std::collections::HashSet<&str> =
            logged.iter().filter_map(|o| o.get("id").map(String::as_str)).collect();
        if cases.iter().all(|c| ids.contains(c.id.as_str())) {
            break;
        }
        let missing: Vec<&str> =
            cases.iter().filter(|c| !ids.contains(c.id.as_str())).map(|c| c.what.as_str()).collect();
        assert!(exec.is_running(), "the executor died; no outcome yet for {missing:?}");
        assert!(Instant::now() < deadline, "no outcome for {} entries: {missing:?}", missing.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut wrong = Vec::new();
    for c in &cases {
        let outs: Vec<HashMap<String, String>> = rig.outcomes(&c.id).await;
        let got: Vec<&str> = outs.iter().map(|o| o["outcome"].as_str()).collect();
        if got != [c.expect] {
            wrong.push(format!(
                "{}: expected [{}], got {got:?} ({:?})",
                c.what,
                c.expect,
                outs.first().map(|o| &o["reason"])
            ));
        }
    }
    assert!(wrong.is_empty(), "{} of {} entries ended wrongly:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
    assert!(exec.is_running(), "the executor is alive");
    // Every entry acknowledged.
    let deadline = Instant::now() + Duration::from_secs(20);
    while pending(&rig).await != 0 {
        assert!(Instant::now() < deadline, "entries left pending: {}", pending(&rig).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // No order reached the venue for a refused entry.
    for c in cases.iter().filter(|c| c.expect != "executed") {
        assert!(rig.orders(&format!("st{}-", c.id)).is_empty(), "{}: an order was sent", c.what);
    }
    // And a good opportunity still trades.
    let good = rig.triangle("g000000000000001", Decimal::from(150), Decimal::new(5, 3), 60_000);
    rig.publish(&good).await;
    let out = rig.wait_outcome(&good.id, Duration::from_secs(30)).await;
    assert_eq!(out["outcome"], "executed", "{out:?}");
    assert!(exec.is_running());
}
