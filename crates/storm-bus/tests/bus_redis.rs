//! storm-bus against a real, throwaway redis-server (storm-testkit): publish/read, trimming,
//! consumer groups, heartbeats, and a Redis restart in the middle of a stream.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::time::Duration;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use storm_bus::{group::GroupConsumer, heartbeat, Bus, BusConfig, Entry, Publisher, StartAt, StreamReader};
use storm_testkit::{Persistence, RedisServer};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Msg {
    seq: u64,
    text: String,
}

async fn bus(server: &RedisServer) -> Bus {
    let mut cfg = BusConfig::new(server.url());
    cfg.response_timeout = Duration::from_secs(2);
    cfg.retry_max = Duration::from_millis(300);
    Bus::connect(cfg, CancellationToken::new()).await.unwrap()
}

fn entry(bus: &Bus, seq: u64) -> Entry {
    Entry::record(bus.keys().opps(), 0, Some("BTCUSDT"), &Msg { seq, text: format!("m{seq}") }).unwrap()
}

#[tokio::test]
async fn published_batches_are_read_back_in_order() {
    let server = RedisServer::start().unwrap();
    let bus = bus(&server).await;
    let key = bus.keys().opps();
    let mut reader =
        StreamReader::new(&bus, &[(key.clone(), StartAt::End)], 100, Duration::from_millis(200)).await.unwrap();
    let mut publisher = Publisher::new(&bus, "test");
    let batch: Vec<_> = (0..250).map(|i| entry(&bus, i)).collect();
    assert_eq!(publisher.publish(&batch).await.unwrap(), 250);

    let mut seen = Vec::new();
    while seen.len() < 250 {
        let got = reader.next_batch().await.unwrap();
        assert!(!got.is_empty(), "reader starved after {} entries", seen.len());
        for e in got {
            assert_eq!(e.get_str("sym"), Some("BTCUSDT"));
            seen.push(e.decode::<Msg>().unwrap().seq);
        }
    }
    assert_eq!(seen, (0..250).collect::<Vec<_>>());
    // Nothing more: an empty read after the block time, not an error.
    assert!(reader.next_batch().await.unwrap().is_empty());
}

#[tokio::test]
async fn maxlen_trims_streams_approximately() {
    let server = RedisServer::start().unwrap();
    let bus = bus(&server).await;
    let key = bus.keys().md("sim", storm_core::Channel::Trade);
    let mut publisher = Publisher::new(&bus, "trim");
    for chunk in 0..20 {
        let batch: Vec<_> =
            (0..500).map(|i| Entry::new(key.clone(), 1000).field("n", format!("{chunk}-{i}"))).collect();
        publisher.publish(&batch).await.unwrap();
    }
    let len: usize = bus.conn().xlen(&key).await.unwrap();
    assert!((1000..2000).contains(&len), "10,000 entries with MAXLEN ~ 1000 left {len}");
}

