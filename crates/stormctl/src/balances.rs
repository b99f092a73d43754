//! `stormctl balances <venue> [--acct A]`: balances from the streamer's hashes
//! `storm:balance:<venue>:<acct>` (asset → JSON {free, locked, time}). The table shows amounts at
//! most 8 decimals ([`crate::numbers::amount`]), `--json` as stored; the total is exact `Decimal`
//! addition. Zero balances are hidden unless `--all`.

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use storm_core::time::now_millis;

use crate::ctx::Ctx;
use crate::fetch::{self, describe, is_connection_error, prefix_of};
use crate::jsonview::{cell, decimal, millis, pick};
use crate::numbers;
use crate::output::{age, print_json, Table};

/// One asset of one account.
#[derive(Debug, Serialize)]
struct BalanceRow {
    acct: String,
    asset: String,
    free: String,
    locked: String,
    total: Option<String>,
    time_ms: Option<u64>,
    /// The stored JSON (or raw text).
    raw: Value,
    note: Option<String>,
}

/// Runs `balances`.
pub(crate) async fn run(ctx: &Ctx, venue: &str, acct: Option<&str>, all: bool) -> anyhow::Result<()> {
    let mut conn = ctx.connect().await?;
    let any = ctx.keys.balance(venue, "*");
    let pattern = ctx.keys.balance(venue, acct.unwrap_or("*"));
    let keys = fetch::scan(&mut conn, &pattern).await?;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let mut hidden = 0;
    for key in &keys {
        let acct = key.strip_prefix(prefix_of(&any)).unwrap_or(key);
        let fields = match fetch::hash(&mut conn, key).await {
            Ok(f) => f,
            Err(e) if is_connection_error(&e) => return Err(e.into()),
            Err(e) => {
                notes.push(describe(key, &e));
                continue;
            }
        };
        for (asset, text) in fields {
            let (raw, note) = match serde_json::from_str::<Value>(&text) {
                Ok(v @ Value::Object(_)) => (v, None),
                Ok(v) => (v, Some(format!("{key} {asset}: not a JSON object"))),
                Err(e) => (Value::String(text.clone()), Some(format!("{key} {asset}: not JSON ({e})"))),
            };
            let free = pick(&raw, &["free", "f"]).and_then(decimal);
            let locked = pick(&raw, &["locked", "l"]).and_then(decimal);
            let total = match (free, locked) {
                (Some(f), Some(l)) => Some(f + l),
                _ => None,
            };
            if !all && note.is_none() && total == Some(Decimal::ZERO) {
                hidden += 1;
                continue;
            }
            rows.push(BalanceRow {
                acct: acct.to_owned(),
                asset,
                free: cell(&raw, &["free", "f"]),
                locked: cell(&raw, &["locked", "l"]),
                total: total.map(|t| t.to_string()),
                time_ms: pick(&raw, &["time", "update_time", "updateTime", "u"]).and_then(millis),
                raw,
                note,
            });
        }
    }
    rows.sort_by(|a, b| (&a.acct, &a.asset).cmp(&(&b.acct, &b.asset)));
    if ctx.json {
        print_json(&serde_json::json!({ "pattern": pattern, "balances": rows, "hidden_zero": hidden, "notes": notes }));
        return Ok(());
    }
    if rows.is_empty() {
        println!("no balances under {pattern}{}", if hidden > 0 { " other than zero ones (--all)" } else { "" });
    } else {
        let now = now_millis();
        let mut t = Table::new(&["ACCT", "ASSET", "FREE", "LOCKED", "TOTAL", "UPDATED"]).right(&[2, 3, 4, 5]);
        for r in &rows {
            t.row(vec![
                r.acct.clone(),
                r.asset.clone(),
                numbers::text_with(&r.free, numbers::amount),
                numbers::text_with(&r.locked, numbers::amount),
                r.total.as_deref().map_or_else(|| "-".into(), |t| numbers::text_with(t, numbers::amount)),
                r.time_ms.map_or("-".into(), |t| format!("{} ago", age(now.saturating_sub(t)))),
            ]);
        }
        print!("{}", t.render());
        if hidden > 0 {
            println!("({hidden} zero balance(s) hidden; --all shows them)");
        }
    }
    for n in notes.iter().chain(rows.iter().filter_map(|r| r.note.as_ref())) {
        println!("note: {n}");
    }
    Ok(())
}
