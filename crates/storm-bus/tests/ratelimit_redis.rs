//! The shared REST weight budget against a real, throwaway redis-server (storm-testkit). Each
//! "process" is a `WeightBudget` on its own `Bus` connection. Timing assertions are bounds, and
//! windows are identified by the permits' `window_start_ms` (Redis' clock), not by local sleeps.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use storm_bus::ratelimit::Permit;
use storm_bus::{Bus, BusConfig, RateLimitError, WeightBudget, WeightBudgetConfig};
use storm_testkit::RedisServer;
use tokio_util::sync::CancellationToken;

async fn bus_with(server: &RedisServer, shutdown: CancellationToken) -> Bus {
    let mut cfg = BusConfig::new(server.url());
    cfg.response_timeout = Duration::from_secs(2);
    cfg.retry_max = Duration::from_millis(300);
    Bus::connect(cfg, shutdown).await.unwrap()
}

async fn bus(server: &RedisServer) -> Bus {
    bus_with(server, CancellationToken::new()).await
}

/// `limit` per `window`, 80 % usable, observations always applied.
fn config(limit: u32, window: Duration) -> WeightBudgetConfig {
    WeightBudgetConfig { window, observe_grace: Duration::ZERO, ..WeightBudgetConfig::new(limit) }
}

/// Sleeps into the next window unless at least `need` of the current one is left.
async fn fresh_window(budget: &WeightBudget, need: Duration) {
    let left = budget.status().await.unwrap().window_left;
    if left < need {
        tokio::time::sleep(left + Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_processes_never_exceed_the_shared_budget() {
    const TASKS: usize = 8;
    const WEIGHT: u32 = 50;
    let server = RedisServer::start().unwrap();
    let window = Duration::from_secs(2);
    let run_for = Duration::from_millis(5_500);

    let mut budgets = Vec::new();
    for _ in 0..TASKS {
        budgets.push(WeightBudget::new(&bus(&server).await, "binance", config(1000, window)).unwrap());
    }
    assert_eq!(budgets[0].budget(), 800);

    let deadline = tokio::time::Instant::now() + run_for;
    let mut tasks = Vec::new();
    for budget in budgets.clone() {
        tasks.push(tokio::spawn(async move {
            let mut permits: Vec<Permit> = Vec::new();
            // As fast as possible; an acquire still waiting at the deadline is simply dropped.
            while let Ok(permit) = tokio::time::timeout_at(deadline, budget.acquire(WEIGHT)).await {
                permits.push(permit.unwrap());
            }
            permits
        }));
    }
    let mut per_window: BTreeMap<u64, u32> = BTreeMap::new();
    for task in tasks {
        for p in task.await.unwrap() {
            assert_eq!(p.weight, WEIGHT);
            assert!(p.used <= 800, "a permit saw {} used in its window", p.used);
            *per_window.entry(p.window_start_ms).or_default() += p.weight;
        }
    }

    assert!(per_window.len() >= 2, "5.5 s of 2 s windows must span several: {per_window:?}");
    for (start, granted) in &per_window {
        assert_eq!(start % 2_000, 0, "windows align to the epoch");
        assert!(*granted <= 800, "window {start} granted {granted} > 800: {per_window:?}");
    }
    // The budget is usable, not just respected: eight eager tasks fill a whole window.
    assert_eq!(per_window.values().max(), Some(&800), "{per_window:?}");
    let waits: u64 = budgets.iter().map(|b| b.stats().waits_full).sum();
    assert!(waits >= 1, "tasks that did not fit must have waited");
    let granted: u64 = budgets.iter().map(|b| b.stats().weight_granted).sum();
    assert_eq!(granted, u64::from(per_window.values().sum::<u32>()));
}

#[tokio::test]
async fn observed_venue_weight_makes_the_next_acquire_wait() {
    let server = RedisServer::start().unwrap();
    let window = Duration::from_secs(2);
    let streamer = WeightBudget::new(&bus(&server).await, "binance", config(1000, window)).unwrap();
    let booksync = WeightBudget::new(&bus(&server).await, "binance", config(1000, window)).unwrap();
    fresh_window(&streamer, Duration::from_millis(1_500)).await;

    assert_eq!(streamer.observe_used(780).await.unwrap(), 780);
    // The venue's count only ever raises ours.
    assert_eq!(streamer.observe_used(100).await.unwrap(), 780);
    let seen = booksync.status().await.unwrap();
    assert_eq!(seen.used, 780, "still the observed window (a new one would start at 0)");
    assert_eq!(streamer.stats().raised_by_venue, 1);

    // 780 + 50 > 800: the other process cannot have it in this window.
    let permit = tokio::time::timeout(window * 3, booksync.acquire(50)).await.unwrap().unwrap();
    assert!(permit.window_start_ms > seen.window_start_ms, "granted in the full window: {permit:?} {seen:?}");
    assert_eq!(permit.used, 50, "the next window starts empty");
    assert!(permit.waited > Duration::ZERO);
    assert!(booksync.stats().waits_full >= 1);
}

#[tokio::test]
async fn observations_right_after_a_window_opens_are_ignored() {
    let server = RedisServer::start().unwrap();
    // A grace as long as the window: every observation falls inside it.
    let cfg = WeightBudgetConfig { observe_grace: Duration::from_secs(60), ..WeightBudgetConfig::new(6000) };
    let budget = WeightBudget::new(&bus(&server).await, "binance", cfg).unwrap();
    assert_eq!(budget.observe_used(4000).await.unwrap(), 0);
    assert_eq!(budget.status().await.unwrap().used, 0);
    assert_eq!(budget.stats().raised_by_venue, 0);
}

#[tokio::test]
async fn penalty_pauses_every_instance_until_retry_after() {
    let server = RedisServer::start().unwrap();
    let executor = WeightBudget::new(&bus(&server).await, "binance", WeightBudgetConfig::new(6000)).unwrap();
    let scout = WeightBudget::new(&bus(&server).await, "binance", WeightBudgetConfig::new(6000)).unwrap();

    let t0 = Instant::now();
    let quiet = executor.penalize(Duration::from_millis(1_500), false).await.unwrap();
    assert!(quiet > Duration::from_millis(1_000) && quiet <= Duration::from_millis(1_500), "{quiet:?}");
    // A shorter penalty never shortens one in force.
    let kept = executor.penalize(Duration::from_millis(200), true).await.unwrap();
    assert!(kept > Duration::from_millis(500), "{kept:?}");
    assert!(scout.status().await.unwrap().quiet_for > Duration::ZERO);

    let permit = tokio::time::timeout(Duration::from_secs(10), scout.acquire(5)).await.unwrap().unwrap();
    let elapsed = t0.elapsed();
    assert!(elapsed >= Duration::from_millis(1_400), "acquired after {elapsed:?}, inside the 1.5 s quiet period");
    assert!(permit.waited >= Duration::from_millis(1_000), "{permit:?}");
    assert!(scout.stats().waits_quiet >= 1);
    assert_eq!(executor.stats().penalties, 2);
    assert_eq!(scout.status().await.unwrap().quiet_for, Duration::ZERO);
}

#[tokio::test]
async fn counters_live_under_the_contract_keys() {
    let server = RedisServer::start().unwrap();
    let bus = bus(&server).await;
    let budget = WeightBudget::new(&bus, "binance", WeightBudgetConfig::new(6000)).unwrap();
    let permit = budget.acquire(20).await.unwrap();
    assert_eq!(permit.window_start_ms % 60_000, 0, "Binance windows are UTC minutes");

    let mut conn = bus.conn();
    let key = format!("storm:ratelimit:binance:weight:{}", permit.window_start_ms);
    let used: u32 = conn.get(&key).await.unwrap();
    assert_eq!(used, permit.used);
    let ttl: i64 = conn.pttl(&key).await.unwrap();
    assert!(ttl > 0 && ttl <= 120_000, "weight key ttl {ttl} ms");

    budget.penalize(Duration::from_secs(5), false).await.unwrap();
    let until: u64 = conn.get("storm:ratelimit:binance:until").await.unwrap();
    assert!(until > permit.window_start_ms, "until is Unix ms: {until}");
    let ttl: i64 = conn.pttl("storm:ratelimit:binance:until").await.unwrap();
    assert!(ttl > 0 && ttl <= 5_000, "until key ttl {ttl} ms");
}

#[tokio::test]
async fn too_heavy_request_is_refused_at_once() {
    let server = RedisServer::start().unwrap();
    let budget = WeightBudget::new(&bus(&server).await, "binance", config(1000, Duration::from_secs(60))).unwrap();
    let err = budget.acquire(801).await.unwrap_err();
    assert!(matches!(err, RateLimitError::TooHeavy { weight: 801, budget: 800 }), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(budget.acquire(800).await.unwrap().used, 800);
}

#[tokio::test]
async fn shutdown_cancels_a_waiting_acquire() {
    let server = RedisServer::start().unwrap();
    let shutdown = CancellationToken::new();
    let budget =
        WeightBudget::new(&bus_with(&server, shutdown.clone()).await, "binance", WeightBudgetConfig::new(6000))
            .unwrap();
    budget.penalize(Duration::from_secs(30), true).await.unwrap();

    let waiter = tokio::spawn({
        let budget = budget.clone();
        async move { budget.acquire(5).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiter.is_finished(), "must wait out the ban");
    let t = Instant::now();
    shutdown.cancel();
    let res = tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap();
    assert!(matches!(res, Err(RateLimitError::Cancelled)), "{res:?}");
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn redis_failure_is_an_error_not_a_panic_or_hang() {
    let mut server = RedisServer::start().unwrap();
    let budget = WeightBudget::new(&bus(&server).await, "binance", WeightBudgetConfig::new(6000)).unwrap();
    budget.acquire(10).await.unwrap();
    server.stop();

    let limit = Duration::from_secs(20);
    let err = tokio::time::timeout(limit, budget.acquire(10)).await.expect("acquire hung").unwrap_err();
    assert!(matches!(err, RateLimitError::Redis(_)), "{err}");
    assert!(err.is_retryable(), "a vanished Redis is worth retrying later: {err}");
    assert!(tokio::time::timeout(limit, budget.observe_used(100)).await.expect("observe hung").is_err());
    assert!(tokio::time::timeout(limit, budget.penalize(Duration::from_secs(1), false)).await.expect("hung").is_err());
    assert!(tokio::time::timeout(limit, budget.status()).await.expect("status hung").is_err());
    assert!(budget.stats().errors >= 4);
    assert_eq!(budget.stats().granted, 1);
}

#[tokio::test]
async fn scripts_are_reloaded_after_redis_forgets_them() {
    let server = RedisServer::start().unwrap();
    let bus = bus(&server).await;
    let budget = WeightBudget::new(&bus, "binance", WeightBudgetConfig::new(6000)).unwrap();
    let first = budget.acquire(10).await.unwrap();
    // What a Redis restart does to the script cache.
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut bus.conn()).await.unwrap();
    let second = budget.acquire(10).await.unwrap();
    if second.window_start_ms == first.window_start_ms {
        assert_eq!(second.used, first.used + 10);
    }
    assert_eq!(budget.stats().errors, 0);
}

#[tokio::test]
async fn the_blocking_first_try_counts_like_the_async_path_and_respects_quiet_periods() {
    let server = RedisServer::start().unwrap();
    let cfg = config(100, Duration::from_secs(60));
    let executor = WeightBudget::new(&bus(&server).await, "binance", cfg.clone()).unwrap();
    executor.first_try_on(std::sync::Arc::new(storm_bus::BlockingConn::new(&server.url())));
    let scout = WeightBudget::new(&bus(&server).await, "binance", cfg).unwrap();
    fresh_window(&scout, Duration::from_secs(5)).await;

    // Granted on the blocking connection, counted in the same shared window as everyone's.
    let a = executor.acquire(30).await.unwrap();
    let b = scout.acquire(30).await.unwrap();
    assert_eq!((a.used, b.used), (30, 60), "{a:?} {b:?}");
    assert_eq!(executor.status().await.unwrap().used, 60);

    // A 429 recorded by another process stops the blocking path too: it waits out the quiet period.
    scout.penalize(Duration::from_millis(800), false).await.unwrap();
    let t0 = Instant::now();
    let c = tokio::time::timeout(Duration::from_secs(10), executor.acquire(1)).await.unwrap().unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(700), "acquired {:?} into an 800 ms quiet period", t0.elapsed());
    assert!(executor.stats().waits_quiet >= 1);

    // No room left in the window: the blocking try finds none and the usual wait applies.
    let full = executor.budget() - c.used;
    executor.acquire(full).await.unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(500), executor.acquire(1)).await;
    assert!(waited.is_err(), "granted past the budget: {waited:?}");
}

#[tokio::test]
async fn an_unreachable_blocking_connection_falls_back_to_the_bus() {
    let server = RedisServer::start().unwrap();
    let budget = WeightBudget::new(&bus(&server).await, "binance", WeightBudgetConfig::new(6000)).unwrap();
    let port = storm_testkit::process::free_port().unwrap();
    budget.first_try_on(std::sync::Arc::new(storm_bus::BlockingConn::new(&format!("redis://127.0.0.1:{port}"))));
    let permit = budget.acquire(7).await.unwrap();
    assert_eq!(permit.weight, 7);
    assert_eq!(budget.status().await.unwrap().used, permit.used);
}
