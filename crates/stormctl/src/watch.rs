//! `stormctl watch`: `status` plus the latest opportunities and outcomes, redrawn every interval
//! until Ctrl-C or SIGTERM (exit 0, at once: every wait `select!`s on the shutdown token).
//!
//! When Redis goes away the view says "redis unreachable, retrying" and tries again one interval
//! later with a fresh connection (a broken multiplexed connection never heals by itself), so a
//! Redis outage neither ends the watch nor makes it spin. On a terminal each frame replaces the
//! last; into a pipe or file, frames follow each other separated by a line.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use redis::RedisError;
use serde_json::json;
use storm_core::time::now_millis;

use crate::ctx::{Conn, Ctx, Unreachable};
use crate::fetch::{self, id_order, is_connection_error};
use crate::output::{utc, Progress};
use crate::{log, opps, status};

/// Entries of each stream shown under the status.
const RECENT: usize = 5;
/// The shortest refresh period honoured.
const MIN_INTERVAL: Duration = Duration::from_millis(200);

/// Runs `watch`.
pub(crate) async fn run(ctx: &Ctx, interval_ms: u64) -> anyhow::Result<()> {
    let shutdown = storm_service::shutdown::install();
    let interval = Duration::from_millis(interval_ms).max(MIN_INTERVAL);
    let tty = std::io::stdout().is_terminal();
    let mut conn: Option<Conn> = None;
    let mut failures = 0u32;
    loop {
        let frame = tokio::select! {
            _ = shutdown.cancelled() => break,
            f = frame(ctx, &mut conn, &mut failures, interval) => f,
        };
        draw(ctx.json, tty, &frame);
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(interval) => {}
        }
    }
    Ok(())
}

fn draw(json: bool, tty: bool, frame: &str) {
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(out, "{frame}");
    } else if tty {
        let _ = write!(out, "\x1b[H\x1b[2J{frame}");
    } else {
        let _ = write!(out, "{frame}\n----\n");
    }
    let _ = out.flush();
}

/// One frame: the view, or a note that Redis is unreachable.
async fn frame(ctx: &Ctx, conn: &mut Option<Conn>, failures: &mut u32, interval: Duration) -> String {
    let result = match conn.as_mut() {
        Some(c) => view(ctx, c).await.map_err(|e| (is_connection_error(&e), e.to_string())),
        None => match ctx.connect().await {
            Ok(mut c) => {
                let r = view(ctx, &mut c).await.map_err(|e| (is_connection_error(&e), e.to_string()));
                *conn = Some(c);
                r
            }
            Err(e) => match e.downcast_ref::<Unreachable>() {
                Some(u) => Err((true, format!("{}: {}", u.url, u.cause))),
                None => Err((true, format!("{e:#}"))),
            },
        },
    };
    match result {
        Ok(text) => {
            *failures = 0;
            text
        }
        Err((lost, err)) => {
            if lost {
                *conn = None;
            }
            *failures += 1;
            if ctx.json {
                serde_json::to_string(&json!({ "time_ms": now_millis(), "error": err, "attempt": *failures }))
                    .unwrap_or_default()
            } else {
                format!(
                    "storm watch  {}\n\nredis unreachable, retrying every {} ms (attempt {}): {err}\n",
                    utc(now_millis()),
                    interval.as_millis(),
                    failures
                )
            }
        }
    }
}

/// Status and the latest entries, as text (or one JSON line).
async fn view(ctx: &Ctx, conn: &mut Conn) -> Result<String, RedisError> {
    let mut progress = Progress::new(true);
    let st = status::gather(ctx, conn, &mut progress).await?;
    let opps_key = ctx.keys.opps();
    let recent_opps = soft_entries(conn, &opps_key).await?;
    let mut outcomes = soft_entries(conn, &ctx.keys.arb_log()).await?;
    outcomes.extend(soft_entries(conn, &ctx.keys.exec_failed()).await?);
    outcomes.sort_by_key(|e| id_order(&e.id));
    let outcomes = &outcomes[outcomes.len().saturating_sub(RECENT)..];
    if ctx.json {
        let line = json!({
            "status": st,
            "opps": recent_opps.iter().map(json_entry).collect::<Vec<_>>(),
            "outcomes": outcomes.iter().map(json_entry).collect::<Vec<_>>(),
        });
        return Ok(serde_json::to_string(&line).unwrap_or_default());
    }
    let mut out = status::render(&st);
    let now = now_millis();
    let _ = writeln!(out, "\nlatest opportunities ({opps_key})");
    if recent_opps.is_empty() {
        out.push_str("  none\n");
    }
    for e in &recent_opps {
        out.push_str(&opps::human(e, now));
    }
    let _ = writeln!(out, "\nlatest outcomes ({}, {})", ctx.keys.arb_log(), ctx.keys.exec_failed());
    if outcomes.is_empty() {
        out.push_str("  none\n");
    }
    for e in outcomes {
        let _ = writeln!(out, "{}", log::line(e));
    }
    out.push_str("\nCtrl-C to quit\n");
    Ok(out)
}

fn json_entry(e: &storm_bus::StreamEntry) -> serde_json::Value {
    json!({ "stream": e.stream, "stream_id": e.id, "fields": fetch::fields_json(e) })
}

/// The last few entries; a key of the wrong type reads as none (status already notes it).
async fn soft_entries(conn: &mut Conn, key: &str) -> Result<Vec<storm_bus::StreamEntry>, RedisError> {
    match fetch::last_entries(conn, key, RECENT).await {
        Ok(v) => Ok(v),
        Err(e) if is_connection_error(&e) => Err(e),
        Err(_) => Ok(Vec::new()),
    }
}
