//! One entry of `storm:opps`, from read to acknowledged outcome.
//!
//! 1. Decode; an unreadable entry is logged `rejected` and acknowledged.
//! 2. The local checks ([`crate::risk::local_check`], room under `orders_per_10s` for every
//!    leg) and leg 1's intent, then one round trip through the gate ([`crate::gate`]): an
//!    existing journal record first, then `superseded` (a chain traded on one of its books since
//!    it was priced, [`crate::supersede`]), halt, open chains and balance; on "go" leg 1's intent
//!    is already journaled.
//! 3. A record that is `done` means the entry was delivered again: acknowledge only. A record that
//!    is `running` is a chain in flight: left alone while its owner holds its lease, else taken
//!    over and continued from the journal in the mode it started in, without the pre-trade checks
//!    (its first order may exist; stopping now would strand inventory) — [`crate::resume`]. An
//!    entry delivered before that has no record is first looked up at the venue (Redis may have
//!    lost leg 1's intent while the order was out).
//! 4. `dry-run` validates every leg with the venue's test endpoint; `paper`/`live` run the chain
//!    ([`crate::chain::execute`]).
//! 5. The outcome, the journal's `done`, the `storm:exec:failed` report (and `storm:exec:parked`
//!    for a chain whose order status could not be resolved), the day's loss and the XACK in one
//!    script ([`crate::outcome::finish`]); `storm:halt` is set after when the loss reached the
//!    cap. An opportunity refused before any order leaves no journal record (the log has it).

use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use storm_bus::{opps, outcomes, BusError, StreamEntry};
use storm_core::arb::Opportunity;
use storm_core::time::now_millis;
use storm_venues::trading::{NewOrder, TimeInForce};
use tracing::{info, warn};

use crate::chain::{self, ChainEnd};
use crate::claim::{self, Claim};
use crate::config::Mode;
use crate::ctx::{ChainError, Ctx, GROUP};
use crate::gate::{self, Gate};
use crate::gateway::Gateway;
use crate::journal::{self, ChainRecord, ChainState, JournalError};
use crate::outcome::{self, ArbOutcome, FailedReport};
use crate::resume;
use crate::risk;
use crate::supersede;

