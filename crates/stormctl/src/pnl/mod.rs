//! `stormctl pnl [--since T] [--venue V] [--png FILE]`: what the executor's trading came to, from
//! `storm:arb:log` (one outcome per opportunity, written by the executor in the same script that
//! acknowledges it, so each opportunity is there exactly once).
//!
//! * outcomes counted by kind; realized PnL per asset and per path; the prediction against the
//!   result ([`report`]);
//! * fees: the commissions of the chains' own fills, from the streamer's `storm:fills:<venue>:*`
//!   joined on the executor's client order ids ([`fees`]) — already inside the realized PnL,
//!   shown apart so their weight is visible;
//! * balances now against where they started ([`balances`]);
//! * `--png`: the cumulative realized PnL of each asset over time ([`chart`]).
//!
//! Every amount is a `Decimal` summed exactly; nothing is converted to a float but the chart's
//! pixel positions.

mod balances;
pub(crate) mod chart;
mod fees;
mod render;
pub(crate) mod report;

use std::path::PathBuf;

use anyhow::anyhow;
use serde::Serialize;
use storm_core::time::now_millis;

use crate::ctx::{Conn, Ctx};
use crate::fetch::{describe, entries_from_value};
use crate::output::print_json;
use crate::since;
use report::Report;

pub(crate) use fees::chain_of;

/// What `pnl` was asked for.
#[derive(Clone, Debug, Default)]
pub(crate) struct PnlArgs {
    pub since: Option<String>,
    pub venue: Option<String>,
    pub png: Option<PathBuf>,
}

/// Entries read per `XRANGE` call.
const PAGE: usize = 1000;

/// The whole report, as `--json` prints it.
#[derive(Debug, Serialize)]
pub(crate) struct PnlView {
    pub stream: String,
    pub venue: Option<String>,
    pub since_ms: Option<u64>,
    #[serde(flatten)]
    pub report: Report,
    pub fees: Vec<fees::Fees>,
    pub balances: Vec<balances::BalanceView>,
    pub png: Option<String>,
    /// Entries left out, and why.
    pub notes: Vec<String>,
}

/// Runs `pnl`.
pub(crate) async fn run(ctx: &Ctx, args: &PnlArgs) -> anyhow::Result<()> {
    let since_ms = args.since.as_deref().map(|s| since::parse(s, now_millis())).transpose().map_err(|e| anyhow!(e))?;
    let mut conn = ctx.connect().await?;
    let stream = ctx.keys.arb_log();
    let (report, mut notes) = read_log(&mut conn, &stream, since_ms, args.venue.as_deref()).await?;
    let venues: Vec<String> = match &args.venue {
        Some(v) => vec![v.clone()],
        None => report.venues.keys().cloned().collect(),
    };
    let mut all_fees = Vec::new();
    let mut all_balances = Vec::new();
    for venue in &venues {
        all_fees.push(fees::collect(ctx, &mut conn, venue, &report.ids, since_ms).await?);
        all_balances.push(balances::collect(ctx, &mut conn, venue, &report).await?);
    }
    let png = match &args.png {
        Some(path) => {
            chart::draw(path, &report).map_err(|e| anyhow!("--png {}: {e}", path.display()))?;
            Some(path.display().to_string())
        }
        None => None,
    };
    notes.extend(all_fees.iter().flat_map(|f| f.notes.iter().cloned()));
    let view = PnlView {
        stream,
        venue: args.venue.clone(),
        since_ms,
        report,
        fees: all_fees,
        balances: all_balances,
        png,
        notes,
    };
    if ctx.json {
        print_json(&view);
    } else {
        print!("{}", render::text(&view));
    }
    Ok(())
}

/// Every outcome of `stream` from `since_ms` on (of `venue`, when given), added up; entries that
/// cannot be read are left out and named in the notes.
pub(crate) async fn read_log(
    conn: &mut Conn,
    stream: &str,
    since_ms: Option<u64>,
    venue: Option<&str>,
) -> anyhow::Result<(Report, Vec<String>)> {
    let mut report = Report::default();
    let mut notes = Vec::new();
    let mut start = since_ms.map_or_else(|| "-".to_owned(), |ms| format!("{ms}-0"));
    loop {
        let v: redis::Value = redis::cmd("XRANGE")
            .arg(stream)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(PAGE)
            .query_async(conn)
            .await
            .map_err(|e| anyhow!(describe(stream, &e)))?;
        let page = entries_from_value(stream, &v);
        for e in &page {
            let counted = report::parse(e).and_then(|o| {
                if venue.is_some_and(|v| v != o.venue) {
                    return Ok(());
                }
                report.add(&o)
            });
            if let Err(why) = counted {
                notes.push(format!("{stream} {}: left out: {why}", e.id));
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE => start = format!("({}", last.id),
            _ => return Ok((report, notes)),
        }
    }
}
