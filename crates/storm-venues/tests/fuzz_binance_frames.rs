//! Fuzzing of every Binance WebSocket frame parser: the market-data classifier
//! (`wire::parse_frame`, and `VenueAdapter::classify` / `subscription_of` on top of it) and the
//! WS-API user-data frames (`user_wire::parse_user_frame`), and the subscription members read
//! from `storm:subs:<venue>` (`adapter::Subscription::parse`).
//!
//! Inputs: arbitrary text; real frames of `testdata/` (the 2024 BTCUSDT/ETHUSDT recordings,
//! cryptofeed's 2021 multi-stream recording, the Binance.US executionReport) edited by
//! `storm_testkit::fuzz::mutate`; and frames written by the wire types from generated events.
//! Bounded by `STORM_FUZZ_CASES`; a long run:
//! `STORM_FUZZ_CASES=1000000 cargo test --release -p storm-venues --test fuzz_binance_frames`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::sync::OnceLock;

use flate2::read::GzDecoder;
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::Value;
use storm_core::{DepthDiff, Level, Price, Qty, Symbol, Ticker, Trade};
use storm_testkit::fixtures::testdata_file;
use storm_testkit::fuzz::{cases, mutate_str};
use storm_venues::adapter::{adapter_for_kind, Subscription, VenueFrame};
use storm_venues::binance::user_wire::{parse_user_frame, UserEvent, UserFrame};
use storm_venues::binance::wire::{parse_frame, BookTicker, Combined, DepthUpdate, Frame, KlineEvent, TradeEvent};

const RECEIVED: u64 = 7;

fn config(default: u32) -> ProptestConfig {
    ProptestConfig::with_cases(cases(default))
}

/// Real market-data frames: the first frames of each kind in the 2024 recordings and in
/// cryptofeed's 2021 recording (depth, bookTicker, trade, kline, aggTrade), and control messages.
fn market_seeds() -> &'static [String] {
    static SEEDS: OnceLock<Vec<String>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds = Vec::new();
        for rel in ["binance-spot-replay/spot_btcusdt_20240808.gz", "binance-spot-replay/spot_ethusdt_20240809.gz"] {
            let file = std::fs::File::open(testdata_file(rel)).expect("recording (testdata/)");
            let mut per_kind = std::collections::HashMap::new();
            for line in BufReader::new(GzDecoder::new(file)).lines().take(3_000) {
                let line = line.unwrap();
                let Some((_, json)) = line.split_once(' ') else { continue };
                if json.starts_with("{\"lastUpdateId\"") {
                    continue; // the REST snapshot: fuzz_binance_rest's
                }
                let kind = json.split('@').nth(1).and_then(|k| k.split('"').next()).unwrap_or("").to_owned();
                let n = per_kind.entry(kind).or_insert(0);
                if *n < 3 {
                    *n += 1;
                    seeds.push(json.to_owned());
                    // The raw-stream spelling of the same frame.
                    let v: Value = serde_json::from_str(json).unwrap();
                    let data = &json[json.find("\"data\":").unwrap() + 7..json.len() - 1];
                    assert_eq!(serde_json::from_str::<Value>(data).unwrap(), v["data"]);
                    seeds.push(data.to_owned());
                }
            }
        }
        let text = std::fs::read_to_string(testdata_file("binance-spot-multi/BINANCE.ws.1.0")).unwrap();
        let mut kinds = std::collections::HashSet::new();
        for line in text.lines().skip(1) {
            let Some((_, frame)) = line.split_once(": ") else { continue };
            let kind = frame.split('@').nth(1).and_then(|k| k.split('"').next()).unwrap_or("").to_owned();
            if kinds.insert(kind) {
                seeds.push(frame.to_owned());
            }
        }
        seeds.extend(
            [
                r#"{"result":null,"id":1}"#,
                r#"{"result":["btcusdt@depth@100ms","ethbtc@kline_1m"],"id":"3"}"#,
                r#"{"error":{"code":2,"msg":"Invalid request: unknown variant"},"id":null}"#,
                r#"{"e":"serverShutdown","E":1723161255208}"#,
            ]
            .map(str::to_owned),
        );
        assert!(seeds.len() >= 15, "{} seeds", seeds.len());
        seeds
    })
}

