//! One order's life: intent in the journal, request, result — and, when the result is unknown
//! (timeout, HTTP 5xx, `-1007`, an unreadable reply), a query by client order id until the venue
//! says what exists. Never a blind resend: a venue may reject a duplicate client id only while
//! the first order is still open, so resending a filled IOC would trade twice.
//!
//! A request refused before it was processed (429/418, a connection that never opened) is sent
//! again, with the same client id, only after the venue's `Retry-After`, and only for legs after
//! the first (the first leg simply does not trade).
//!
//! An order whose status stays unknown — a permanent venue error, or `unknown_resolve_max_ms`
//! spent asking — parks its chain ([`resolve`]); so does a result that cannot be believed.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use storm_core::{Instrument, Side};
use storm_venues::error::VenueError;
use storm_venues::trading::TimeInForce;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::ctx::{ChainError, Ctx};
use crate::journal::{self, client_order_id, ChainRecord, LegFill, LegRecord, LegRole};

/// Longest `Retry-After` a later leg waits for before the chain is treated as broken.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);
/// Resends of a later leg refused before processing.
const MAX_RESENDS: u32 = 3;

/// At most `limit` orders in any 10 s window (the venue's ORDERS limit is per 10 s).
pub struct OrderLimiter {
    limit: usize,
    sent: Mutex<VecDeque<Instant>>,
}

impl OrderLimiter {
    /// `limit` orders per 10 s.
    pub fn new(limit: u32) -> Self {
        Self { limit: limit.max(1) as usize, sent: Mutex::new(VecDeque::new()) }
    }

    /// True when `n` more orders fit in the window now. A chain asks for all its legs before it
    /// starts (one chain at a time per process, so nothing else takes them meanwhile): a chain
    /// that had to wait for the rate between its legs would hold the book's risk and the queue
    /// behind it for seconds.
    pub fn has_room(&self, n: usize) -> bool {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        while sent.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(10)) {
            sent.pop_front();
        }
        sent.len().saturating_add(n) <= self.limit
    }

    /// Orders counted in the last 10 s, and the limit.
    pub fn load(&self) -> (usize, usize) {
        (self.sent.lock().unwrap_or_else(|e| e.into_inner()).len(), self.limit)
    }

    /// Waits until one more order fits, then counts it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                while sent.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(10)) {
                    sent.pop_front();
                }
                if sent.len() < self.limit {
                    sent.push_back(now);
                    return;
                }
                sent.front().map_or(Duration::ZERO, |t| Duration::from_secs(10).saturating_sub(now.duration_since(*t)))
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// What to send.
pub struct Intent<'a> {
    /// Leg or unwind.
    pub role: LegRole,
    /// The symbol's filters.
    pub inst: &'a Instrument,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub price: rust_decimal::Decimal,
    /// Base quantity.
    pub qty: rust_decimal::Decimal,
    /// IOC or FOK.
    pub tif: TimeInForce,
    /// Not sent after this time, ms (leg 1: the opportunity's `expires_ms`); later legs and
    /// unwinds have none — they must go out to close the chain.
    pub not_after_ms: Option<u64>,
}

/// The journal entry of `intent` in opportunity `opp_id`, not yet sent.
pub fn leg_record(ctx: &Ctx, opp_id: &str, intent: &Intent<'_>) -> LegRecord {
    LegRecord {
        role: intent.role,
        client_id: client_order_id(opp_id, intent.role),
        symbol: intent.inst.symbol.clone(),
        side: intent.side,
        price: intent.price,
        qty: intent.qty,
        tif: intent.tif.as_str().to_owned(),
        intent_ms: ctx.gateway.venue_now_ms(),
        fill: None,
    }
}

