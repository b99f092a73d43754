//! Fuzzing of everything storm reads back from Redis: stream entries (`codec`, `md`, `tops`,
//! `opps`, `account::decode_fill`), hash values (`book::parse`, `account::decode_order`,
//! `account::decode_balance`, `instruments::decode`).
//!
//! Inputs: arbitrary bytes and field sets; entries written by the encoders from generated values,
//! then edited as bytes (`storm_testkit::fuzz::mutate`) and as msgpack trees (a value of another
//! type, a hostile number or decimal string, a field dropped, duplicated or renamed); the real
//! BTCUSDT recording's events as entries. Properties: never a panic; what the encoders write reads
//! back identical; what reads back re-encodes to itself; readers that promise sane values (book,
//! tops, opps, account, instruments) never return a negative amount. `md` entries are read as
//! written, negative levels included: booksync judges levels (and resyncs on a bad one).
//! Bounded by `STORM_FUZZ_CASES`; a long run:
//! `STORM_FUZZ_CASES=1000000 cargo test --release -p storm-bus --test fuzz_redis_entries`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use proptest::prelude::*;
use rust_decimal::Decimal;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value;
use storm_bus::account::{self, Balance, Fill, OrderState, OrderStatus, Source};
use storm_bus::{book, instruments, md, opps, tops, Entry, Keys, StreamEntry};
use storm_core::arb::{OppKind, OppLeg, Opportunity};
use storm_core::{
    Asset, BookStatus, BookTop, DepthAlive, DepthDiff, Instrument, Kline, Level, MdEvent, Price, Qty, Side,
    StreamReset, StreamUnsubscribed, Symbol, SymbolStatus, Ticker, Trade, VenueId,
};
use storm_testkit::fuzz::{cases, mutate, HOSTILE_NUMBERS};

fn config(default: u32) -> ProptestConfig {
    ProptestConfig::with_cases(cases(default))
}

/// An entry as `XREAD` returns it.
fn read_back(e: &Entry) -> StreamEntry {
    StreamEntry {
        stream: e.key.clone(),
        id: "1723161255308-0".into(),
        fields: e.fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
    }
}

fn with_payload(e: &StreamEntry, m: Vec<u8>) -> StreamEntry {
    let mut e = e.clone();
    for (k, v) in e.fields.iter_mut() {
        if k == "m" {
            *v = m.clone();
        }
    }
    e
}

/// Debug text: compares decimals with their scale and NaN with NaN.
fn dbg<T: std::fmt::Debug>(v: &T) -> String {
    format!("{v:?}")
}

// ---------------------------------------------------------------- msgpack trees

/// A msgpack value, to write payloads no storm type would.
#[derive(Clone, Debug)]
enum Mp {
    Nil,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Bin(Vec<u8>),
    Arr(Vec<Mp>),
    Map(Vec<(Mp, Mp)>),
}