/// The real executionReport (Binance.US) and the documented user-data frames and responses.
fn user_seeds() -> &'static [String] {
    static SEEDS: OnceLock<Vec<String>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let text = std::fs::read_to_string(testdata_file("orders/ws_spot_execution_report_binance_us.json")).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        let report = serde_json::to_string(&v["data"]).unwrap();
        vec![
            format!(r#"{{"subscriptionId":0,"event":{report}}}"#),
            r#"{"subscriptionId":3,"event":{"e":"outboundAccountPosition","E":1564034571105,"u":1564034571073,"B":[{"a":"ETH","f":"10000.000000","l":"0.000000"}]}}"#.to_owned(),
            r#"{"subscriptionId":0,"event":{"e":"balanceUpdate","E":1573200697110,"a":"BTC","d":"-100.00000000","T":1573200697068}}"#.to_owned(),
            r#"{"subscriptionId":0,"event":{"e":"eventStreamTerminated","E":1728973001334}}"#.to_owned(),
            r#"{"id":"s-1","status":200,"result":{"subscriptionId":0},"rateLimits":[]}"#.to_owned(),
            r#"{"id":"s-2","status":400,"error":{"code":-1022,"msg":"Signature for this request is not valid."}}"#.to_owned(),
        ]
    })
}

fn edits() -> impl Strategy<Value = Vec<(u8, u32, u32)>> {
    prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 1..6)
}

/// Same event, and every decimal with the same scale (`Decimal`'s `==` ignores scale).
fn same<T: std::fmt::Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

fn levels_sane(levels: &[Level]) -> bool {
    levels.iter().all(|l| l.price.0.scale() <= 28 && l.qty.0.scale() <= 28)
}

/// The event parsed back from what the wire types write for it (the simulator's direction).
fn reparsed(frame: &Frame) -> Option<Frame> {
    let text = match frame {
        Frame::Depth(d) => serde_json::to_string(&DepthUpdate::from(d)).unwrap(),
        Frame::Ticker(t) => serde_json::to_string(&BookTicker::from(t)).unwrap(),
        Frame::Trade(t) => serde_json::to_string(&TradeEvent::from(t)).unwrap(),
        Frame::Kline(k) => serde_json::to_string(&KlineEvent::from(k)).unwrap(),
        _ => return None,
    };
    Some(parse_frame(&text, RECEIVED).unwrap_or_else(|e| panic!("written frame {text} does not parse: {e}")))
}

/// The reference serde types, for raw and combined spellings.
fn reference<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_str::<Combined<T>>(text).ok().map(|c| c.data).or_else(|| serde_json::from_str(text).ok())
}

/// Everything `parse_frame` promises, checked on one input.
fn check_frame(text: &str) -> Result<(), TestCaseError> {
    let parsed = parse_frame(text, RECEIVED);
    let classified = adapter_for_kind(storm_core::VenueKind::Binance).classify(text, RECEIVED);
    prop_assert_eq!(parsed.is_ok(), classified.is_ok(), "adapter and parser disagree on {}", text);
    let Ok(frame) = parsed else { return Ok(()) };
    // Time fields: received as given, exchange time in whole ms (or saturated).
    let times = match &frame {
        Frame::Depth(d) => Some((d.time_received, d.time_exchange)),
        Frame::Ticker(t) => Some((t.time_received, t.time_exchange)),
        Frame::Trade(t) => Some((t.time_received, t.time_exchange)),
        Frame::Kline(k) => Some((k.time_received, k.time_exchange)),
        _ => None,
    };
    if let Some((received, exchange)) = times {
        prop_assert_eq!(received, RECEIVED);
        prop_assert!(exchange % 1_000 == 0 || exchange == u64::MAX);
    }
    // The reference decoder (serde, any field order) reads the same event from the same text.
    match &frame {
        Frame::Depth(d) => {
            let r = reference::<DepthUpdate>(text).map(|u| u.into_diff(RECEIVED));
            prop_assert!(r.as_ref().is_some_and(|r| same(r, d)), "reference {:?} != {:?} for {}", r, d, text);
            prop_assert!(levels_sane(&d.bids) && levels_sane(&d.asks));
        }
        Frame::Ticker(t) => {
            let r = reference::<BookTicker>(text).map(|b| b.into_ticker(RECEIVED));
            prop_assert!(r.as_ref().is_some_and(|r| same(r, t)), "reference {:?} != {:?} for {}", r, t, text);
        }
        Frame::Trade(t) => {
            let r = reference::<TradeEvent>(text).map(|e| e.into_trade(RECEIVED));
            prop_assert!(r.as_ref().is_some_and(|r| same(r, t)), "reference {:?} != {:?} for {}", r, t, text);
        }
        Frame::Kline(k) => {
            let r = reference::<KlineEvent>(text).map(|e| e.into_kline(RECEIVED));
            prop_assert!(r.as_ref().is_some_and(|r| same(r, k)), "reference {:?} != {:?} for {}", r, k, text);
        }
        Frame::Error { .. } => prop_assert!(text.contains("error")),
        Frame::Reply { .. } => prop_assert!(text.contains("result")),
        Frame::ServerShutdown { .. } => prop_assert!(text.contains("serverShutdown")),
        Frame::Unknown => {}
    }
    // What the wire types write for the event parses back to it (times saturate, nothing else moves).
    if let Some(back) = reparsed(&frame) {
        let strip = |f: &Frame| {
            let mut f = f.clone();
            match &mut f {
                Frame::Depth(d) => d.time_exchange = 0,
                Frame::Ticker(t) => t.time_exchange = 0,
                Frame::Trade(t) => t.time_exchange = 0,
                Frame::Kline(k) => {
                    k.time_exchange = 0;
                    k.open_time = 0;
                    k.close_time = 0;
                }
                _ => {}
            }
            f
        };
        prop_assert!(same(&strip(&back), &strip(&frame)), "written and read back: {:?} != {:?}", back, frame);
    }
    // The adapter's view: the same event, and a stream name it can map when it lists one.
    if let Ok(VenueFrame::Subscriptions { streams, .. }) = &classified {
        let adapter = adapter_for_kind(storm_core::VenueKind::Binance);
        for s in streams {
            if let Ok(sub) = adapter.subscription_of(s.as_str()) {
                let name = adapter.stream_name(&sub).unwrap();
                prop_assert_eq!(name.as_str(), s.as_str());
            }
        }
    }
    Ok(())
}

