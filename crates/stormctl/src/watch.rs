//! `stormctl watch`: `status` plus the latest opportunities and outcomes, redrawn every interval
//! until Ctrl-C or SIGTERM (exit 0, at once: every wait `select!`s on the shutdown token).
//!
//! When Redis goes away the view says "redis unreachable, retrying" and tries again one interval
//! later with a fresh connection (a broken multiplexed connection never heals by itself), so a
//! Redis outage neither ends the watch nor makes it spin. On a terminal each frame replaces the
//! last and is laid out for the terminal's size ([`crate::screen`]): the header always on the first
//! line, a compact status (books, the executor's group, one line per engine), then as many of the
//! latest opportunities and outcomes as the height leaves room for, no line wider than the
//! terminal. Into a pipe or file, frames follow each other separated by a line, nothing cut.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use redis::RedisError;
use serde_json::json;
use storm_core::time::now_millis;

use crate::ctx::{Conn, Ctx, Unreachable};
use crate::fetch::{self, id_order, is_connection_error};
use crate::numbers::{self, Digits};
use crate::output::{age, utc, Progress, Table};
use crate::screen::{Frame, Size};
use crate::status::{books_line, Status};
use crate::{opps, status};

/// Entries of each stream shown under the status.
const RECENT: usize = 5;
/// The shortest refresh period honoured.
const MIN_INTERVAL: Duration = Duration::from_millis(200);
/// How often the instruments (tick and step sizes) are read again, ms.
const DIGITS_REFRESH_MS: u64 = 60_000;

/// What one frame reuses from the last: the connection and the instruments' digits.
#[derive(Default)]
struct Cache {
    conn: Option<Conn>,
    digits: Digits,
    digits_ms: u64,
}

