//! The market-data writer against a real redis-server: entries land in order with the contract's
//! fields; while Redis is away the buffer is bounded, the oldest entries are dropped and counted,
//! and writing resumes by itself.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use redis::AsyncCommands;
use storm_bus::{md, Bus, BusConfig, StartAt, StreamReader};
use storm_core::{MdEvent, Symbol, Trade, VenueId};
use storm_ingester::writer::{self, WriterConfig, WriterStats};
use storm_service::Metrics;
use storm_testkit::RedisServer;
use tokio_util::sync::CancellationToken;

fn trade(id: u64) -> MdEvent {
    MdEvent::Trade(Trade {
        symbol: Symbol::new("BTCUSDT"),
        trade_id: id,
        price: "61837.63000000".parse().unwrap(),
        qty: "0.02000000".parse().unwrap(),
        buyer_is_maker: true,
        time_exchange: 1,
        time_received: 2,
    })
}

async fn bus(server: &RedisServer, shutdown: &CancellationToken) -> Bus {
    let mut cfg = BusConfig::new(server.url());
    cfg.retry_max = Duration::from_millis(200);
    cfg.response_timeout = Duration::from_secs(1);
    Bus::connect(cfg, shutdown.clone()).await.unwrap()
}

fn trade_ids(entries: &[storm_bus::StreamEntry]) -> Vec<u64> {
    entries
        .iter()
        .map(|e| match md::decode(e).unwrap() {
            MdEvent::Trade(t) => t.trade_id,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn events_land_in_order_with_contract_fields() {
    let server = RedisServer::start().unwrap();
    let shutdown = CancellationToken::new();
    let bus = bus(&server, &shutdown).await;
    let venue = VenueId::new("sim");
    let stats = WriterStats::new(&Metrics::new(), &venue);
    let cfg = WriterConfig { batch_max: 64, buffer_max: 10_000, maxlen: 100_000 };
    let (tx, task) = writer::spawn(&bus, venue, cfg, stats.clone(), shutdown.clone());
    for id in 0..1_000 {
        tx.send(trade(id)).await.unwrap();
    }
    drop(tx);
    task.await.unwrap();
    assert_eq!(stats.written.get(), 1_000);
    let key = bus.keys().md("sim", storm_core::Channel::Trade);
    let mut reader =
        StreamReader::new(&bus, &[(key, StartAt::Beginning)], 5_000, Duration::from_millis(100)).await.unwrap();
    let entries = reader.next_batch().await.unwrap();
    assert_eq!(entries[0].get_str("sym"), Some("BTCUSDT"));
    assert_eq!(entries[0].get_str("k"), Some("trade"));
    assert_eq!(trade_ids(&entries), (0..1_000).collect::<Vec<_>>());
}

/// Redis goes away while 5,000 events arrive: the writer holds at most its buffer (plus the
/// batch in flight), drops the oldest with a count, and writes the newest once Redis is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_keeps_the_newest_entries_and_counts_the_dropped() {
    let mut server = RedisServer::start().unwrap();
    let shutdown = CancellationToken::new();
    let bus = bus(&server, &shutdown).await;
    let venue = VenueId::new("sim");
    let stats = WriterStats::new(&Metrics::new(), &venue);
    let cfg = WriterConfig { batch_max: 100, buffer_max: 1_000, maxlen: 100_000 };
    let (tx, task) = writer::spawn(&bus, venue, cfg, stats.clone(), shutdown.clone());

    server.stop();
    for id in 0..5_000 {
        tx.send(trade(id)).await.unwrap();
    }
    // Everything beyond buffer + one batch in flight has been dropped, and counted.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(stats.dropped.get() >= 3_900, "dropped {}", stats.dropped.get());
    let mut server = tokio::task::spawn_blocking(move || {
        server.restart().unwrap();
        server
    })
    .await
    .unwrap();
    drop(tx);
    tokio::time::timeout(Duration::from_secs(30), task).await.expect("writer drains after redis returns").unwrap();

    let key = bus.keys().md("sim", storm_core::Channel::Trade);
    let mut c = bus.conn();
    let len: u64 = c.xlen(&key).await.unwrap();
    assert_eq!(len + stats.dropped.get(), 5_000, "every event is either in Redis or counted as dropped");
    let mut reader =
        StreamReader::new(&bus, &[(key, StartAt::Beginning)], 10_000, Duration::from_millis(100)).await.unwrap();
    let ids = trade_ids(&reader.next_batch().await.unwrap());
    assert_eq!(*ids.last().unwrap(), 4_999, "the newest event is kept");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order, no duplicates");
    server.stop();
}