/// The Must-show: Redis is restarted mid-stream; the publisher and the reader reconnect by
/// themselves, and the reader sees every entry exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_mid_stream_loses_and_duplicates_nothing() {
    const TOTAL: u64 = 3_000;
    let mut server = RedisServer::start_with(Persistence::Aof).unwrap();
    let bus = bus(&server).await;
    let key = bus.keys().opps();
    let mut reader =
        StreamReader::new(&bus, &[(key.clone(), StartAt::End)], 500, Duration::from_millis(100)).await.unwrap();

    let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let pub_progress = progress.clone();
    let pub_bus = bus.clone();
    let producer = tokio::spawn(async move {
        let mut publisher = Publisher::new(&pub_bus, "restart-test");
        let mut seq = 0;
        while seq < TOTAL {
            let batch: Vec<_> = (seq..(seq + 10).min(TOTAL)).map(|s| entry(&pub_bus, s)).collect();
            publisher.publish(&batch).await.unwrap();
            seq += batch.len() as u64;
            pub_progress.store(seq, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let consumer = tokio::spawn(async move {
        let mut seen = Vec::new();
        while (seen.len() as u64) < TOTAL {
            for e in reader.next_batch().await.unwrap() {
                seen.push(e.decode::<Msg>().unwrap().seq);
            }
        }
        seen
    });

    tokio::time::sleep(Duration::from_millis(300)).await;
    let at_restart = progress.load(std::sync::atomic::Ordering::SeqCst);
    assert!(at_restart > 0 && at_restart < TOTAL, "restart must hit mid-stream (published {at_restart})");
    let server = tokio::task::spawn_blocking(move || {
        server.restart_after(Duration::from_millis(500)).unwrap();
        server
    })
    .await
    .unwrap();

    tokio::time::timeout(Duration::from_secs(60), producer).await.expect("producer finished").unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(60), consumer).await.expect("consumer finished").unwrap();
    assert_eq!(seen.len() as u64, TOTAL, "reader saw every entry once");
    assert_eq!(seen, (0..TOTAL).collect::<Vec<_>>(), "in order, no duplicates, no gaps");
    let len: u64 = bus.conn().xlen(&key).await.unwrap();
    assert_eq!(len, TOTAL, "the stream itself holds each entry exactly once");
    drop(server);
}

#[tokio::test]
async fn consumer_group_shares_acks_and_reclaims() {
    let server = RedisServer::start().unwrap();
    let bus = bus(&server).await;
    let key = bus.keys().opps();
    let block = Duration::from_millis(100);
    let mut a = GroupConsumer::new(&bus, &key, "executor", "a", block, false).await.unwrap();
    let mut b = GroupConsumer::new(&bus, &key, "executor", "b", block, false).await.unwrap();
    // Creating the group again is harmless (BUSYGROUP tolerated).
    storm_bus::ensure_group(&bus, &key, "executor", false).await.unwrap();

    let mut publisher = Publisher::new(&bus, "g");
    publisher.publish(&(0..10).map(|i| entry(&bus, i)).collect::<Vec<_>>()).await.unwrap();
    let got_a = a.read(4, block).await.unwrap();
    let got_b = b.read(100, block).await.unwrap();
    assert_eq!(got_a.len(), 4);
    assert_eq!(got_b.len(), 6, "each entry goes to exactly one consumer");
    let ids: HashSet<_> = got_a.iter().chain(&got_b).map(|e| e.id.clone()).collect();
    assert_eq!(ids.len(), 10);

    // b acks its entries; a "crashes" without acking.
    assert_eq!(b.ack(&got_b.iter().map(|e| e.id.clone()).collect::<Vec<_>>()).await.unwrap(), 6);
    tokio::time::sleep(Duration::from_millis(60)).await;
    let claimed = b.autoclaim(Duration::from_millis(50), 100).await.unwrap();
    let mut claimed_seqs: Vec<_> = claimed.iter().map(|e| e.decode::<Msg>().unwrap().seq).collect();
    claimed_seqs.sort_unstable();
    let mut a_seqs: Vec<_> = got_a.iter().map(|e| e.decode::<Msg>().unwrap().seq).collect();
    a_seqs.sort_unstable();
    assert_eq!(claimed_seqs, a_seqs, "b reclaims exactly a's unacknowledged entries");

    // A consumer restarting under its name first gets its own pending entries back.
    let mut b2 = GroupConsumer::new(&bus, &key, "executor", "b", block, false).await.unwrap();
    let pending = b2.read(100, block).await.unwrap();
    assert_eq!(pending.len(), 4, "claimed, unacked entries are pending for b");
}

#[tokio::test]
async fn group_is_recreated_after_redis_restarts_empty() {
    let mut server = RedisServer::start().unwrap();
    let bus = bus(&server).await;
    let key = bus.keys().opps();
    let block = Duration::from_millis(100);
    let mut c = GroupConsumer::new(&bus, &key, "executor", "a", block, true).await.unwrap();
    assert!(c.read(10, block).await.unwrap().is_empty());

    let server = tokio::task::spawn_blocking(move || {
        server.restart().unwrap();
        server
    })
    .await
    .unwrap();
    // Redis is empty now: group and stream are gone. Publish, then read through NOGROUP.
    let mut publisher = Publisher::new(&bus, "empty");
    publisher.publish(&[entry(&bus, 7)]).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..20 {
        got = c.read(10, block).await.unwrap();
        if !got.is_empty() {
            break;
        }
    }
    assert_eq!(got.len(), 1, "group recreated from the start of the new stream");
    assert_eq!(got[0].decode::<Msg>().unwrap().seq, 7);
    drop(server);
}

#[tokio::test]
async fn heartbeat_writes_identity_counters_and_ttl() {
    let server = RedisServer::start().unwrap();
    let bus = bus(&server).await;
    heartbeat::beat(&bus, "booksync", "t1", 42, Duration::from_secs(2), &[("books_live".into(), "3".into())])
        .await
        .unwrap();
    let key = bus.keys().health("booksync", "t1");
    let mut c = bus.conn();
    let h: std::collections::HashMap<String, String> = c.hgetall(&key).await.unwrap();
    assert_eq!(h.get("pid"), Some(&std::process::id().to_string()));
    assert_eq!(h.get("started").map(String::as_str), Some("42"));
    assert_eq!(h.get("books_live").map(String::as_str), Some("3"));
    assert!(h.contains_key("last_beat") && h.contains_key("version"));
    let ttl: i64 = c.pttl(&key).await.unwrap();
    assert!(ttl > 0 && ttl <= 6_000, "ttl {ttl}");
}

#[tokio::test]
async fn connect_waits_for_redis_and_honours_shutdown() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let token = CancellationToken::new();
    let t2 = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        t2.cancel();
    });
    let res = Bus::connect(BusConfig::new(format!("redis://127.0.0.1:{port}/")), token).await;
    assert!(matches!(res, Err(storm_bus::BusError::Cancelled)), "{res:?}");
}

/// An ACL user in the URL works; a wrong password is a clear error at once, not an endless retry.
#[tokio::test]
async fn acl_credentials_in_the_url() {
    let server = RedisServer::start().unwrap();
    let admin = bus(&server).await;
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "ingester", "on", ">s3cret", "~storm:*", "+@all"])
        .query_async(&mut admin.conn())
        .await
        .unwrap();
    let url = format!("redis://ingester:s3cret@127.0.0.1:{}/", server.port());
    let user_bus = Bus::connect(BusConfig::new(url), CancellationToken::new()).await.unwrap();
    Publisher::new(&user_bus, "acl").publish(&[entry(&user_bus, 1)]).await.unwrap();
    let len: u64 = admin.conn().xlen(admin.keys().opps()).await.unwrap();
    assert_eq!(len, 1);

    let wrong = format!("redis://ingester:nope@127.0.0.1:{}/", server.port());
    // redis-rs itself tries a few times (about 5 s), then storm gives up: no endless loop.
    let res =
        tokio::time::timeout(Duration::from_secs(20), Bus::connect(BusConfig::new(wrong), CancellationToken::new()))
            .await
            .expect("a wrong password must not be retried forever");
    match res {
        Err(storm_bus::BusError::Redis(e)) => assert_eq!(e.kind(), redis::ErrorKind::AuthenticationFailed),
        other => panic!("expected an authentication error, got {other:?}"),
    }
}