/// Handles one entry; `Err` leaves it unacknowledged for a later run. `redelivered`: the entry
/// was delivered before (a claim, or this consumer's own pending entries after a restart).
pub async fn handle(
    ctx: &Ctx,
    entry: &StreamEntry,
    read_at: Instant,
    balance_key: Option<&str>,
    redelivered: bool,
) -> Result<(), ChainError> {
    let opp = match decode(entry) {
        Ok(o) => o,
        Err(why) => return reject_unreadable(ctx, entry, &why).await.map_err(|e| JournalError::Bus(e).into()),
    };
    if redelivered && ctx.cfg.mode != Mode::DryRun && resume::lost_intent(ctx, &entry.id, &opp).await? {
        return Ok(());
    }
    ctx.stats.first_send.start(read_at);
    let dry_run = ctx.cfg.mode == Mode::DryRun;
    // An overflowing spend is refused by the local check.
    let spend = risk::first_spend(&opp).unwrap_or_default();
    let mut local = risk::local_check(&ctx.cfg, &opp, now_millis());
    // No order rate now is a refusal for now: the gate may still say `superseded`. An expired
    // opportunity stays `expired`: the outcome mix must show when the executor fell behind.
    let mut soft = false;
    if local.is_none() && !ctx.limiter.has_room(opp.legs.len()) {
        let (sent, limit) = ctx.limiter.load();
        local = Some((
            "rejected",
            format!(
                "order rate: {sent} of orders_per_10s {limit} sent in the last 10 s, no room for {} legs",
                opp.legs.len()
            ),
        ));
        soft = true;
    }
    let mut record = ChainRecord::new(&opp.id, &opp.path, &opp.asset, &ctx.owner, now_millis()).with_plan(
        &opp,
        &entry.id,
        ctx.cfg.mode,
    );
    if local.is_none() && !dry_run {
        match chain::first_intent(ctx, &opp) {
            Ok(leg) => record.legs.push(leg),
            Err(why) => local = Some(("rejected", why)),
        }
    }
    if let (None, Gateway::Paper(paper)) = (&local, &ctx.gateway) {
        let free = paper.balance(&opp.asset);
        if free < spend {
            local = Some(("rejected", format!("insufficient balance: {free} {} free, {spend} needed", opp.asset)));
        }
    }
    let ask = gate::Ask {
        record: &record,
        venue: &ctx.venue,
        lease_ms: ctx.cfg.claim_idle_ms,
        max_open: ctx.cfg.max_open_chains,
        balance_key,
        spend,
        local: match (&local, soft) {
            (None, _) => gate::Local::None,
            (Some(_), true) => gate::Local::Soft,
            (Some(_), false) => gate::Local::Hard,
        },
        priced_on: (opp.created_ms, supersede::priced_on(&opp)),
        books: opp.legs.iter().map(|l| ctx.bus.keys().book(&ctx.venue, &l.symbol)).collect(),
        write: local.is_none() && !dry_run,
        loss_cap: ctx.cfg.daily_loss_cap.get(opp.asset.as_str()).copied(),
    };
    let asked = Instant::now();
    let verdict = gate::pass(&ctx.bus, ctx.fast.as_deref(), &ask).await?;
    ctx.stats.gate.observe(asked.elapsed().as_secs_f64() * 1e6);
    ctx.stats.halted.set(if matches!(verdict, Gate::Halted(_)) { 1.0 } else { 0.0 });
    let refuse = |why: String| Some(("rejected", why));
    let refusal = match &verdict {
        Gate::Existing(_) | Gate::Go(_) => None,
        Gate::Superseded(mark) => Some((outcomes::SUPERSEDED, superseded_reason(mark))),
        Gate::Local => local.clone(),
        Gate::Halted(why) => refuse(format!("halted: {why}")),
        Gate::LossCap(loss) => refuse(format!("daily loss cap reached: {loss} {} lost today", opp.asset)),
        Gate::Full(n) => refuse(format!("{n} chains open (max_open_chains {})", ctx.cfg.max_open_chains)),
        Gate::Balance(free) => refuse(format!("insufficient balance: {free} {} free, {spend} needed", opp.asset)),
    };
    let mode = ctx.cfg.mode.as_str();
    if let Some((outcome, why)) = refusal {
        return finish(ctx, &[&entry.id], &opp, None, mode, outcome, Some(why), None).await;
    }
    let book_ids = match verdict {
        Gate::Existing(raw) => return existing(ctx, &entry.id, &opp, &raw).await,
        Gate::Go(ids) => ids,
        _ => Vec::new(),
    };
    if dry_run {
        let (outcome, why) = validate(ctx, &opp).await;
        return finish(ctx, &[&entry.id], &opp, None, mode, outcome, why, None).await;
    }
    record.book_ids = book_ids;
    let _held = claim::hold(ctx, Claim::granted(&record, Duration::from_millis(ctx.cfg.claim_idle_ms), asked));
    crate::durability::after_intent(ctx).await;
    let end = chain::execute_or_park(ctx, &opp, &mut record, true).await?;
    let outcome = end.outcome;
    let reason = end.reason.clone();
    finish(ctx, &[&entry.id], &opp, Some(record), mode, outcome, reason, Some(end)).await
}

/// The reason of a `superseded` outcome, from the gate's `<symbol> <update id> <ms> <opp id>`.
fn superseded_reason(mark: &str) -> String {
    let mut part = mark.split(' ');
    let (symbol, version, by) = (part.next().unwrap_or(""), part.next().unwrap_or(""), part.nth(1).unwrap_or(""));
    format!("superseded: chain {by} traded {symbol} at book {version}, the version this was priced on or a later one")
}

