//! REST parsers on the recorded replies in `testdata/`, and on garbage.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;

use super::*;
use crate::adapter::{adapter_for_kind, AdapterError, SeqOutcome, VenueAdapter};
use crate::binance::adapter::BinanceAdapter;
use storm_testkit::fixtures::testdata_file;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn read(rel: &str) -> String {
    let path = testdata_file(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `(url, body)` of each `URL -> ts: body` line of a cryptofeed REST recording (other lines,
/// such as `BINANCE.0`'s `configuration: {..}`, are skipped).
fn recorded_replies(rel: &str) -> Vec<(String, String)> {
    read(rel)
        .lines()
        .filter_map(|line| {
            let (url, rest) = line.split_once(" -> ")?;
            let (_ts, body) = rest.split_once(": ").expect("`ts: body`");
            Some((url.to_owned(), body.to_owned()))
        })
        .collect()
}

fn instrument_of<'a>(info: &'a ExchangeInfoParsed, symbol: &str) -> &'a Instrument {
    info.instruments.iter().find(|i| i.symbol.as_str() == symbol).unwrap_or_else(|| panic!("{symbol} listed"))
}

/// `[tick, min price, max price, step, min qty, max qty, min notional, max notional]`.
fn filters(i: &Instrument) -> [Decimal; 8] {
    [i.tick_size, i.min_price, i.max_price, i.step_size, i.min_qty, i.max_qty, i.min_notional, i.max_notional]
}

fn every_prefix_fails<T: std::fmt::Debug>(body: &str, parse: impl Fn(&str) -> Result<T, RestWireError>) {
    let cuts: Vec<usize> =
        (0..body.len()).step_by((body.len() / 300).max(1)).filter(|&i| body.is_char_boundary(i)).collect();
    for cut in cuts {
        assert!(parse(&body[..cut]).is_err(), "a body truncated at byte {cut} parsed");
    }
}

#[test]
fn depth_weight_follows_the_binance_table() {
    let cases = [(0, 5), (1, 5), (100, 5), (101, 25), (500, 25), (501, 50), (1000, 50), (1001, 250), (5000, 250)];
    for (limit, weight) in cases {
        assert_eq!(depth_weight(limit), weight, "limit {limit}");
    }
    assert_eq!(depth_weight(u32::MAX), 250, "served as 5000");
}

#[test]
fn depth_url_names_symbol_and_the_limit_that_is_weighed() {
    let btc = Symbol::new("BTCUSDT");
    for base in ["https://api.binance.com", "https://api.binance.com/"] {
        assert_eq!(depth_url(base, &btc, 1000), "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000");
    }
    assert_eq!(depth_url("http://127.0.0.1:9", &btc, 0), "http://127.0.0.1:9/api/v3/depth?symbol=BTCUSDT&limit=1");
    assert_eq!(depth_url("http://h", &btc, 9999), "http://h/api/v3/depth?symbol=BTCUSDT&limit=5000");
    assert_eq!((depth_limit(0), depth_limit(5000), depth_limit(5001)), (1, 5000, 5000));
}

#[test]
fn documented_depth_reply_parses() {
    let body =
        r#"{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}"#;
    let snapshot = parse_depth_snapshot(body).unwrap();
    assert_eq!(snapshot.last_update_id, 1_027_024);
    assert_eq!(snapshot.bids, [Level::parse("4.00000000", "431.00000000").unwrap()]);
    assert_eq!(snapshot.asks, [Level::parse("4.00000200", "12.00000000").unwrap()]);
    let empty = parse_depth_snapshot(r#"{"lastUpdateId":7,"bids":[],"asks":[]}"#).unwrap();
    assert!(empty.bids.is_empty() && empty.asks.is_empty());
}

/// The four `depth?limit=1000` replies cryptofeed recorded (2021-10-11): ids, sizes and best levels
/// as recorded, sides best first and not crossed, and `depth_url` rebuilds each recorded URL.
#[test]
fn recorded_depth_1000_replies_parse() {
    let replies = recorded_replies("binance-spot-multi/BINANCE.http.0.0");
    let expected = [
        ("NKNUSDT", 499_869_752, 609, 1000, "0.35210000", "0.35250000"),
        ("BLZETH", 281_916_627, 174, 1000, "0.00006547", "0.00006555"),
        ("LRCBTC", 259_345_543, 176, 1000, "0.00000637", "0.00000638"),
        ("RUNEEUR", 15_602_511, 221, 468, "6.25100000", "6.26900000"),
    ];
    assert_eq!(replies.len(), expected.len());
    for ((url, body), (symbol, id, bids, asks, best_bid, best_ask)) in replies.iter().zip(expected) {
        assert_eq!(*url, depth_url("https://api.binance.com", &Symbol::new(symbol), 1000));
        let snapshot = parse_depth_snapshot(body).unwrap_or_else(|e| panic!("{symbol}: {e}"));
        assert_eq!(snapshot.last_update_id, id, "{symbol}");
        assert_eq!((snapshot.bids.len(), snapshot.asks.len()), (bids, asks), "{symbol}");
        assert_eq!((snapshot.bids[0].price.0, snapshot.asks[0].price.0), (d(best_bid), d(best_ask)), "{symbol}");
        assert!(snapshot.bids.windows(2).all(|w| w[0].price > w[1].price), "{symbol} bids best first");
        assert!(snapshot.asks.windows(2).all(|w| w[0].price < w[1].price), "{symbol} asks best first");
        assert!(snapshot.bids[0].price < snapshot.asks[0].price, "{symbol} crossed");
        let adapter = BinanceAdapter.parse_snapshot(body).unwrap();
        assert_eq!(adapter, snapshot, "the adapter method is the same parser");
    }
}

#[test]
fn garbage_depth_replies_are_errors_not_panics() {
    let cases = [
        "",
        "{",
        "[]",
        "null",
        r#"{"bids":[],"asks":[]}"#,
        r#"{"lastUpdateId":-1,"bids":[],"asks":[]}"#,
        r#"{"lastUpdateId":"7","bids":[],"asks":[]}"#,
        r#"{"lastUpdateId":18446744073709551616,"bids":[],"asks":[]}"#,
        r#"{"lastUpdateId":7,"bids":[["abc","1"]],"asks":[]}"#,
        r#"{"lastUpdateId":7,"bids":[["1","abc"]],"asks":[]}"#,
        r#"{"lastUpdateId":7,"bids":[["1.5",1]],"asks":[]}"#,
        r#"{"lastUpdateId":7,"bids":[[1.5,"1"]],"asks":[]}"#,
        r#"{"lastUpdateId":7,"bids":[["1"]],"asks":[]}"#,
        r#"{"lastUpdateId":7,"bids":[["1","2","3"]],"asks":[]}"#,
        r#"{"lastUpdateId":7,"bids":[],"asks":[["", "1"]]}"#,
        r#"{"lastUpdateId":7,"bids":[],"asks":[["99999999999999999999999999999999","1"]]}"#,
    ];
    for body in cases {
        let err = parse_depth_snapshot(body).unwrap_err();
        assert!(matches!(err, RestWireError::Json(_)), "{body}: {err}");
    }
    let numbers = [
        (r#"{"lastUpdateId":7,"bids":[["1.0","-0.5"]],"asks":[]}"#, "bids[0] qty: \"-0.5\" is negative"),
        (r#"{"lastUpdateId":7,"bids":[],"asks":[["1","1"],["-2","1"]]}"#, "asks[1] price: \"-2\" is not positive"),
        (
            r#"{"lastUpdateId":7,"bids":[["0.00000000","1"]],"asks":[]}"#,
            "bids[0] price: \"0.00000000\" is not positive",
        ),
    ];
    for (body, message) in numbers {
        assert_eq!(parse_depth_snapshot(body).unwrap_err().to_string(), message, "{body}");
    }
    let (_, recorded) = &recorded_replies("binance-spot-multi/BINANCE.http.0.0")[0];
    every_prefix_fails(recorded, parse_depth_snapshot);
    let err = BinanceAdapter.parse_snapshot("{").unwrap_err();
    assert!(matches!(err, AdapterError::Reply { venue: "binance", what: "depth snapshot", .. }), "{err}");
    assert!(err.to_string().starts_with("binance: unreadable depth snapshot: "), "{err}");
}

/// The full 2023-08-13 listing: every symbol, BTCUSDT's and ETHBTC's filters as listed, the
/// 2023 rate limits (REQUEST_WEIGHT 1200 per minute; ORDERS 50 per 10 s and 160,000 per day).
#[test]
fn full_2023_exchange_info_gives_every_instrument_with_its_filters() {
    let body = read("exchange-info/binance_spot_exchangeInfo_2023-08-13.json");
    let info = parse_exchange_info(&body).unwrap();
    assert_eq!(info.instruments.len(), 2276);
    assert_eq!(info.instruments.iter().filter(|i| i.is_trading()).count(), 1393);
    let btc = instrument_of(&info, "BTCUSDT");
    assert_eq!((btc.base.as_str(), btc.quote.as_str(), btc.status), ("BTC", "USDT", SymbolStatus::Trading));
    let want = ["0.01", "0.01", "1000000", "0.00001", "0.00001", "9000", "10", "9000000"].map(d);
    assert_eq!(filters(btc), want);
    let eth_btc = instrument_of(&info, "ETHBTC");
    let want = ["0.00001", "0.00001", "922327", "0.0001", "0.0001", "100000", "0.0001", "9000000"].map(d);
    assert_eq!(filters(eth_btc), want);
    for i in &info.instruments {
        assert_eq!(format!("{}{}", i.base, i.quote), i.symbol.as_str());
        if i.is_trading() {
            assert!(i.tick_size > Decimal::ZERO && i.step_size > Decimal::ZERO, "{}", i.symbol);
        }
    }
    assert_eq!(info.request_weight_per_minute, Some(1200));
    let orders = [
        RateLimit { max: 50, per: Duration::from_secs(10) },
        RateLimit { max: 160_000, per: Duration::from_secs(86_400) },
    ];
    assert_eq!(info.order_limits, orders);
    // The adapter methods agree with the parser and with the looser listing reader.
    assert_eq!(BinanceAdapter.parse_instruments(&body).unwrap(), info.instruments);
    let weight = BinanceAdapter.request_weight_limit(&body).unwrap();
    assert_eq!(weight, Some(RateLimit { max: 1200, per: Duration::from_secs(60) }));
    let markets = BinanceAdapter.listed_markets(&body).unwrap();
    let listed: Vec<_> = markets.iter().map(|m| (&m.symbol, m.status)).collect();
    let parsed: Vec<_> = info.instruments.iter().map(|i| (&i.symbol, i.status)).collect();
    assert_eq!(listed, parsed);
}

/// The 2025 reply (25 symbols, keys in alphabetical order): BTCUSDT's NOTIONAL fell to 5 and the
/// limits rose to 6000 weight per minute, 100 orders per 10 s, 200,000 per day.
#[test]
fn exchange_info_2025_has_current_limits() {
    let body = read("exchange-info/binance_spot_exchangeInfo_2025-08-07_25symbols.json");
    let info = parse_exchange_info(&body).unwrap();
    assert_eq!(info.instruments.len(), 25);
    assert_eq!(info.instruments.iter().filter(|i| i.is_trading()).count(), 12);
    let want = ["0.01", "0.01", "1000000", "0.00001", "0.00001", "9000", "5", "9000000"].map(d);
    assert_eq!(filters(instrument_of(&info, "BTCUSDT")), want);
    assert_eq!(info.request_weight_per_minute, Some(6000));
    let orders = [
        RateLimit { max: 100, per: Duration::from_secs(10) },
        RateLimit { max: 200_000, per: Duration::from_secs(86_400) },
    ];
    assert_eq!(info.order_limits, orders);
}

/// cryptofeed's 2021 recording (`BINANCE.0`, first line `URL -> ts: body`): 1,695 symbols listed
/// with the older MIN_NOTIONAL filter, which has no maximum.
#[test]
fn exchange_info_2021_reads_min_notional() {
    let replies = recorded_replies("binance-spot-multi/BINANCE.0");
    let (url, body) = replies.iter().find(|(url, _)| url.ends_with("/api/v3/exchangeInfo")).expect("exchangeInfo line");
    assert_eq!(*url, BinanceAdapter.listing_url("https://api.binance.com/"));
    let info = parse_exchange_info(body).unwrap();
    assert_eq!(info.instruments.len(), 1695);
    assert_eq!(info.instruments.iter().filter(|i| i.is_trading()).count(), 1262);
    let want = ["0.01", "0.01", "1000000", "0.00001", "0.00001", "9000", "10", "0"].map(d);
    assert_eq!(filters(instrument_of(&info, "BTCUSDT")), want);
    let nkn = instrument_of(&info, "NKNUSDT");
    assert_eq!((nkn.tick_size, nkn.step_size, nkn.min_notional), (d("0.0001"), d("1"), d("10")));
    assert_eq!(info.request_weight_per_minute, Some(1200));
}

#[test]
fn missing_filters_are_zeros_and_notional_wins_over_min_notional() {
    let body = r#"{"symbols":[
        {"symbol":"AB","status":"BREAK","baseAsset":"A","quoteAsset":"B"},
        {"symbol":"CD","status":"TRADING","baseAsset":"C","quoteAsset":"D","filters":[
            {"filterType":"NOTIONAL","minNotional":"5","maxNotional":"100"},
            {"filterType":"MIN_NOTIONAL","minNotional":"10"},
            {"filterType":"PRICE_FILTER","tickSize":"0.5"},
            {"filterType":"SOMETHING_NEW","x":[1,{"y":null}]}]},
        {"symbol":"EF","status":"TRADING","baseAsset":"E","quoteAsset":"F","filters":[
            {"filterType":"MIN_NOTIONAL","minNotional":"10"},
            {"filterType":"NOTIONAL","minNotional":"5"}]}]}"#;
    let info = parse_exchange_info(body).unwrap();
    let zero = [Decimal::ZERO; 8];
    assert_eq!(filters(&info.instruments[0]), zero);
    assert_eq!(info.instruments[0].status, SymbolStatus::Other);
    let cd = &info.instruments[1];
    assert_eq!((cd.tick_size, cd.min_price, cd.min_notional, cd.max_notional), (d("0.5"), d("0"), d("5"), d("100")));
    assert_eq!(info.instruments[2].min_notional, d("5"), "NOTIONAL wins whatever the order");
    assert_eq!((info.request_weight_per_minute, info.order_limits.len()), (None, 0));
    assert_eq!(BinanceAdapter.request_weight_limit(body).unwrap(), None);
}

#[test]
fn rate_limits_read_any_window_and_saturate() {
    let body = r#"{"symbols":[],"rateLimits":[
        {"rateLimitType":"REQUEST_WEIGHT","interval":"SECOND","intervalNum":10,"limit":100},
        {"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":99999999999},
        {"rateLimitType":"ORDERS","interval":"HOUR","intervalNum":2,"limit":7},
        {"rateLimitType":"ORDERS","interval":"FORTNIGHT","intervalNum":1,"limit":7},
        {"rateLimitType":"CONNECTIONS","interval":"MINUTE","intervalNum":1,"limit":3}]}"#;
    let info = parse_exchange_info(body).unwrap();
    assert_eq!(info.request_weight_per_minute, Some(u32::MAX), "a huge limit means no limit, not an error");
    assert_eq!(info.order_limits, [RateLimit { max: 7, per: Duration::from_secs(7200) }], "unknown unit skipped");
    let rules = parse_rate_limits(body).unwrap();
    assert_eq!(rules.len(), 5);
    assert_eq!((rules[3].interval, rules[4].rate_limit_type), (RateInterval::Other, RateLimitType::Other));
}

