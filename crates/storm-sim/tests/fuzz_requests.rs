//! Fuzzing of what storm-sim reads from the network: REST parameters (`auth::Params::parse`,
//! `auth::verify`, `rest::order_request`, `rest::order_ref`, and the order they place on the
//! exchange), WS-API request frames (`ws_api::Request::parse`), market-data control messages
//! (`ws_market::control::parse`) and stream names (`Universe::parse`), and the fault-injection
//! JSON (`faults::FaultRequest`).
//!
//! Inputs: arbitrary text; real requests (Binance's documented signed order, ccxt-style
//! subscriptions, the sim's own fault requests) edited by `storm_testkit::fuzz::mutate`;
//! requests built from generated parameters and signed with the right key. Bounded by
//! `STORM_FUZZ_CASES`; a long run:
//! `STORM_FUZZ_CASES=1000000 cargo test --release -p storm-sim --test fuzz_requests`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;
use std::sync::OnceLock;

use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::Value;
use storm_core::{Asset, Symbol};
use storm_sim::auth::{verify, Params};
use storm_sim::faults::{FaultRequest, Faults};
use storm_sim::rest::{order_ref, order_request};
use storm_sim::ws_api::Request;
use storm_sim::ws_market::control::{self, Command};
use storm_sim::ws_market::stream::Universe;
use storm_sim::{Exchange, ModelConfig, OrderType};
use storm_testkit::fuzz::{cases, mutate_str, HOSTILE_NUMBERS};
use storm_venues::binance::sign;

const KEY: &str = "fuzz-key";
const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const NOW: u64 = 1_499_827_319_600;

fn config(default: u32) -> ProptestConfig {
    ProptestConfig::with_cases(cases(default))
}

/// A fresh simulated exchange (seeded: always the same books) with one funded account.
fn exchange() -> Exchange {
    let mut ex = Exchange::new(&ModelConfig::default(), 42, NOW);
    let d = |s: &str| Decimal::from_str(s).unwrap();
    ex.add_account(
        KEY,
        SECRET,
        &[(Asset::new("USDT"), d("100000")), (Asset::new("BTC"), d("2")), (Asset::new("ETH"), d("30"))],
    );
    ex
}

fn symbols() -> &'static [String] {
    static S: OnceLock<Vec<String>> = OnceLock::new();
    S.get_or_init(|| exchange().instruments().map(|i| i.symbol.as_str().to_owned()).collect())
}

/// Binance's documented signed order (BINANCE.md, "Signed endpoints") and other real queries.
const QUERIES: &[&str] = &[
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71",
    "symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.00100000&newClientOrderId=st7f3a-1&timestamp=1499827319559",
    "symbol=ETHBTC&orderId=7&timestamp=1499827319559&recvWindow=60000",
    "symbol=BTCUSDT&origClientOrderId=st7f3a%2D1&timestamp=1499827319559",
    "symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=25.5&timestamp=1499827319559",
];

/// WS-API requests as the streamer and executor send them, and control messages as the
/// ingester and ccxt send them.
const WS_API: &[&str] = &[
    r#"{"id":"s-1","method":"userDataStream.subscribe.signature","params":{"apiKey":"k","timestamp":1645423376532,"signature":"ab"}}"#,
    r#"{"id":7,"method":"order.place","params":{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","timeInForce":"IOC","quantity":0.01000000,"price":"52000.00","newClientOrderId":"st1-1","recvWindow":100,"timestamp":1499827319559,"apiKey":"k","signature":"ab"}}"#,
    r#"{"id":null,"method":"ping"}"#,
];
const CONTROL: &[&str] = &[
    r#"{"method":"SUBSCRIBE","params":["btcusdt@depth@100ms","ethbtc@bookTicker"],"id":1}"#,
    r#"{"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":"a-b"}"#,
    r#"{"method":"LIST_SUBSCRIPTIONS","id":3}"#,
    r#"{"method":"SET_PROPERTY","params":["combined",true],"id":5}"#,
    r#"{"method":"GET_PROPERTY","params":["combined"],"id":2}"#,
];
const FAULTS: &[&str] = &[
    r#"{"kind":"latency","ms":200}"#,
    r#"{"kind":"order_error","mode":"5xx","count":1}"#,
    r#"{"kind":"order_error","mode":"timeout","count":3}"#,
    r#"{"kind":"stall","ms":3000}"#,
    r#"{"kind":"close_streams"}"#,
    r#"{"kind":"gap"}"#,
    r#"{"kind":"malformed"}"#,
    r#"{"kind":"clear"}"#,
];

fn edits() -> impl Strategy<Value = Vec<(u8, u32, u32)>> {
    prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 1..6)
}

/// Parameters parse to a map whose every value came from the input, and the signed payload is
/// the input without its `signature`.
fn check_params(query: Option<&str>, body: &str) -> Result<Params, TestCaseError> {
    let p = Params::parse(query, body);
    if p.signature.is_none() {
        prop_assert!(!query
            .unwrap_or("")
            .split('&')
            .chain(body.trim().split('&'))
            .any(|kv| kv.starts_with("signature=")));
    }
    // Binance signs the query and the body concatenated (no separator), so only a payload from
    // one part is sure to hold no `signature` pair.
    if query.is_none_or(str::is_empty) || body.trim().is_empty() {
        prop_assert!(!p.payload.split('&').any(|kv| kv.starts_with("signature=")), "{}", p.payload);
    }
    Ok(p)
}

