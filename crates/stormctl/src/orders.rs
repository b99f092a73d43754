//! `stormctl orders <venue> [--acct A] [--symbol S]`: own orders from the streamer's hashes
//! `storm:order:<venue>:<acct>:<SYM>` (order id → JSON of the latest state). The JSON is read
//! generically (see [`crate::jsonview`]) so stormctl does not break when the streamer adds or
//! renames a field; unknown fields are kept in `--json` output. The table shows prices at the
//! symbol's tick size and quantities at its step size ([`crate::numbers`]).

use serde::Serialize;
use serde_json::Value;
use storm_core::time::now_millis;
use storm_core::Symbol;

use crate::ctx::Ctx;
use crate::fetch::{self, describe, is_connection_error, prefix_of};
use crate::jsonview::{cell, decimal, millis, pick};
use crate::numbers::Digits;
use crate::output::{age, print_json, Progress, Table};

const SYMBOL: &[&str] = &["symbol", "s"];
const SIDE: &[&str] = &["side", "S"];
const TYPE: &[&str] = &["type", "order_type", "orderType", "o"];
const STATUS: &[&str] = &["status", "X"];
const PRICE: &[&str] = &["price", "p"];
const ORIG_QTY: &[&str] = &["orig_qty", "origQty", "qty", "quantity", "q"];
const EXEC_QTY: &[&str] =
    &["executed_qty", "executedQty", "cum_qty", "cumQty", "cumulative_qty", "cumulativeQty", "filled_qty", "z"];
const AVG_PRICE: &[&str] = &["avg_price", "avgPrice", "average_price", "averagePrice"];
const QUOTE_QTY: &[&str] =
    &["cumulative_quote_qty", "cummulativeQuoteQty", "cumulativeQuoteQty", "cum_quote_qty", "quote_qty", "Z"];
const CLIENT_ID: &[&str] = &["client_order_id", "clientOrderId", "client_id", "c"];
const TIF: &[&str] = &["time_in_force", "timeInForce", "f"];
const TIME: &[&str] =
    &["update_ms", "update_time", "updateTime", "updated_ms", "time", "transact_time", "transactTime", "T", "E"];

/// One order as listed.
#[derive(Debug, Serialize)]
struct OrderRow {
    key: String,
    acct: String,
    symbol: String,
    order_id: String,
    /// The stored JSON (or the raw text when it is not JSON).
    order: Value,
    updated_ms: Option<u64>,
    note: Option<String>,
}

/// Average fill price: the stored one, else cumulative quote quantity / executed quantity.
fn avg_price(order: &Value) -> String {
    if let Some(v) = pick(order, AVG_PRICE) {
        return crate::jsonview::text(v);
    }
    match (pick(order, QUOTE_QTY).and_then(decimal), pick(order, EXEC_QTY).and_then(decimal)) {
        (Some(quote), Some(exec)) if !exec.is_zero() => (quote / exec).round_dp(8).normalize().to_string(),
        _ => "-".to_owned(),
    }
}

/// Runs `orders`.
pub(crate) async fn run(
    ctx: &Ctx,
    venue: &str,
    acct: Option<&str>,
    symbol: Option<&str>,
    limit: usize,
) -> anyhow::Result<()> {
    let mut conn = ctx.connect().await?;
    let mut progress = Progress::new(ctx.json);
    let any = ctx.keys.order(venue, "*", &Symbol::new("*"));
    let pattern = ctx.keys.order(venue, acct.unwrap_or("*"), &Symbol::new(symbol.unwrap_or("*")));
    progress.show("scanning order hashes…");
    let keys = fetch::scan(&mut conn, &pattern).await?;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        progress.show(&format!("reading order hashes… {}/{}", i + 1, keys.len()));
        let rest = key.strip_prefix(prefix_of(&any)).unwrap_or(key);
        let (acct, sym) = rest.split_once(':').unwrap_or((rest, ""));
        let fields = match fetch::hash(&mut conn, key).await {
            Ok(f) => f,
            Err(e) if is_connection_error(&e) => return Err(e.into()),
            Err(e) => {
                notes.push(describe(key, &e));
                continue;
            }
        };
        for (order_id, raw) in fields {
            let (order, note) = match serde_json::from_str::<Value>(&raw) {
                Ok(v @ Value::Object(_)) => (v, None),
                Ok(v) => (v, Some(format!("{key} order {order_id}: not a JSON object"))),
                Err(e) => (Value::String(raw.clone()), Some(format!("{key} order {order_id}: not JSON ({e})"))),
            };
            let updated_ms = pick(&order, TIME).and_then(millis);
            rows.push(OrderRow {
                key: key.clone(),
                acct: acct.to_owned(),
                symbol: sym.to_owned(),
                order_id,
                order,
                updated_ms,
                note,
            });
        }
    }
    progress.done();
    // Most recently updated first; orders without a time last, by id.
    rows.sort_by(|a, b| b.updated_ms.cmp(&a.updated_ms).then_with(|| a.order_id.cmp(&b.order_id)));
    let total = rows.len();
    if limit > 0 {
        rows.truncate(limit);
    }
    if ctx.json {
        print_json(&serde_json::json!({ "pattern": pattern, "total": total, "orders": rows, "notes": notes }));
        return Ok(());
    }
    if rows.is_empty() {
        println!("no orders under {pattern} (the streamer writes them once it runs for that account)");
    } else {
        let digits = Digits::load(&mut conn, &ctx.keys, &[venue]).await?;
        print!("{}", table(&rows, venue, &digits));
        if total > rows.len() {
            println!("… {} more (--limit 0 shows all)", total - rows.len());
        }
    }
    for n in notes.iter().chain(rows.iter().filter_map(|r| r.note.as_ref())) {
        println!("note: {n}");
    }
    Ok(())
}

fn table(rows: &[OrderRow], venue: &str, digits: &Digits) -> String {
    let now = now_millis();
    let mut t = Table::new(&[
        "ACCT",
        "SYMBOL",
        "ORDER ID",
        "CLIENT ID",
        "SIDE",
        "TYPE",
        "STATUS",
        "PRICE",
        "ORIG QTY",
        "EXEC QTY",
        "AVG PRICE",
        "UPDATED",
    ])
    .right(&[7, 8, 9, 10, 11]);
    for r in rows {
        let o = &r.order;
        let symbol = pick(o, SYMBOL).map_or_else(|| r.symbol.clone(), crate::jsonview::text);
        let price = |names: &[&str]| digits.price_text(venue, &symbol, &cell(o, names));
        let qty = |names: &[&str]| digits.qty_text(venue, &symbol, &cell(o, names));
        t.row(vec![
            r.acct.clone(),
            symbol.clone(),
            r.order_id.clone(),
            cell(o, CLIENT_ID),
            cell(o, SIDE),
            match pick(o, TIF) {
                Some(tif) => format!("{} {}", cell(o, TYPE), crate::jsonview::text(tif)),
                None => cell(o, TYPE),
            },
            cell(o, STATUS),
            price(PRICE),
            qty(ORIG_QTY),
            qty(EXEC_QTY),
            digits.price_text(venue, &symbol, &avg_price(o)),
            r.updated_ms.map_or("-".into(), |t| format!("{} ago", age(now.saturating_sub(t)))),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn average_price_is_stored_or_exact() {
        assert_eq!(avg_price(&json!({"avgPrice": "60000.10"})), "60000.10");
        assert_eq!(avg_price(&json!({"cummulativeQuoteQty": "120.00", "executedQty": "0.002"})), "60000");
        assert_eq!(avg_price(&json!({"executedQty": "0"})), "-");
    }
}
