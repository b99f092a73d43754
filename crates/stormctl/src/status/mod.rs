//! `stormctl status`: the whole suite at a glance, read from Redis only — heartbeats, books by
//! status per venue ("books live k/N"), stream lengths and freshness, the executor's consumer
//! group on `storm:opps`, its parked chains, and the halt switch. [`gather`] is shared with `watch` and `doctor`.
//!
//! N in "live k/N" is every book the suite should have: the hashes present plus the `depth:`
//! subscriptions (of `storm:subs:<venue>` and of the config's `[ingester]`) that have no hash yet
//! (counted as missing), so a booksync that never started a symbol does not hide behind a perfect
//! ratio. Every book that is not live is named, with its status, how long since its last update
//! and the likely reason (a symbol the venue does not list, a resync, a silent connection).

mod health;
mod parked;
mod render;

use std::collections::{BTreeMap, BTreeSet};

use redis::{RedisError, RedisResult};
use serde::Serialize;
use storm_core::time::now_millis;
use storm_core::{Channel, Symbol};

pub(crate) use health::{lag_cell, Engine};
pub(crate) use render::{books_line, render};

use crate::ctx::{Conn, Ctx};
use crate::fetch::{self, describe, is_connection_error, prefix_of};
use crate::halt::{self, Halt};
use crate::output::{print_json, Progress};

/// Everything `status` shows.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Status {
    /// When it was read, ms.
    pub time_ms: u64,
    /// Redis URL (password hidden).
    pub redis: String,
    /// Key namespace.
    pub namespace: String,
    /// The config file read, and how it was chosen.
    pub config: String,
    /// One per heartbeat hash.
    pub engines: Vec<Engine>,
    /// Books over all venues.
    pub books: BookCounts,
    /// Books per venue.
    pub venues: BTreeMap<String, BookCounts>,
    /// Every book that is not live, by venue and symbol.
    pub not_live: Vec<NotLive>,
    /// Streams of the contract that exist (and the fixed ones even when empty).
    pub streams: Vec<StreamInfo>,
    /// The opportunities stream.
    pub opps_key: String,
    /// Consumer groups on `storm:opps`.
    pub opps_groups: Vec<Group>,
    /// The executor's chains in flight (`storm:exec:open`).
    pub exec_open_key: String,
    /// Their number.
    pub chains_in_flight: u64,
    /// The executor's parked chains (`storm:exec:parked`).
    pub exec_parked_key: String,
    /// Every parked chain, oldest first.
    pub parked: Vec<parked::Parked>,
    /// The halt switch.
    pub halt: Halt,
    /// Data that could not be read.
    pub notes: Vec<String>,
}

/// Books by status.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub(crate) struct BookCounts {
    /// Status `live`.
    pub live: usize,
    /// Status `syncing`.
    pub syncing: usize,
    /// Status `stale`.
    pub stale: usize,
    /// Hash without a readable status.
    pub bad: usize,
    /// Wanted (`depth:` subscription) but no hash.
    pub missing: usize,
    /// N: hashes present + missing.
    pub total: usize,
    /// Age of the oldest live book's last update, ms.
    pub oldest_live_ms: Option<u64>,
}

impl BookCounts {
    fn add(&mut self, other: &BookCounts) {
        self.live += other.live;
        self.syncing += other.syncing;
        self.stale += other.stale;
        self.bad += other.bad;
        self.missing += other.missing;
        self.total += other.total;
        self.oldest_live_ms = self.oldest_live_ms.max(other.oldest_live_ms);
    }
}

/// A book that is not live, and why.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub(crate) struct NotLive {
    /// Venue.
    pub venue: String,
    /// Symbol.
    pub symbol: String,
    /// `syncing`, `stale`, `missing` (wanted, no hash) or `unreadable`.
    pub status: String,
    /// Now − the hash's `time_local` (its last update), when it has one.
    pub age_ms: Option<u64>,
    /// The likely reason, for a person.
    pub why: String,
}