/// Everything `parse_user_frame` promises on one input.
fn check_user_frame(text: &str) -> Result<(), TestCaseError> {
    let Ok(frame) = parse_user_frame(text) else { return Ok(()) };
    let v: Value = serde_json::from_str(text).expect("a parsed frame is JSON");
    match frame {
        UserFrame::Response(r) => {
            prop_assert!(v.get("status").is_some());
            prop_assert_eq!(r.subscription_id(), v["result"]["subscriptionId"].as_u64());
        }
        UserFrame::Event { subscription_id, event } => {
            prop_assert_eq!(Some(subscription_id), v["subscriptionId"].as_u64());
            let e = &v["event"];
            // Every amount is the exact decimal of its string, and none that cannot be negative is.
            let exact = |field: &str, got: Decimal| -> Result<(), TestCaseError> {
                let text = e[field].as_str().unwrap_or_default();
                let want: Qty = text.parse().map_err(|_| TestCaseError::fail(format!("{field}={text:?} accepted")))?;
                prop_assert_eq!((got.mantissa(), got.scale()), (want.0.mantissa(), want.0.scale()), "{}", field);
                Ok(())
            };
            match event {
                UserEvent::Execution(r) => {
                    let amounts = [
                        ("q", r.quantity),
                        ("p", r.price),
                        ("l", r.last_qty),
                        ("z", r.cumulative_qty),
                        ("L", r.last_price),
                        ("n", r.commission),
                        ("Z", r.cumulative_quote_qty),
                        ("Y", r.last_quote_qty),
                    ];
                    for (field, value) in amounts {
                        exact(field, value)?;
                        prop_assert!(!value.is_sign_negative() || value.is_zero(), "{} = {} accepted", field, value);
                    }
                    prop_assert_eq!(r.fill_trade_id().is_some(), e["x"] == "TRADE" && r.trade_id >= 0);
                }
                UserEvent::Position(p) => {
                    for (i, b) in p.balances.iter().enumerate() {
                        let raw = &e["B"][i];
                        // serde also reads a struct from its positional form (`["ETH","1","0"]`,
                        // found by fuzzing): the same values, by position.
                        let field = |name: &str, pos: usize| {
                            let v = if raw.is_array() { &raw[pos] } else { &raw[name] };
                            v.as_str().and_then(|s| s.parse::<Qty>().ok()).map(|q| q.0)
                        };
                        prop_assert_eq!(Some(b.free), field("f", 1));
                        prop_assert_eq!(Some(b.locked), field("l", 2));
                        prop_assert!(!b.free.is_sign_negative() || b.free.is_zero(), "free {} accepted", b.free);
                        prop_assert!(
                            !b.locked.is_sign_negative() || b.locked.is_zero(),
                            "locked {} accepted",
                            b.locked
                        );
                    }
                }
                UserEvent::BalanceDelta(b) => exact("d", b.delta)?,
                UserEvent::Terminated(_) => prop_assert_eq!(&e["e"], "eventStreamTerminated"),
                UserEvent::Unknown(kind) => prop_assert_eq!(e["e"].as_str(), Some(kind.as_str())),
            }
        }
    }
    Ok(())
}

