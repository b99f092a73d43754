//! Balances now against where they started, for one venue's account.
//!
//! *Now* is the streamer's hash `storm:balance:<venue>:<acct>` (free + locked). *Start* is the
//! only opening balance the suite knows for certain: the simulator's `[[sim.account]] balances`
//! of the config file, for the account whose `api_key_env` is the venue's — storm-sim opens every
//! run with exactly those. Redis keeps no history of balances, so for a real exchange there is
//! no start to show and the table says so. `LOGGED` beside them is the report's realized PnL of
//! that venue, so `CHANGE - LOGGED` is what the arb log does not explain: zero when the log
//! covers every trade since the sim started; with `--since`, or outcomes of earlier sim runs
//! still in Redis (its data outlives the sim), it is not.
//!
//! The account: the one of the venue's API key when its env var is set (as the streamer names
//! it), else the only balance hash of the venue.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::anyhow;
use rust_decimal::Decimal;
use serde::Serialize;
use storm_bus::account::decode_balance;
use storm_venues::binance::sign;

use super::report::Report;
use crate::ctx::{Conn, Ctx};
use crate::fetch::{self, describe, prefix_of};

/// One asset's line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct BalanceRow {
    pub asset: String,
    pub start: Option<Decimal>,
    pub now: Option<Decimal>,
    /// `now - start` (a missing side counts as zero when the other is known).
    pub change: Option<Decimal>,
    /// The report's realized PnL of this asset on this venue.
    pub logged: Decimal,
    /// `change - logged`.
    pub unexplained: Option<Decimal>,
}

/// One venue's balances.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct BalanceView {
    pub venue: String,
    pub account: Option<String>,
    pub key: Option<String>,
    /// Where START comes from (`None`: no start known).
    pub start_source: Option<String>,
    pub rows: Vec<BalanceRow>,
    pub notes: Vec<String>,
}

/// Reads the venue's balances and start, beside the report's realized PnL.
pub(crate) async fn collect(ctx: &Ctx, conn: &mut Conn, venue: &str, report: &Report) -> anyhow::Result<BalanceView> {
    let mut view = BalanceView { venue: venue.to_owned(), ..BalanceView::default() };
    let venue_cfg = ctx.venues.iter().find(|v| v.name == venue);
    let key_env = venue_cfg.and_then(|v| v.api_key_env.clone());
    let pattern = ctx.keys.balance(venue, "*");
    let found = fetch::scan(conn, &pattern).await.map_err(|e| anyhow!(describe(&pattern, &e)))?;
    let by_key = key_env.as_deref().and_then(|e| std::env::var(e).ok()).map(|k| sign::account_id(&k));
    let acct = match (by_key, found.as_slice()) {
        (Some(acct), _) => Some(acct),
        (None, [only]) => Some(only.strip_prefix(prefix_of(&pattern)).unwrap_or(only).to_owned()),
        (None, []) => None,
        (None, several) => {
            view.notes
                .push(format!("{} accounts under {pattern}; set the venue's api_key_env to pick one", several.len()));
            None
        }
    };
    let mut now = BTreeMap::new();
    if let Some(acct) = &acct {
        let key = ctx.keys.balance(venue, acct);
        for (asset, json) in fetch::hash(conn, &key).await.map_err(|e| anyhow!(describe(&key, &e)))? {
            match decode_balance(&json) {
                Ok(b) => match b.free.0.checked_add(b.locked.0) {
                    Some(total) => {
                        now.insert(asset, total);
                    }
                    None => view.notes.push(format!("{key} {asset}: free + locked overflows")),
                },
                Err(e) => view.notes.push(format!("{key} {asset}: unreadable balance ({e})")),
            }
        }
        view.key = Some(key);
    }
    view.account = acct.clone();
    let start = match (ctx.config.path.as_deref(), key_env.as_deref()) {
        (Some(path), Some(env)) => sim_start(path, env).unwrap_or_else(|e| {
            view.notes.push(e);
            None
        }),
        _ => None,
    };
    if let Some((_, source)) = &start {
        view.start_source = Some(source.clone());
    }
    let start = start.map(|(s, _)| s);
    let empty = BTreeMap::new();
    let logged = report.venues.get(venue).unwrap_or(&empty);
    let mut assets: Vec<&String> = now.keys().chain(logged.keys()).collect();
    if let Some(s) = &start {
        assets.extend(s.keys());
    }
    assets.sort();
    assets.dedup();
    for asset in assets {
        let s = start.as_ref().map(|s| s.get(asset).copied().unwrap_or_default());
        let n = acct.as_ref().map(|_| now.get(asset).copied().unwrap_or_default());
        let l = logged.get(asset).copied().unwrap_or_default();
        let change = s.zip(n).and_then(|(s, n)| n.checked_sub(s));
        if s.is_some_and(|s| s.is_zero()) && n.is_some_and(|n| n.is_zero()) && l.is_zero() {
            continue;
        }
        view.rows.push(BalanceRow {
            asset: asset.clone(),
            start: s,
            now: n,
            change,
            logged: l,
            unexplained: change.and_then(|c| c.checked_sub(l)),
        });
    }
    Ok(view)
}