/// Journals `intent`, sends it and records the result (resolving an unknown outcome by query).
pub async fn send(ctx: &Ctx, record: &mut ChainRecord, intent: Intent<'_>) -> Result<LegFill, ChainError> {
    record.legs.push(leg_record(ctx, &record.opp_id, &intent));
    journal::save(&ctx.bus, record, ctx.cfg.claim_idle_ms).await?;
    crate::durability::after_intent(ctx).await;
    transmit(ctx, record, intent.role, intent.inst, intent.not_after_ms).await
}

/// Sends the journaled intent of `role` and records its result. The intent must already be in
/// the journal (written by [`send`], or by the gate for leg 1).
pub async fn transmit(
    ctx: &Ctx,
    record: &mut ChainRecord,
    role: LegRole,
    inst: &Instrument,
    not_after_ms: Option<u64>,
) -> Result<LegFill, ChainError> {
    let Some(order) = record.leg(role).map(LegRecord::order) else {
        return Err(ChainError::Inconsistent(format!("no intent for {role:?}")));
    };
    let mut resends = 0;
    let claim = crate::claim::current(ctx);
    let fill = loop {
        ctx.limiter.acquire().await;
        let expiry = match not_after_ms {
            Some(at) => {
                let left = at.saturating_sub(storm_core::time::now_millis());
                if left == 0 {
                    break LegFill::not_placed("expired while waiting for the order rate limit");
                }
                Some(std::time::Instant::now() + Duration::from_millis(left))
            }
            None => None,
        };
        // Never sent once this process's hold on the chain may have run out: a stale owner stops
        // here, before the request leaves (the new owner resolves the intent by query).
        let held = match &claim {
            Some(c) => Some(c.ensure(&ctx.bus).await?),
            None => None,
        };
        let deadline = match (expiry, held) {
            (Some(e), Some(h)) => Some(e.min(h)),
            (e, h) => e.or(h),
        };
        let lease_cut = held.is_some() && held == deadline;
        if matches!(ctx.gateway, crate::gateway::Gateway::Paper(_)) {
            // A venue client records it in its send hook, right before the request goes out.
            ctx.stats.first_send.sent();
        }
        match ctx.gateway.place(&order, inst, deadline).await {
            Ok(fill) => break fill,
            // The weight budget outlasted the hold, not the signal: hold again (or stop) and wait on.
            Err(VenueError::RateLimited { retry_after }) if retry_after.is_zero() && lease_cut => continue,
            Err(e) if e.outcome_unknown() || matches!(e, VenueError::Parse(_)) => {
                ctx.stats.unknown.inc();
                warn!(client_id = %order.client_order_id, error = %e, "order status unknown: querying, not resending");
                break resolve(ctx, record, role).await?;
            }
            Err(e) => {
                let refused_before_processing =
                    matches!(e, VenueError::RateLimited { .. } | VenueError::Banned { .. } | VenueError::Transport(_))
                        || (matches!(e, VenueError::Rejected { .. }) && e.is_retryable());
                let wait = e.retry_after().unwrap_or(Duration::from_millis(200));
                let later_leg = !matches!(role, LegRole::Leg(0));
                if refused_before_processing && later_leg && resends < MAX_RESENDS && wait <= MAX_RETRY_WAIT {
                    resends += 1;
                    warn!(client_id = %order.client_order_id, error = %e, ?wait, "order refused before processing; sending again after the wait");
                    sleep_or_cancel(&ctx.shutdown, wait).await?;
                    continue;
                }
                break match e {
                    VenueError::RateLimited { retry_after } if retry_after.is_zero() => {
                        LegFill::not_placed("rate limited: no request weight before the signal expired")
                    }
                    VenueError::Rejected { code, msg, .. } => LegFill {
                        status: "REJECTED".into(),
                        // Code 0: refused by storm itself (paper), not by a venue.
                        reject: Some(if code == 0 { msg } else { format!("{code} {msg}") }),
                        ..Default::default()
                    },
                    other => LegFill::not_placed(other.to_string()),
                };
            }
        }
    };
    ctx.stats.order(&fill);
    record_fill(ctx, record, role, fill).await
}

