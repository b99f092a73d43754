//! Chain ownership across executors: one owner per chain, a lease the owner renews while it
//! works, and a fencing epoch that a takeover raises.
//!
//! Why: executors share one consumer group, and XAUTOCLAIM hands an entry idle longer than
//! `claim_idle_ms` to another consumer even when its owner is alive and merely slow (an order
//! whose status is unknown, a full weight budget). Without ownership both would continue the
//! chain and send the same client order id. So:
//! - the gate that starts a chain writes its record with `owner` and `epoch = 1` and a lease of
//!   `claim_idle_ms` in `storm:exec:lease` (Redis clock);
//! - the owner renews the lease every quarter of it while the chain runs ([`hold`]);
//! - another executor takes a running chain over only once its lease ran out ([`take_over`]: one
//!   script compares owner and epoch, raises the epoch and grants a new lease); a live owner's
//!   chain is left alone, and its entry with it;
//! - every journal write is a compare-and-set on owner and epoch ([`crate::journal::save`]), and
//!   no order leaves after the lease this process knows it holds ([`Claim::ensure`], measured from
//!   before the renewal was asked, so it ends before Redis' lease does): a stale owner stops before
//!   it sends, and its late writes are refused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use storm_bus::lua::Lua;
use storm_bus::{Bus, BusError};
use tokio::task::JoinHandle;
use tracing::warn;

use crate::ctx::Ctx;
use crate::journal::{ChainRecord, JournalError};

/// Renews the lease of a running chain still owned by (owner, epoch); 0 when it is not.
static RENEW: Lua = Lua::new(
    r#"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
local ok, r = pcall(cjson.decode, cur)
if not ok or type(r) ~= 'table' or r.state ~= 'running' or r.owner ~= ARGV[2] or (tonumber(r.epoch) or 0) ~= tonumber(ARGV[3]) then
  return 0
end
local t = redis.call('TIME')
redis.call('ZADD', KEYS[2], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[4]), ARGV[1])
return 1
"#,
);

/// Takes a running chain over from (owner, epoch) once its lease ran out: writes the record with
/// the new owner and epoch, a new lease and the open slot.
static TAKE_OVER: Lua = Lua::new(
    r#"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 'gone' end
local ok, r = pcall(cjson.decode, cur)
if not ok or type(r) ~= 'table' then return 'corrupt' end
if r.state == 'done' then return 'done' end
if r.owner ~= ARGV[2] or (tonumber(r.epoch) or 0) ~= tonumber(ARGV[3]) then return 'moved' end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]) or '0')
if held > now then return 'held' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[6])
return 'taken'
"#,
);

/// This process's hold on one chain.
#[derive(Debug)]
pub struct Claim {
    opp_id: String,
    owner: String,
    epoch: u64,
    lease: Duration,
    held_until: Mutex<Instant>,
    lost: AtomicBool,
}

impl Claim {
    /// The hold on `record` granted by a write asked at `asked_at` (the gate's or a takeover's).
    pub fn granted(record: &ChainRecord, lease: Duration, asked_at: Instant) -> Arc<Self> {
        Arc::new(Self {
            opp_id: record.opp_id.clone(),
            owner: record.owner.clone(),
            epoch: record.epoch,
            lease,
            held_until: Mutex::new(asked_at + Self::usable(lease)),
            lost: AtomicBool::new(false),
        })
    }

    /// The part of a lease this process uses: a quarter is left as margin against Redis' clock
    /// and the renewal's own delay.
    fn usable(lease: Duration) -> Duration {
        lease - lease / 4
    }

    /// Until when orders may leave, while the hold is valid.
    pub fn valid_until(&self) -> Option<Instant> {
        let until = *self.held_until.lock().unwrap_or_else(|e| e.into_inner());
        (!self.lost.load(Ordering::Relaxed) && Instant::now() < until).then_some(until)
    }

    /// True once another executor owns the chain (or it is done).
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    fn renewed(&self, asked_at: Instant) {
        let mut until = self.held_until.lock().unwrap_or_else(|e| e.into_inner());
        *until = (*until).max(asked_at + Self::usable(self.lease));
    }

    fn lose(&self) {
        self.lost.store(true, Ordering::Relaxed);
    }

