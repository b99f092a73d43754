//! `stormctl subs ls|add|rm`: the wanted market data of a venue, `storm:subs:<venue>`. The
//! ingester polls the set and (un)subscribes within about 2 s. Members are validated with
//! `storm_venues::adapter::Subscription` — the parser the ingester itself uses — and written in
//! its canonical spelling (`depth:btcusdt` → `depth:BTCUSDT`), so a typo is refused here instead
//! of becoming a "bad subscription" counter in the ingester. `add` also refuses a venue that is not
//! configured and a symbol the venue does not list (`storm:instruments:<venue>`, written by
//! booksync from the venue's exchangeInfo): such a book would sit `syncing` forever.
//!
//! The ingester wants the union of the set and its config's `[ingester] subscriptions`, so `ls`
//! shows both, each member marked with where it comes from.

use std::collections::{BTreeMap, BTreeSet};

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

/// `add` refused on the venue or instrument check (exit status 2); `--force` skips it.
#[derive(Debug)]
pub(crate) struct Refused(pub String);

impl std::error::Error for Refused {}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; nothing written (--force skips this check)", self.0)
    }
}

/// One venue's members as listed.
#[derive(Debug, Serialize)]
struct Listed {
    key: String,
    /// Members of the Redis set.
    members: Vec<String>,
    invalid: Vec<String>,
    /// The config's `[ingester] subscriptions` for this venue.
    config: Vec<String>,
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
    Ok(Listed {
        key: key.to_owned(),
        members: valid.into_iter().map(|(_, t)| t).collect(),
        invalid,
        config: Vec::new(),
    })
}

/// Runs `subs`.
pub(crate) async fn run(ctx: &Ctx, action: &SubsAction) -> anyhow::Result<()> {
    match action {
        SubsAction::Ls { venue } => ls(ctx, venue.as_deref()).await,
        SubsAction::Add { venue, members, force } => add(ctx, venue, members, *force).await,
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
        let mut listed = members(&mut conn, &ctx.keys.subs(&v)).await?;
        let mut config = ctx.config_subs(&v);
        config.sort();
        listed.config = config.iter().map(Subscription::member).collect();
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
        print!("{}", render_venue(ctx, venue, l));
        for m in &l.invalid {
            println!("  {m}    <- invalid member, ignored by the ingester (stormctl subs rm {venue} '{m}')");
        }
    }
    Ok(())
}

/// One venue: `N member(s)` counts the Redis set; config members are listed beside it, each
/// line marked `config`, `redis` or both.
fn render_venue(ctx: &Ctx, venue: &str, l: &Listed) -> String {
    let mut out = format!("{venue} ({}): {} member(s)", l.key, l.members.len());
    if l.config.is_empty() {
        out.push('\n');
    } else {
        let file = ctx.config.path.as_ref().map_or_else(|| "the config".to_owned(), |p| p.display().to_string());
        out.push_str(&format!(", and {} from the config ([ingester] subscriptions of {file})\n", l.config.len()));
    }
    let redis: BTreeSet<&str> = l.members.iter().map(String::as_str).collect();
    let config: BTreeSet<&str> = l.config.iter().map(String::as_str).collect();
    let mut rows: Vec<(Subscription, &str)> =
        redis.union(&config).filter_map(|m| Subscription::parse(m).ok().map(|s| (s, *m))).collect();
    rows.sort();
    let width = rows.iter().map(|(_, m)| m.len()).max().unwrap_or(0);
    for (_, m) in rows {
        let from = match (config.contains(m), redis.contains(m)) {
            (true, true) => "config + redis",
            (true, false) => "config",
            _ => "redis",
        };
        out.push_str(&format!("  {m:<width$}  {from}\n"));
    }
    out
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

/// The venue must be configured (or, without any configured venue, known to Redis by its
/// instruments) and every symbol listed in `storm:instruments:<venue>`.
async fn check_listed(ctx: &Ctx, conn: &mut Conn, venue: &str, subs: &[Subscription]) -> anyhow::Result<()> {
    let configured: Vec<&str> = ctx.venues.iter().map(|v| v.name.as_str()).collect();
    if !configured.is_empty() && !configured.contains(&venue) {
        return Err(Refused(format!(
            "venue {venue} is not configured (the config's [[venue]] names: {})",
            configured.join(", ")
        ))
        .into());
    }
    let key = ctx.keys.instruments(venue);
    let listed: Vec<Vec<u8>> =
        redis::cmd("HKEYS").arg(&key).query_async(conn).await.with_context(|| format!("reading {key}"))?;
    let listed: BTreeSet<String> = listed.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect();
    if listed.is_empty() {
        let why = if configured.is_empty() {
            format!("venue {venue} is unknown: no venue is configured and {key} does not exist")
        } else {
            format!("{key} is empty: booksync has not loaded {venue}'s symbols yet, so they cannot be checked")
        };
        return Err(Refused(why).into());
    }
    let unknown: Vec<String> = subs
        .iter()
        .filter(|s| !listed.contains(s.symbol.as_str()))
        .map(|s| format!("{}: {} is not listed", s.member(), s.symbol))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(Refused(format!("{} by {venue} ({key}, {} symbols)", unknown.join("; "), listed.len())).into())
    }
}

async fn add(ctx: &Ctx, venue: &str, members: &[String], force: bool) -> anyhow::Result<()> {
    let subs = validate(members)?;
    let mut conn = ctx.connect().await?;
    if !force {
        check_listed(ctx, &mut conn, venue, &subs).await?;
    }
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
    let from_config: Vec<String> =
        ctx.config_subs(venue).iter().map(Subscription::member).filter(|m| targets.contains(m)).collect();
    if !from_config.is_empty() && !ctx.json {
        println!(
            "note: {} also in the config's [ingester] subscriptions: the ingester keeps subscribing (edit the config to drop it)",
            from_config.join(" ")
        );
    }
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
