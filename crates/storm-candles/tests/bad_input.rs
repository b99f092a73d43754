//! Bad trades never stop the candle engine: the real `storm-candles` binary on a real
//! redis-server reads an unparsable entry, an unparsable price, a negative price, a zero
//! quantity, an overflowing price and a trade a day in the future — each counted on /metrics and
//! skipped — and then folds the one good trade that follows into its candle.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use redis::Commands;
use rust_decimal::Decimal;
use storm_bus::codec::SCHEMA_VERSION;
use storm_bus::{md, Keys};
use storm_core::time::now_micros;
use storm_core::{MdEvent, Price, Qty, Symbol, Trade, VenueId};
use storm_testkit::process::{free_port, http_get, metric, EngineProcess};
use storm_testkit::RedisServer;

const BIN: &str = env!("CARGO_BIN_EXE_storm-candles");

fn trade(id: u64, price: Decimal, qty: Decimal, time_exchange: u64) -> MdEvent {
    MdEvent::Trade(Trade {
        symbol: Symbol::new("BTCUSDT"),
        trade_id: id,
        price: Price(price),
        qty: Qty(qty),
        buyer_is_maker: false,
        time_exchange,
        time_received: now_micros(),
    })
}

fn xadd_fields(conn: &mut redis::Connection, key: &str, fields: &[(&str, Vec<u8>)]) {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(key).arg("*");
    for (f, v) in fields {
        cmd.arg(*f).arg(v.as_slice());
    }
    let _: String = cmd.query(conn).unwrap();
}

fn xadd(conn: &mut redis::Connection, ev: &MdEvent) {
    let e = md::entry(&Keys::default(), &VenueId::new("sim"), 10_000, ev).unwrap();
    let fields: Vec<(&str, Vec<u8>)> = e.fields.iter().map(|(f, v)| (*f, v.to_vec())).collect();
    xadd_fields(conn, &e.key, &fields);
}

#[test]
fn bad_trades_are_counted_and_skipped_and_the_engine_goes_on() {
    let redis = RedisServer::start().unwrap();
    let mut conn = redis::Client::open(redis.url()).unwrap().get_connection().unwrap();
    let port = free_port().unwrap();
    let config = format!(
        "redis_url = \"{}\"\nmetrics_addr = \"127.0.0.1:{port}\"\n[candles]\nvenue = \"sim\"\ntimeframes = [\"1m\"]\nforming_every_ms = 200\n",
        redis.url()
    );
    let mut engine = EngineProcess::start(BIN, &config, &[]).unwrap();
    let key = Keys::default().md("sim", storm_core::Channel::Trade);
    let v = SCHEMA_VERSION.to_string().into_bytes();
    let now = now_micros();
    // Not msgpack at all; then a trade whose price is no number.
    xadd_fields(
        &mut conn,
        &key,
        &[("sym", b"BTCUSDT".to_vec()), ("k", b"trade".to_vec()), ("v", v.clone()), ("m", b"\xc1garbage".to_vec())],
    );
    let unparsable = serde_json::json!({"symbol": "BTCUSDT", "trade_id": 2, "price": "12x.5", "qty": "1",
        "buyer_is_maker": false, "time_exchange": now, "time_received": now});
    let m = rmp_serde::to_vec_named(&unparsable).unwrap();
    xadd_fields(&mut conn, &key, &[("sym", b"BTCUSDT".to_vec()), ("k", b"trade".to_vec()), ("v", v), ("m", m)]);
    // Decodable but unusable.
    xadd(&mut conn, &trade(3, Decimal::from(-5), Decimal::ONE, now));
    xadd(&mut conn, &trade(4, Decimal::from(5), Decimal::ZERO, now));
    xadd(&mut conn, &trade(5, Decimal::MAX, Decimal::TWO, now));
    xadd(&mut conn, &trade(6, Decimal::from(5), Decimal::ONE, now + 86_400_000_000));
    // The good one.
    xadd(&mut conn, &trade(7, Decimal::new(6_000_012, 2), Decimal::new(15, 1), now_micros()));

    let forming = Keys::default().candle("sim", &Symbol::new("BTCUSDT"), "1m");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let trades: Option<String> = conn.hget(&forming, "trades").unwrap();
        if trades.as_deref() == Some("1") {
            break;
        }
        assert!(Instant::now() < deadline, "the good trade never formed a candle: {trades:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let close: String = conn.hget(&forming, "close").unwrap();
    assert_eq!(close.parse::<Decimal>().unwrap(), Decimal::new(6_000_012, 2));
    let m = http_get(port, "/metrics");
    assert_eq!(metric(&m, "storm_candles_unreadable_total"), 2.0, "{m}");
    assert_eq!(metric(&m, "storm_candles_refused_total"), 4.0, "{m}");
    assert_eq!(metric(&m, "storm_candles_trades_total"), 1.0, "{m}");
    assert!(engine.is_running(), "the engine exited");
}
