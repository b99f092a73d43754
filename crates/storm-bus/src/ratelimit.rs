//! The per-IP REST weight budget every storm process on a host shares through Redis.
//!
//! # Why
//! Venue REST limits are **per IP**, not per process: booksync snapshots, the arbitrage scout, the
//! executor and the streamer all spend the same Binance `REQUEST_WEIGHT` (6000 per minute, read the
//! live value from `exchangeInfo.rateLimits`). Going over earns HTTP 429, and continuing after a 429
//! earns a 418 IP ban of minutes to days. Each process counting only its own requests would let four
//! well-behaved processes together get the host banned, so the counter lives in Redis.
//!
//! # How
//! * [`WeightBudget::acquire`] reserves weight in the counter of the current window before a request
//!   is sent, in one Lua script, so concurrent processes can never jointly overshoot. Only
//!   [`WeightBudgetConfig::usable_percent`] of the limit (80 % by default) is handed out; the rest
//!   absorbs requests that were in flight across a window boundary and clock differences with the
//!   venue. A caller that does not fit sleeps until the window turns (never spins).
//! * [`WeightBudget::observe_used`] feeds back the venue's own count (`X-MBX-USED-WEIGHT-1M`): the
//!   counter is raised to at least that value, so weight spent by anything we do not know about
//!   (a process that forgot to ask, a manual `curl`) is accounted for.
//! * [`WeightBudget::penalize`] records a 429/418 `Retry-After` as a "quiet until" time that stops
//!   every process until it has passed.
//!
//! Windows follow **Redis server time** (`TIME` inside the scripts), aligned to multiples of
//! [`WeightBudgetConfig::window`] since the Unix epoch: Binance resets its counter at each UTC
//! minute, and processes with skewed clocks still agree on which window they are in.
//!
//! # Keys
//! * `storm:ratelimit:<venue>:weight:<window start, Unix ms>` — STRING, weight reserved or observed in
//!   that window; expires after two windows.
//! * `storm:ratelimit:<venue>:until` — STRING, Unix ms (Redis time) before which nobody may send;
//!   expires when it passes.
//!
//! The scripts build the window key from the server time, so they address a key they were not given
//! in `KEYS`: fine on the standalone Redis storm runs on, not portable to Redis Cluster.
//!
//! # Failures
//! No retry happens here: `acquire` is not idempotent (a repeated reservation after a lost reply
//! would count twice), and a caller whose Redis is gone should learn it at once rather than wait
//! forever. Every Redis failure is returned as [`RateLimitError::Redis`];
//! [`RateLimitError::is_retryable`] tells whether a later attempt can succeed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use redis::{FromRedisValue, RedisError};
use storm_core::Backoff;
use thiserror::Error;
use tracing::{debug, error, warn};

use crate::blocking::BlockingConn;
use crate::lua::Lua;

use crate::conn::Bus;
use crate::error::BusError;

