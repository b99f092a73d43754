//! `stormctl book <venue> <SYM>`: one book hash as a ladder — asks above (best ask just over the
//! spread), bids below, best first — read with `storm_bus::book::parse`, the same reader the
//! executor uses, so what the operator sees is what the engines see. The ladder shows prices at
//! the symbol's tick size and quantities at its step size ([`crate::numbers`]); `--json` keeps the
//! decimal strings booksync wrote. The spread is exact `Decimal` arithmetic.

use anyhow::bail;
use rust_decimal::Decimal;
use serde::Serialize;
use storm_core::time::now_millis;
use storm_core::{Level, Symbol};

use crate::ctx::Ctx;
use crate::fetch::{self, describe};
use crate::numbers::{self, Digits};
use crate::output::{age, print_json, utc, Table};

/// The book as `--json` prints it.
#[derive(Debug, Serialize)]
struct BookView {
    key: String,
    venue: String,
    symbol: String,
    status: String,
    update_id: u64,
    depth: u32,
    time_exchange_ms: u64,
    time_local_ms: u64,
    age_ms: u64,
    ttl_ms: Option<u64>,
    spread: Option<String>,
    spread_bps: Option<String>,
    asks: Vec<[String; 2]>,
    bids: Vec<[String; 2]>,
}

fn pairs(levels: &[Level], n: usize) -> Vec<[String; 2]> {
    levels.iter().take(n).map(|l| [l.price.to_string(), l.qty.to_string()]).collect()
}

/// Best ask − best bid, and that over the mid price in basis points (2 decimals).
fn spread(bids: &[Level], asks: &[Level]) -> Option<(Decimal, Decimal)> {
    let (bid, ask) = (bids.first()?.price.get(), asks.first()?.price.get());
    let spread = ask - bid;
    let mid = (ask + bid) / Decimal::TWO;
    let bps = if mid.is_zero() { Decimal::ZERO } else { (spread / mid * Decimal::from(10_000)).round_dp(2) };
    Some((spread, bps))
}

/// Runs `book`.
pub(crate) async fn run(ctx: &Ctx, venue: &str, symbol: &str, depth: usize) -> anyhow::Result<()> {
    let mut conn = ctx.connect().await?;
    let symbol = Symbol::new(symbol);
    let key = ctx.keys.book(venue, &symbol);
    let fields = match fetch::hash(&mut conn, &key).await {
        Ok(f) => f,
        Err(e) => bail!("{}", describe(&key, &e)),
    };
    if fields.is_empty() {
        bail!(
            "no book at {key}: not subscribed (stormctl subs ls {venue}), or booksync is not running \
             (book hashes expire soon after it stops)"
        );
    }
    let book = match storm_bus::book::parse(&symbol, &fields) {
        Ok(b) => b,
        Err(e) => bail!("{key} is unreadable: {e}"),
    };
    let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut conn).await.unwrap_or(-1);
    let top = &book.top;
    let now = now_millis();
    let time_local_ms = top.time_local / 1_000;
    let sp = spread(&top.bids, &top.asks);
    let view = BookView {
        key: key.clone(),
        venue: venue.to_owned(),
        symbol: symbol.to_string(),
        status: top.status.to_string(),
        update_id: top.update_id,
        depth: book.depth,
        time_exchange_ms: top.time_exchange / 1_000,
        time_local_ms,
        age_ms: now.saturating_sub(time_local_ms),
        ttl_ms: u64::try_from(ttl).ok(),
        spread: sp.map(|(s, _)| s.to_string()),
        spread_bps: sp.map(|(_, b)| b.to_string()),
        asks: pairs(&top.asks, depth),
        bids: pairs(&top.bids, depth),
    };
    if ctx.json {
        print_json(&view);
    } else {
        let digits = Digits::load(&mut conn, &ctx.keys, &[venue]).await?;
        print!("{}", ladder(&view, &digits));
    }
    Ok(())
}

fn ladder(v: &BookView, digits: &Digits) -> String {
    let mut out = format!(
        "{} {}  status {}  update {}  updated {} ({} ago)  depth {}\n",
        v.venue,
        v.symbol,
        v.status.to_uppercase(),
        v.update_id,
        utc(v.time_local_ms),
        age(v.age_ms),
        v.depth
    );
    if v.status != "live" {
        out.push_str("  (not live: do not trade on these prices)\n");
    }
    let mut t = Table::new(&["SIDE", "PRICE", "QTY", "CUMULATIVE"]).right(&[1, 2, 3]);
    let cumulative = |levels: &[[String; 2]]| -> Vec<String> {
        let mut sum = Decimal::ZERO;
        levels
            .iter()
            .map(|[_, q]| {
                sum += q.parse::<Decimal>().unwrap_or_default();
                digits.qty(&v.venue, &v.symbol, sum)
            })
            .collect()
    };
    let ask_cum = cumulative(&v.asks);
    for (i, [p, q]) in v.asks.iter().enumerate().rev() {
        t.row(vec![
            "ask".into(),
            digits.price_text(&v.venue, &v.symbol, p),
            digits.qty_text(&v.venue, &v.symbol, q),
            ask_cum[i].clone(),
        ]);
    }
    t.row(Vec::new()); // the spread line goes here
    let bid_cum = cumulative(&v.bids);
    for (i, [p, q]) in v.bids.iter().enumerate() {
        t.row(vec![
            "bid".into(),
            digits.price_text(&v.venue, &v.symbol, p),
            digits.qty_text(&v.venue, &v.symbol, q),
            bid_cum[i].clone(),
        ]);
    }
    let spread_line = match (&v.spread, &v.spread_bps) {
        (Some(s), Some(b)) => {
            format!(
                "  --- spread {} ({} bps) ---",
                digits.price_text(&v.venue, &v.symbol, s),
                numbers::text_with(b, numbers::bps)
            )
        }
        _ => "  --- spread - (a side is empty) ---".to_owned(),
    };
    // Line 0 is the header, then the asks, then the empty row.
    for (i, line) in t.render().lines().enumerate() {
        out.push_str(if i == v.asks.len() + 1 { &spread_line } else { line });
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_exact() {
        let bids = [Level::parse("100.10", "1").expect("level")];
        let asks = [Level::parse("100.30", "1").expect("level")];
        let (s, bps) = spread(&bids, &asks).expect("both sides");
        assert_eq!(s.to_string(), "0.20");
        assert_eq!(bps.to_string(), "19.96");
        assert!(spread(&bids, &[]).is_none());
    }
}
