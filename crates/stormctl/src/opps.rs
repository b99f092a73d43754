//! `stormctl opps tail [-n N] [--follow]`: the opportunities on `storm:opps`, decoded with
//! `storm_bus::opps::decode` (schema version checked), so the legs, limit prices and expiry are
//! shown as the executor will read them (at the instruments' tick and step sizes, see
//! [`crate::numbers`]; `--json` keeps every digit). An entry that does not decode (another schema
//! version, a hand-written entry) is still shown by its plain fields, with the reason.

use serde_json::json;
use storm_bus::StreamEntry;
use storm_core::arb::Opportunity;
use storm_core::time::now_millis;

use crate::ctx::Ctx;
use crate::fetch::{self, describe, fields_json, plain_fields};
use crate::follow;
use crate::numbers::{self, Digits};
use crate::output::{age_since, kv_value, print_json_line, utc};

/// Runs `opps tail`.
pub(crate) async fn tail(ctx: &Ctx, lines: usize, follow_on: bool) -> anyhow::Result<()> {
    let mut conn = ctx.connect().await?;
    let key = ctx.keys.opps();
    let read =
        fetch::last_entries(&mut conn, &key, lines.max(1)).await.map_err(|e| anyhow::anyhow!(describe(&key, &e)))?;
    let shown = &read[read.len().saturating_sub(lines)..];
    let digits = if ctx.json { Digits::default() } else { Digits::load_all(&mut conn, &ctx.keys).await? };
    if shown.is_empty() && !ctx.json {
        println!("{key} is empty{}", if follow_on { "; waiting for opportunities (Ctrl-C to stop)" } else { "" });
    }
    for e in shown {
        print(ctx.json, e, &digits);
    }
    if follow_on {
        let json = ctx.json;
        follow::follow(ctx, vec![(key, follow::after(&read))], |e| print(json, e, &digits)).await?;
    }
    Ok(())
}

/// Prints one entry (a line of JSON with `--json`).
pub(crate) fn print(json: bool, e: &StreamEntry, digits: &Digits) {
    if json {
        print_json_line(&as_json(e));
    } else {
        print!("{}", human(e, now_millis(), digits));
    }
}

fn as_json(e: &StreamEntry) -> serde_json::Value {
    match storm_bus::opps::decode(e) {
        Ok(opp) => json!({ "stream_id": e.id, "opp": opp }),
        Err(err) => json!({
            "stream_id": e.id,
            "fields": fields_json(e),
            "error": err.to_string(),
        }),
    }
}

/// One opportunity in two lines: the summary, then its legs.
pub(crate) fn human(e: &StreamEntry, now: u64, digits: &Digits) -> String {
    match storm_bus::opps::decode(e) {
        Ok(opp) => describe_opp(&e.id, &opp, now, digits),
        Err(err) => {
            let fields: Vec<String> =
                plain_fields(e).iter().map(|(k, v)| format!("{k}={}", kv_value(&numbers::field(k, v)))).collect();
            format!("{}  {}\n    (cannot decode: {err})\n", e.id, fields.join(" "))
        }
    }
}

fn describe_opp(id: &str, o: &Opportunity, now: u64, digits: &Digits) -> String {
    let expiry = if o.expires_ms <= now {
        format!("expired {} ago", age_since(now, o.expires_ms))
    } else {
        format!("expires {}", age_since(now, o.expires_ms))
    };
    let legs: Vec<String> = o
        .legs
        .iter()
        .map(|l| {
            let (venue, sym) = (l.venue.as_str(), l.symbol.as_str());
            let (qty, price) = (digits.qty(venue, sym, l.qty.get()), digits.price(venue, sym, l.price.get()));
            format!("{} {} {qty} @ {price}", l.side, l.symbol)
        })
        .collect();
    format!(
        "{}  {}  {} {}  {}  {} bps  size {} {}  profit {} {}  conf {:.2}  {}  [{id}]\n    {}\n",
        utc(o.created_ms),
        o.id,
        o.kind.as_str(),
        o.venue,
        o.path,
        numbers::bps(o.profit_bps),
        numbers::amount(o.size),
        o.asset,
        numbers::amount(o.profit),
        o.asset,
        o.confidence,
        expiry,
        legs.join("  |  ")
    )
}