/// An opportunity that already has a journal record: a `done` one was delivered again (only
/// acknowledged), a `running` one is continued if its owner's lease ran out ([`resume`]).
async fn existing(ctx: &Ctx, entry_id: &str, opp: &Opportunity, raw: &str) -> Result<(), ChainError> {
    let existing = risk::parse_record(raw).map_err(|e| JournalError::Corrupt(opp.id.clone(), e))?;
    if existing.state != ChainState::Done {
        return resume::continue_chain(ctx, existing, Some(opp), Some(entry_id)).await;
    }
    ctx.stats.duplicates.inc();
    info!(opp = %opp.id, "opportunity already done; acknowledging only");
    let mode = existing.mode.unwrap_or(ctx.cfg.mode).as_str();
    finish(ctx, &[entry_id], opp, Some(existing), mode, "duplicate", None, None).await
}

/// `dry-run`: every leg at the opportunity's own quantities through the venue's test endpoint.
async fn validate(ctx: &Ctx, opp: &Opportunity) -> (&'static str, Option<String>) {
    for (i, leg) in opp.legs.iter().enumerate() {
        let Some(inst) = ctx.instrument(&leg.symbol) else {
            return ("rejected", Some(format!("leg {}: no instrument for {}", i + 1, leg.symbol)));
        };
        let order = NewOrder {
            symbol: leg.symbol.clone(),
            side: leg.side,
            time_in_force: TimeInForce::Ioc,
            quantity: leg.qty.0,
            price: leg.price.0,
            client_order_id: journal::client_order_id(&opp.id, journal::LegRole::Leg(i)),
        };
        ctx.limiter.acquire().await;
        if let Err(e) = ctx.gateway.test(&order, &inst).await {
            return ("rejected", Some(format!("leg {}: {e}", i + 1)));
        }
    }
    ("validated", Some(format!("dry-run: {} legs accepted by the venue's order test", opp.legs.len())))
}

/// Logs the outcome atomically with the XACK of `entry_ids` (and the day's loss, in the same
/// script); then enforces the daily loss cap. `record`: the chain's (`None` when no order was
/// ever intended); `mode`: the mode the chain ran in. A chain another executor owns now is left
/// to it.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn finish(
    ctx: &Ctx,
    entry_ids: &[&str],
    opp: &Opportunity,
    mut record: Option<ChainRecord>,
    mode: &str,
    outcome_name: &'static str,
    reason: Option<String>,
    end: Option<ChainEnd>,
) -> Result<(), ChainError> {
    let deltas = end.as_ref().map(|e| e.deltas.clone()).unwrap_or_default();
    let orders = record.as_ref().map_or(0, |r| r.legs.len());
    let out = ArbOutcome::new(opp, outcome_name, reason, mode, &deltas, orders);
    let failed = end.as_ref().filter(|e| e.broken).map(|e| FailedReport {
        reason: e.reason.as_deref().unwrap_or(""),
        residue: &e.residue,
        parked: e.parked.as_deref(),
    });
    let group = (ctx.bus.keys().opps(), GROUP);
    let mut ids: Vec<String> = entry_ids.iter().map(|s| (*s).to_owned()).collect();
    if let Some(own) = record.as_ref().and_then(|r| r.entry.clone()) {
        if !ids.contains(&own) {
            ids.push(own);
        }
    }
    let how = outcome::Finish {
        group: (&group.0, group.1),
        entry_ids: ids,
        maxlen: ctx.cfg.log_maxlen,
        retention_ms: ctx.cfg.journal_retention_ms,
        executor: &ctx.owner,
        traded: record.as_ref().map(|r| supersede::marks(opp, r)).unwrap_or_default(),
    };
    // A duplicate is already logged: the script sees the record done and only acknowledges.
    let ours = outcome::finish(&ctx.bus, &how, record.as_mut(), &out, failed).await.map_err(JournalError::from)?;
    if !ours {
        return Err(JournalError::Lost(opp.id.clone()).into());
    }
    if outcome_name == "duplicate" {
        return Ok(());
    }
    ctx.stats.outcome(outcome_name);
    if end.as_ref().is_some_and(|e| e.parked.is_some()) {
        ctx.stats.parked.inc();
    }
    if out.orders > 0 {
        info!(opp = %opp.id, outcome = outcome_name, realized = %out.realized, predicted = %out.predicted, orders = out.orders, "chain finished");
    }
    if !out.realized.is_zero() {
        if let Some(loss) = risk::after_loss(&ctx.bus, &ctx.cfg, &ctx.owner, &opp.asset).await {
            ctx.stats.pnl(opp.asset.as_str(), (-loss).try_into().unwrap_or(0.0));
        }
    }
    Ok(())
}

