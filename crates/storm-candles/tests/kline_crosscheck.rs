//! The venue's klines as a cross-check, with the real `storm-candles` binary on a real
//! redis-server: trades of one whole second written as the ingester writes them, then the venue's
//! closed `1s` kline of that second — once equal to the trades, once with a trade too few. The
//! engine compares both with its own closed candle and counts one disagreement on /metrics.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use storm_bus::{md, Keys};
use storm_core::time::{now_micros, now_millis};
use storm_core::{Kline, MdEvent, Price, Qty, Symbol, Trade, VenueId};
use storm_testkit::process::{free_port, http_get, metric, EngineProcess};
use storm_testkit::RedisServer;

const BIN: &str = env!("CARGO_BIN_EXE_storm-candles");

fn xadd(conn: &mut redis::Connection, ev: &MdEvent) {
    let e = md::entry(&Keys::default(), &VenueId::new("sim"), 10_000, ev).unwrap();
    let mut cmd = redis::cmd("XADD");
    cmd.arg(&e.key).arg("*");
    for (f, v) in &e.fields {
        cmd.arg(*f).arg(v.as_slice());
    }
    let _: String = cmd.query(conn).unwrap();
}

fn kline(open_ms: u64, prices: &[i64], trades: u64) -> MdEvent {
    let p = |v: i64| Price(Decimal::from(v));
    MdEvent::Kline(Kline {
        symbol: Symbol::new("BTCUSDT"),
        interval: "1s".into(),
        open_time: open_ms * 1_000,
        close_time: (open_ms + 999) * 1_000,
        open: p(prices[0]),
        high: p(*prices.iter().max().unwrap()),
        low: p(*prices.iter().min().unwrap()),
        close: p(prices[prices.len() - 1]),
        volume: Qty(Decimal::from(trades)),
        quote_volume: Qty(Decimal::ZERO),
        trades,
        closed: true,
        time_exchange: now_micros(),
        time_received: now_micros(),
    })
}

fn trade(id: u64, price: i64) -> MdEvent {
    MdEvent::Trade(Trade {
        symbol: Symbol::new("BTCUSDT"),
        trade_id: id,
        price: Price(Decimal::from(price)),
        qty: Qty(Decimal::ONE),
        buyer_is_maker: false,
        time_exchange: now_micros(),
        time_received: now_micros(),
    })
}

#[test]
fn a_venue_kline_that_differs_from_storms_candle_is_counted() {
    let redis = RedisServer::start().unwrap();
    let mut conn = redis::Client::open(redis.url()).unwrap().get_connection().unwrap();
    let port = free_port().unwrap();
    let config = format!(
        "redis_url = \"{}\"\nmetrics_addr = \"127.0.0.1:{port}\"\n[candles]\nvenue = \"sim\"\ntimeframes = [\"1s\"]\ngrace_ms = 100\n",
        redis.url()
    );
    let _engine = EngineProcess::start(BIN, &config, &[]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "no /metrics");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The reader is at the end of the kline stream by then.
    std::thread::sleep(Duration::from_millis(300));
    // One trade starts the series (its first second, seen from the middle, is a hole for a
    // backfill and is not cross-checked); then three trades inside the next second.
    xadd(&mut conn, &trade(1, 99));
    let open_ms = (now_millis() / 1_000 + 1) * 1_000;
    std::thread::sleep(Duration::from_millis((open_ms + 20).saturating_sub(now_millis())));
    let prices = [100, 103, 101];
    for (i, p) in prices.iter().enumerate() {
        xadd(&mut conn, &trade(i as u64 + 2, *p));
    }
    // The venue's close comes after storm's (boundary + grace).
    std::thread::sleep(Duration::from_millis((open_ms + 1_400).saturating_sub(now_millis())));
    xadd(&mut conn, &kline(open_ms, &prices, 3));
    xadd(&mut conn, &kline(open_ms, &prices[..2], 2));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = http_get(port, "/metrics");
        let (checks, disagreements) =
            (metric(&m, "storm_candles_kline_checks_total"), metric(&m, "storm_candles_kline_disagreements_total"));
        if checks >= 2.0 {
            assert_eq!((checks, disagreements), (2.0, 1.0), "{m}");
            break;
        }
        assert!(Instant::now() < deadline, "{checks} checks after 10 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}