/// A failure of a rate-limit operation.
#[derive(Debug, Error)]
pub enum RateLimitError {
    /// Redis failed the script or could not be reached (see [`RateLimitError::is_retryable`]).
    #[error("rate limit: redis: {0}")]
    Redis(#[from] RedisError),
    /// The process is shutting down; nothing was reserved.
    #[error("rate limit: cancelled by shutdown")]
    Cancelled,
    /// The request weighs more than the whole budget of a window: it could never be sent.
    #[error("rate limit: weight {weight} exceeds the budget of {budget} per window")]
    TooHeavy {
        /// The weight asked for.
        weight: u32,
        /// The usable budget per window.
        budget: u32,
    },
    /// The configuration cannot work (zero limit, zero window, percentage out of range).
    #[error("invalid rate limit configuration: {0}")]
    Config(String),
}

impl RateLimitError {
    /// True when the same call later can succeed (Redis unreachable or still loading).
    pub fn is_retryable(&self) -> bool {
        match self {
            RateLimitError::Redis(e) => crate::error::is_retryable(e),
            _ => false,
        }
    }
}

impl From<RateLimitError> for BusError {
    fn from(e: RateLimitError) -> Self {
        match e {
            RateLimitError::Redis(e) => BusError::Redis(e),
            RateLimitError::Cancelled => BusError::Cancelled,
            other => BusError::Config(other.to_string()),
        }
    }
}

/// The venue's limit and how much of it storm allows itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightBudgetConfig {
    /// The venue's limit per window (Binance `REQUEST_WEIGHT`: 6000 per minute).
    pub limit: u32,
    /// Percentage of `limit` handed out in normal operation, 1–100 (default 80): the rest is a
    /// safety margin so we never meet a 429.
    pub usable_percent: u32,
    /// Length of the venue's counting window (Binance: 60 s, resetting on each UTC minute). Shorter
    /// only in tests.
    pub window: Duration,
    /// Venue counts reported this soon after a window opened are ignored (default 1 s): they may
    /// still describe the venue's previous window (request latency, clock offset) and would
    /// otherwise block a fresh window for its whole length.
    pub observe_grace: Duration,
}

impl WeightBudgetConfig {
    /// `limit` per minute, 80 % usable, 1 s observation grace.
    pub fn new(limit: u32) -> Self {
        Self { limit, usable_percent: 80, window: Duration::from_secs(60), observe_grace: Duration::from_secs(1) }
    }

    /// The weight handed out per window: `limit · usable_percent / 100`, rounded down.
    pub fn budget(&self) -> u32 {
        let budget = u64::from(self.limit) * u64::from(self.usable_percent.min(100)) / 100;
        u32::try_from(budget).unwrap_or(u32::MAX)
    }

    fn validate(&self) -> Result<(), RateLimitError> {
        if !(1..=100).contains(&self.usable_percent) {
            return Err(RateLimitError::Config(format!("usable_percent {} not in 1..=100", self.usable_percent)));
        }
        if self.budget() == 0 {
            return Err(RateLimitError::Config(format!("limit {} leaves no usable weight", self.limit)));
        }
        if self.window < Duration::from_millis(1) {
            return Err(RateLimitError::Config("window shorter than 1 ms".into()));
        }
        Ok(())
    }
}

/// What [`WeightBudget::acquire`] granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permit {
    /// The weight reserved.
    pub weight: u32,
    /// Weight counted in the window after this reservation (all processes).
    pub used: u32,
    /// Start of the window it was counted in, Unix ms by Redis' clock.
    pub window_start_ms: u64,
    /// How long the caller waited for room.
    pub waited: Duration,
}

/// The shared counters as Redis sees them now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetStatus {
    /// Start of the current window, Unix ms by Redis' clock.
    pub window_start_ms: u64,
    /// Time until the next window.
    pub window_left: Duration,
    /// Weight counted in the current window.
    pub used: u32,
    /// Weight handed out per window.
    pub budget: u32,
    /// Time until a 429/418 quiet period ends (zero when none is in force).
    pub quiet_for: Duration,
}

/// Counters of this process' use of the budget, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimitStats {
    /// Permits granted.
    pub granted: u64,
    /// Total weight granted.
    pub weight_granted: u64,
    /// Times an acquire slept because the window was full.
    pub waits_full: u64,
    /// Times an acquire slept because a 429/418 quiet period was in force.
    pub waits_quiet: u64,
    /// Total time callers spent waiting, ms.
    pub wait_ms: u64,
    /// Times an observed venue count raised the shared counter.
    pub raised_by_venue: u64,
    /// 429/418 penalties recorded.
    pub penalties: u64,
    /// Redis failures returned to callers.
    pub errors: u64,
}

