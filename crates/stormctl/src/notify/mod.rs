//! `stormctl notify`: every entry of `storm:arb:log` and `storm:exec:failed`, posted to a chat
//! webhook (URL in `STORM_WEBHOOK_URL`), within a posts-per-minute budget ([`limiter`]).
//!
//! Position: after each post lands (or is refused for good), the id of the last entry it covers
//! is saved per stream in the hash `storm:notify:last` (`Keys::notify_last`). A restart resumes
//! after it, so nothing is posted twice — except the one post in flight if the process dies
//! between the webhook's 200 and the save (at-least-once, the safe side for alerts), and entries
//! held for a summary that had not gone out yet, which are posted after the restart. On the
//! first run the start position is resolved and saved at once, so entries written while notify
//! is down later are not skipped.
//!
//! Entries are formatted generically from their plain fields (as `log tail` prints them), so the
//! executor's schema is not a dependency.

mod limiter;
mod webhook;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use storm_bus::{Bus, BusError, StartAt, StreamEntry, StreamReader};
use tokio_util::sync::CancellationToken;
use tracing::info;

use self::limiter::{Limiter, Note, Post};
use self::webhook::{Delivery, Webhook};
use crate::cli::{NotifyArgs, NotifyStart};
use crate::ctx::Ctx;
use crate::output::kv_value;

/// The environment variable holding the webhook URL (it contains a token: env only).
pub(crate) const WEBHOOK_ENV: &str = "STORM_WEBHOOK_URL";
/// The rate-limit window.
const WINDOW: Duration = Duration::from_secs(60);
/// How long one read blocks; also how often a held summary gets a chance to go out.
const BLOCK: Duration = Duration::from_millis(1_000);

/// Runs `notify` until Ctrl-C/SIGTERM.
pub(crate) async fn run(ctx: &Ctx, args: &NotifyArgs) -> anyhow::Result<()> {
    let hook = Webhook::from_env(WEBHOOK_ENV)?;
    let per_minute = args.per_minute.unwrap_or(ctx.section.notify_per_minute).max(1);
    let shutdown = storm_service::shutdown::install();
    match tail_and_post(ctx, args.start, per_minute, &hook, &shutdown).await {
        Ok(()) | Err(BusError::Cancelled) => {
            info!("notify stopped");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

async fn tail_and_post(
    ctx: &Ctx,
    start: NotifyStart,
    per_minute: u32,
    hook: &Webhook,
    shutdown: &CancellationToken,
) -> Result<(), BusError> {
    let bus = Bus::connect(ctx.bus_config(), shutdown.clone()).await?;
    crate::ctx::name_connection(&mut bus.conn()).await;
    let pos_key = ctx.keys.notify_last();
    let streams = [ctx.keys.arb_log(), ctx.keys.exec_failed()];
    let saved = read_positions(&bus, &pos_key).await?;
    let starts: Vec<(String, StartAt)> = streams
        .iter()
        .map(|s| {
            let at = match (saved.get(s), start) {
                (Some(id), _) => StartAt::After(id.clone()),
                (None, NotifyStart::End) => StartAt::End,
                (None, NotifyStart::Beginning) => StartAt::Beginning,
            };
            (s.clone(), at)
        })
        .collect();
    let mut reader = StreamReader::new(&bus, &starts, 100, BLOCK).await?;
    let first: Vec<(String, String)> = reader
        .positions()
        .filter(|(k, _)| !saved.contains_key(*k))
        .map(|(k, id)| (k.to_owned(), id.to_owned()))
        .collect();
    save_positions(&bus, &pos_key, &first).await?;
    let resume: Vec<String> = reader.positions().map(|(k, id)| format!("{k} after {id}")).collect();
    info!(per_minute, position = %resume.join(", "), "notify: posting outcomes and failures to the webhook");

    let mut limiter = Limiter::new(per_minute, WINDOW);
    let mut held = 0;
    loop {
        let batch = reader.next_batch().await?;
        let notes: Vec<Note> = batch.iter().map(|e| note(e, ctx.keys.prefix())).collect();
        for post in limiter.plan(Instant::now(), notes) {
            let (text, upto): (String, Vec<(String, String)>) = match post {
                Post::One(n) => (n.text, vec![(n.stream, n.id)]),
                Post::Summary(s) => (s.text(), s.upto.into_iter().collect()),
            };
            match hook.post(&text, shutdown).await {
                Err(webhook::Cancelled) => return Err(BusError::Cancelled),
                Ok(Delivery::Delivered) => info!(upto = ?upto, "posted"),
                Ok(Delivery::Refused(status)) => info!(status, upto = ?upto, "post refused; moving on"),
            }
            save_positions(&bus, &pos_key, &upto).await?;
        }
        if limiter.held() != held {
            held = limiter.held();
            if held > 0 {
                info!(held, "over {per_minute} posts/min: entries held for one summary post");
            }
        }
    }
}

async fn read_positions(bus: &Bus, key: &str) -> Result<HashMap<String, String>, BusError> {
    let key = key.to_owned();
    bus.retry("notify position", |mut c| {
        let key = key.clone();
        async move { redis::cmd("HGETALL").arg(&key).query_async(&mut c).await }
    })
    .await
}

async fn save_positions(bus: &Bus, key: &str, positions: &[(String, String)]) -> Result<(), BusError> {
    if positions.is_empty() {
        return Ok(());
    }
    let key = key.to_owned();
    let positions = positions.to_vec();
    // HSET of the same values is idempotent: safe to retry.
    bus.retry("save notify position", |mut c| {
        let (key, positions) = (key.clone(), positions.clone());
        async move { redis::cmd("HSET").arg(&key).arg(&positions).query_async::<()>(&mut c).await }
    })
    .await
}

/// `[storm] arb:log executed: id=9f3a pnl=0.512 …` — every non-empty plain field but the schema
/// version, in `log tail`'s order.
fn note(e: &StreamEntry, prefix: &str) -> Note {
    let label = e.stream.strip_prefix(prefix).and_then(|s| s.strip_prefix(':')).unwrap_or(&e.stream);
    let outcome = e.get_str("outcome").map_or_else(
        || if label.ends_with("failed") { "failed".to_owned() } else { "entry".to_owned() },
        str::to_owned,
    );
    let fields: Vec<String> = crate::log::ordered_fields(e)
        .into_iter()
        .filter(|(k, v)| k != "outcome" && k != "v" && !v.is_empty())
        .map(|(k, v)| format!("{k}={}", kv_value(&v)))
        .collect();
    Note {
        stream: e.stream.clone(),
        id: e.id.clone(),
        text: format!("[{prefix}] {label} {outcome}: {}", fields.join(" ")),
        outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_become_one_readable_line() {
        let e = StreamEntry {
            stream: "storm:exec:failed".into(),
            id: "5-0".into(),
            fields: vec![
                ("id".into(), b"9f3a".to_vec()),
                ("reason".into(), b"leg 2 rejected".to_vec()),
                ("m".into(), vec![0xc1]),
            ],
        };
        let n = note(&e, "storm");
        assert_eq!(n.text, "[storm] exec:failed failed: id=9f3a reason=\"leg 2 rejected\"");
        assert_eq!((n.outcome.as_str(), n.id.as_str()), ("failed", "5-0"));
    }
}
