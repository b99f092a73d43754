//! The text form of the PnL report: one titled table per part. Amounts are the exact sums,
//! normalized (no trailing zeros), never rounded.

use std::fmt::Write as _;

use rust_decimal::Decimal;

use super::PnlView;
use crate::output::{utc, Table};

fn amount(d: Decimal) -> String {
    d.normalize().to_string()
}

fn opt(d: Option<Decimal>) -> String {
    d.map_or_else(|| "-".to_owned(), amount)
}

/// The whole report as text.
pub(crate) fn text(v: &PnlView) -> String {
    let r = &v.report;
    let mut out = String::new();
    let scope = match (&v.venue, v.since_ms) {
        (Some(venue), Some(s)) => format!("venue {venue}, since {}", utc(s)),
        (Some(venue), None) => format!("venue {venue}"),
        (None, Some(s)) => format!("since {}", utc(s)),
        (None, None) => "all venues, whole stream".to_owned(),
    };
    let _ = writeln!(out, "PnL from {} ({scope})", v.stream);
    match (r.first_ms, r.last_ms) {
        (Some(a), Some(b)) => {
            let _ = writeln!(out, "{} outcome(s), {} .. {}", r.entries, utc(a), utc(b));
        }
        _ => {
            let _ = writeln!(out, "no outcomes");
        }
    }
    if r.entries > 0 {
        let _ = writeln!(out, "\nOutcomes");
        let mut t = Table::new(&["KIND", "COUNT", "SHARE"]).right(&[1, 2]);
        for (kind, n) in &r.outcomes {
            t.row(vec![kind.clone(), n.to_string(), format!("{:.1} %", *n as f64 * 100.0 / r.entries as f64)]);
        }
        t.row(vec!["total".into(), r.entries.to_string(), String::new()]);
        out.push_str(&t.render());

        let _ = writeln!(out, "\nRealized PnL per asset (from each outcome's pnl: fills, net of fees)");
        if r.realized.is_empty() {
            let _ = writeln!(out, "  none: no outcome changed a balance");
        } else {
            let mut t = Table::new(&["ASSET", "REALIZED"]).right(&[1]);
            for (asset, d) in &r.realized {
                t.row(vec![asset.clone(), amount(*d)]);
            }
            out.push_str(&t.render());
        }

        let _ = writeln!(out, "\nPer path (amounts in the path's start asset)");
        let mut t =
            Table::new(&["PATH", "OUTCOMES", "TRADED", "REALIZED", "PREDICTED", "SLIPPAGE"]).right(&[1, 2, 3, 4, 5]);
        for (path, p) in &r.paths {
            let traded = p.traded > 0;
            t.row(vec![
                path.clone(),
                p.outcomes.to_string(),
                p.traded.to_string(),
                amount(p.realized),
                if traded { amount(p.predicted) } else { "-".into() },
                if traded { amount(p.slippage) } else { "-".into() },
            ]);
        }
        out.push_str(&t.render());

        let _ = writeln!(out, "\nPrediction against result (chains that traded; slippage = realized - predicted)");
        if r.prediction.is_empty() {
            let _ = writeln!(out, "  no chain traded");
        } else {
            let mut t = Table::new(&["ASSET", "CHAINS", "PREDICTED", "REALIZED", "SLIPPAGE"]).right(&[1, 2, 3, 4]);
            for (asset, p) in &r.prediction {
                t.row(vec![
                    asset.clone(),
                    p.chains.to_string(),
                    amount(p.predicted),
                    amount(p.realized),
                    amount(p.slippage),
                ]);
            }
            out.push_str(&t.render());
        }
    }
    for f in &v.fees {
        let _ = writeln!(
            out,
            "\nFees on {} (commissions of the chains' fills in {}; already inside realized)",
            f.venue,
            if f.streams.is_empty() { "no storm:fills stream".to_owned() } else { f.streams.join(", ") }
        );
        if f.by_asset.is_empty() {
            let _ = writeln!(out, "  none found ({} fill(s) of reported chains)", f.fills);
        } else {
            let mut t = Table::new(&["ASSET", "FEES"]).right(&[1]);
            for (asset, d) in &f.by_asset {
                t.row(vec![asset.clone(), amount(*d)]);
            }
            out.push_str(&t.render());
            let _ = writeln!(out, "  {} fill(s) of {} chain(s)", f.fills, f.chains);
        }
    }
    for b in &v.balances {
        balances(&mut out, b);
    }
    if let Some(png) = &v.png {
        let _ = writeln!(out, "\nchart: {png}");
    }
    for n in &v.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

fn balances(out: &mut String, b: &super::balances::BalanceView) {
    let who = match (&b.account, &b.key) {
        (Some(a), Some(k)) => format!("account {a} ({k})"),
        _ => "no account found".to_owned(),
    };
    let _ = writeln!(out, "\nBalances on {}: {who}", b.venue);
    let _ = writeln!(
        out,
        "  start: {}",
        b.start_source
            .as_deref()
            .unwrap_or("unknown (Redis keeps no balance history; only a simulator's config has one)")
    );
    let mut t = Table::new(&["ASSET", "START", "NOW", "CHANGE", "LOGGED", "UNEXPLAINED"]).right(&[1, 2, 3, 4, 5]);
    for row in &b.rows {
        t.row(vec![
            row.asset.clone(),
            opt(row.start),
            opt(row.now),
            opt(row.change),
            amount(row.logged),
            opt(row.unexplained),
        ]);
    }
    out.push_str(&t.render());
    if b.rows.iter().any(|r| r.unexplained.is_some_and(|u| !u.is_zero())) {
        let _ = writeln!(
            out,
            "  (UNEXPLAINED = CHANGE - LOGGED: trades outside this report — before --since, by other orders, or \
             outcomes of an earlier sim run still in the log)"
        );
    }
    for n in &b.notes {
        let _ = writeln!(out, "  note: {n}");
    }
}
