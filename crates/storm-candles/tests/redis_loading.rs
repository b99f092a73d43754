//! The candle engine started while Redis is still loading its dataset (a Redis restart under
//! supervisord: the engines come up beside it) waits for it, as the other engines do, instead
//! of exiting: before, its restore read (`HGETALL`) failed with `LOADING` and the process quit —
//! `scripts/run` then reported `storm-candles does not start (BACKOFF)`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use redis::Commands;
use storm_testkit::process::EngineProcess;
use storm_testkit::{Persistence, RedisServer};

const BIN: &str = env!("CARGO_BIN_EXE_storm-candles");

#[test]
fn an_engine_started_while_redis_loads_waits_for_it() {
    let mut redis = RedisServer::start_with(Persistence::Aof).unwrap();
    let mut conn = redis::Client::open(redis.url()).unwrap().get_connection().unwrap();
    let fill = "for i = 1, tonumber(ARGV[1]) do redis.call('SET', 'filler:' .. ARGV[2] .. ':' .. i, 'x') end";
    for part in 0..6 {
        let _: () = redis::cmd("EVAL").arg(fill).arg(0).arg(500_000).arg(part).query(&mut conn).unwrap();
    }
    // Redis may already be rewriting the AOF by itself (it grew): either way, wait for it.
    let rewrite: redis::RedisResult<String> = redis::cmd("BGREWRITEAOF").query(&mut conn);
    if let Err(e) = &rewrite {
        assert!(e.to_string().contains("already in progress"), "{e}");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info: String = redis::cmd("INFO").arg("persistence").query(&mut conn).unwrap();
        if info.contains("aof_rewrite_in_progress:0") && !info.contains("aof_rewrite_scheduled:1") {
            break;
        }
        assert!(Instant::now() < deadline, "the AOF rewrite does not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(conn);
    let config = format!("redis_url = \"{}\"\n[candles]\nvenue = \"sim\"\ntimeframes = [\"1m\"]\n", redis.url());
    let url = redis.url();
    // The engine starts a moment after Redis is restarted, while it loads 3 million keys.
    let starter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        EngineProcess::start(BIN, &config, &[]).unwrap()
    });
    redis.restart().unwrap();
    let mut engine = starter.join().unwrap();
    let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
    let loading: bool = redis::cmd("INFO").arg("persistence").query::<String>(&mut conn).unwrap().contains("loading:1");
    assert!(!loading, "Redis still loading after restart() returned");
    std::thread::sleep(Duration::from_secs(3));
    assert!(engine.is_running(), "storm-candles exited while Redis was loading");
    let hb: Vec<String> = conn.keys("storm:health:candles:*").unwrap();
    assert!(!hb.is_empty(), "no heartbeat from the engine after Redis loaded");
}