    /// Renews the lease now: false when the chain is no longer this owner's.
    async fn renew(&self, bus: &Bus) -> Result<bool, BusError> {
        let keys = bus.keys();
        let key_list = [keys.exec_journal(), keys.exec_lease()];
        let args = [
            self.opp_id.clone(),
            self.owner.clone(),
            self.epoch.to_string(),
            (self.lease.as_millis() as u64).to_string(),
        ];
        let asked = Instant::now();
        let n: i64 = bus
            .retry("lease renewal", |mut c| {
                let (key_list, args) = (key_list.clone(), args.clone());
                async move {
                    let k: Vec<&str> = key_list.iter().map(String::as_str).collect();
                    RENEW.run(&mut c, &k, &args.as_slice()).await
                }
            })
            .await?;
        if n == 1 {
            self.renewed(asked);
        } else {
            self.lose();
        }
        Ok(n == 1)
    }

    /// Until when an order may leave: the hold as known, else renewed now; [`JournalError::Lost`]
    /// when the chain is another executor's.
    pub async fn ensure(&self, bus: &Bus) -> Result<Instant, JournalError> {
        if let Some(until) = self.valid_until() {
            return Ok(until);
        }
        if !self.is_lost() && self.renew(bus).await? {
            if let Some(until) = self.valid_until() {
                return Ok(until);
            }
        }
        Err(JournalError::Lost(self.opp_id.clone()))
    }
}

/// The hold of the chain in hand: installed in [`Ctx`] and renewed in the background until
/// dropped.
pub struct Held<'a> {
    ctx: &'a Ctx,
    renewal: JoinHandle<()>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.renewal.abort();
        *self.ctx.claim.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Makes `claim` the chain in hand and renews it every quarter lease until the guard is dropped.
pub fn hold(ctx: &Ctx, claim: Arc<Claim>) -> Held<'_> {
    *ctx.claim.lock().unwrap_or_else(|e| e.into_inner()) = Some(claim.clone());
    let bus = ctx.bus.clone();
    let renewal = tokio::spawn(async move {
        let every = claim.lease / 4;
        loop {
            tokio::time::sleep(every).await;
            match claim.renew(&bus).await {
                Ok(true) => {}
                Ok(false) => {
                    warn!(opp = %claim.opp_id, epoch = claim.epoch, "chain taken over by another executor; stopping it here");
                    return;
                }
                Err(e) => warn!(opp = %claim.opp_id, error = %e, "lease renewal failed"),
            }
        }
    });
    Held { ctx, renewal }
}

/// The chain in hand's claim, if any.
pub fn current(ctx: &Ctx) -> Option<Arc<Claim>> {
    ctx.claim.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Takes over `existing` (a running chain) for this executor once its owner's lease ran out:
/// the record as now owned, with its hold; `None` while its owner holds it (or it moved on).
pub async fn take_over(ctx: &Ctx, existing: &ChainRecord) -> Result<Option<(ChainRecord, Arc<Claim>)>, JournalError> {
    take_over_as(&ctx.bus, existing, &ctx.owner, Duration::from_millis(ctx.cfg.claim_idle_ms)).await
}

/// [`take_over`] for `owner` with a lease of `lease`.
pub async fn take_over_as(
    bus: &Bus,
    existing: &ChainRecord,
    owner: &str,
    lease: Duration,
) -> Result<Option<(ChainRecord, Arc<Claim>)>, JournalError> {
    let mut mine = existing.clone();
    mine.owner = owner.to_owned();
    mine.epoch = existing.epoch + 1;
    let json = serde_json::to_string(&mine).map_err(|e| JournalError::Corrupt(mine.opp_id.clone(), e.to_string()))?;
    let keys = bus.keys();
    let key_list = [keys.exec_journal(), keys.exec_lease(), keys.exec_open()];
    let args = [
        mine.opp_id.clone(),
        existing.owner.clone(),
        existing.epoch.to_string(),
        json,
        (lease.as_millis() as u64).to_string(),
        mine.owner.clone(),
    ];
    let asked = Instant::now();
    let verdict: String = bus
        .retry("chain takeover", |mut c| {
            let (key_list, args) = (key_list.clone(), args.clone());
            async move {
                let k: Vec<&str> = key_list.iter().map(String::as_str).collect();
                TAKE_OVER.run(&mut c, &k, &args.as_slice()).await
            }
        })
        .await?;
    if verdict != "taken" {
        return Ok(None);
    }
    let claim = Claim::granted(&mine, lease, asked);
    Ok(Some((mine, claim)))
}