/// One stream.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct StreamInfo {
    /// Key.
    pub key: String,
    /// `XLEN`.
    pub length: u64,
    /// Id of the last entry.
    pub last_id: Option<String>,
    /// Now − the last entry's id time, ms.
    pub last_age_ms: Option<u64>,
}

/// A consumer group.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Group {
    /// Name (`executor`).
    pub name: String,
    /// Consumers known.
    pub consumers: usize,
    /// Delivered, not acknowledged.
    pub pending: usize,
    /// Not yet delivered (Redis ≥ 7).
    pub lag: Option<usize>,
    /// Last delivered id.
    pub last_delivered_id: String,
}

/// Turns a per-key failure into a note; a connection failure stops the whole read.
fn soft<T>(r: RedisResult<T>, key: &str, notes: &mut Vec<String>) -> Result<Option<T>, RedisError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if is_connection_error(&e) => Err(e),
        Err(e) => {
            notes.push(describe(key, &e));
            Ok(None)
        }
    }
}

/// Reads everything `status` shows.
pub(crate) async fn gather(ctx: &Ctx, conn: &mut Conn, progress: &mut Progress) -> Result<Status, RedisError> {
    let keys = &ctx.keys;
    let mut notes = Vec::new();
    let now = now_millis();

    progress.show("reading heartbeats…");
    let pattern = keys.health_pattern();
    let mut engines = Vec::new();
    for key in fetch::scan(conn, &pattern).await? {
        if let Some(fields) = soft(fetch::hash(conn, &key).await, &key, &mut notes)? {
            if !fields.is_empty() {
                engines.push(health::parse(prefix_of(&pattern), &key, &fields, now_millis()));
            }
        }
    }

    let (books, venues, not_live) = books(ctx, conn, progress, now, &mut notes).await?;

    progress.show("reading streams…");
    let mut stream_keys: BTreeSet<String> = [keys.opps(), keys.arb_log(), keys.exec_failed()].into_iter().collect();
    let mut patterns: Vec<String> = Channel::ALL.iter().map(|c| keys.md("*", *c)).collect();
    patterns.push(keys.tops("*"));
    patterns.push(keys.fills("*", "*"));
    for p in &patterns {
        stream_keys.extend(fetch::scan(conn, p).await?);
    }
    let mut streams = Vec::new();
    for key in stream_keys {
        if let Some((length, last_id)) = soft(fetch::stream_len(conn, &key).await, &key, &mut notes)? {
            let last_age_ms = last_id.as_deref().map(|id| now.saturating_sub(fetch::id_order(id).0));
            streams.push(StreamInfo { key, length, last_id, last_age_ms });
        }
    }

    let opps = keys.opps();
    let opps_groups =
        match redis::AsyncCommands::xinfo_groups::<_, redis::streams::StreamInfoGroupsReply>(conn, &opps).await {
            Ok(reply) => reply
                .groups
                .into_iter()
                .map(|g| Group {
                    name: g.name,
                    consumers: g.consumers,
                    pending: g.pending,
                    lag: g.lag,
                    last_delivered_id: g.last_delivered_id,
                })
                .collect(),
            Err(e) if is_connection_error(&e) => return Err(e),
            // No stream yet: no group either.
            Err(_) => Vec::new(),
        };

    let exec_open_key = keys.exec_open();
    let chains_in_flight =
        soft(redis::cmd("HLEN").arg(&exec_open_key).query_async(conn).await, &exec_open_key, &mut notes)?.unwrap_or(0);

    let exec_parked_key = keys.exec_parked();
    let parked_fields = soft(fetch::hash(conn, &exec_parked_key).await, &exec_parked_key, &mut notes)?;
    let parked = parked::parse(&exec_parked_key, parked_fields.unwrap_or_default(), &mut notes);

    let halt_key = keys.halt();
    let halt = soft(halt::read(conn, &halt_key).await, &halt_key, &mut notes)?.unwrap_or_default();
    progress.done();
    Ok(Status {
        time_ms: now,
        redis: ctx.redacted_url(),
        namespace: keys.prefix().to_owned(),
        config: ctx.config.describe(),
        engines,
        books,
        venues,
        not_live,
        streams,
        opps_key: opps,
        opps_groups,
        exec_open_key,
        chains_in_flight,
        exec_parked_key,
        parked,
        halt,
        notes,
    })
}