#[derive(Default)]
struct Stats {
    granted: AtomicU64,
    weight_granted: AtomicU64,
    waits_full: AtomicU64,
    waits_quiet: AtomicU64,
    wait_ms: AtomicU64,
    raised_by_venue: AtomicU64,
    penalties: AtomicU64,
    errors: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// Every script gets `KEYS[1]` = the quiet-until key, `ARGV[1]` = the weight-key prefix,
/// `ARGV[2]` = the window length in ms. This computes the Redis time, the window and its key.
macro_rules! lua_prelude {
    () => {
        r"
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
local start = now - (now % window)
local wkey = ARGV[1] .. string.format('%d', start)
"
    };
}

/// ARGV[3]: budget, ARGV[4]: weight.
/// Returns {status, used, wait_ms, window_start}; status 1 granted, 0 window full, -1 quiet period.
static ACQUIRE: Lua = Lua::new(concat!(
    lua_prelude!(),
    r"
local quiet = tonumber(redis.call('GET', KEYS[1]) or '0')
if quiet > now then return {-1, 0, quiet - now, start} end
local used = tonumber(redis.call('GET', wkey) or '0')
local weight = tonumber(ARGV[4])
if used + weight > tonumber(ARGV[3]) then return {0, used, start + window - now, start} end
used = redis.call('INCRBY', wkey, weight)
redis.call('PEXPIRE', wkey, string.format('%d', 2 * window))
return {1, used, 0, start}
"
));

/// ARGV[3]: the venue's count, ARGV[4]: grace ms.
/// Returns {status, counter}; status 1 raised, 0 already as high, -1 ignored (window just opened).
static OBSERVE: Lua = Lua::new(concat!(
    lua_prelude!(),
    r"
local used = tonumber(redis.call('GET', wkey) or '0')
if now - start < tonumber(ARGV[4]) then return {-1, used} end
local seen = tonumber(ARGV[3])
if seen <= used then return {0, used} end
redis.call('SET', wkey, string.format('%d', seen), 'PX', string.format('%d', 2 * window))
return {1, seen}
"
));

/// ARGV[3]: quiet ms (≥ 1).
/// Returns {quiet ms now in force, 1 if this call extended it}.
static PENALIZE: Lua = Lua::new(concat!(
    lua_prelude!(),
    r"
local want = now + tonumber(ARGV[3])
local quiet = tonumber(redis.call('GET', KEYS[1]) or '0')
if want <= quiet then return {quiet - now, 0} end
redis.call('SET', KEYS[1], string.format('%d', want), 'PX', string.format('%d', want - now))
return {want - now, 1}
"
));

/// Returns {window start, ms left, used, quiet ms}.
static STATUS: Lua = Lua::new(concat!(
    lua_prelude!(),
    r"
local used = tonumber(redis.call('GET', wkey) or '0')
local quiet = tonumber(redis.call('GET', KEYS[1]) or '0')
return {start, start + window - now, used, math.max(quiet - now, 0)}
"
));

struct Inner {
    bus: Bus,
    venue: String,
    cfg: WeightBudgetConfig,
    budget: u32,
    window_ms: u64,
    until_key: String,
    weight_prefix: String,
    stats: Stats,
    /// Where the scripts run first, when set ([`WeightBudget::first_try_on`]).
    fast: OnceLock<Arc<BlockingConn>>,
}

/// One venue's REST weight budget, shared through Redis by every process on the host. Cloning is
/// cheap; clones share the connection and the statistics.
#[derive(Clone)]
pub struct WeightBudget {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WeightBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeightBudget")
            .field("venue", &self.inner.venue)
            .field("budget", &self.inner.budget)
            .field("window", &self.inner.cfg.window)
            .finish_non_exhaustive()
    }
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

fn to_ms(v: i64) -> Duration {
    Duration::from_millis(u64::try_from(v).unwrap_or(0))
}

impl WeightBudget {
    /// The budget of `venue` (its configured name, as in every other key) on `bus`. Waits give up
    /// with [`RateLimitError::Cancelled`] when the bus' shutdown token fires.
    pub fn new(bus: &Bus, venue: impl Into<String>, cfg: WeightBudgetConfig) -> Result<Self, RateLimitError> {
        cfg.validate()?;
        let venue = venue.into();
        let inner = Inner {
            until_key: bus.keys().ratelimit(&venue, "until"),
            weight_prefix: bus.keys().ratelimit(&venue, "weight:"),
            budget: cfg.budget(),
            window_ms: u64::try_from(cfg.window.as_millis()).unwrap_or(u64::MAX),
            bus: bus.clone(),
            venue,
            cfg,
            stats: Stats::default(),
            fast: OnceLock::new(),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The weight handed out per window.
    pub fn budget(&self) -> u32 {
        self.inner.budget
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &WeightBudgetConfig {
        &self.inner.cfg
    }

    /// Makes every script of this budget (and its clones) run on `conn` first: one plain round trip
    /// instead of the async connection's task hops, for a caller whose requests are
    /// latency-critical (the executor reserves an order's weight before it may leave, and records
    /// the venue's count after each reply). When the blocking call fails, the same script runs on
    /// the async connection. Set once; later calls are ignored.
    pub fn first_try_on(&self, conn: Arc<BlockingConn>) {
        let _ = self.inner.fast.set(conn);
    }

    /// Runs `script` with the common arguments (prefix, window) followed by `extra`.
    async fn run<T: FromRedisValue>(&self, script: &Lua, extra: &[u64]) -> Result<T, RateLimitError> {
        let inner = &*self.inner;
        let args = (inner.weight_prefix.as_str(), inner.window_ms, extra);
        let keys = [inner.until_key.as_str()];
        if let Some(reply) = inner.fast.get().and_then(|fast| fast.run(script, &keys, &args)) {
            return Ok(reply);
        }
        let mut conn = inner.bus.conn();
        script.run(&mut conn, &keys, &args).await.map_err(|e| {
            bump(&self.inner.stats.errors, 1);
            RateLimitError::Redis(e)
        })
    }

    /// Reserves `weight` in the current window before a request is sent, waiting (asleep, never
    /// spinning) while the window is full or a 429/418 quiet period is in force.
    ///
    /// Cancel-safe: dropping the future (e.g. under `tokio::time::timeout`) while it waits reserves
    /// nothing. Errors: [`RateLimitError::TooHeavy`] at once for a weight that can never fit,
    /// [`RateLimitError::Cancelled`] on shutdown, [`RateLimitError::Redis`] on any Redis failure.
    pub async fn acquire(&self, weight: u32) -> Result<Permit, RateLimitError> {
        let inner = &*self.inner;
        if weight > inner.budget {
            return Err(RateLimitError::TooHeavy { weight, budget: inner.budget });
        }
        let started = Instant::now();
        // Waiters spread over a few ms after the window turns instead of arriving in one burst.
        let spread = (inner.cfg.window / 50).min(Duration::from_millis(50));
        let mut jitter = Backoff::new(spread, spread);
        let args = [u64::from(inner.budget), u64::from(weight)];
        loop {
            let (status, used, wait_ms, start): (i64, i64, i64, i64) = self.run(&ACQUIRE, &args).await?;
            if status == 1 {
                let waited = started.elapsed();
                bump(&inner.stats.granted, 1);
                bump(&inner.stats.weight_granted, u64::from(weight));
                bump(&inner.stats.wait_ms, u64::try_from(waited.as_millis()).unwrap_or(u64::MAX));
                let window_start_ms = u64::try_from(start).unwrap_or(0);
                return Ok(Permit { weight, used: to_u32(used), window_start_ms, waited });
            }
            let quiet = status < 0;
            bump(if quiet { &inner.stats.waits_quiet } else { &inner.stats.waits_full }, 1);
            // Re-check at least once a window, so an operator lifting a long ban is noticed.
            let delay = to_ms(wait_ms).min(inner.cfg.window) + jitter.next_delay();
            debug!(venue = %inner.venue, weight, used, quiet, ?delay, "rest weight budget exhausted, waiting");
            tokio::select! {
                biased;
                _ = inner.bus.shutdown().cancelled() => return Err(RateLimitError::Cancelled),
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Feeds back the venue's count of the current window (`X-MBX-USED-WEIGHT-1M`): the shared
    /// counter becomes at least `used_weight_1m`, never lower. Counts arriving within
    /// [`WeightBudgetConfig::observe_grace`] of a window's start are ignored (they may belong to the
    /// previous window). Returns the shared counter afterwards.
    pub async fn observe_used(&self, used_weight_1m: u32) -> Result<u32, RateLimitError> {
        let grace_ms = u64::try_from(self.inner.cfg.observe_grace.as_millis()).unwrap_or(u64::MAX);
        let args = [u64::from(used_weight_1m), grace_ms];
        let (status, used): (i64, i64) = self.run(&OBSERVE, &args).await?;
        if status == 1 {
            bump(&self.inner.stats.raised_by_venue, 1);
            debug!(venue = %self.inner.venue, used, "venue reports more weight used than counted");
        }
        Ok(to_u32(used))
    }

    /// Records a 429 (`banned == false`) or 418 IP ban (`banned == true`) with its `Retry-After`:
    /// no process acquires weight until it has passed. An existing longer quiet period is kept.
    /// Returns the quiet period now in force.
    pub async fn penalize(&self, retry_after: Duration, banned: bool) -> Result<Duration, RateLimitError> {
        let ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX).max(1);
        let (quiet_ms, extended): (i64, i64) = self.run(&PENALIZE, &[ms]).await?;
        bump(&self.inner.stats.penalties, 1);
        let quiet = to_ms(quiet_ms);
        let venue = &self.inner.venue;
        if banned {
            error!(venue = %venue, ?retry_after, ?quiet, extended = extended == 1, "venue banned this IP (418), all REST calls paused");
        } else {
            warn!(venue = %venue, ?retry_after, ?quiet, extended = extended == 1, "venue rate limited this IP (429), all REST calls paused");
        }
        Ok(quiet)
    }

    /// The shared counters as Redis sees them now (for metrics and diagnostics).
    pub async fn status(&self) -> Result<BudgetStatus, RateLimitError> {
        let (start, left, used, quiet): (i64, i64, i64, i64) = self.run(&STATUS, &[]).await?;
        Ok(BudgetStatus {
            window_start_ms: u64::try_from(start).unwrap_or(0),
            window_left: to_ms(left),
            used: to_u32(used),
            budget: self.inner.budget,
            quiet_for: to_ms(quiet),
        })
    }

    /// This process' counters since the budget was created (shared by clones).
    pub fn stats(&self) -> RateLimitStats {
        let s = &self.inner.stats;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RateLimitStats {
            granted: get(&s.granted),
            weight_granted: get(&s.weight_granted),
            waits_full: get(&s.waits_full),
            waits_quiet: get(&s.waits_quiet),
            wait_ms: get(&s.wait_ms),
            raised_by_venue: get(&s.raised_by_venue),
            penalties: get(&s.penalties),
            errors: get(&s.errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_the_usable_share_of_the_limit() {
        assert_eq!(WeightBudgetConfig::new(6000).budget(), 4800);
        assert_eq!(WeightBudgetConfig { usable_percent: 100, ..WeightBudgetConfig::new(1000) }.budget(), 1000);
        assert_eq!(WeightBudgetConfig { usable_percent: 80, ..WeightBudgetConfig::new(1) }.budget(), 0);
    }

    #[test]
    fn unusable_configurations_are_rejected() {
        let base = WeightBudgetConfig::new(6000);
        assert!(base.validate().is_ok());
        assert!(WeightBudgetConfig { usable_percent: 0, ..base.clone() }.validate().is_err());
        assert!(WeightBudgetConfig { usable_percent: 101, ..base.clone() }.validate().is_err());
        assert!(WeightBudgetConfig { window: Duration::ZERO, ..base.clone() }.validate().is_err());
        assert!(WeightBudgetConfig::new(1).validate().is_err());
    }
}
