//! The checks an opportunity passes before its first order: not expired, no `storm:halt`, a
//! configured `max_notional` for its start asset that it stays within, room under
//! `max_open_chains`, a free balance that covers the first leg, and the daily loss cap. The day's
//! realized loss per start asset lives in Redis (`storm:exec:loss:<day>`), added to exactly in
//! the script that logs each outcome ([`crate::outcome`]) and read by the gate, so N executors
//! and their restarts share one cap; when it is reached the executor also sets `storm:halt`
//! ([`after_loss`]), so an operator sees why trading stopped.
//!
//! The checks that read Redis run inside the gate's script ([`crate::gate`]), in the same round
//! trip that journals leg 1: this is on the path from signal to first order.

use rust_decimal::Decimal;
use storm_bus::Bus;
use storm_core::arb::Opportunity;
use storm_core::{Asset, Side};
use tracing::{error, warn};

use crate::config::ExecutorConfig;
use crate::journal::ChainRecord;
use crate::sanity;

/// What the first leg spends, in the start asset; `None` when it does not fit a `Decimal`.
pub fn first_spend(opp: &Opportunity) -> Option<Decimal> {
    match opp.legs.first() {
        Some(l) if l.side == Side::Buy => l.qty.0.checked_mul(l.price.0),
        Some(l) => Some(l.qty.0),
        None => Some(Decimal::ZERO),
    }
}

/// The checks that need no Redis: why `opp` must not start, or `None` — expiry, the fields'
/// sanity ([`sanity::opportunity`]), `max_notional` for the size and leg 1's spend. The rest
/// (halt, the daily loss, open chains, balance) is the gate's ([`crate::gate`]).
pub fn local_check(cfg: &ExecutorConfig, opp: &Opportunity, now_ms: u64) -> Option<(&'static str, String)> {
    if now_ms > opp.expires_ms {
        return Some(("expired", format!("expired {} ms ago", now_ms - opp.expires_ms)));
    }
    if opp.legs.is_empty() {
        return Some(("rejected", "no legs".into()));
    }
    if let Err(why) = sanity::opportunity(opp, &cfg.venue, now_ms) {
        return Some(("rejected", why));
    }
    let Some(spend) = first_spend(opp) else {
        return Some((
            "rejected",
            format!("leg 1: notional of {} at {} overflows", opp.legs[0].qty, opp.legs[0].price),
        ));
    };
    match cfg.max_notional.get(opp.asset.as_str()) {
        None => Some(("rejected", format!("no max_notional configured for {}", opp.asset))),
        Some(max) if spend > *max => Some(("rejected", format!("notional {spend} above max_notional {max}"))),
        Some(max) if opp.size > *max => Some(("rejected", format!("size {} above max_notional {max}", opp.size))),
        Some(_) => None,
    }
}

/// An unreadable journal record: never silently replaced by a new chain.
pub fn parse_record(raw: &str) -> Result<ChainRecord, String> {
    serde_json::from_str(raw).map_err(|e| e.to_string())
}

/// After an outcome that moved `asset`: reads the day's loss every executor added to (the
/// outcome script keeps it) and, when it reached `daily_loss_cap`, sets `storm:halt` so that
/// every executor stops (the gate refuses that asset for the rest of the day regardless). Returns
/// the day's loss, when readable.
pub async fn after_loss(bus: &Bus, cfg: &ExecutorConfig, owner: &str, asset: &Asset) -> Option<Decimal> {
    let key = bus.keys().exec_loss(storm_core::time::now_millis());
    let field = asset.to_string();
    let raw: Option<String> = bus
        .retry("read the day's loss", |mut c| {
            let (key, field) = (key.clone(), field.clone());
            async move { redis::cmd("HGET").arg(&key).arg(&field).query_async(&mut c).await }
        })
        .await
        .map_err(|e| warn!(error = %e, "cannot read the day's loss"))
        .ok()?;
    let loss: Decimal = raw?.parse().map_err(|_| warn!(key, %asset, "the day's loss is unreadable")).ok()?;
    let cap = cfg.daily_loss_cap.get(asset.as_str()).copied()?;
    if loss < cap {
        return Some(loss);
    }
    let why = format!("executor {owner}: daily loss cap hit, {loss} {asset} lost today (cap {cap})");
    error!(%asset, %loss, %cap, "daily loss cap reached: setting storm:halt");
    let halt = bus.keys().halt();
    let set = bus
        .retry("set halt", |mut c| {
            let (halt, why) = (halt.clone(), why.clone());
            async move { redis::cmd("SET").arg(&halt).arg(&why).query_async::<()>(&mut c).await }
        })
        .await;
    if let Err(e) = set {
        warn!(error = %e, "cannot set storm:halt");
    }
    Some(loss)
}