/// What a book hash says about itself.
enum BookState {
    /// `status` and `time_local` (ms).
    Status(String, Option<u64>),
    /// A hash without `status`.
    NoStatus,
    /// Not a hash, or not text (noted where it was read).
    Unreadable,
}

/// Book counts overall and per venue (configured venues always appear, even with no book), and
/// the books that are not live.
async fn books(
    ctx: &Ctx,
    conn: &mut Conn,
    progress: &mut Progress,
    now: u64,
    notes: &mut Vec<String>,
) -> Result<(BookCounts, BTreeMap<String, BookCounts>, Vec<NotLive>), RedisError> {
    let keys = &ctx.keys;
    progress.show("scanning books…");
    let all = keys.book("*", &Symbol::new("*"));
    let book_keys = fetch::scan(conn, &all).await?;
    let subs_pattern = keys.subs("*");
    let subs_keys = fetch::scan(conn, &subs_pattern).await?;
    let mut present: BTreeMap<String, BTreeMap<String, BookState>> = BTreeMap::new();
    for v in ctx.venue_names(std::iter::empty()) {
        present.entry(v).or_default();
    }
    for k in &subs_keys {
        present.entry(k.strip_prefix(prefix_of(&subs_pattern)).unwrap_or(k).to_owned()).or_default();
    }
    let total = book_keys.len();
    for (i, chunk) in book_keys.chunks(200).enumerate() {
        progress.show(&format!("reading books… {}/{total}", i * 200 + chunk.len()));
        let mut pipe = redis::pipe();
        for k in chunk {
            pipe.cmd("HMGET").arg(k).arg("status").arg("time_local");
        }
        // `None`: the key could not be read at all (already noted).
        let replies: Vec<Option<(Option<String>, Option<String>)>> = match pipe.query_async(conn).await {
            Ok(r) => r,
            Err(e) if is_connection_error(&e) => return Err(e),
            Err(_) => {
                // Some key is not a hash (or not text): read one by one to tell which.
                let mut out = Vec::with_capacity(chunk.len());
                for k in chunk {
                    let r = redis::cmd("HMGET").arg(k).arg("status").arg("time_local").query_async(conn).await;
                    out.push(soft(r, k, notes)?);
                }
                out
            }
        };
        for (k, reply) in chunk.iter().zip(replies) {
            let rest = k.strip_prefix(prefix_of(&all)).unwrap_or(k);
            let (venue, sym) = rest.split_once(':').unwrap_or((rest, ""));
            let state = match reply {
                None => BookState::Unreadable,
                Some((None, _)) => BookState::NoStatus,
                Some((Some(s), t)) => BookState::Status(s, t.and_then(|t| t.parse().ok())),
            };
            present.entry(venue.to_owned()).or_default().insert(sym.to_owned(), state);
        }
    }
    let mut venues = BTreeMap::new();
    let mut overall = BookCounts::default();
    let mut not_live = Vec::new();
    for (venue, syms) in present {
        let mut c = BookCounts::default();
        let mut down: Vec<(String, &'static str, Option<u64>)> = Vec::new();
        for (sym, st) in &syms {
            match st {
                BookState::Status(s, t) if s == "live" => {
                    c.live += 1;
                    let age = t.map(|t| now.saturating_sub(t));
                    c.oldest_live_ms = c.oldest_live_ms.max(age);
                }
                BookState::Status(s, t) if s == "syncing" || s == "stale" => {
                    let status = if s == "syncing" { "syncing" } else { "stale" };
                    match status {
                        "syncing" => c.syncing += 1,
                        _ => c.stale += 1,
                    }
                    down.push((sym.clone(), status, t.filter(|t| *t > 0).map(|t| now.saturating_sub(t))));
                }
                BookState::Unreadable => {
                    c.bad += 1;
                    down.push((sym.clone(), "unreadable", None));
                }
                other => {
                    c.bad += 1;
                    let what = match other {
                        BookState::Status(s, _) => format!("unknown status {s:?}"),
                        _ => "no status field".to_owned(),
                    };
                    notes.push(format!("{}: {what}", keys.book(&venue, &Symbol::new(sym))));
                    down.push((sym.clone(), "unreadable", None));
                }
            }
        }
        let members: Vec<Vec<u8>> =
            soft(redis::cmd("SMEMBERS").arg(keys.subs(&venue)).query_async(conn).await, &keys.subs(&venue), notes)?
                .unwrap_or_default();
        let in_redis: BTreeSet<String> = members
            .iter()
            .filter_map(|m| {
                let m = String::from_utf8_lossy(m);
                let sub = storm_venues::adapter::Subscription::parse(&m).ok()?;
                (sub.channel == Channel::Depth).then(|| sub.symbol.to_string())
            })
            .collect();
        let in_config: BTreeSet<String> = ctx
            .config_subs(&venue)
            .into_iter()
            .filter(|s| s.channel == Channel::Depth)
            .map(|s| s.symbol.to_string())
            .collect();
        let missing: Vec<&String> = in_redis.union(&in_config).filter(|s| !syms.contains_key(*s)).collect();
        c.missing = missing.len();
        down.extend(missing.into_iter().map(|s| (s.clone(), "missing", None)));
        c.total = syms.len() + c.missing;
        overall.add(&c);
        if !down.is_empty() {
            let listed = instrument_symbols(ctx, conn, &venue, notes).await?;
            for (symbol, status, age_ms) in down {
                let why = why_not_live(ctx, &venue, &symbol, status, &listed);
                not_live.push(NotLive { venue: venue.clone(), symbol, status: status.to_owned(), age_ms, why });
            }
        }
        venues.insert(venue, c);
    }
    Ok((overall, venues, not_live))
}

/// The symbols of `storm:instruments:<venue>` (empty when booksync has not written it).
async fn instrument_symbols(
    ctx: &Ctx,
    conn: &mut Conn,
    venue: &str,
    notes: &mut Vec<String>,
) -> Result<BTreeSet<String>, RedisError> {
    let key = ctx.keys.instruments(venue);
    let raw: Option<Vec<Vec<u8>>> = soft(redis::cmd("HKEYS").arg(&key).query_async(conn).await, &key, notes)?;
    Ok(raw.unwrap_or_default().iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
}

/// The likely reason a book is not live, from its status and the venue's instruments.
fn why_not_live(ctx: &Ctx, venue: &str, symbol: &str, status: &str, listed: &BTreeSet<String>) -> String {
    let instruments = ctx.keys.instruments(venue);
    if !listed.is_empty() && !listed.contains(symbol) && status != "unreadable" {
        return format!(
            "{venue} does not list {symbol} ({instruments}): remove it (stormctl subs rm {venue} depth:{symbol})"
        );
    }
    match status {
        "syncing" => "waiting for the venue's snapshot (start-up, or a resync after a gap in the diff stream)".into(),
        "stale" => "its ingester connection stopped vouching for it (dropped, stalled or silent)".into(),
        "missing" => "wanted (a depth: subscription) but no book hash: booksync has not started it".into(),
        _ => "the hash has no readable status (see notes)".into(),
    }
}

/// Runs `status`.
pub(crate) async fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let mut conn = ctx.connect().await?;
    let mut progress = Progress::new(false);
    let status = gather(ctx, &mut conn, &mut progress).await?;
    if ctx.json {
        print_json(&status);
    } else {
        print!("{}", render(&status));
    }
    Ok(())
}
