//! `stormctl candles` and `stormctl ticker` over candles the real storm-candles engine made from
//! trades written as the ingester writes them (throwaway Redis, engine in process).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use rust_decimal::Decimal;
use storm_bus::{md, Publisher};
use storm_core::time::now_micros;
use storm_core::{MdEvent, Price, Qty, Symbol, Trade, VenueId};
use tokio_util::sync::CancellationToken;

fn trade(id: u64, price: &str, qty: &str) -> MdEvent {
    MdEvent::Trade(Trade {
        symbol: Symbol::new("BTCUSDT"),
        trade_id: id,
        price: Price(price.parse().unwrap()),
        qty: Qty(qty.parse().unwrap()),
        buyer_is_maker: id % 2 == 0,
        time_exchange: now_micros(),
        time_received: now_micros(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candles_and_ticker_show_what_the_engine_built() {
    let env = common::Env::start().await;
    let file: toml::Table = format!(
        "redis_url = \"{}\"\n[candles]\nvenue = \"sim\"\ntimeframes = [\"1s\", \"1m\"]\nforming_every_ms = 200\n",
        env.url()
    )
    .parse()
    .unwrap();
    let cfg = storm_service::Config::<storm_candles::CandlesConfig>::from_parts(file, &BTreeMap::new(), &[]).unwrap();
    let stop = CancellationToken::new();
    let engine = tokio::spawn(storm_candles::run(cfg, stop.clone()));
    let mut publisher = Publisher::new(&env.bus, "test-ingester");
    let venue = VenueId::new("sim");
    let prices = ["61837.63", "61840.10", "61829.55", "61833.00", "61850.25", "61845.00"];
    let mut total = Decimal::ZERO;
    for (i, p) in prices.iter().enumerate() {
        let qty = format!("0.0{}", i + 1);
        total += qty.parse::<Decimal>().unwrap();
        let e = md::entry(env.bus.keys(), &venue, 1_000, &trade(i as u64 + 1, p, &qty)).unwrap();
        publisher.publish(&[e]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(450)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_600)).await;

    let out = env.run(&["--json", "candles", "sim", "btcusdt", "1s", "-n", "0"]).ok().json();
    let rows = out["candles"].as_array().unwrap();
    assert!(rows.len() >= 3, "{out:#}");
    let vol: Decimal = rows.iter().map(|r| r["volume"].as_str().unwrap().parse::<Decimal>().unwrap()).sum();
    assert_eq!(vol, total, "every trade in exactly one 1s candle: {out:#}");
    assert_eq!(rows.last().unwrap()["close"].as_str().unwrap(), "61845.00", "{out:#}");
    let opens: Vec<u64> = rows.iter().map(|r| r["open_ms"].as_u64().unwrap()).collect();
    assert!(opens.windows(2).all(|w| w[1] == w[0] + 1_000), "one candle per second, none missing: {opens:?}");

    let png = std::env::temp_dir().join(format!("stormctl-candles-{}.png", std::process::id()));
    let text = env.run(&["candles", "sim", "BTCUSDT", "1s", "--png", png.to_str().unwrap()]).ok();
    assert!(text.stdout.contains("OPEN (UTC)") && text.stdout.contains("61845.00"), "{}", text.stdout);
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(
        (u32::from_be_bytes(bytes[16..20].try_into().unwrap()), u32::from_be_bytes(bytes[20..24].try_into().unwrap())),
        (1000, 640)
    );
    let _ = std::fs::remove_file(&png);

    let t = env.run(&["--json", "ticker", "sim", "btcusdt"]).ok().json();
    let one = &t["tickers"][0]["ticker"];
    assert_eq!(one["last"].as_str(), Some("61845.00"), "{t:#}");
    assert_eq!(one["volume_24h"].as_str().unwrap().parse::<Decimal>().unwrap(), total, "{t:#}");
    let text = env.run(&["ticker", "sim"]).ok();
    assert!(text.stdout.contains("BTCUSDT") && text.stdout.contains("24H VOLUME"), "{}", text.stdout);
    assert_eq!(env.run(&["candles", "sim", "BTCUSDT", "7m"]).code, 1, "an unknown timeframe is an error");
    stop.cancel();
    let _ = engine.await;
}