#[test]
fn garbage_exchange_info_is_an_error_naming_the_field() {
    let symbol = |filters: &str| {
        format!(
            r#"{{"symbols":[{{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT","filters":[{filters}]}}]}}"#
        )
    };
    let numbers = [
        (
            r#"{"filterType":"PRICE_FILTER","tickSize":"abc"}"#,
            r#"BTCUSDT PRICE_FILTER.tickSize: "abc" is not a decimal"#,
        ),
        (r#"{"filterType":"LOT_SIZE","minQty":"-1"}"#, r#"BTCUSDT LOT_SIZE.minQty: "-1" is negative"#),
        (r#"{"filterType":"NOTIONAL","maxNotional":""}"#, r#"BTCUSDT NOTIONAL.maxNotional: "" is not a decimal"#),
        (
            r#"{"filterType":"MIN_NOTIONAL","minNotional":"1.2.3"}"#,
            r#"BTCUSDT MIN_NOTIONAL.minNotional: "1.2.3" is not a decimal"#,
        ),
        // Found by fuzzing: these used to be read as 0 (a tick that disables its rule) and 1000.
        (
            r#"{"filterType":"PRICE_FILTER","tickSize":"0.00000000000000000000000000001"}"#,
            r#"BTCUSDT PRICE_FILTER.tickSize: "0.00000000000000000000000000001" is not a decimal"#,
        ),
        (r#"{"filterType":"LOT_SIZE","maxQty":"1_000"}"#, r#"BTCUSDT LOT_SIZE.maxQty: "1_000" is not a decimal"#),
        (r#"{"filterType":"LOT_SIZE","stepSize":"1e-8"}"#, r#"BTCUSDT LOT_SIZE.stepSize: "1e-8" is not a decimal"#),
    ];
    for (filter, message) in numbers {
        assert_eq!(parse_exchange_info(&symbol(filter)).unwrap_err().to_string(), message, "{filter}");
        let err = BinanceAdapter.parse_instruments(&symbol(filter)).unwrap_err();
        assert!(matches!(err, AdapterError::Reply { venue: "binance", what: "instrument listing", .. }), "{err}");
    }
    let shapes = [
        String::new(),
        "{}".to_owned(),
        r#"{"symbols":null}"#.to_owned(),
        r#"{"symbols":[{"symbol":"X"}]}"#.to_owned(),
        symbol(r#"{"filterType":"LOT_SIZE","stepSize":0.001}"#),
        symbol(r#"{"tickSize":"0.01"}"#),
        r#"{"symbols":[],"rateLimits":[{"rateLimitType":"ORDERS","interval":"DAY","intervalNum":1,"limit":-5}]}"#
            .to_owned(),
        r#"{"symbols":[],"rateLimits":{}}"#.to_owned(),
    ];
    for body in &shapes {
        assert!(matches!(parse_exchange_info(body), Err(RestWireError::Json(_))), "{body}");
    }
    let body = read("exchange-info/binance_spot_exchangeInfo_2025-08-07_25symbols.json");
    every_prefix_fails(&body, parse_exchange_info);
}

/// `ticker/24hr` replies carry the bookTicker fields (plus many more), so the recorded 6-symbol
/// reply doubles as a real bookTicker list.
#[test]
fn book_ticker_lists_and_single_objects_parse() {
    let tickers = parse_book_tickers(&read("exchange-info/binance_spot_ticker24hr_2024-11-01_6symbols.json")).unwrap();
    let symbols: Vec<&str> = tickers.iter().map(|t| t.symbol.as_str()).collect();
    assert_eq!(symbols, ["ETHBTC", "LTCBTC", "BNBBTC", "NEOBTC", "QTUMETH", "EOSETH"]);
    let eth = &tickers[0];
    let quote = [eth.bid_price.0, eth.bid_qty.0, eth.ask_price.0, eth.ask_qty.0];
    assert_eq!(quote, ["0.03605000", "19.91130000", "0.03606000", "49.73030000"].map(d));
    assert!(tickers.iter().all(|t| t.bid_price < t.ask_price));

    let one = r#"{"symbol":"LTCBTC","bidPrice":"4.00000000","bidQty":"431.00000000","askPrice":"4.00000200","askQty":"9.00000000"}"#;
    let parsed = parse_book_tickers(one).unwrap();
    assert_eq!(parsed.len(), 1);
    assert_eq!(serde_json::to_string(&parsed[0]).unwrap(), one, "round-trips byte for byte");
    assert_eq!(parse_book_tickers(&format!(" [{one},{one}]")).unwrap().len(), 2);
    assert_eq!(parse_book_tickers("[]").unwrap(), []);
    let empty_book = r#"{"symbol":"XY","bidPrice":"0.00000000","bidQty":"0.00000000","askPrice":"0.00000000","askQty":"0.00000000"}"#;
    assert!(parse_book_tickers(empty_book).unwrap()[0].bid_price.is_zero(), "a side without orders reads 0");
}

#[test]
fn garbage_book_tickers_are_errors_not_panics() {
    let entry = |bid_qty: &str| {
        format!(r#"{{"symbol":"LTCBTC","bidPrice":"4.0","bidQty":{bid_qty},"askPrice":"4.1","askQty":"9.0"}}"#)
    };
    for body in [String::new(), "{".into(), "[{}]".into(), "7".into(), entry(r#""abc""#), entry("9.5"), entry("null")] {
        assert!(matches!(parse_book_tickers(&body), Err(RestWireError::Json(_))), "{body}");
    }
    let err = parse_book_tickers(&format!("[{}]", entry(r#""-1""#))).unwrap_err();
    assert_eq!(err.to_string(), r#"LTCBTC bidQty: "-1" is negative"#);
    every_prefix_fails(&read("exchange-info/binance_spot_ticker24hr_2024-11-01_6symbols.json"), parse_book_tickers);
}

/// The `VenueAdapter` methods booksync calls, through `adapter_for_kind` as the engine gets them.
#[test]
fn binance_adapter_serves_booksync_through_the_trait() {
    let adapter = adapter_for_kind(storm_core::VenueKind::Binance);
    let btc = Symbol::new("BTCUSDT");
    assert_eq!(
        adapter.snapshot_url("https://api.binance.com/", &btc, 5000),
        depth_url("https://api.binance.com", &btc, 5000)
    );
    assert_eq!((adapter.snapshot_weight(1000), adapter.snapshot_weight(5000)), (50, 250));
    let mut first = adapter.depth_sequencer();
    let second = adapter.depth_sequencer();
    first.reset(10);
    assert_eq!(first.check(11, 12), SeqOutcome::Apply);
    assert_eq!((first.last_applied(), second.last_applied()), (Some(12), None), "each call is a fresh sequencer");
}