/// Opening balances per asset, and where they come from.
type Start = (BTreeMap<String, Decimal>, String);

/// The `[[sim.account]] balances` of the account with `api_key_env = env` in the config file,
/// and a description of that source; `Ok(None)` when the file has no such account.
fn sim_start(path: &Path, env: &str) -> Result<Option<Start>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let table: toml::Table = text.parse().map_err(|e| format!("{}: {e}", path.display()))?;
    let accounts = table.get("sim").and_then(|s| s.get("account")).and_then(toml::Value::as_array);
    let Some(account) =
        accounts.into_iter().flatten().find(|a| a.get("api_key_env").and_then(|v| v.as_str()) == Some(env))
    else {
        return Ok(None);
    };
    let mut out = BTreeMap::new();
    for (asset, v) in account.get("balances").and_then(toml::Value::as_table).into_iter().flatten() {
        let amount = match v {
            toml::Value::String(s) => s.trim().parse::<Decimal>().ok(),
            toml::Value::Integer(i) => Some(Decimal::from(*i)),
            _ => None,
        }
        .ok_or_else(|| format!("{}: [[sim.account]] balances.{asset} is not a decimal", path.display()))?;
        out.insert(asset.clone(), amount);
    }
    let source = format!(
        "the simulator's opening balances ([[sim.account]] in {}), true since the sim last started",
        path.display()
    );
    Ok(Some((out, source)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_is_the_sim_account_of_the_venues_key() {
        let dir = std::env::temp_dir().join(format!("stormctl-pnl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("storm.toml");
        std::fs::write(
            &path,
            r#"
            [[sim.account]]
            api_key_env = "OTHER"
            api_secret_env = "X"
            balances = { USDT = "1" }
            [[sim.account]]
            api_key_env = "KEY"
            api_secret_env = "SECRET"
            balances = { USDT = "10000", BTC = "0.2", BNB = 20 }
            "#,
        )
        .expect("write");
        let (start, source) = sim_start(&path, "KEY").expect("reads").expect("found");
        assert_eq!(start["USDT"], Decimal::from(10_000));
        assert_eq!(start["BTC"], "0.2".parse::<Decimal>().expect("d"));
        assert_eq!(start["BNB"], Decimal::from(20));
        assert!(source.contains("[[sim.account]]"), "{source}");
        assert_eq!(sim_start(&path, "NONE").expect("reads"), None);
        std::fs::write(&path, "[[sim.account]]\napi_key_env = \"KEY\"\nbalances = { USDT = \"ten\" }\n").expect("w");
        assert!(sim_start(&path, "KEY").expect_err("bad").contains("balances.USDT"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
