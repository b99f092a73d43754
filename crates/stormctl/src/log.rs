//! `stormctl log tail [-n N] [--follow]`: what the executor did — `storm:arb:log` (one outcome
//! per opportunity) and `storm:exec:failed` (failed or unwound trades), merged in time order
//! (by entry id: entries of the two streams within one millisecond may show in either order).
//!
//! The executor's entry types are not a dependency: every plain field is printed (`outcome` and
//! `id` first; amounts, bps and ms at the digits of [`crate::numbers::field`], other fields as
//! written), only the msgpack payload `m` is skipped. A new field in the
//! executor shows up here without a stormctl change; `notify` formats entries the same way.

use serde_json::json;
use storm_bus::StreamEntry;

use crate::ctx::Ctx;
use crate::fetch::{self, describe, fields_json, id_order, plain_fields};
use crate::follow;
use crate::numbers;
use crate::output::{kv_value, print_json_line, utc};

/// Runs `log tail`.
pub(crate) async fn tail(ctx: &Ctx, lines: usize, follow_on: bool) -> anyhow::Result<()> {
    let mut conn = ctx.connect().await?;
    let streams = [ctx.keys.arb_log(), ctx.keys.exec_failed()];
    let mut merged = Vec::new();
    let mut positions = Vec::new();
    for key in &streams {
        let read =
            fetch::last_entries(&mut conn, key, lines.max(1)).await.map_err(|e| anyhow::anyhow!(describe(key, &e)))?;
        positions.push((key.clone(), follow::after(&read)));
        merged.extend(read);
    }
    merged.sort_by_key(|e| id_order(&e.id));
    let shown = &merged[merged.len().saturating_sub(lines)..];
    if shown.is_empty() && !ctx.json {
        println!(
            "{} and {} are empty{}",
            streams[0],
            streams[1],
            if follow_on { "; waiting for outcomes (Ctrl-C to stop)" } else { "" }
        );
    }
    for e in shown {
        print(ctx.json, e);
    }
    if follow_on {
        let json = ctx.json;
        follow::follow(ctx, positions, |e| print(json, e)).await?;
    }
    Ok(())
}

/// Prints one entry (a line of JSON with `--json`).
pub(crate) fn print(json: bool, e: &StreamEntry) {
    if json {
        print_json_line(&json!({
            "stream": e.stream,
            "stream_id": e.id,
            "time_ms": id_order(&e.id).0,
            "fields": fields_json(e),
        }));
    } else {
        println!("{}", line(e));
    }
}

/// `<time>  <stream>  <outcome>  id=… k=v …  [<entry id>]`, the outcome padded to the widest kind
/// ([`storm_bus::outcomes::WIDTH`], `superseded`).
pub(crate) fn line(e: &StreamEntry) -> String {
    let fields = ordered_fields(e);
    let outcome = e.get_str("outcome").unwrap_or("-");
    let rest: Vec<String> = fields
        .iter()
        .filter(|(k, _)| k != "outcome")
        .map(|(k, v)| format!("{k}={}", kv_value(&numbers::field(k, v))))
        .collect();
    let w = storm_bus::outcomes::WIDTH;
    format!("{}  {}  {outcome:<w$}  {}  [{}]", utc(id_order(&e.id).0), e.stream, rest.join(" "), e.id)
}

/// Fields an operator reads first, in this order (the executor's names); others follow by name.
const FIRST: [&str; 11] =
    ["outcome", "id", "venue", "path", "realized", "pnl", "predicted", "slippage", "reason", "residue", "asset"];

/// Plain fields in a fixed order: [`FIRST`], the rest by name, the schema version `v` last.
/// (Entries read with `XREAD` come back with their fields unordered, so the order as written
/// cannot be kept everywhere; a fixed one reads the same in `tail`, `--follow` and `notify`.)
pub(crate) fn ordered_fields(e: &StreamEntry) -> Vec<(String, String)> {
    let mut fields = plain_fields(e);
    let rank = |k: &str| match k {
        "v" => FIRST.len() + 1,
        k => FIRST.iter().position(|f| *f == k).unwrap_or(FIRST.len()),
    };
    fields.sort_by(|(a, _), (b, _)| (rank(a), a).cmp(&(rank(b), b)));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plain_field_is_shown_but_the_payload() {
        let e = StreamEntry {
            stream: "storm:arb:log".into(),
            id: "1723161255408-0".into(),
            fields: vec![
                ("v".into(), b"1".to_vec()),
                ("pnl".into(), b"0.51200000".to_vec()),
                ("id".into(), b"9f3a".to_vec()),
                ("outcome".into(), b"executed".to_vec()),
                ("reason".into(), b"all legs filled".to_vec()),
                ("m".into(), vec![0x81, 0xa1, 0x61, 0x01]),
            ],
        };
        assert_eq!(
            line(&e),
            "2024-08-08T23:54:15.408Z  storm:arb:log  executed    id=9f3a pnl=0.51200000 reason=\"all legs filled\" v=1  \
             [1723161255408-0]"
        );
    }
}