/// Everything a REST order request can do with parameters: parse, check, place on a copy of the
/// exchange. Never a panic; an accepted order has a positive quantity and price on the filters.
fn check_order(p: &Params) -> Result<(), TestCaseError> {
    let _ = order_ref(p);
    let _ = verify(p, SECRET, NOW);
    let Ok(req) = order_request(p) else { return Ok(()) };
    for (name, value) in [("quantity", req.quantity), ("price", req.price), ("quoteOrderQty", req.quote_order_qty)] {
        if let Some(v) = value {
            prop_assert_eq!(Some(v), p.get(name).and_then(|s| Decimal::from_str(s).ok()));
        }
    }
    let mut ex = exchange();
    let kind = req.kind;
    let (symbol, qty, price) = (req.symbol.clone(), req.quantity, req.price);
    if let Ok((order, _events)) = ex.place(KEY, req, NOW) {
        let inst = ex.instrument(&symbol).expect("placed on a listed symbol").clone();
        if let Some(q) = qty {
            prop_assert!(q > Decimal::ZERO, "order of {} accepted", q);
            prop_assert!(inst.check_qty(storm_core::Qty(q)).is_ok());
        }
        if kind != OrderType::Market {
            let p = price.expect("a limit order has a price");
            prop_assert!(p > Decimal::ZERO, "price {} accepted", p);
        }
        prop_assert!(ex
            .balances(KEY)
            .unwrap()
            .iter()
            .all(|(_, b)| b.free >= Decimal::ZERO && b.locked >= Decimal::ZERO));
        prop_assert_eq!(order.symbol, symbol);
    }
    Ok(())
}

fn check_ws_api(text: &str) -> Result<(), TestCaseError> {
    match Request::parse(text) {
        Ok(r) => {
            prop_assert!(!r.method.is_empty());
            // No `signature` pair (a parameter merely named like `{signature` is just a parameter).
            prop_assert!(!r.params.payload.split('&').any(|kv| kv.starts_with("signature=")), "{}", r.params.payload);
            // The payload is the sorted parameters: each one once, in order.
            let names: Vec<&str> = r.params.map.keys().map(String::as_str).collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            prop_assert_eq!(names, sorted);
            check_order(&r.params)?;
        }
        Err(bad) => prop_assert!(bad.error.code == -1135 || bad.error.code == -1102, "{:?}", bad.error),
    }
    Ok(())
}

fn check_control(text: &str) -> Result<(), TestCaseError> {
    let universe = Universe::new(symbols().iter().map(Symbol::new).collect());
    match control::parse(text) {
        Ok(req) => {
            let reply = control::reply(Value::Null, req.id.clone());
            prop_assert!(serde_json::from_str::<Value>(&reply).is_ok());
            if let Command::Subscribe(names) | Command::Unsubscribe(names) = &req.command {
                for n in names {
                    if let Some(key) = universe.parse(n) {
                        prop_assert_eq!(&universe.name(key), n);
                    }
                }
            }
            let id_ok = match &req.id {
                Value::Null => true,
                Value::Number(n) => n.is_i64() || n.is_u64(),
                Value::String(s) => s.chars().count() <= 36,
                _ => false,
            };
            prop_assert!(id_ok, "id {:?} accepted", req.id);
        }
        Err(f) => {
            prop_assert!((0..=3).contains(&f.code), "{:?}", f);
            let text = control::error(f);
            prop_assert!(serde_json::from_str::<Value>(&text).is_ok(), "error reply is JSON: {}", text);
        }
    }
    Ok(())
}

fn check_fault(text: &str) -> Result<(), TestCaseError> {
    if let Ok(req) = serde_json::from_str::<FaultRequest>(text) {
        let v: Value = serde_json::from_str(text).unwrap();
        prop_assert!(v["kind"].is_string(), "{}", text);
        Faults::default().apply(&req);
    }
    Ok(())
}

fn param_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(HOSTILE_NUMBERS).prop_map(str::to_owned),
        "[0-9]{1,6}(\\.[0-9]{1,8})?",
        prop::sample::select(&["BUY", "SELL", "LIMIT", "MARKET", "LIMIT_MAKER", "GTC", "IOC", "FOK", "buy", ""][..])
            .prop_map(str::to_owned),
        ".{0,12}",
    ]
}

/// Order amounts: ordinary, hostile, huge, tiny, or absent.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,5}(\\.[0-9]{1,8})?",
        "[1-9][0-9]{15,28}(\\.[0-9]{1,4})?",
        "0\\.[0-9]{20,30}",
        prop::sample::select(HOSTILE_NUMBERS).prop_map(str::to_owned),
        Just(String::new()),
    ]
}