/// Logs an entry that is not a readable opportunity as `rejected`, and acknowledges it. An entry
/// without fields was deleted from the stream (trimmed) after its delivery: there is nothing to
/// decide, it is only acknowledged (a chain it started is finished from the journal,
/// [`crate::resume::scan_orphans`]).
pub async fn reject_unreadable(ctx: &Ctx, entry: &StreamEntry, why: &str) -> Result<(), BusError> {
    if entry.fields.is_empty() {
        warn!(entry = %entry.id, "entry deleted from storm:opps after its delivery; acknowledged");
        let ack = redis::cmd("XACK").arg(ctx.bus.keys().opps()).arg(GROUP).arg(&entry.id).clone();
        return ctx
            .bus
            .retry("xack", |mut c| {
                let ack = ack.clone();
                async move { ack.query_async::<()>(&mut c).await }
            })
            .await;
    }
    ctx.stats.bad_input.inc();
    warn!(entry = %entry.id, error = why, "unreadable opportunity rejected");
    // The record when it reads (the plain fields contradicted it), else what the plain fields say.
    let opp = opps::decode(entry).unwrap_or_else(|_| Opportunity {
        id: entry.get_str("id").unwrap_or(&entry.id).to_owned(),
        kind: storm_core::arb::OppKind::Triangular,
        venue: storm_core::VenueId::new(&ctx.venue),
        path: entry.get_str("path").unwrap_or("").to_owned(),
        asset: storm_core::Asset::new(entry.get_str("asset").unwrap_or("")),
        size: Default::default(),
        profit: Default::default(),
        profit_bps: Default::default(),
        confidence: 0.0,
        created_ms: 0,
        expires_ms: 0,
        legs: Vec::new(),
        book_ids: Vec::new(),
        time_trigger_us: 0,
    });
    let out = outcome::ArbOutcome::new(
        &opp,
        "rejected",
        Some(format!("unreadable: {why}")),
        ctx.cfg.mode.as_str(),
        &Default::default(),
        0,
    );
    ctx.stats.outcome("rejected");
    let opps = ctx.bus.keys().opps();
    let how = outcome::Finish {
        group: (&opps, GROUP),
        entry_ids: vec![entry.id.clone()],
        maxlen: ctx.cfg.log_maxlen,
        retention_ms: ctx.cfg.journal_retention_ms,
        executor: &ctx.owner,
        traded: Vec::new(),
    };
    outcome::finish(&ctx.bus, &how, None, &out, None).await.map(|_| ())
}

/// Decodes an entry: the msgpack record, and the plain fields (written beside it for
/// `redis-cli`) agreeing with it — an entry that contradicts itself was not written by the
/// finder's encoder and is not traded.
pub fn decode(entry: &StreamEntry) -> Result<Opportunity, String> {
    let opp = opps::decode(entry).map_err(|e| e.to_string())?;
    let text = |name: &'static str| entry.get(name).map(|v| (name, std::str::from_utf8(v).unwrap_or("\u{fffd}")));
    let same = |name: &'static str, want: &str| match text(name) {
        Some((_, got)) if got != want => {
            Err(format!("plain field {name} {got:?} disagrees with the record ({want:?})"))
        }
        _ => Ok(()),
    };
    same("id", &opp.id)?;
    same("kind", opp.kind.as_str())?;
    same("venue", opp.venue.as_str())?;
    same("path", &opp.path)?;
    same("asset", opp.asset.as_str())?;
    same("expires_ms", &opp.expires_ms.to_string())?;
    let number = |name: &'static str| {
        text(name).map(|(_, v)| v.parse::<Decimal>().map_err(|_| format!("plain field {name} {v:?} is not a number")))
    };
    if let Some(size) = number("size").transpose()? {
        if size != opp.size {
            return Err(format!("plain field size {size} disagrees with the record ({})", opp.size));
        }
    }
    same("profit_bps", &opps::profit_bps_text(opp.profit_bps))?;
    Ok(opp)
}
