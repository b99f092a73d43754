//! `stormctl subs ls|add|rm`: the wanted market data of a venue, `storm:subs:<venue>`. The
//! ingester polls the set and (un)subscribes within about 2 s. Members are validated with
//! `storm_venues::adapter::Subscription` — the parser the ingester itself uses — and written in
//! its canonical spelling (`depth:btcusdt` → `depth:BTCUSDT`), so a typo is refused here instead
//! of becoming a "bad subscription" counter in the ingester.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::Serialize;
use storm_venues::adapter::Subscription;

use crate::cli::SubsAction;
use crate::ctx::{Conn, Ctx};
use crate::fetch::{self, prefix_of};
use crate::output::print_json;

/// An invalid member: the command is refused before anything is written (exit status 2).
#[derive(Debug)]
pub(crate) struct BadMembers(pub Vec<String>);

impl std::error::Error for BadMembers {}

impl std::fmt::Display for BadMembers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("; "))?;
        f.write_str(" (members look like depth:BTCUSDT, ticker:BTCUSDT, trade:BTCUSDT, kline:BTCUSDT:1m)")
    }
}

/// One venue's members as listed.
#[derive(Debug, Serialize)]
struct Listed {
    key: String,
    members: Vec<String>,
    invalid: Vec<String>,
}

async fn members(conn: &mut Conn, key: &str) -> anyhow::Result<Listed> {
    let raw: Vec<Vec<u8>> =
        redis::cmd("SMEMBERS").arg(key).query_async(conn).await.with_context(|| format!("reading {key}"))?;
    let mut valid = Vec::new();
    let mut invalid = Vec::new();
    for m in raw {
        let text = String::from_utf8_lossy(&m).into_owned();
        match Subscription::parse(&text) {
            Ok(sub) => valid.push((sub, text)),
            Err(_) => invalid.push(text),
        }
    }
    valid.sort();
    invalid.sort();
    Ok(Listed { key: key.to_owned(), members: valid.into_iter().map(|(_, t)| t).collect(), invalid })
}

/// Runs `subs`.
pub(crate) async fn run(ctx: &Ctx, action: &SubsAction) -> anyhow::Result<()> {
    match action {
        SubsAction::Ls { venue } => ls(ctx, venue.as_deref()).await,
        SubsAction::Add { venue, members } => add(ctx, venue, members).await,
        SubsAction::Rm { venue, members } => rm(ctx, venue, members).await,
    }
}

async fn ls(ctx: &Ctx, venue: Option<&str>) -> anyhow::Result<()> {
    let mut conn = ctx.connect().await?;
    let venues = match venue {
        Some(v) => vec![v.to_owned()],
        None => {
            let pattern = ctx.keys.subs("*");
            let found = fetch::scan(&mut conn, &pattern).await?;
            ctx.venue_names(found.iter().map(|k| k.strip_prefix(prefix_of(&pattern)).unwrap_or(k).to_owned()))
        }
    };
    let mut all = BTreeMap::new();
    for v in venues {
        let listed = members(&mut conn, &ctx.keys.subs(&v)).await?;
        all.insert(v, listed);
    }
    if ctx.json {
        print_json(&all);
        return Ok(());
    }
    if all.is_empty() {
        println!("no subscriptions in any venue ({} does not exist)", ctx.keys.subs("*"));
    }
    for (venue, l) in &all {
        println!("{venue} ({}): {} member(s)", l.key, l.members.len());
        for m in &l.members {
            println!("  {m}");
        }
        for m in &l.invalid {
            println!("  {m}    <- invalid member, ignored by the ingester (stormctl subs rm {venue} '{m}')");
        }
    }
    Ok(())
}

/// Parses every member; all errors at once.
fn validate(members: &[String]) -> Result<Vec<Subscription>, BadMembers> {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for m in members {
        match Subscription::parse(m) {
            Ok(s) => ok.push(s),
            Err(e) => bad.push(e.to_string()),
        }
    }
    if bad.is_empty() {
        Ok(ok)
    } else {
        Err(BadMembers(bad))
    }
}

async fn add(ctx: &Ctx, venue: &str, members: &[String]) -> anyhow::Result<()> {
    let subs = validate(members)?;
    let mut conn = ctx.connect().await?;
    let key = ctx.keys.subs(venue);
    let canonical: Vec<String> = subs.iter().map(Subscription::member).collect();
    let added: usize = redis::cmd("SADD")
        .arg(&key)
        .arg(&canonical)
        .query_async(&mut conn)
        .await
        .with_context(|| format!("SADD {key}"))?;
    report(ctx, &key, "added", added, &canonical);
    Ok(())
}

async fn rm(ctx: &Ctx, venue: &str, members: &[String]) -> anyhow::Result<()> {
    // A member that does not parse may still sit in the set (written by hand): remove it verbatim.
    let targets: Vec<String> = members
        .iter()
        .map(|m| match Subscription::parse(m) {
            Ok(s) => s.member(),
            Err(e) => {
                eprintln!("note: {e}; removing it verbatim");
                m.clone()
            }
        })
        .collect();
    let mut conn = ctx.connect().await?;
    let key = ctx.keys.subs(venue);
    let removed: usize = redis::cmd("SREM")
        .arg(&key)
        .arg(&targets)
        .query_async(&mut conn)
        .await
        .with_context(|| format!("SREM {key}"))?;
    report(ctx, &key, "removed", removed, &targets);
    Ok(())
}

fn report(ctx: &Ctx, key: &str, verb: &str, changed: usize, members: &[String]) {
    if ctx.json {
        print_json(&serde_json::json!({ "key": key, verb: changed, "members": members }));
    } else {
        let unchanged = members.len().saturating_sub(changed);
        let mut line = format!("{key}: {verb} {changed} of {}", members.len());
        if unchanged > 0 {
            let already = if verb == "added" { "already present" } else { "not present" };
            line.push_str(&format!(" ({unchanged} {already})"));
        }
        println!("{line}: {}", members.join(" "));
        println!("the ingester picks this up within about 2 s");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_canonical_and_bad_ones_refused() {
        let ok = validate(&["depth:btcusdt".into(), "kline:ETHUSDT:1m".into()]).expect("valid");
        assert_eq!(ok.iter().map(Subscription::member).collect::<Vec<_>>(), ["depth:BTCUSDT", "kline:ETHUSDT:1m"]);
        let bad = validate(&["depth:BTCUSDT".into(), "book:BTCUSDT".into(), "kline:BTCUSDT".into()])
            .expect_err("invalid members");
        assert_eq!(bad.0.len(), 2);
        assert!(bad.to_string().contains("book"), "{bad}");
    }
}
