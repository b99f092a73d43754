//! The arithmetic of `stormctl pnl`: outcomes of `storm:arb:log` read from their plain fields
//! (the executor's types are not a dependency, as in `log tail`) and added up exactly, as
//! `Decimal`, with checked additions. An entry whose numbers cannot be read, or whose sums would
//! overflow, is left out whole and named in a note — never half-counted, never a panic.
//!
//! What each total is, in the executor's words (crates/storm-executor/src/outcome.rs):
//! * `realized` per asset: the sum of the entries' `pnl` JSON — every asset a chain changed, from
//!   the venue's fills, **net of commissions** (a broken chain's leftover coin shows here too);
//! * per path: the `realized` field (net change of the path's start asset);
//! * prediction: for the chains that traded (the executor writes `slippage` only for those), the
//!   finder's `predicted` profit beside the `realized` one, and their difference `slippage`.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;
use storm_bus::StreamEntry;

use crate::fetch::id_order;

/// One `storm:arb:log` entry, as far as the report needs it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LogOutcome {
    pub id: String,
    pub outcome: String,
    pub venue: String,
    pub path: String,
    pub asset: String,
    /// The `time_ms` field, else the entry id's time.
    pub time_ms: u64,
    pub predicted: Option<Decimal>,
    pub realized: Option<Decimal>,
    /// Present only for chains that traded.
    pub slippage: Option<Decimal>,
    pub pnl: BTreeMap<String, Decimal>,
}

/// Reads one entry; `Err` says which field is unreadable.
pub(crate) fn parse(e: &StreamEntry) -> Result<LogOutcome, String> {
    let text = |k: &str| e.get_str(k).map(str::trim).filter(|s| !s.is_empty());
    let dec = |k: &str| -> Result<Option<Decimal>, String> {
        text(k).map(|s| s.parse::<Decimal>().map_err(|_| format!("{k}={s:?} is not a decimal"))).transpose()
    };
    let outcome = text("outcome").ok_or("no outcome field")?.to_owned();
    let pnl = match text("pnl") {
        None => BTreeMap::new(),
        Some(j) => {
            let m: BTreeMap<String, String> =
                serde_json::from_str(j).map_err(|_| format!("pnl={j:?} is not a JSON object of decimal strings"))?;
            m.into_iter()
                .map(|(a, v)| {
                    v.trim().parse::<Decimal>().map(|d| (a, d)).map_err(|_| format!("pnl {v:?} is not a decimal"))
                })
                .collect::<Result<_, _>>()?
        }
    };
    Ok(LogOutcome {
        id: text("id").unwrap_or("").to_owned(),
        outcome,
        venue: text("venue").unwrap_or("").to_owned(),
        path: text("path").unwrap_or("-").to_owned(),
        asset: text("asset").unwrap_or("").to_owned(),
        time_ms: text("time_ms").and_then(|s| s.parse().ok()).unwrap_or_else(|| id_order(&e.id).0),
        predicted: dec("predicted")?,
        realized: dec("realized")?,
        slippage: dec("slippage")?,
        pnl,
    })
}

/// One path's line.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct PathRow {
    /// Start asset (the unit of the amounts).
    pub asset: String,
    /// Outcomes of any kind.
    pub outcomes: u64,
    /// Of which traded (orders filled).
    pub traded: u64,
    /// Net change of the start asset.
    pub realized: Decimal,
    /// Predicted profit of the traded ones.
    pub predicted: Decimal,
    /// `realized - predicted` of the traded ones.
    pub slippage: Decimal,
}

/// Prediction against result, per start asset, over the chains that traded.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct Prediction {
    pub chains: u64,
    pub predicted: Decimal,
    pub realized: Decimal,
    pub slippage: Decimal,
}

/// The totals of a set of outcomes.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Report {
    /// Outcomes counted.
    pub entries: u64,
    pub first_ms: Option<u64>,
    pub last_ms: Option<u64>,
    /// Count per kind (`executed`, `expired`, ...).
    pub outcomes: BTreeMap<String, u64>,
    /// Sum of the `pnl` JSON per asset (net of commissions).
    pub realized: BTreeMap<String, Decimal>,
    /// The same per venue (what the venue's balances should show).
    pub venues: BTreeMap<String, BTreeMap<String, Decimal>>,
    pub paths: BTreeMap<String, PathRow>,
    pub prediction: BTreeMap<String, Prediction>,
    /// Cumulative `realized` per asset after each outcome that changed it: (time, asset, total).
    #[serde(skip)]
    pub timeline: Vec<(u64, String, Decimal)>,
    /// Opportunity ids of the outcomes counted (to find their fills).
    #[serde(skip)]
    pub ids: std::collections::BTreeSet<String>,
}

fn plus(a: Decimal, b: Decimal, what: &str) -> Result<Decimal, String> {
    a.checked_add(b).ok_or_else(|| format!("{what} overflows"))
}

