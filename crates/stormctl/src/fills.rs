//! `stormctl fills [--venue V] [--symbol S] [--since T] [-n N]`: the account's own fills as the
//! streamer records them (`storm:fills:<venue>:<acct>`, one entry per execution, exactly once),
//! newest last, in a table a trader reads: time, symbol, side, price, quantity, quote amount, fee,
//! maker or taker, and the executor's chain (the opportunity id in the client order id).
//!
//! Entries are decoded with `storm_bus::account::decode_fill`, the streamer's own format; one
//! that does not decode is named in a note, not shown half-read. With `--symbol` the streams are
//! read backwards page by page until `-n` matching fills are found (or `--since` is reached).

use anyhow::anyhow;
use serde::Serialize;
use storm_bus::account::{decode_fill, Fill};

use crate::ctx::{Conn, Ctx};
use crate::fetch::{self, describe, entries_from_value, id_order, prefix_of};
use crate::output::{print_json, utc, Table};
use crate::pnl::chain_of;
use crate::since;

/// What `fills` was asked for.
#[derive(Clone, Debug, Default)]
pub(crate) struct FillsArgs {
    pub venue: Option<String>,
    pub symbol: Option<String>,
    pub since: Option<String>,
    pub lines: usize,
}

/// One fill with where it was found.
#[derive(Debug, Serialize)]
struct FillRow {
    venue: String,
    acct: String,
    stream_id: String,
    chain: Option<String>,
    #[serde(flatten)]
    fill: Fill,
}

const PAGE: usize = 500;

/// Runs `fills`.
pub(crate) async fn run(ctx: &Ctx, args: &FillsArgs) -> anyhow::Result<()> {
    let since_ms = args
        .since
        .as_deref()
        .map(|s| since::parse(s, storm_core::time::now_millis()))
        .transpose()
        .map_err(|e| anyhow!(e))?;
    let symbol = args.symbol.as_deref().map(str::to_ascii_uppercase);
    let mut conn = ctx.connect().await?;
    let pattern = ctx.keys.fills(args.venue.as_deref().unwrap_or("*"), "*");
    let streams = fetch::scan(&mut conn, &pattern).await.map_err(|e| anyhow!(describe(&pattern, &e)))?;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for key in &streams {
        let (venue, acct) = key
            .strip_prefix(prefix_of(&ctx.keys.fills("*", "*")))
            .unwrap_or(key)
            .rsplit_once(':')
            .unwrap_or(("?", key));
        let (venue, acct) = (venue.to_owned(), acct.to_owned());
        let read = last_fills(&mut conn, key, symbol.as_deref(), since_ms, args.lines, &mut notes).await?;
        rows.extend(read.into_iter().map(|(id, fill)| FillRow {
            venue: venue.clone(),
            acct: acct.clone(),
            chain: chain_of(&fill.client_order_id).map(str::to_owned),
            stream_id: id,
            fill,
        }));
    }
    rows.sort_by_key(|r| (r.fill.time_ms, id_order(&r.stream_id)));
    if args.lines > 0 && rows.len() > args.lines {
        rows.drain(..rows.len() - args.lines);
    }
    if ctx.json {
        print_json(&serde_json::json!({ "pattern": pattern, "fills": rows, "notes": notes }));
        return Ok(());
    }
    if rows.is_empty() {
        println!(
            "no fills under {pattern}{}",
            if symbol.is_some() || since_ms.is_some() { " matching the filters" } else { "" }
        );
    } else {
        let mut t =
            Table::new(&["TIME", "VENUE", "ACCT", "SYMBOL", "SIDE", "PRICE", "QTY", "QUOTE", "FEE", "ROLE", "CHAIN"])
                .right(&[5, 6, 7, 8]);
        for r in &rows {
            let f = &r.fill;
            t.row(vec![
                utc(f.time_ms),
                r.venue.clone(),
                r.acct.clone(),
                f.symbol.to_string(),
                f.side.as_str().to_owned(),
                f.price.0.normalize().to_string(),
                f.qty.0.normalize().to_string(),
                f.quote_qty.0.normalize().to_string(),
                format!("{} {}", f.commission.0.normalize(), f.commission_asset),
                if f.maker { "maker" } else { "taker" }.to_owned(),
                r.chain.clone().unwrap_or_else(|| "-".into()),
            ]);
        }
        print!("{}", t.render());
    }
    for n in &notes {
        println!("note: {n}");
    }
    Ok(())
}

/// The last `n` fills of `key` (0: all) on `symbol`, not before `since_ms`, oldest first.
async fn last_fills(
    conn: &mut Conn,
    key: &str,
    symbol: Option<&str>,
    since_ms: Option<u64>,
    n: usize,
    notes: &mut Vec<String>,
) -> anyhow::Result<Vec<(String, Fill)>> {
    let floor = since_ms.map_or_else(|| "-".to_owned(), |ms| format!("{ms}-0"));
    let mut end = "+".to_owned();
    let mut out = Vec::new();
    loop {
        let v: redis::Value = redis::cmd("XREVRANGE")
            .arg(key)
            .arg(&end)
            .arg(&floor)
            .arg("COUNT")
            .arg(PAGE)
            .query_async(conn)
            .await
            .map_err(|e| anyhow!(describe(key, &e)))?;
        let page = entries_from_value(key, &v);
        for e in &page {
            match decode_fill(e) {
                Ok(f) if symbol.is_none_or(|s| f.symbol.as_str() == s) => out.push((e.id.clone(), f)),
                Ok(_) => {}
                Err(err) => notes.push(format!("{key} {}: unreadable fill ({err})", e.id)),
            }
            if n > 0 && out.len() >= n {
                break;
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE && (n == 0 || out.len() < n) => end = format!("({}", last.id),
            _ => break,
        }
    }
    out.reverse();
    Ok(out)
}