/// Runs `watch`.
pub(crate) async fn run(ctx: &Ctx, interval_ms: u64) -> anyhow::Result<()> {
    let shutdown = storm_service::shutdown::install();
    let interval = Duration::from_millis(interval_ms).max(MIN_INTERVAL);
    let tty = std::io::stdout().is_terminal();
    let mut cache = Cache::default();
    let mut failures = 0u32;
    loop {
        let size = if tty { Size::of_stdout() } else { Size::UNLIMITED };
        let frame = tokio::select! {
            _ = shutdown.cancelled() => break,
            f = frame(ctx, &mut cache, &mut failures, interval, size) => f,
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
async fn frame(ctx: &Ctx, cache: &mut Cache, failures: &mut u32, interval: Duration, size: Size) -> String {
    let connected = match cache.conn.take() {
        Some(c) => Ok(c),
        None => ctx.connect().await,
    };
    let result = match connected {
        Ok(mut c) => {
            let r = view(ctx, &mut c, cache, size).await.map_err(|e| (is_connection_error(&e), e.to_string()));
            cache.conn = Some(c);
            r
        }
        Err(e) => match e.downcast_ref::<Unreachable>() {
            Some(u) => Err((true, format!("{}: {}", u.url, u.cause))),
            None => Err((true, format!("{e:#}"))),
        },
    };
    match result {
        Ok(text) => {
            *failures = 0;
            text
        }
        Err((lost, err)) => {
            if lost {
                cache.conn = None;
            }
            *failures += 1;
            if ctx.json {
                serde_json::to_string(&json!({ "time_ms": now_millis(), "error": err, "attempt": *failures }))
                    .unwrap_or_default()
            } else {
                let mut f = Frame::new(size);
                f.push(&format!("storm watch  {}  Ctrl-C to quit", utc(now_millis())));
                f.push("");
                let msg = format!(
                    "redis unreachable, retrying every {} ms (attempt {}): {err}",
                    interval.as_millis(),
                    failures
                );
                for line in wrap(&msg, size.width) {
                    f.push(&line);
                }
                f.text()
            }
        }
    }
}

/// Status and the latest entries, as text (or one JSON line).
async fn view(ctx: &Ctx, conn: &mut Conn, cache: &mut Cache, size: Size) -> Result<String, RedisError> {
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
    let now = now_millis();
    if now.saturating_sub(cache.digits_ms) >= DIGITS_REFRESH_MS {
        cache.digits = Digits::load_all(conn, &ctx.keys).await?;
        cache.digits_ms = now;
    }
    Ok(layout(ctx, &st, &recent_opps, outcomes, &cache.digits, size))
}

/// The text frame: header, compact status, engines, then the latest opportunities and outcomes
/// in the lines that are left (split between them), newest last.
fn layout(
    ctx: &Ctx,
    st: &Status,
    recent_opps: &[storm_bus::StreamEntry],
    outcomes: &[storm_bus::StreamEntry],
    digits: &Digits,
    size: Size,
) -> String {
    let mut f = Frame::new(size);
    f.push(&format!("storm watch  {}  {}  ^C quits", utc(st.time_ms), st.redis));
    let halt = if st.halt.halted { st.halt.line() } else { "off".to_owned() };
    f.push(&format!("books {}  halt {halt}", books_line(&st.books)));
    f.push(&executor_line(st));
    let engines = engine_rows(st);
    // Room for the two section titles and at least two entries of each.
    let for_engines = f.left().saturating_sub(6);
    f.push_some(&engines, for_engines);
    let entries = f.left().saturating_sub(2);
    let opps_room = entries.div_ceil(2).min(RECENT);
    f.push(&format!("latest opportunities ({})", ctx.keys.opps()));
    let opp_lines: Vec<String> = if recent_opps.is_empty() {
        vec!["  none".to_owned()]
    } else {
        recent_opps.iter().map(|e| opp_line(e, st.time_ms, digits)).collect()
    };
    f.push_some(newest(&opp_lines, opps_room), opps_room);
    f.push(&format!("latest outcomes ({}, {})", ctx.keys.arb_log(), ctx.keys.exec_failed()));
    let out_lines: Vec<String> =
        if outcomes.is_empty() { vec!["  none".to_owned()] } else { outcomes.iter().map(outcome_line).collect() };
    let out_room = f.left().min(RECENT);
    f.push_some(newest(&out_lines, out_room), out_room);
    let mut text = f.text();
    if size.height.is_none() {
        text.push('\n');
    }
    text
}

/// The last `n` lines (the newest entries).
fn newest(lines: &[String], n: usize) -> &[String] {
    &lines[lines.len().saturating_sub(n)..]
}

/// The executor's consumer group, chains in flight and parked, and how many notes `status` has.
fn executor_line(st: &Status) -> String {
    let group = st.opps_groups.iter().find(|g| g.name == "executor").or(st.opps_groups.first());
    let mut line = match group {
        Some(g) => format!("executor lag {} pending {}", g.lag.map_or("?".to_owned(), |l| l.to_string()), g.pending),
        None => "executor: no group on the opportunities".to_owned(),
    };
    line.push_str(&format!("  in flight {}  parked {}", st.chains_in_flight, st.parked.len()));
    let notes = st.notes.len() + st.engines.iter().map(|e| e.notes.len()).sum::<usize>();
    if notes > 0 {
        line.push_str(&format!("  notes {notes} (stormctl status)"));
    }
    line
}

/// One line per engine: name, instance, uptime, last beat, lag gauges.
fn engine_rows(st: &Status) -> Vec<String> {
    if st.engines.is_empty() {
        return vec!["  no heartbeat: no engine is running".to_owned()];
    }
    let mut t = Table::new(&["ENGINE", "INSTANCE", "UP", "BEAT", "LAG"]);
    for e in &st.engines {
        t.row(vec![
            e.engine.clone(),
            e.instance.clone(),
            e.uptime_ms.map_or("?".into(), age),
            e.beat_age_ms.map_or("?".into(), |a| format!("{} ago", age(a))),
            status::lag_cell(e),
        ]);
    }
    t.render().lines().map(str::to_owned).collect()
}

/// `HH:MM:SS.mmm` of a time in ms.
fn clock(ms: u64) -> String {
    utc(ms).get(11..23).unwrap_or_default().to_owned()
}

/// One opportunity in one line: time, path, profit, size, time left (`opps tail` shows the legs).
fn opp_line(e: &storm_bus::StreamEntry, now: u64, digits: &Digits) -> String {
    match storm_bus::opps::decode(e) {
        Ok(o) => format!(
            "  {}  {}  {} bps  {} {}  {}",
            clock(o.created_ms),
            o.path,
            numbers::bps(o.profit_bps),
            numbers::amount(o.size),
            o.asset,
            if o.expires_ms <= now { "expired".to_owned() } else { format!("exp {}", age(o.expires_ms - now)) }
        ),
        Err(_) => opps::human(e, now, digits).lines().next().unwrap_or_default().to_owned(),
    }
}

/// One outcome in one line: time, outcome, path, realized, reason.
fn outcome_line(e: &storm_bus::StreamEntry) -> String {
    let get = |k: &str| e.get_str(k).unwrap_or_default();
    let outcome = e.get_str("outcome").unwrap_or(if e.get("residue").is_some() { "unwound" } else { "-" });
    let mut line = format!("  {}  {outcome:<8}  {}", clock(id_order(&e.id).0), get("path"));
    if let Some(r) = e.get_str("realized") {
        line.push_str(&format!("  realized {} {}", numbers::field("realized", r), get("asset")));
    }
    if let Some(r) = e.get_str("residue") {
        line.push_str(&format!("  residue {}", numbers::field("residue", r)));
    }
    if !get("reason").is_empty() {
        line.push_str(&format!("  {}", get("reason")));
    }
    line
}

/// `text` in lines shorter than `width`, broken at spaces.
fn wrap(text: &str, width: Option<usize>) -> Vec<String> {
    let Some(width) = width else { return vec![text.to_owned()] };
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let cur = lines.last_mut().map_or(0, |l| l.chars().count());
        if cur > 0 && cur + 1 + word.chars().count() >= width {
            lines.push(String::new());
        }
        if let Some(l) = lines.last_mut() {
            if !l.is_empty() {
                l.push(' ');
            }
            l.push_str(word);
        }
    }
    lines
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