impl Report {
    /// Counts `o`; `Err` (and nothing counted) when a sum would overflow.
    pub fn add(&mut self, o: &LogOutcome) -> Result<(), String> {
        // Every new value is computed first, then all are stored: an entry counts whole or not.
        let mut realized = Vec::new();
        for (asset, v) in &o.pnl {
            let cur = self.realized.get(asset).copied().unwrap_or_default();
            let at_venue = self.venues.get(&o.venue).and_then(|m| m.get(asset)).copied().unwrap_or_default();
            realized.push((asset.clone(), plus(cur, *v, "the realized sum")?, plus(at_venue, *v, "a venue's sum")?));
        }
        let mut row = self
            .paths
            .get(&o.path)
            .cloned()
            .unwrap_or_else(|| PathRow { asset: o.asset.clone(), ..PathRow::default() });
        row.outcomes += 1;
        row.realized = plus(row.realized, o.realized.unwrap_or_default(), "a path's realized sum")?;
        let mut pred = self.prediction.get(&o.asset).cloned().unwrap_or_default();
        if let Some(slip) = o.slippage {
            let (p, r) = (o.predicted.unwrap_or_default(), o.realized.unwrap_or_default());
            row.traded += 1;
            row.predicted = plus(row.predicted, p, "a path's predicted sum")?;
            row.slippage = plus(row.slippage, slip, "a path's slippage sum")?;
            pred.chains += 1;
            pred.predicted = plus(pred.predicted, p, "the predicted sum")?;
            pred.realized = plus(pred.realized, r, "the traded realized sum")?;
            pred.slippage = plus(pred.slippage, slip, "the slippage sum")?;
            self.prediction.insert(o.asset.clone(), pred);
        }
        self.paths.insert(o.path.clone(), row);
        for (asset, total, at_venue) in realized {
            self.timeline.push((o.time_ms, asset.clone(), total));
            self.venues.entry(o.venue.clone()).or_default().insert(asset.clone(), at_venue);
            self.realized.insert(asset, total);
        }
        self.venues.entry(o.venue.clone()).or_default();
        *self.outcomes.entry(o.outcome.clone()).or_default() += 1;
        self.entries += 1;
        self.first_ms = Some(self.first_ms.map_or(o.time_ms, |t| t.min(o.time_ms)));
        self.last_ms = Some(self.last_ms.map_or(o.time_ms, |t| t.max(o.time_ms)));
        if !o.id.is_empty() {
            self.ids.insert(o.id.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fields: &[(&str, &str)]) -> StreamEntry {
        StreamEntry {
            stream: "storm:arb:log".into(),
            id: "1700000000000-0".into(),
            fields: fields.iter().map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec())).collect(),
        }
    }

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    #[test]
    fn sums_are_exact_and_only_traded_chains_count_against_the_prediction() {
        let mut r = Report::default();
        let traded = entry(&[
            ("id", "a"),
            ("outcome", "executed"),
            ("path", "USDT>BTC>ETH>USDT"),
            ("asset", "USDT"),
            ("predicted", "0.3"),
            ("realized", "0.1"),
            ("slippage", "-0.2"),
            ("pnl", r#"{"USDT":"0.1","BTC":"0.00000001"}"#),
            ("time_ms", "5"),
        ]);
        let expired = entry(&[
            ("id", "b"),
            ("outcome", "expired"),
            ("path", "USDT>BTC>ETH>USDT"),
            ("asset", "USDT"),
            ("predicted", "0.7"),
            ("realized", "0"),
            ("pnl", "{}"),
        ]);
        for _ in 0..3 {
            r.add(&parse(&traded).expect("parses")).expect("fits");
        }
        r.add(&parse(&expired).expect("parses")).expect("fits");
        assert_eq!(r.entries, 4);
        assert_eq!(r.outcomes["executed"], 3);
        assert_eq!(r.outcomes["expired"], 1);
        assert_eq!(r.realized["USDT"], d("0.3"), "0.1 three times is exactly 0.3");
        assert_eq!(r.realized["BTC"], d("0.00000003"));
        let row = &r.paths["USDT>BTC>ETH>USDT"];
        assert_eq!((row.outcomes, row.traded, row.realized, row.predicted), (4, 3, d("0.3"), d("0.9")));
        assert_eq!(r.prediction["USDT"].slippage, d("-0.6"));
        assert_eq!(r.first_ms, Some(5));
        assert_eq!(r.last_ms, Some(1_700_000_000_000), "no time_ms field: the entry id's time");
        assert_eq!(r.timeline.len(), 6);
    }

    #[test]
    fn unreadable_numbers_are_named_and_overflow_counts_nothing() {
        let e = parse(&entry(&[("outcome", "executed"), ("realized", "1e5x")])).expect_err("bad");
        assert!(e.contains("realized"), "{e}");
        let e = parse(&entry(&[("outcome", "executed"), ("pnl", "[1]")])).expect_err("bad");
        assert!(e.contains("pnl"), "{e}");
        assert!(parse(&entry(&[("id", "x")])).is_err(), "an entry without an outcome");
        let mut r = Report::default();
        let max = Decimal::MAX.to_string();
        let big = entry(&[("outcome", "executed"), ("asset", "USDT"), ("pnl", &format!(r#"{{"USDT":"{max}"}}"#))]);
        r.add(&parse(&big).expect("parses")).expect("the first fits");
        assert!(r.add(&parse(&big).expect("parses")).is_err());
        assert_eq!((r.entries, r.outcomes["executed"]), (1, 1), "the overflowing entry is not half-counted");
    }
}
