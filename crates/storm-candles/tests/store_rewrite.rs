//! `store::rewrite_tail` on a real redis-server: a backfill's corrections land below the top of a
//! candle stream, where XADD cannot go. The tail is replaced in place, every candle stays once,
//! and the engine's next ordinary XADD still lands after it.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use redis::aio::ConnectionManager;
use storm_candles::store::{rewrite_tail, Commit};
use storm_testkit::RedisServer;

fn fields(v: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![("close", v.as_bytes().to_vec())]
}

async fn ids(conn: &mut ConnectionManager, key: &str) -> Vec<(String, String)> {
    let r: redis::streams::StreamRangeReply =
        redis::cmd("XRANGE").arg(key).arg("-").arg("+").query_async(conn).await.unwrap();
    r.ids.into_iter().map(|e| (e.id.clone(), redis::from_redis_value::<String>(&e.map["close"]).unwrap())).collect()
}

#[tokio::test]
async fn a_corrected_tail_replaces_the_old_one_and_appends_continue() {
    let redis = RedisServer::start().unwrap();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = ConnectionManager::new(client).await.unwrap();
    let key = "storm:candles:sim:BTCUSDT:1m";
    let mut commit = Commit::default();
    for (open, close) in [(60_000, "1"), (120_000, "2"), (180_000, "3")] {
        commit.candle(key.into(), format!("{open}-0"), 0, fields(close));
    }
    commit.run(&mut conn, "state").await.unwrap();
    // Before: a correction of 120000 could not be appended.
    let refused: redis::RedisResult<String> =
        redis::cmd("XADD").arg(key).arg("120000-1").arg("close").arg("2b").query_async(&mut conn).await;
    assert!(refused.is_err(), "XADD below the top: {refused:?}");

    let tail = vec![("120000-1".to_owned(), fields("2b")), ("180000-0".to_owned(), fields("3"))];
    let replaced = rewrite_tail(&mut conn, key, "120000-0", 0, &tail).await.unwrap();
    assert_eq!(replaced, 2);
    let want = [("60000-0", "1"), ("120000-1", "2b"), ("180000-0", "3")].map(|(a, b)| (a.to_owned(), b.to_owned()));
    assert_eq!(ids(&mut conn, key).await, want);

    commit.candle(key.into(), "240000-0".into(), 0, fields("4"));
    let w = commit.run(&mut conn, "state").await.unwrap();
    assert_eq!((w.added, w.duplicates), (1, 0));
    // The whole stream replaced (its first candle corrected).
    let all = vec![("60000-1".to_owned(), fields("1b")), ("240000-0".to_owned(), fields("4"))];
    assert_eq!(rewrite_tail(&mut conn, key, "60000-0", 0, &all).await.unwrap(), 4);
    let want = [("60000-1", "1b"), ("240000-0", "4")].map(|(a, b)| (a.to_owned(), b.to_owned()));
    assert_eq!(ids(&mut conn, key).await, want);
}

/// Thousands of tickers and series states in one commit: each HSET stays under Lua's unpack limit.
#[tokio::test]
async fn a_commit_of_thousands_of_fields_is_written_whole() {
    let redis = RedisServer::start().unwrap();
    let mut conn = ConnectionManager::new(redis::Client::open(redis.url()).unwrap()).await.unwrap();
    let mut commit = Commit::default();
    for i in 0..5_000 {
        commit.hash_field("storm:ticker:sim".into(), format!("SYM{i}"), b"{}".to_vec());
        commit.state(format!("SYM{i}"), vec![i as u8]);
    }
    commit.run(&mut conn, "storm:candles-state:sim").await.unwrap();
    let (tickers, states): (u64, u64) =
        redis::pipe().hlen("storm:ticker:sim").hlen("storm:candles-state:sim").query_async(&mut conn).await.unwrap();
    assert_eq!((tickers, states), (5_000, 5_000));
}

/// Closed candles alone go out as plain XADDs in MULTI/EXEC; a replay's id already in the
/// stream is refused and counted as a duplicate, the new one beside it added and counted as
/// added (before: both counted as duplicates), and a key of another type is a failure of that
/// one write only.
#[tokio::test]
async fn a_replayed_close_is_a_duplicate_and_a_new_one_is_added() {
    let redis = RedisServer::start().unwrap();
    let mut conn = ConnectionManager::new(redis::Client::open(redis.url()).unwrap()).await.unwrap();
    let key = "storm:candles:sim:ETHUSDT:1m";
    let mut commit = Commit::default();
    commit.candle(key.into(), "60000-0".into(), 0, fields("1"));
    commit.candle("storm:candles:sim:BTCUSDT:1m".into(), "60000-0".into(), 0, fields("9"));
    let w = commit.run(&mut conn, "state").await.unwrap();
    assert_eq!((w.added, w.duplicates, w.failed), (2, 0, 0));
    commit.candle(key.into(), "60000-0".into(), 0, fields("1"));
    commit.candle(key.into(), "120000-0".into(), 0, fields("2"));
    let w = commit.run(&mut conn, "state").await.unwrap();
    assert_eq!((w.added, w.duplicates, w.failed), (1, 1, 0));
    let want = [("60000-0", "1"), ("120000-0", "2")].map(|(a, b)| (a.to_owned(), b.to_owned()));
    assert_eq!(ids(&mut conn, key).await, want);

    let wrong = "storm:candles:sim:WRONG:1m";
    let () = redis::cmd("SET").arg(wrong).arg("not a stream").query_async(&mut conn).await.unwrap();
    commit.candle(wrong.into(), "60000-0".into(), 0, fields("1"));
    commit.candle(key.into(), "180000-0".into(), 0, fields("3"));
    let w = commit.run(&mut conn, "state").await.unwrap();
    assert_eq!((w.added, w.duplicates, w.failed), (1, 0, 1));
    assert_eq!(ids(&mut conn, key).await.len(), 3);
}