/// Journals the result of `role`, then checks it can be believed ([`crate::sanity::fill`]): a
/// fill that cannot (more than ordered, negative amounts) parks the chain, recorded as reported.
async fn record_fill(ctx: &Ctx, record: &mut ChainRecord, role: LegRole, fill: LegFill) -> Result<LegFill, ChainError> {
    let mut believable = Ok(());
    if let Some(leg) = record.leg_mut(role) {
        believable = crate::sanity::fill(leg, &fill);
        leg.fill = Some(fill.clone());
    }
    journal::save(&ctx.bus, record, ctx.cfg.claim_idle_ms).await?;
    believable.map_err(ChainError::Parked)?;
    Ok(fill)
}

/// Finds out what became of an order whose outcome is unknown: queried by client order id until
/// the venue knows it, or until it cannot appear any more (`recvWindow` after the intent). A
/// query the venue can never answer ([`VenueError::is_permanent`]: a revoked key, a delisted
/// symbol, a page that is not the API) parks the chain at once; any other failure is asked
/// again, for at most `unknown_resolve_max_ms` in all, then the chain is parked
/// ([`ChainError::Parked`]): an operator looks the order up, nothing is resent.
pub async fn resolve(ctx: &Ctx, record: &mut ChainRecord, role: LegRole) -> Result<LegFill, ChainError> {
    let Some(leg) = record.leg(role).cloned() else {
        return Err(ChainError::Inconsistent(format!("no intent for {role:?}")));
    };
    // The request left at the latest now (its timestamp may be later than the intent when it
    // waited for the weight budget), so it can appear until now + recvWindow.
    let settle = i64::try_from(ctx.gateway.settle_after().as_millis()).unwrap_or(i64::MAX);
    let deadline = leg.intent_ms.max(ctx.gateway.venue_now_ms()).saturating_add(settle);
    let (started, cap) = (Instant::now(), ctx.cfg.unknown_resolve_max());
    let mut pause = Duration::from_millis(100);
    let fill = loop {
        let mut wait = pause;
        let last = match ctx.gateway.find(&leg.symbol, &leg.client_id).await {
            Ok(Some(fill)) if !is_open(&fill.status) => break fill,
            Ok(Some(fill)) => format!("still {}", fill.status), // an IOC open for a moment
            Ok(None) if ctx.gateway.venue_now_ms() > deadline => {
                break LegFill::not_placed("unknown to the venue after recvWindow");
            }
            Ok(None) => "not known to the venue yet".into(),
            Err(e) if e.is_permanent() => {
                return Err(ChainError::Parked(format!("{}: the order query cannot succeed: {e}", leg.client_id)));
            }
            Err(e) => {
                warn!(client_id = %leg.client_id, error = %e, "order query failed; asking again");
                wait = wait.max(e.retry_after().unwrap_or_default());
                e.to_string()
            }
        };
        let left = cap.saturating_sub(started.elapsed());
        if left.is_zero() {
            let why = format!("{}: status still unknown after {} ms ({last})", leg.client_id, cap.as_millis());
            return Err(ChainError::Parked(why));
        }
        sleep_or_cancel(&ctx.shutdown, wait.min(left)).await?;
        pause = (pause * 2).min(Duration::from_secs(2));
    };
    info!(client_id = %leg.client_id, status = %fill.status, executed = %fill.executed_qty, "unknown order resolved");
    ctx.stats.resolved.inc();
    record_fill(ctx, record, role, fill).await
}

fn is_open(status: &str) -> bool {
    matches!(status, "NEW" | "PARTIALLY_FILLED" | "PENDING_CANCEL")
}

async fn sleep_or_cancel(shutdown: &CancellationToken, d: Duration) -> Result<(), ChainError> {
    tokio::select! {
        _ = shutdown.cancelled() => Err(ChainError::Interrupted),
        _ = tokio::time::sleep(d) => Ok(()),
    }
}