fn decimal() -> impl Strategy<Value = Decimal> {
    (any::<u64>(), 0u32..=18).prop_map(|(m, scale)| Decimal::new((m >> 1) as i64, scale))
}

fn level() -> impl Strategy<Value = Level> {
    (decimal(), decimal()).prop_map(|(p, q)| Level::new(Price(p), Qty(q)))
}

fn symbol() -> impl Strategy<Value = Symbol> {
    "[A-Z0-9]{1,12}".prop_map(Symbol::new)
}

proptest! {
    #![proptest_config(config(3_000))]

    /// Any text at all: a frame, a clear error, never a panic.
    #[test]
    fn any_text_is_a_frame_or_an_error(text in prop_oneof![any::<String>(), "[{}\\[\\]\":,0-9a-zA-Z@.-]{0,80}"]) {
        check_frame(&text)?;
        check_user_frame(&text)?;
    }

    /// Members of `storm:subs:<venue>` (written by stormctl or by hand with redis-cli): a valid
    /// one has one canonical spelling, and Binance's stream name for it maps back to it.
    #[test]
    fn subscription_members_parse_to_one_canonical_form(
        member in prop_oneof![
            any::<String>(),
            "[ ]?(depth|ticker|trade|kline|DEPTH|Kline|x)?:[a-zA-Z0-9_\\-@]{0,22}(:[0-9a-zA-Z]{0,3})?(:x)?[ \n]?",
        ],
    ) {
        if let Ok(sub) = Subscription::parse(&member) {
            let canonical = sub.member();
            let again = Subscription::parse(&canonical);
            prop_assert_eq!(again.as_ref(), Ok(&sub));
            prop_assert!(canonical.len() <= member.trim().len());
            let adapter = adapter_for_kind(storm_core::VenueKind::Binance);
            if let Ok(stream) = adapter.stream_name(&sub) {
                let back = adapter.subscription_of(stream.as_str());
                prop_assert_eq!(back.as_ref().ok(), Some(&sub));
            }
        }
    }

    /// Real frames of every kind, edited: numbers made hostile, fields dropped or doubled,
    /// types swapped, bytes flipped, text truncated.
    #[test]
    fn mutated_real_market_frames(seed in prop::sample::select(market_seeds()), edits in edits()) {
        check_frame(&mutate_str(&seed, &edits))?;
    }

    #[test]
    fn mutated_real_user_frames(seed in prop::sample::select(user_seeds()), edits in edits()) {
        check_user_frame(&mutate_str(&seed, &edits))?;
    }

    /// Frames written by the wire types (raw and combined) parse back to the event, exactly.
    #[test]
    fn written_frames_parse_back_exactly(
        symbol in symbol(),
        ids in (any::<u64>(), any::<u64>()),
        time_ms in 0u64..=u64::MAX / 1_000,
        bids in prop::collection::vec(level(), 0..20),
        asks in prop::collection::vec(level(), 0..20),
        top in (decimal(), decimal(), decimal(), decimal()),
        maker in any::<bool>(),
    ) {
        let diff = DepthDiff {
            symbol: symbol.clone(), first_update_id: ids.0, last_update_id: ids.1, bids, asks,
            time_exchange: time_ms * 1_000, time_received: RECEIVED,
        };
        let ticker = Ticker {
            symbol: symbol.clone(), update_id: ids.0, bid_price: Price(top.0), bid_qty: Qty(top.1),
            ask_price: Price(top.2), ask_qty: Qty(top.3), time_exchange: 0, time_received: RECEIVED,
        };
        let trade = Trade {
            symbol: symbol.clone(), trade_id: ids.1, price: Price(top.0), qty: Qty(top.1), buyer_is_maker: maker,
            time_exchange: time_ms * 1_000, time_received: RECEIVED,
        };
        let frames = [
            (Frame::Depth(diff.clone()), serde_json::to_string(&DepthUpdate::from(&diff)).unwrap(), "depth@100ms"),
            (Frame::Ticker(ticker.clone()), serde_json::to_string(&BookTicker::from(&ticker)).unwrap(), "bookTicker"),
            (Frame::Trade(trade.clone()), serde_json::to_string(&TradeEvent::from(&trade)).unwrap(), "trade"),
        ];
        for (frame, raw, stream) in frames {
            let combined = format!(r#"{{"stream":"{}@{stream}","data":{raw}}}"#, symbol.as_str().to_ascii_lowercase());
            for text in [&raw, &combined] {
                let back = parse_frame(text, RECEIVED).unwrap();
                prop_assert!(same(&back, &frame), "{} read as {:?}", text, back);
                check_frame(text)?;
            }
        }
    }
}