proptest! {
    #![proptest_config(config(600))]

    #[test]
    fn any_text_is_a_request_or_an_error(text in prop_oneof![any::<String>(), "[{}\\[\\]\":,=&%+0-9a-zA-Z.@_-]{0,80}"]) {
        let p = check_params(Some(&text), &text)?;
        check_order(&p)?;
        check_ws_api(&text)?;
        check_control(&text)?;
        check_fault(&text)?;
        let universe = Universe::new(symbols().iter().map(Symbol::new).collect());
        if let Some(key) = universe.parse(&text) {
            prop_assert_eq!(universe.name(key), text);
        }
    }

    /// Real queries edited, sent as the query, as the form body, or split between them.
    #[test]
    fn mutated_real_queries(seed in prop::sample::select(QUERIES), edits in edits(), split in any::<u16>()) {
        let text = mutate_str(seed, &edits);
        let cut = (split as usize % (text.len() + 1)..=text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
        for (q, b) in [(Some(text.as_str()), ""), (None, text.as_str()), (Some(&text[..cut]), &text[cut..])] {
            let p = check_params(q, b)?;
            check_order(&p)?;
        }
    }

    #[test]
    fn mutated_ws_frames(api in prop::sample::select(WS_API), ctl in prop::sample::select(CONTROL), fault in prop::sample::select(FAULTS), edits in edits()) {
        check_ws_api(&mutate_str(api, &edits))?;
        check_control(&mutate_str(ctl, &edits))?;
        check_fault(&mutate_str(fault, &edits))?;
    }

    /// Orders built from generated parameters on the sim's real symbols, correctly signed.
    #[test]
    fn generated_signed_orders(
        symbol in prop::sample::select(symbols()),
        side in prop_oneof![3 => prop::sample::select(&["BUY", "SELL"][..]).prop_map(str::to_owned), 1 => param_value()],
        kind in prop_oneof![3 => prop::sample::select(&["LIMIT", "MARKET", "LIMIT_MAKER"][..]).prop_map(str::to_owned), 1 => param_value()],
        tif in prop_oneof![3 => prop::sample::select(&["GTC", "IOC", "FOK", ""][..]).prop_map(str::to_owned), 1 => param_value()],
        quantity in number(), price in number(), quote in number(),
        timestamp in prop_oneof![Just(NOW - 10), any::<u64>()],
        recv_window in prop::option::of(0u64..70_000),
    ) {
        let enc = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
        let mut query = format!(
            "symbol={symbol}&side={}&type={}&timeInForce={}&quantity={}&price={}&quoteOrderQty={}&timestamp={timestamp}",
            enc(&side), enc(&kind), enc(&tif), enc(&quantity), enc(&price), enc(&quote),
        );
        if let Some(w) = recv_window {
            query.push_str(&format!("&recvWindow={w}"));
        }
        let signature = sign::sign(SECRET, &query);
        let p = check_params(Some(&format!("{query}&signature={signature}")), "")?;
        // Percent-encoding round-trips every value.
        prop_assert_eq!(p.get("quantity"), Some(quantity.as_str()).filter(|s| !s.is_empty()).or(Some("")));
        prop_assert_eq!(p.get("side"), Some(side.as_str()));
        let in_window = timestamp < NOW + 1_000 && NOW.saturating_sub(timestamp) <= recv_window.unwrap_or(5_000);
        let verified = verify(&p, SECRET, NOW);
        prop_assert_eq!(verified.is_ok(), in_window && recv_window.is_none_or(|w| w <= 60_000), "{:?}", verified);
        check_order(&p)?;
    }
}

/// Found by fuzzing: a MARKET BUY whose `quoteOrderQty` divided by a level's price does not fit
/// a decimal made the matching engine panic ("Division overflowed") inside the request.
#[test]
fn a_huge_quote_budget_is_refused_or_placed_never_a_panic() {
    let query = "symbol=ADABNB&side=BUY&type=MARKET&quoteOrderQty=100000000000000000000000000&timestamp=1499827319590";
    let p = Params::parse(Some(&format!("{query}&signature={}", sign::sign(SECRET, query))), "");
    assert_eq!(verify(&p, SECRET, NOW), Ok(()));
    let placed = exchange().place(KEY, order_request(&p).unwrap(), NOW);
    assert!(placed.is_err() || placed.is_ok_and(|(o, _)| o.executed_qty > Decimal::ZERO));
}

/// Found by the long fuzz run: a negative `quoteOrderQty` of 29 digits made the matching
/// subtract past Decimal's range; amounts outside Binance's legal range are refused with -1100.
#[test]
fn a_negative_or_29_digit_quote_budget_is_refused_with_1100() {
    for quote in ["-79228162514264337593543950335", "-1", "0", "100000000000000000000"] {
        let query = format!("symbol=ADABNB&side=BUY&type=MARKET&quoteOrderQty={quote}&timestamp=1499827319590");
        let p = Params::parse(Some(&format!("{query}&signature={}", sign::sign(SECRET, &query))), "");
        let err = exchange().place(KEY, order_request(&p).unwrap(), NOW).expect_err(quote);
        assert_eq!(err.code, -1100, "{quote}: {err:?}");
    }
}