impl Serialize for Mp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Mp::Nil => s.serialize_unit(),
            Mp::Bool(b) => s.serialize_bool(*b),
            Mp::Int(i) => s.serialize_i64(*i),
            Mp::UInt(u) => s.serialize_u64(*u),
            Mp::Float(f) => s.serialize_f64(*f),
            Mp::Str(t) => s.serialize_str(t),
            Mp::Bin(b) => s.serialize_bytes(b),
            Mp::Arr(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for x in a {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
            Mp::Map(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

fn from_json(v: &Value) -> Mp {
    match v {
        Value::Null => Mp::Nil,
        Value::Bool(b) => Mp::Bool(*b),
        Value::Number(n) => {
            n.as_u64().map(Mp::UInt).or(n.as_i64().map(Mp::Int)).unwrap_or(Mp::Float(n.as_f64().unwrap_or(0.0)))
        }
        Value::String(s) => Mp::Str(s.clone()),
        Value::Array(a) => Mp::Arr(a.iter().map(from_json).collect()),
        Value::Object(m) => Mp::Map(m.iter().map(|(k, v)| (Mp::Str(k.clone()), from_json(v))).collect()),
    }
}

fn hostile(n: u32) -> Mp {
    let hostile = [
        Mp::Nil,
        Mp::Bool(true),
        Mp::Int(-1),
        Mp::Int(i64::MIN),
        Mp::UInt(u64::MAX),
        Mp::Float(f64::NAN),
        Mp::Float(f64::INFINITY),
        Mp::Float(-0.5),
        Mp::Float(1e300),
        Mp::Str(String::new()),
        Mp::Str("\u{0}".into()),
        Mp::Bin(vec![0xc1, 0xff]),
        Mp::Arr(vec![]),
        Mp::Map(vec![]),
        Mp::Arr(vec![Mp::Str("1".into()), Mp::Str("-1".into())]),
    ];
    let n = n as usize;
    if n % 3 == 0 {
        Mp::Str(HOSTILE_NUMBERS[n / 3 % HOSTILE_NUMBERS.len()].to_owned())
    } else {
        hostile[n % hostile.len()].clone()
    }
}

fn count(m: &Mp) -> usize {
    1 + match m {
        Mp::Arr(a) => a.iter().map(count).sum(),
        Mp::Map(m) => m.iter().map(|(_, v)| count(v)).sum(),
        _ => 0,
    }
}

/// Applies one tree edit `(kind, node, arg)` at the `node`-th node in pre-order.
fn edit(m: &mut Mp, (kind, node, arg): (u8, u32, u32)) {
    let n = node as usize % count(m);
    if let Some(target) = nth_node(m, n) {
        match kind % 6 {
            0 | 1 => *target = hostile(arg),
            2 => {
                if let Mp::Map(fields) = target {
                    if !fields.is_empty() {
                        fields.remove(arg as usize % fields.len());
                    }
                }
            }
            3 => {
                if let Mp::Map(fields) = target {
                    if !fields.is_empty() {
                        let f = fields[arg as usize % fields.len()].clone();
                        fields.push(f);
                    }
                }
            }
            4 => *target = Mp::Arr(vec![target.clone()]),
            _ => {
                if let Mp::Map(fields) = target {
                    if !fields.is_empty() {
                        let i = arg as usize % fields.len();
                        fields[i].0 =
                            Mp::Str(["", "v", "symbol", "bids", "price", "qty", "Status"][arg as usize % 7].into());
                    }
                }
            }
        }
    }
}

fn nth_node(m: &mut Mp, n: usize) -> Option<&mut Mp> {
    if n == 0 {
        return Some(m);
    }
    let mut n = n - 1;
    let children: Vec<&mut Mp> = match m {
        Mp::Arr(a) => a.iter_mut().collect(),
        Mp::Map(f) => f.iter_mut().map(|(_, v)| v).collect(),
        _ => return None,
    };
    for c in children {
        let size = count(c);
        if n < size {
            return nth_node(c, n);
        }
        n -= size;
    }
    None
}

/// The msgpack of `value` with tree edits applied, then byte edits.
fn mutated_payload<T: Serialize>(value: &T, tree: &[(u8, u32, u32)], bytes: &[(u8, u32, u32)]) -> Vec<u8> {
    mutated_tree(serde_json::to_value(value).unwrap(), tree, bytes)
}

/// [`mutated_payload`] of the event inside an md entry (`md::entry` writes the event, untagged).
fn mutated_md_payload(ev: &MdEvent, tree: &[(u8, u32, u32)], bytes: &[(u8, u32, u32)]) -> Vec<u8> {
    let v = match ev {
        MdEvent::Depth(d) => serde_json::to_value(d),
        MdEvent::Ticker(t) => serde_json::to_value(t),
        MdEvent::Trade(t) => serde_json::to_value(t),
        MdEvent::Kline(k) => serde_json::to_value(k),
        MdEvent::Reset(r) => serde_json::to_value(r),
        MdEvent::Alive(a) => serde_json::to_value(a),
        MdEvent::Unsubscribed(u) => serde_json::to_value(u),
    };
    mutated_tree(v.unwrap(), tree, bytes)
}

fn mutated_tree(v: Value, tree: &[(u8, u32, u32)], bytes: &[(u8, u32, u32)]) -> Vec<u8> {
    let mut m = from_json(&v);
    for e in tree {
        edit(&mut m, *e);
    }
    mutate(&rmp_serde::to_vec_named(&m).unwrap(), bytes)
}

// ---------------------------------------------------------------- generated values

fn decimal() -> impl Strategy<Value = Decimal> {
    (any::<i64>(), 0u32..=18).prop_map(|(m, scale)| Decimal::new(m, scale))
}

fn positive() -> impl Strategy<Value = Decimal> {
    (1u64..u64::MAX >> 1, 0u32..=18).prop_map(|(m, scale)| Decimal::new(m as i64, scale))
}

fn level() -> impl Strategy<Value = Level> {
    (decimal(), decimal()).prop_map(|(p, q)| Level::new(Price(p), Qty(q)))
}

fn good_level() -> impl Strategy<Value = Level> {
    (positive(), positive()).prop_map(|(p, q)| Level::new(Price(p), Qty(q)))
}

fn symbol() -> impl Strategy<Value = Symbol> {
    "[A-Z0-9]{1,12}".prop_map(Symbol::new)
}

fn md_event() -> impl Strategy<Value = MdEvent> {
    let depth = (
        symbol(),
        any::<(u64, u64, u64, u64)>(),
        prop::collection::vec(level(), 0..8),
        prop::collection::vec(level(), 0..8),
    )
        .prop_map(|(symbol, (a, b, c, d), bids, asks)| {
            MdEvent::Depth(DepthDiff {
                symbol,
                first_update_id: a,
                last_update_id: b,
                bids,
                asks,
                time_exchange: c,
                time_received: d,
            })
        });
    let ticker = (symbol(), any::<u64>(), level(), level()).prop_map(|(symbol, u, b, a)| {
        MdEvent::Ticker(Ticker {
            symbol,
            update_id: u,
            bid_price: b.price,
            bid_qty: b.qty,
            ask_price: a.price,
            ask_qty: a.qty,
            time_exchange: u / 3,
            time_received: u / 2,
        })
    });
    let trade = (symbol(), any::<u64>(), level(), any::<bool>()).prop_map(|(symbol, t, l, m)| {
        MdEvent::Trade(Trade {
            symbol,
            trade_id: t,
            price: l.price,
            qty: l.qty,
            buyer_is_maker: m,
            time_exchange: t,
            time_received: 1,
        })
    });
    let kline = (symbol(), "[0-9]{1,2}[smhdwM]", level(), level(), any::<(u64, bool)>()).prop_map(
        |(symbol, interval, a, b, (t, closed))| {
            MdEvent::Kline(Kline {
                symbol,
                interval,
                open_time: t,
                close_time: t / 2,
                open: a.price,
                high: b.price,
                low: a.price,
                close: b.price,
                volume: a.qty,
                quote_volume: b.qty,
                trades: t,
                closed,
                time_exchange: t,
                time_received: 0,
            })
        },
    );
    let reset = (symbol(), ".{0,20}", any::<u64>())
        .prop_map(|(symbol, reason, t)| MdEvent::Reset(StreamReset { symbol, reason, time_received: t }));
    let alive = ("conn-[0-9]{1,3}", prop::collection::vec(symbol(), 0..5), any::<u64>())
        .prop_map(|(conn, symbols, t)| MdEvent::Alive(DepthAlive { conn, symbols, time_received: t }));
    let unsub = (symbol(), any::<u64>())
        .prop_map(|(symbol, t)| MdEvent::Unsubscribed(StreamUnsubscribed { symbol, time_received: t }));
    prop_oneof![depth, ticker, trade, kline, reset, alive, unsub]
}

fn book_top() -> impl Strategy<Value = BookTop> {
    (
        symbol(),
        prop::collection::vec(good_level(), 0..10),
        prop::collection::vec(good_level(), 0..10),
        any::<(u64, u64, u64)>(),
        0..3u8,
    )
        .prop_map(|(symbol, bids, asks, (u, t, l), st)| BookTop {
            symbol,
            bids,
            asks,
            update_id: u,
            time_exchange: t / 1_000 * 1_000,
            time_received: 0,
            time_local: l / 1_000 * 1_000,
            status: [BookStatus::Syncing, BookStatus::Live, BookStatus::Stale][st as usize],
        })
}

fn opportunity() -> impl Strategy<Value = Opportunity> {
    let leg = (symbol(), any::<bool>(), positive(), positive()).prop_map(|(symbol, buy, p, q)| OppLeg {
        venue: VenueId::new("binance"),
        symbol,
        side: if buy { Side::Buy } else { Side::Sell },
        price: Price(p),
        qty: Qty(q),
    });
    (".{0,30}", prop::collection::vec(leg, 0..4), decimal(), decimal(), 0.0f64..=1.0, any::<(u64, u64, u64)>())
        .prop_map(|(id, legs, size, profit, confidence, (c, e, t))| Opportunity {
            id,
            kind: OppKind::Triangular,
            venue: VenueId::new("binance"),
            path: "USDT>BTC>ETH>USDT".into(),
            asset: Asset::new("USDT"),
            size,
            profit,
            profit_bps: profit,
            confidence,
            created_ms: c,
            expires_ms: e,
            legs,
            book_ids: vec![c, e],
            time_trigger_us: t,
        })
}

fn fill() -> impl Strategy<Value = Fill> {
    (symbol(), any::<(u64, u64)>(), good_level(), positive(), any::<bool>()).prop_map(
        |(symbol, (o, t), l, fee, maker)| Fill {
            symbol,
            order_id: o,
            client_order_id: format!("st{o}-1"),
            trade_id: t,
            side: Side::Buy,
            price: l.price,
            qty: l.qty,
            quote_qty: Qty(fee),
            commission: Qty(fee),
            commission_asset: Asset::new("BNB"),
            maker,
            time_ms: t,
            source: Source::Ws,
        },
    )
}

fn order_state() -> impl Strategy<Value = OrderState> {
    (symbol(), any::<u64>(), good_level(), positive(), 0..8u8, any::<u64>()).prop_map(
        |(symbol, id, l, quote, st, t)| {
            let status = [
                OrderStatus::New,
                OrderStatus::PartiallyFilled,
                OrderStatus::Filled,
                OrderStatus::Canceled,
                OrderStatus::PendingCancel,
                OrderStatus::Rejected,
                OrderStatus::Expired,
                OrderStatus::ExpiredInMatch,
            ][st as usize];
            OrderState {
                symbol,
                order_id: id,
                client_order_id: "st-1".into(),
                side: Side::Sell,
                order_type: "LIMIT".into(),
                time_in_force: "IOC".into(),
                price: l.price,
                orig_qty: l.qty,
                status,
                executed_qty: l.qty,
                cumulative_quote_qty: Qty(quote),
                avg_price: account::avg_price(l.qty, Qty(quote)),
                created_ms: t,
                update_ms: t,
                last_trade_id: Some(t),
                source: Source::Rest,
            }
        },
    )
}

fn instrument() -> impl Strategy<Value = Instrument> {
    (symbol(), prop::collection::vec(positive(), 8)).prop_map(|(symbol, f)| Instrument {
        symbol,
        base: Asset::new("BTC"),
        quote: Asset::new("USDT"),
        status: SymbolStatus::Trading,
        tick_size: f[0],
        min_price: f[1],
        max_price: f[2],
        step_size: f[3],
        min_qty: f[4],
        max_qty: f[5],
        min_notional: f[6],
        max_notional: f[7],
    })
}

fn edits(max: usize) -> impl Strategy<Value = Vec<(u8, u32, u32)>> {
    prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 0..max)
}

// ---------------------------------------------------------------- checks

fn levels_ok(levels: &[Level]) -> bool {
    levels.iter().all(|l| l.price > Price::ZERO && l.qty > Qty::ZERO)
}

/// A decoded md event re-encodes to an entry that decodes to the same event.
fn check_md(entry: &StreamEntry) -> Result<(), TestCaseError> {
    if let Ok(ev) = md::decode(entry) {
        let again =
            md::decode(&read_back(&md::entry(&Keys::default(), &VenueId::new("binance"), 0, &ev).unwrap())).unwrap();
        prop_assert_eq!(dbg(&again), dbg(&ev));
        prop_assert_eq!(entry.get_str("k"), Some(ev.kind()));
    }
    Ok(())
}

fn check_tops(entry: &StreamEntry) -> Result<(), TestCaseError> {
    if let Ok(top) = tops::decode(entry) {
        prop_assert!(levels_ok(&top.bids) && levels_ok(&top.asks), "{:?}", top);
        let again =
            tops::decode(&read_back(&tops::entry(&Keys::default(), &VenueId::new("b"), 0, &top).unwrap())).unwrap();
        prop_assert_eq!(dbg(&again), dbg(&top));
    }
    Ok(())
}

fn check_opps(entry: &StreamEntry) -> Result<(), TestCaseError> {
    if let Ok(opp) = opps::decode(entry) {
        prop_assert!(opp.legs.iter().all(|l| l.price > Price::ZERO && l.qty > Qty::ZERO), "{:?}", opp.legs);
        let again = opps::decode(&read_back(&opps::entry(&Keys::default(), 0, &opp).unwrap())).unwrap();
        prop_assert_eq!(dbg(&again), dbg(&opp));
    }
    Ok(())
}

fn check_fill(entry: &StreamEntry) -> Result<(), TestCaseError> {
    if let Ok(f) = account::decode_fill(entry) {
        prop_assert!(
            f.price >= Price::ZERO && [f.qty, f.quote_qty, f.commission].iter().all(|q| *q >= Qty::ZERO),
            "{:?}",
            f
        );
        let again =
            account::decode_fill(&read_back(&account::fill_entry(&Keys::default(), "b", "a", 0, &f).unwrap())).unwrap();
        prop_assert_eq!(dbg(&again), dbg(&f));
    }
    Ok(())
}

/// Every reader of stream entries on one entry.
fn check_entry(entry: &StreamEntry) -> Result<(), TestCaseError> {
    check_md(entry)?;
    check_tops(entry)?;
    check_opps(entry)?;
    check_fill(entry)?;
    let _ = entry.id_millis();
    Ok(())
}

fn check_book(hash: &HashMap<String, String>) -> Result<(), TestCaseError> {
    let symbol = Symbol::new("BTCUSDT");
    if let Ok(b) = book::parse(&symbol, hash) {
        prop_assert!(levels_ok(&b.top.bids) && levels_ok(&b.top.asks), "{:?}", b.top);
        let fields: HashMap<String, String> =
            book::fields(&b.top, b.depth).into_iter().map(|(k, v)| (k.into(), v)).collect();
        let again = book::parse(&symbol, &fields).unwrap();
        prop_assert_eq!(dbg(&again), dbg(&b));
    }
    Ok(())
}

fn check_json_values(text: &str) -> Result<(), TestCaseError> {
    if let Ok(o) = account::decode_order(text) {
        prop_assert!(o.price >= Price::ZERO && o.executed_qty >= Qty::ZERO && o.orig_qty >= Qty::ZERO, "{:?}", o);
        prop_assert_eq!(dbg(&account::decode_order(&account::encode_order(&o).unwrap()).unwrap()), dbg(&o));
    }
    if let Ok(b) = account::decode_balance(text) {
        prop_assert!(b.free >= Qty::ZERO && b.locked >= Qty::ZERO, "{:?}", b);
        prop_assert_eq!(account::decode_balance(&account::encode_balance(&b).unwrap()).unwrap(), b);
    }
    if let Ok(i) = instruments::decode(text) {
        let filters =
            [i.tick_size, i.min_price, i.max_price, i.step_size, i.min_qty, i.max_qty, i.min_notional, i.max_notional];
        prop_assert!(filters.iter().all(|f| !f.is_sign_negative() || f.is_zero()), "{:?}", i);
        prop_assert_eq!(&instruments::decode(&serde_json::to_string(&i).unwrap()).unwrap(), &i);
    }
    Ok(())
}

/// Field sets that are not what a writer makes: any names, any bytes.
fn raw_fields() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let name =
        prop_oneof![Just("v".to_owned()), Just("m".to_owned()), Just("k".to_owned()), Just("sym".to_owned()), ".{0,4}"];
    let value = prop_oneof![
        Just(b"1".to_vec()),
        Just(b"2".to_vec()),
        Just(b"depth".to_vec()),
        Just(b"ticker".to_vec()),
        Just(b"kline".to_vec()),
        Just(b"reset".to_vec()),
        Just(vec![0xff, 0xfe]),
        prop::collection::vec(any::<u8>(), 0..64),
    ];
    prop::collection::vec((name, value), 0..6)
}

proptest! {
    #![proptest_config(config(2_000))]

    /// Entries with any fields and any payload bytes.
    #[test]
    fn any_entry_decodes_or_is_an_error(fields in raw_fields(), id in ".{0,24}") {
        check_entry(&StreamEntry { stream: "storm:md:binance:depth".into(), id, fields })?;
    }

    /// What the encoders write reads back identical (scales, NaN-free floats and all).
    #[test]
    fn written_entries_read_back_identical(ev in md_event(), top in book_top(), opp in opportunity(), fill in fill()) {
        let keys = Keys::default();
        let e = read_back(&md::entry(&keys, &VenueId::new("binance"), 1000, &ev).unwrap());
        prop_assert_eq!(dbg(&md::decode(&e).unwrap()), dbg(&ev));
        let e = read_back(&tops::entry(&keys, &VenueId::new("binance"), 1000, &top).unwrap());
        prop_assert_eq!(dbg(&tops::decode(&e).unwrap()), dbg(&top));
        prop_assert_eq!(e.get_str("u").map(str::to_owned), Some(top.update_id.to_string()));
        let e = read_back(&opps::entry(&keys, 1000, &opp).unwrap());
        prop_assert_eq!(dbg(&opps::decode(&e).unwrap()), dbg(&opp));
        let e = read_back(&account::fill_entry(&keys, "binance", "acct", 1000, &fill).unwrap());
        prop_assert_eq!(dbg(&account::decode_fill(&e).unwrap()), dbg(&fill));
        let hash: HashMap<String, String> = book::fields(&top, 20).into_iter().map(|(k, v)| (k.into(), v)).collect();
        let b = book::parse(&top.symbol, &hash).unwrap();
        prop_assert_eq!((dbg(&b.top.bids), dbg(&b.top.asks), b.depth), (dbg(&top.bids), dbg(&top.asks), 20));
    }

    /// Written entries, their msgpack edited as a tree (types swapped, hostile numbers and
    /// decimal strings, fields dropped, doubled or renamed) and as bytes, and their plain
    /// fields (`v`, `k`) swapped.
    #[test]
    fn mutated_entries_decode_sanely_or_fail(
        ev in md_event(), top in book_top(), opp in opportunity(), fill in fill(),
        tree in edits(4), bytes in edits(3), swap_v in 0..4u8,
    ) {
        let keys = Keys::default();
        let entries = [
            (read_back(&md::entry(&keys, &VenueId::new("binance"), 0, &ev).unwrap()), mutated_md_payload(&ev, &tree, &bytes)),
            (read_back(&tops::entry(&keys, &VenueId::new("binance"), 0, &top).unwrap()), mutated_payload(&top, &tree, &bytes)),
            (read_back(&opps::entry(&keys, 0, &opp).unwrap()), mutated_payload(&opp, &tree, &bytes)),
            (read_back(&account::fill_entry(&keys, "b", "a", 0, &fill).unwrap()), mutated_payload(&fill, &tree, &bytes)),
        ];
        for (entry, payload) in entries {
            let mut e = with_payload(&entry, payload);
            for (k, v) in e.fields.iter_mut() {
                match (k.as_str(), swap_v) {
                    ("v", 1) => *v = b"2".to_vec(),
                    ("v", 2) => *v = vec![0xff],
                    ("k", 3) => *v = b"trade".to_vec(),
                    _ => {}
                }
            }
            check_entry(&e)?;
        }
    }

    /// Book hashes: written by `book::fields`, then a field dropped or replaced.
    #[test]
    fn mutated_book_hashes_parse_sanely_or_fail(
        top in book_top(),
        replace in prop::collection::vec((0..7usize, prop_oneof![
            ".{0,12}",
            prop::sample::select(HOSTILE_NUMBERS).prop_map(str::to_owned),
            prop::sample::select(&[r#"[["1","-1"]]"#, r#"[["0","1"]]"#, r#"[["1e5","1"]]"#, r#"[[1,2]]"#, "[]", "null", "live", "LIVE"][..]).prop_map(str::to_owned),
        ]), 0..3),
        level_edits in edits(4),
        drop in prop::option::of(0..7usize),
    ) {
        let mut hash: HashMap<String, String> = book::fields(&top, 1000).into_iter().map(|(k, v)| (k.into(), v)).collect();
        let names = ["bids", "asks", "update_id", "time_exchange", "time_local", "status", "depth"];
        for (i, value) in replace {
            hash.insert(names[i].into(), value);
        }
        let bids = hash["bids"].clone();
        hash.insert("bids".into(), String::from_utf8_lossy(&mutate(bids.as_bytes(), &level_edits)).into_owned());
        if let Some(i) = drop {
            hash.remove(names[i]);
        }
        check_book(&hash)?;
    }

    /// Order states, balances and instruments as JSON hash values, edited.
    #[test]
    fn mutated_hash_values_decode_sanely_or_fail(order in order_state(), inst in instrument(), free in decimal(), json_edits in edits(5)) {
        let balance = Balance { free: Qty(free.abs()), locked: Qty::ZERO, time: 1 };
        prop_assert_eq!(account::decode_balance(&account::encode_balance(&balance).unwrap()).unwrap(), balance);
        prop_assert_eq!(dbg(&account::decode_order(&account::encode_order(&order).unwrap()).unwrap()), dbg(&order));
        prop_assert_eq!(&instruments::decode(&serde_json::to_string(&inst).unwrap()).unwrap(), &inst);
        for text in [account::encode_order(&order).unwrap(), account::encode_balance(&balance).unwrap(), serde_json::to_string(&inst).unwrap()] {
            check_json_values(&String::from_utf8_lossy(&mutate(text.as_bytes(), &json_edits)))?;
        }
    }

    #[test]
    fn any_text_as_a_hash_value(text in prop_oneof![any::<String>(), "[{}\":,0-9a-z_.-]{0,60}"]) {
        check_json_values(&text)?;
        let mut hash = HashMap::new();
        for name in ["bids", "asks", "update_id", "time_exchange", "time_local", "status", "depth"] {
            hash.insert(name.to_owned(), text.clone());
        }
        check_book(&hash)?;
    }
}

/// The real BTCUSDT recording's first events, as md entries, edited.
#[test]
fn mutated_recorded_events_decode_sanely_or_fail() {
    let events: Vec<MdEvent> = storm_testkit::fixtures::load_replay("binance-spot-replay/spot_btcusdt_20240808.gz")
        .expect("recording (testdata/)")
        .into_iter()
        .filter_map(|(_, m)| match m {
            storm_testkit::fixtures::ReplayMsg::Diff(d) => Some(MdEvent::Depth(d)),
            storm_testkit::fixtures::ReplayMsg::BookTicker(t) => Some(MdEvent::Ticker(t)),
            _ => None,
        })
        .take(200)
        .collect();
    let mut runner = proptest::test_runner::TestRunner::new(config(2_000));
    runner
        .run(&(prop::sample::select(events), edits(4), edits(3)), |(ev, tree, bytes)| {
            let entry = read_back(&md::entry(&Keys::default(), &VenueId::new("binance"), 0, &ev).unwrap());
            prop_assert_eq!(dbg(&md::decode(&entry).unwrap()), dbg(&ev));
            check_entry(&with_payload(&entry, mutated_md_payload(&ev, &tree, &bytes)))
        })
        .unwrap();
}
