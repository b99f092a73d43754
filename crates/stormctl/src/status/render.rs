//! The human form of [`Status`]: a few short sections an operator can read at 3 a.m.

use std::fmt::Write as _;

use super::{health, BookCounts, Status};
use crate::output::{age, utc, Table};

/// `live 57/60 (syncing 2, stale 1, missing 0)`.
pub(crate) fn books_line(c: &BookCounts) -> String {
    let mut s = format!("live {}/{} (syncing {}, stale {}, missing {}", c.live, c.total, c.syncing, c.stale, c.missing);
    if c.bad > 0 {
        let _ = write!(s, ", unreadable {}", c.bad);
    }
    s.push(')');
    s
}

/// Books not live shown by name; more than this are summarized.
const MAX_NOT_LIVE: usize = 20;

/// Every book that is not live, with its status, how long since its last update, and why.
fn not_live(out: &mut String, s: &Status) {
    if s.not_live.is_empty() {
        return;
    }
    let _ = writeln!(out, "not live ({}):", s.not_live.len());
    let mut t = Table::new(&["VENUE", "SYMBOL", "STATUS", "LAST UPDATE", "WHY"]);
    for b in s.not_live.iter().take(MAX_NOT_LIVE) {
        t.row(vec![
            b.venue.clone(),
            b.symbol.clone(),
            b.status.clone(),
            b.age_ms.map_or("-".into(), |a| format!("{} ago", age(a))),
            b.why.clone(),
        ]);
    }
    out.push_str(&t.render());
    if s.not_live.len() > MAX_NOT_LIVE {
        let _ = writeln!(out, "  ... and {} more (--json lists all)", s.not_live.len() - MAX_NOT_LIVE);
    }
}

/// The parked chains: each waits for an operator, so each gets a row.
fn parked(out: &mut String, s: &Status) {
    if s.parked.is_empty() {
        let _ = writeln!(out, "parked chains ({}): none", s.exec_parked_key);
        return;
    }
    let _ = writeln!(
        out,
        "parked chains ({}): {} — check their orders on the venue, then HDEL the entry",
        s.exec_parked_key,
        s.parked.len()
    );
    let mut t = Table::new(&["ID", "PARKED", "EXECUTOR", "UNRESOLVED", "REASON"]);
    for p in &s.parked {
        t.row(vec![
            p.id.clone(),
            if p.time_ms == 0 { "?".into() } else { format!("{} ago", age(s.time_ms.saturating_sub(p.time_ms))) },
            p.executor.clone(),
            p.unresolved.join(", "),
            p.reason.clone(),
        ]);
    }
    out.push_str(&t.render());
}

/// The whole status as text.
pub(crate) fn render(s: &Status) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "storm status  {}  redis {}  namespace {}", utc(s.time_ms), s.redis, s.namespace);
    let _ = writeln!(out, "config: {}", s.config);
    let _ = writeln!(out, "halt: {}", s.halt.line());

    let _ = writeln!(out, "\nengines ({})", s.engines.len());
    if s.engines.is_empty() {
        let _ = writeln!(out, "  no heartbeat: no engine is running (or they use another namespace)");
    } else {
        let mut t = Table::new(&["ENGINE", "INSTANCE", "PID", "VERSION", "UPTIME", "BEAT", "LAG", "COUNTERS"]);
        for e in &s.engines {
            t.row(vec![
                e.engine.clone(),
                e.instance.clone(),
                e.pid.clone().unwrap_or_else(|| "?".into()),
                e.version.clone().unwrap_or_else(|| "?".into()),
                e.uptime_ms.map_or("?".into(), age),
                e.beat_age_ms.map_or("?".into(), |a| format!("{} ago", age(a))),
                health::lag_cell(e),
                health::counters_cell(e, 5),
            ]);
        }
        out.push_str(&t.render());
    }

    let _ = writeln!(out, "\nbooks {}", books_line(&s.books));
    if !s.venues.is_empty() {
        let mut t = Table::new(&["VENUE", "LIVE", "SYNCING", "STALE", "MISSING", "UNREADABLE", "OLDEST LIVE"])
            .right(&[1, 2, 3, 4, 5, 6]);
        for (venue, c) in &s.venues {
            t.row(vec![
                venue.clone(),
                format!("{}/{}", c.live, c.total),
                c.syncing.to_string(),
                c.stale.to_string(),
                c.missing.to_string(),
                c.bad.to_string(),
                c.oldest_live_ms.map_or("-".into(), age),
            ]);
        }
        out.push_str(&t.render());
    }
    not_live(&mut out, s);

    let _ = writeln!(out, "\nstreams");
    let mut t = Table::new(&["KEY", "LENGTH", "LAST ENTRY"]).right(&[1, 2]);
    for st in &s.streams {
        t.row(vec![
            st.key.clone(),
            st.length.to_string(),
            st.last_age_ms.map_or("-".into(), |a| format!("{} ago", age(a))),
        ]);
    }
    out.push_str(&t.render());

    let _ = writeln!(out, "\nconsumer groups on {}", s.opps_key);
    if s.opps_groups.is_empty() {
        let _ = writeln!(out, "  none (the executor has not started)");
    } else {
        let mut t = Table::new(&["GROUP", "CONSUMERS", "PENDING", "LAG", "LAST DELIVERED"]).right(&[1, 2, 3]);
        for g in &s.opps_groups {
            t.row(vec![
                g.name.clone(),
                g.consumers.to_string(),
                g.pending.to_string(),
                g.lag.map_or("?".into(), |l| l.to_string()),
                g.last_delivered_id.clone(),
            ]);
        }
        out.push_str(&t.render());
    }

    let _ = writeln!(out, "chains in flight ({}): {}", s.exec_open_key, s.chains_in_flight);
    parked(&mut out, s);

    let engine_notes = s.engines.iter().flat_map(|e| e.notes.iter().map(move |n| format!("{}: {n}", e.key)));
    let notes: Vec<String> = s.notes.iter().cloned().chain(engine_notes).collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "\nnotes");
        for n in notes {
            let _ = writeln!(out, "  - {n}");
        }
    }
    out
}
