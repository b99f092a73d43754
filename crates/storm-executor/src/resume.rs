//! Chains finished by another run than the one that started them: a chain whose owner's lease ran
//! out (taken over, [`continue_chain`]), a chain nobody's stream entry points at any more (its
//! entry trimmed from `storm:opps`: found by [`scan_orphans`] from `storm:exec:open` and the
//! leases), and an opportunity whose leg 1 is out although Redis lost its intent
//! ([`lost_intent`]).
//!
//! A chain always finishes in the mode it started in (the record says which): a live chain is
//! finished live — also by an executor now configured `dry-run`, which has the venue client — and
//! a paper chain only by a paper executor; a chain no one here can finish is left for one that can.

use std::time::{Duration, Instant};

use storm_bus::lua::Lua;
use storm_core::arb::{OppKind, OppLeg, Opportunity};
use tracing::{info, warn};

use crate::chain;
use crate::claim::{self, Claim};
use crate::config::Mode;
use crate::ctx::{ChainError, Ctx};
use crate::gateway::Gateway;
use crate::handle::finish;
use crate::journal::{self, ChainRecord, ChainState, JournalError, LegRole};

/// Most orphans taken per scan (each is one chain run inline).
const SCAN_BATCH: usize = 4;

/// Chains in `storm:exec:open` whose lease ran out (or that never had one).
static ORPHANS: Lua = Lua::new(
    r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
  local held = tonumber(redis.call('ZSCORE', KEYS[2], id) or '0')
  if held <= now then
    out[#out + 1] = id
    if #out >= tonumber(ARGV[1]) then break end
  end
end
return out
"#,
);

/// Frees the open slot and lease of a chain that has no running record any more.
static FREE: Lua = Lua::new(
    r#"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and not string.find(cur, '"state":"done"', 1, true) then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"#,
);

/// The mode a chain runs in, and whether this executor can run it.
fn mode_of(ctx: &Ctx, record: &ChainRecord) -> (Mode, bool) {
    let here = match ctx.gateway {
        Gateway::Paper(_) => Mode::Paper,
        Gateway::Venue(_) => Mode::Live,
    };
    let mode = record.mode.unwrap_or(here);
    (mode, mode == here)
}

/// Continues `existing`, a running chain, if its owner's lease ran out: taken over with the next
/// epoch, run from the journal, logged. Left alone while its owner holds it, or when it started in
/// a mode this executor cannot run. `opp`/`entry_id`: the delivery in hand, if any.
pub async fn continue_chain(
    ctx: &Ctx,
    existing: ChainRecord,
    opp: Option<&Opportunity>,
    entry_id: Option<&str>,
) -> Result<(), ChainError> {
    let (mode, runnable) = mode_of(ctx, &existing);
    if !runnable {
        warn!(opp = %existing.opp_id, mode = mode.as_str(), "chain started in another mode; left for an executor running it");
        return Ok(());
    }
    let Some((mut record, held)) = claim::take_over(ctx, &existing).await? else {
        ctx.stats.held.inc();
        tracing::debug!(opp = %existing.opp_id, owner = %existing.owner, "chain held by its owner; left to it");
        return Ok(());
    };
    let _held = claim::hold(ctx, held);
    ctx.stats.recovered.inc();
    info!(opp = %record.opp_id, from = %existing.owner, epoch = record.epoch, orders = record.legs.len(), "continuing a chain from the journal");
    let opp = record.opp.clone().or_else(|| opp.cloned()).unwrap_or_else(|| from_record(&record, &ctx.venue));
    let end = chain::execute_or_park(ctx, &opp, &mut record, false).await?;
    let ids: Vec<&str> = entry_id.into_iter().collect();
    let (outcome, reason) = (end.outcome, end.reason.clone());
    finish(ctx, &ids, &opp, Some(record), mode.as_str(), outcome, reason, Some(end)).await
}

/// A record written before it carried its opportunity: the legs it intended are the plan, so the
/// chain ends with them (and unwinds what they left).
fn from_record(record: &ChainRecord, venue: &str) -> Opportunity {
    let legs = record
        .legs
        .iter()
        .filter(|l| matches!(l.role, LegRole::Leg(_)))
        .map(|l| OppLeg {
            venue: storm_core::VenueId::new(venue),
            symbol: l.symbol.clone(),
            side: l.side,
            price: storm_core::Price(l.price),
            qty: storm_core::Qty(l.qty),
        })
        .collect();
    Opportunity {
        id: record.opp_id.clone(),
        kind: OppKind::Triangular,
        venue: storm_core::VenueId::new(venue),
        path: record.path.clone(),
        asset: record.asset.clone(),
        size: Default::default(),
        profit: Default::default(),
        profit_bps: Default::default(),
        confidence: 0.0,
        created_ms: record.started_ms,
        expires_ms: 0,
        legs,
        book_ids: Vec::new(),
        time_trigger_us: 0,
    }
}

/// Finds chains whose lease ran out with nobody's entry left to bring them back (a trimmed
/// stream, a consumer that never returns) and finishes them from the journal alone; frees open
/// slots whose chain is gone. Returns how many orphans were found.
pub async fn scan_orphans(ctx: &Ctx) -> Result<usize, ChainError> {
    let keys = ctx.bus.keys();
    let key_list = [keys.exec_open(), keys.exec_lease()];
    let ids: Vec<String> = ctx
        .bus
        .retry("orphan scan", |mut c| {
            let key_list = key_list.clone();
            async move {
                let k: Vec<&str> = key_list.iter().map(String::as_str).collect();
                ORPHANS.run(&mut c, &k, &[SCAN_BATCH.to_string()].as_slice()).await
            }
        })
        .await
        .map_err(JournalError::from)?;
    let mut found = 0;
    for id in ids {
        match journal::load(&ctx.bus, &id).await? {
            Some(record) if record.state == ChainState::Running => {
                found += 1;
                ctx.stats.orphans.inc();
                warn!(opp = %id, owner = %record.owner, orders = record.legs.len(), "orphaned chain: its owner's lease ran out; finishing it from the journal");
                match continue_chain(ctx, record, None, None).await {
                    Err(ChainError::Interrupted) => return Err(ChainError::Interrupted),
                    Err(e) => warn!(opp = %id, error = %e, "orphaned chain left for a later scan"),
                    Ok(()) => {}
                }
            }
            _ => {
                let freed: i64 = ctx
                    .bus
                    .retry("free open slot", |mut c| {
                        let k = [keys.exec_journal(), keys.exec_open(), keys.exec_lease()];
                        let id = id.clone();
                        async move {
                            let k: Vec<&str> = k.iter().map(String::as_str).collect();
                            FREE.run(&mut c, &k, &[id].as_slice()).await
                        }
                    })
                    .await
                    .map_err(JournalError::from)?;
                if freed == 1 {
                    ctx.stats.orphans.inc();
                    warn!(opp = %id, "open slot without a running chain freed");
                }
            }
        }
    }
    Ok(found)
}

/// An opportunity delivered before that has no journal record: if Redis lost leg 1's intent
/// while the order was out, the order exists at the venue. Leg 1's client id is looked up there
/// before anything is decided; when it exists (or the venue cannot say), the chain is journaled
/// again and continued from that order — resolved by query, never sent again. True when handled.
pub async fn lost_intent(ctx: &Ctx, entry_id: &str, opp: &Opportunity) -> Result<bool, ChainError> {
    if journal::load(&ctx.bus, &opp.id).await?.is_some() {
        return Ok(false);
    }
    let Ok(intent) = chain::first_intent(ctx, opp) else { return Ok(false) };
    match ctx.gateway.find(&intent.symbol, &intent.client_id).await {
        Ok(None) => return Ok(false),
        Ok(Some(fill)) => {
            warn!(opp = %opp.id, client_id = %intent.client_id, status = %fill.status, "leg 1 exists at the venue but the journal has no record (intent lost): continuing from it")
        }
        Err(e) => {
            warn!(opp = %opp.id, client_id = %intent.client_id, error = %e, "cannot look leg 1 up; resolving it by query before anything is sent")
        }
    }
    ctx.stats.lost_intents.inc();
    let mut record = ChainRecord::new(&opp.id, &opp.path, &opp.asset, &ctx.owner, storm_core::time::now_millis())
        .with_plan(opp, entry_id, ctx.cfg.mode);
    record.legs.push(intent);
    let asked = Instant::now();
    match journal::save(&ctx.bus, &record, ctx.cfg.claim_idle_ms).await {
        // Another executor journaled it meanwhile: the gate's path leaves it to that one.
        Err(JournalError::Lost(_)) => return Ok(false),
        other => other?,
    }
    let _held = claim::hold(ctx, Claim::granted(&record, Duration::from_millis(ctx.cfg.claim_idle_ms), asked));
    let end = chain::execute_or_park(ctx, opp, &mut record, false).await?;
    let (outcome, reason) = (end.outcome, end.reason.clone());
    finish(ctx, &[entry_id], opp, Some(record), ctx.cfg.mode.as_str(), outcome, reason, Some(end)).await?;
    Ok(true)
}
