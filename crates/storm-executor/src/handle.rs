//! One entry of `storm:opps`, from read to acknowledged outcome.
//!
//! 1. Decode; an unreadable entry is logged `rejected` and acknowledged.
//! 2. The local checks ([`crate::risk::local_check`]) and leg 1's intent, then one round trip
//!    through the gate ([`crate::gate`]): an existing journal record first, then halt, open
//!    chains and balance; on "go" leg 1's intent is already journaled.
//! 3. A record that is `done` means the entry was delivered again: acknowledge only. A record that
//!    is `running` is a chain a crash interrupted: continue it from the journal, without the
//!    pre-trade checks (its first order may exist; stopping now would strand inventory).
//! 4. `dry-run` validates every leg with the venue's test endpoint; `paper`/`live` run the chain
//!    ([`crate::chain::execute`]).
//! 5. The outcome, the journal's `done`, the `storm:exec:failed` report (and `storm:exec:parked`
//!    for a chain whose order status could not be resolved), the day's loss and the XACK in one
//!    script ([`crate::outcome::finish`]); `storm:halt` is set after when the loss reached the
//!    cap.

use std::time::Instant;

use storm_bus::StreamEntry;
use storm_core::arb::Opportunity;
use storm_core::time::now_millis;
use storm_venues::binance::trade::{NewOrder, TimeInForce};
use tracing::info;

use crate::chain::{self, ChainEnd, ChainError, Ctx};
use crate::config::Mode;
use crate::engine::{decode, reject_unreadable, GROUP};
use crate::gate::{self, Gate};
use crate::gateway::Gateway;
use crate::journal::{self, ChainRecord, ChainState, JournalError};
use crate::outcome::{self, ArbOutcome, FailedReport};
use crate::risk;

/// Handles one entry; `Err` leaves it unacknowledged for a later run.
pub async fn handle(
    ctx: &Ctx,
    entry: &StreamEntry,
    read_at: Instant,
    balance_key: Option<&str>,
) -> Result<(), ChainError> {
    let opp = match decode(entry) {
        Ok(o) => o,
        Err(why) => return reject_unreadable(ctx, entry, &why).await.map_err(|e| JournalError::Bus(e).into()),
    };
    ctx.stats.first_send.start(read_at);
    let dry_run = ctx.cfg.mode == Mode::DryRun;
    // An overflowing spend is refused by the local check.
    let spend = risk::first_spend(&opp).unwrap_or_default();
    let mut local = risk::local_check(&ctx.cfg, &opp, now_millis());
    let mut record = ChainRecord::new(&opp.id, &opp.path, &opp.asset, &ctx.owner, now_millis());
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
        max_open: ctx.cfg.max_open_chains,
        balance_key,
        spend,
        local_reject: local.is_some(),
        write: local.is_none() && !dry_run,
        loss_cap: ctx.cfg.daily_loss_cap.get(opp.asset.as_str()).copied(),
    };
    let asked = Instant::now();
    let verdict = gate::pass(&ctx.bus, ctx.fast.as_deref(), &ask).await?;
    ctx.stats.gate.observe(asked.elapsed().as_secs_f64() * 1e6);
    ctx.stats.halted.set(if matches!(verdict, Gate::Halted(_)) { 1.0 } else { 0.0 });
    let fresh = ChainRecord::new(&opp.id, &opp.path, &opp.asset, &ctx.owner, now_millis());
    let refuse = |why: String| Some(("rejected", why));
    let refusal = match &verdict {
        Gate::Existing(_) | Gate::Go => None,
        Gate::Local => local.clone(),
        Gate::Halted(why) => refuse(format!("halted: {why}")),
        Gate::LossCap(loss) => refuse(format!("daily loss cap reached: {loss} {} lost today", opp.asset)),
        Gate::Full(n) => refuse(format!("{n} chains open (max_open_chains {})", ctx.cfg.max_open_chains)),
        Gate::Balance(free) => refuse(format!("insufficient balance: {free} {} free, {spend} needed", opp.asset)),
    };
    if let Some((outcome, why)) = refusal {
        return finish(ctx, entry, &opp, fresh, outcome, Some(why), None).await;
    }
    let fresh_chain = match verdict {
        Gate::Existing(raw) => {
            let existing = risk::parse_record(&raw).map_err(|e| JournalError::Corrupt(opp.id.clone(), e))?;
            if existing.state == ChainState::Done {
                ctx.stats.duplicates.inc();
                info!(opp = %opp.id, "opportunity already done; acknowledging only");
                return finish(ctx, entry, &opp, existing, "duplicate", None, None).await;
            }
            ctx.stats.recovered.inc();
            info!(opp = %opp.id, orders = existing.legs.len(), "continuing a chain from the journal");
            record = existing;
            false
        }
        _ => true,
    };
    if dry_run {
        let (outcome, why) = validate(ctx, &opp).await;
        return finish(ctx, entry, &opp, fresh, outcome, why, None).await;
    }
    let end = match chain::execute(ctx, &opp, &mut record, fresh_chain).await {
        Ok(end) => end,
        Err(ChainError::Parked(why)) => chain::parked(ctx, &record, why),
        Err(e) => return Err(e),
    };
    let outcome = end.outcome;
    let reason = end.reason.clone();
    finish(ctx, entry, &opp, record, outcome, reason, Some(end)).await
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

/// Logs the outcome atomically with the XACK (and the day's loss, in the same script); then
/// enforces the daily loss cap.
#[allow(clippy::too_many_arguments)]
async fn finish(
    ctx: &Ctx,
    entry: &StreamEntry,
    opp: &Opportunity,
    mut record: ChainRecord,
    outcome_name: &'static str,
    reason: Option<String>,
    end: Option<ChainEnd>,
) -> Result<(), ChainError> {
    let deltas = end.as_ref().map(|e| e.deltas.clone()).unwrap_or_default();
    let out = ArbOutcome::new(opp, outcome_name, reason, ctx.cfg.mode.as_str(), &deltas, record.legs.len());
    let failed = end.as_ref().filter(|e| e.broken).map(|e| FailedReport {
        reason: e.reason.as_deref().unwrap_or(""),
        residue: &e.residue,
        parked: e.parked.as_deref(),
    });
    let group = (ctx.bus.keys().opps(), GROUP);
    if outcome_name == "duplicate" {
        // Already logged once: only the acknowledgement is missing.
        outcome::finish(
            &ctx.bus,
            (&group.0, group.1),
            &entry.id,
            ctx.cfg.log_maxlen,
            &mut record,
            &out,
            None,
            &ctx.owner,
        )
        .await
        .map_err(JournalError::from)?;
        return Ok(());
    }
    outcome::finish(
        &ctx.bus,
        (&group.0, group.1),
        &entry.id,
        ctx.cfg.log_maxlen,
        &mut record,
        &out,
        failed,
        &ctx.owner,
    )
    .await
    .map_err(JournalError::from)?;
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
