//! `stormctl audit --venue <name>`: checks what the engines wrote in Redis against the venue
//! itself, the way the failure model states it (DESIGN.md): after crashes, restarts and faults,
//!
//! 1. **books** — every `storm:book:<venue>:<SYM>` hash whose status is `live` equals the venue's
//!    book: the top N levels of `GET /api/v3/depth?symbol=..&limit=N`, price and quantity, compared
//!    at the **same update id** (the hash's `update_id` against the reply's `lastUpdateId`; if the
//!    book is behind, its hash is read again until it catches up, and if the venue moved on, the
//!    depth is fetched again, until `--settle-ms`). A book that never reaches the venue's update id
//!    within that time is reported too (`behind`). Books that are not live when the audit starts
//!    are listed, not checked. (booksync rewrites a hash when its top K changes, when its status
//!    changes and every third of its TTL, so a hash may take that long to show the venue's last
//!    update id: `--settle-ms` should cover it.)
//! 2. **opportunities** — every id on `storm:opps` has exactly one outcome on `storm:arb:log`.
//!    More than one is a *duplicate*. None is *lost* only if the opportunity has expired, is not in
//!    flight (`storm:exec:open`) and is not still queued for the executor (undelivered or pending
//!    in a consumer group on `storm:opps`): those are reported as in flight / queued / pending.
//! 3. **orders** — the venue's order log shows no client order id sent twice (so no leg of a chain
//!    `st<opp id>-<leg>` was placed twice). storm-sim's `GET /_sim/orders` lists every placement
//!    attempt, rejected ones included; a venue without it (a real exchange) is skipped.
//! 4. **balances** — `storm:balance:<venue>:<acct>` equals the venue's `GET /api/v3/account`,
//!    free and locked per asset (an asset missing on one side counts as zero), retried until
//!    `--settle-ms` since the streamer mirrors the account a moment later. The account is the
//!    venue's `api_key_env`/`api_secret_env` from the config, as the streamer reads them.
//!
//! Exit 0 when every check ran and found nothing. A check that could not run (orders and balances
//! without the account's keys; orders at a venue without an order log) makes the result
//! `PARTIAL`, named with why, and exits 1 like a finding: a gate must not pass on half an audit. Quiesce first for an exact
//! result (`stormctl halt on`, an idle market): on a moving market the books check retries until
//! it catches the hash and the venue at one update id.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use redis::Value as RedisValue;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use storm_core::time::now_millis;
use storm_core::{BookStatus, Level, Symbol};
use storm_service::config::VenueConfig;
use storm_venues::binance::sign;

use crate::cli::AuditArgs;
use crate::ctx::{Conn, Ctx};
use crate::fetch::{self, prefix_of};
use crate::output::print_json;

/// How long one REST request may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest `Retry-After` the audit waits out (a real 418 ban is reported instead).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
/// Details listed per check before "... and N more".
const MAX_LISTED: usize = 50;

/// The whole report (`--json`).
#[derive(Debug, Serialize)]
struct Report {
    venue: String,
    rest_url: String,
    time_ms: u64,
    books: Books,
    opps: Opps,
    orders: Orders,
    balances: Balances,
    /// True when no check found a problem.
    ok: bool,
    /// Checks that did not run, each with why.
    skipped: Vec<String>,
    /// `OK` (every check ran, nothing found), `PARTIAL` (nothing found, some skipped), `FAILED`.
    result: &'static str,
}

#[derive(Debug, Default, Serialize)]
struct Books {
    /// Hashes found.
    total: usize,
    /// Live hashes compared with the venue.
    checked: usize,
    /// Equal at the same update id.
    equal: usize,
    /// Different levels, or never caught up.
    mismatches: Vec<BookMismatch>,
    /// Hashes not live when read (symbol → status), not compared.
    not_live: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
struct BookMismatch {
    symbol: String,
    /// `levels` (different at one update id) or `behind` (never reached the venue's update id).
    kind: String,
    /// Human-readable detail: the first differing level, or the two update ids.
    detail: String,
    update_id: u64,
    venue_update_id: u64,
}

#[derive(Debug, Default, Serialize)]
struct Opps {
    /// Entries on `storm:opps`.
    entries: usize,
    /// Distinct opportunity ids.
    opportunities: usize,
    /// Entries on `storm:arb:log`.
    outcomes: usize,
    /// Ids with exactly one outcome.
    with_one_outcome: usize,
    /// Ids with more than one outcome (id → count).
    duplicates: BTreeMap<String, usize>,
    /// Expired, not in flight, not queued, and no outcome.
    lost: Vec<String>,
    /// No outcome yet, chain in flight (`storm:exec:open`).
    in_flight: Vec<String>,
    /// No outcome yet, still undelivered or pending in a consumer group.
    queued: Vec<String>,
    /// No outcome yet, not expired.
    pending: Vec<String>,
    /// Outcomes whose id is not (or no longer) on `storm:opps`.
    unknown_outcomes: usize,
}

#[derive(Debug, Default, Serialize)]
struct Orders {
    /// False when the venue has no order log (`/_sim/orders`).
    available: bool,
    account: String,
    /// Placement attempts in the log.
    placements: usize,
    /// Accepted ones.
    accepted: usize,
    /// Distinct chains (`st<opp id>-...` client ids).
    chains: usize,
    /// Client ids sent more than once (id → times).
    duplicates: BTreeMap<String, usize>,
    /// Chains placed on the venue without an outcome on `storm:arb:log`, not in flight.
    chains_without_outcome: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
struct Balances {
    /// False without the account's keys.
    available: bool,
    account: String,
    key: String,
    /// Assets compared (union of both sides).
    assets: usize,
    /// True when every asset's free and locked are equal.
    equal: bool,
    /// `ASSET: redis free/locked vs venue free/locked`.
    differences: Vec<String>,
}

/// Runs `audit`.
pub(crate) async fn run(ctx: &Ctx, args: &AuditArgs) -> anyhow::Result<()> {
    let venue = pick_venue(ctx, args.venue.as_deref())?;
    let rest_url = args.rest_url.clone().unwrap_or_else(|| venue.rest_url.clone());
    let rest_url = rest_url.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder().timeout(HTTP_TIMEOUT).build().context("http client")?;
    let api = Api { http, base: rest_url.clone() };
    let mut conn = ctx.connect().await?;
    let settle = Duration::from_millis(args.settle_ms);

    let books = check_books(ctx, &mut conn, &api, &venue.name, args.depth, settle).await?;
    let in_flight: BTreeSet<String> = fetch::hash(&mut conn, &ctx.keys.exec_open()).await?.into_keys().collect();
    let (opps, outcome_ids) = check_opps(ctx, &mut conn, &in_flight).await?;

    let creds = match (venue.api_key(), venue.api_secret()) {
        (Ok(Some(k)), Ok(Some(s))) => Ok((k.expose().to_owned(), s.expose().to_owned())),
        (Err(e), _) | (_, Err(e)) => Err(format!("the account's keys are unavailable: {e}")),
        _ => Err(format!("venue {} names no api_key_env/api_secret_env", venue.name)),
    };
    let mut orders = Orders::default();
    let mut balances = Balances::default();
    let mut skipped = Vec::new();
    match &creds {
        Ok((key, secret)) => {
            let acct = sign::account_id(key);
            orders = check_orders(&api, &acct, &outcome_ids, &in_flight).await?;
            if !orders.available {
                skipped.push("orders: the venue has no order log (/_sim/orders is storm-sim's)".to_owned());
            }
            balances = check_balances(ctx, &mut conn, &api, &venue.name, key, secret, settle).await?;
        }
        Err(why) => {
            skipped.push(format!("orders: {why}"));
            skipped.push(format!("balances: {why}"));
        }
    }
    let ok = books.mismatches.is_empty()
        && opps.duplicates.is_empty()
        && opps.lost.is_empty()
        && orders.duplicates.is_empty()
        && (!balances.available || balances.equal);
    let result = match (ok, skipped.is_empty()) {
        (false, _) => "FAILED",
        (true, false) => "PARTIAL",
        (true, true) => "OK",
    };
    let report = Report {
        venue: venue.name.clone(),
        rest_url,
        time_ms: now_millis(),
        books,
        opps,
        orders,
        balances,
        ok,
        skipped,
        result,
    };
    if ctx.json {
        print_json(&report);
    } else {
        print!("{}", render(&report));
    }
    match report.result {
        "OK" => Ok(()),
        "PARTIAL" => bail!(
            "audit of {} is PARTIAL: nothing found, but {} not checked",
            report.venue,
            report.skipped.iter().filter_map(|s| s.split(':').next()).collect::<Vec<_>>().join(" and ")
        ),
        _ => bail!("audit of {} found problems (see above)", report.venue),
    }
}

fn pick_venue(ctx: &Ctx, name: Option<&str>) -> anyhow::Result<VenueConfig> {
    match name {
        Some(n) => ctx.venues.iter().find(|v| v.name == n).cloned().ok_or_else(|| {
            anyhow!("venue {n} is not in the config (--config names the storm.toml whose [[venue]] it is)")
        }),
        None => match ctx.venues.as_slice() {
            [one] => Ok(one.clone()),
            [] => bail!("no venue configured: --config with the engines' storm.toml"),
            _ => bail!("several venues configured: choose one with --venue"),
        },
    }
}

/// The venue's REST API, as plain HTTP (the audit must not wait on the engines' shared budget:
/// it reads little, and a 429 is waited out here).
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    /// `GET path?query`, signed with the account's key when given; JSON of a 2xx reply. A 429
    /// is waited out (its `Retry-After`, at most [`MAX_RETRY_AFTER`]) and sent again, twice at most.
    async fn get(&self, path: &str, query: &str, signed: Option<(&str, &str)>) -> anyhow::Result<(u16, Value)> {
        for attempt in 0..3 {
            let url = match signed {
                Some((_, secret)) => {
                    let q = if query.is_empty() {
                        format!("timestamp={}&recvWindow=10000", now_millis())
                    } else {
                        format!("{query}&timestamp={}&recvWindow=10000", now_millis())
                    };
                    format!("{}{path}?{q}&signature={}", self.base, sign::sign(secret, &q))
                }
                None if query.is_empty() => format!("{}{path}", self.base),
                None => format!("{}{path}?{query}", self.base),
            };
            let mut req = self.http.get(&url);
            if let Some((key, _)) = signed {
                req = req.header("X-MBX-APIKEY", key);
            }
            let reply = req.send().await.map_err(|e| anyhow!("GET {}{path}: {}", self.base, e.without_url()))?;
            let status = reply.status().as_u16();
            let retry = reply
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = reply.text().await.unwrap_or_default();
            if status == 429 && attempt < 2 {
                tokio::time::sleep(retry.unwrap_or(Duration::from_secs(1)).min(MAX_RETRY_AFTER)).await;
                continue;
            }
            let json = serde_json::from_str(&body).unwrap_or(Value::String(body));
            return Ok((status, json));
        }
        unreachable!("the loop returns on its last attempt")
    }

    async fn ok(&self, path: &str, query: &str, signed: Option<(&str, &str)>) -> anyhow::Result<Value> {
        let (status, v) = self.get(path, query, signed).await?;
        if !(200..300).contains(&status) {
            bail!("GET {}{path}: HTTP {status}: {v}", self.base);
        }
        Ok(v)
    }
}

// --- 1. books ---------------------------------------------------------------------------------

/// The venue's book: `lastUpdateId` and the levels.
fn venue_depth(v: &Value) -> anyhow::Result<(u64, Vec<Level>, Vec<Level>)> {
    let id = v["lastUpdateId"].as_u64().ok_or_else(|| anyhow!("depth reply without lastUpdateId: {v}"))?;
    let side = |name: &str| -> anyhow::Result<Vec<Level>> {
        v[name]
            .as_array()
            .ok_or_else(|| anyhow!("depth reply without {name}"))?
            .iter()
            .map(|l| {
                let (Some(p), Some(q)) = (l[0].as_str(), l[1].as_str()) else { bail!("odd level {l}") };
                Level::parse(p, q).map_err(|e| anyhow!("odd level {l}: {e}"))
            })
            .collect()
    };
    Ok((id, side("bids")?, side("asks")?))
}

/// The first difference between our levels and the venue's (both cut to `n`), if any.
fn first_difference(side: &str, ours: &[Level], theirs: &[Level], n: usize) -> Option<String> {
    let (ours, theirs) = (&ours[..ours.len().min(n)], &theirs[..theirs.len().min(n)]);
    for i in 0..ours.len().max(theirs.len()) {
        let fmt = |l: Option<&Level>| l.map_or("none".to_owned(), |l| format!("{} x {}", l.price.get(), l.qty.get()));
        let (a, b) = (ours.get(i), theirs.get(i));
        let same = match (a, b) {
            (Some(a), Some(b)) => a.price.get() == b.price.get() && a.qty.get() == b.qty.get(),
            _ => false,
        };
        if !same {
            return Some(format!("{side} level {}: book {} vs venue {}", i + 1, fmt(a), fmt(b)));
        }
    }
    None
}

async fn read_book(conn: &mut Conn, key: &str, sym: &Symbol) -> anyhow::Result<Option<storm_bus::book::BookHash>> {
    let fields = fetch::hash(conn, key).await?;
    if fields.is_empty() {
        return Ok(None);
    }
    Ok(storm_bus::book::parse(sym, &fields).ok())
}

async fn check_books(
    ctx: &Ctx,
    conn: &mut Conn,
    api: &Api,
    venue: &str,
    depth: usize,
    settle: Duration,
) -> anyhow::Result<Books> {
    let pattern = ctx.keys.book(venue, &Symbol::new("*"));
    let keys = fetch::scan(conn, &pattern).await?;
    let mut books = Books { total: keys.len(), ..Books::default() };
    // Which books are live is decided once, up front: a book that turns stale while the others
    // are compared (an idle market goes quiet) is still compared at the venue's update id.
    let mut live = Vec::new();
    for key in &keys {
        let sym = Symbol::new(key.strip_prefix(prefix_of(&pattern)).unwrap_or(key));
        match read_book(conn, key, &sym).await? {
            None => {
                books.not_live.insert(sym.to_string(), "unreadable or gone".into());
            }
            Some(b) if b.top.status != BookStatus::Live => {
                books.not_live.insert(sym.to_string(), b.top.status.to_string());
            }
            Some(b) => live.push((key, sym, b)),
        }
    }
    for (key, sym, first) in live {
        books.checked += 1;
        // The levels the hash holds (top N of booksync), at most `depth`.
        let n = depth.min(first.top.bids.len().max(first.top.asks.len())).max(1);
        let deadline = Instant::now() + settle;
        let mut last = (first.top.update_id, 0u64);
        let outcome = loop {
            let v = api.ok("/api/v3/depth", &format!("symbol={}&limit={n}", sym.as_str()), None).await?;
            let (venue_id, vb, va) = venue_depth(&v)?;
            // Our hash: read again until it reaches the venue's update id (or passes it).
            let book = loop {
                let Some(b) = read_book(conn, key, &sym).await? else { break None };
                if b.top.update_id >= venue_id || Instant::now() >= deadline {
                    break Some(b);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            let Some(book) = book else { break Err(("gone".to_owned(), "the hash disappeared".to_owned())) };
            last = (book.top.update_id, venue_id);
            if book.top.update_id == venue_id {
                let diff = first_difference("bid", &book.top.bids, &vb, n)
                    .or_else(|| first_difference("ask", &book.top.asks, &va, n));
                break match diff {
                    None => Ok(()),
                    Some(d) => Err(("levels".to_owned(), d)),
                };
            }
            if Instant::now() >= deadline {
                let what = if book.top.update_id < venue_id { "behind" } else { "ahead" };
                break Err((
                    what.to_owned(),
                    format!(
                        "never at the venue's update id within {} ms: book {} vs venue {}",
                        settle.as_millis(),
                        book.top.update_id,
                        venue_id
                    ),
                ));
            }
            // The venue moved on (or the book skipped its id): ask again.
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        match outcome {
            Ok(()) => books.equal += 1,
            Err((kind, detail)) if kind == "gone" => {
                books.checked -= 1;
                books.not_live.insert(sym.to_string(), detail);
            }
            Err((kind, detail)) => books.mismatches.push(BookMismatch {
                symbol: sym.to_string(),
                kind,
                detail,
                update_id: last.0,
                venue_update_id: last.1,
            }),
        }
    }
    Ok(books)
}

// --- 2. opportunities and outcomes ------------------------------------------------------------

/// Every entry of a stream, oldest first, as (entry id, plain fields).
async fn whole_stream(conn: &mut Conn, key: &str) -> anyhow::Result<Vec<(String, HashMap<String, String>)>> {
    let mut out = Vec::new();
    let mut start = "-".to_owned();
    loop {
        let v: RedisValue =
            redis::cmd("XRANGE").arg(key).arg(&start).arg("+").arg("COUNT").arg(1000).query_async(conn).await?;
        let batch = fetch::entries_from_value(key, &v);
        let n = batch.len();
        for e in batch {
            start = format!("({}", e.id);
            let fields = fetch::plain_fields(&e).into_iter().collect();
            out.push((e.id, fields));
        }
        if n < 1000 {
            return Ok(out);
        }
    }
}

/// Entry ids of `storm:opps` that a consumer group has not finished: undelivered (after its
/// last-delivered id) or pending. Returns (last-delivered ids, pending ids).
async fn group_state(conn: &mut Conn, key: &str) -> anyhow::Result<(Vec<String>, BTreeSet<String>)> {
    let v: RedisValue = match redis::cmd("XINFO").arg("GROUPS").arg(key).query_async(conn).await {
        Ok(v) => v,
        Err(_) => return Ok((Vec::new(), BTreeSet::new())), // no stream yet
    };
    let mut delivered = Vec::new();
    let mut pending = BTreeSet::new();
    let RedisValue::Array(groups) = v else { return Ok((delivered, pending)) };
    for g in groups {
        let fields: Vec<(String, String)> = match g {
            RedisValue::Array(kv) => {
                kv.chunks(2).filter(|c| c.len() == 2).map(|c| (text(&c[0]), text(&c[1]))).collect()
            }
            RedisValue::Map(kv) => kv.iter().map(|(k, v)| (text(k), text(v))).collect(),
            _ => continue,
        };
        let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let (Some(name), Some(last)) = (get("name"), get("last-delivered-id")) else { continue };
        delivered.push(last);
        let p: RedisValue =
            redis::cmd("XPENDING").arg(key).arg(&name).arg("-").arg("+").arg(100_000).query_async(conn).await?;
        if let RedisValue::Array(items) = p {
            for it in items {
                if let RedisValue::Array(parts) = it {
                    if let Some(id) = parts.first() {
                        pending.insert(text(id));
                    }
                }
            }
        }
    }
    Ok((delivered, pending))
}

fn text(v: &RedisValue) -> String {
    match v {
        RedisValue::BulkString(b) => fetch::lossy(b),
        RedisValue::SimpleString(s) => s.clone(),
        RedisValue::Int(i) => i.to_string(),
        _ => String::new(),
    }
}

async fn check_opps(
    ctx: &Ctx,
    conn: &mut Conn,
    in_flight: &BTreeSet<String>,
) -> anyhow::Result<(Opps, BTreeSet<String>)> {
    let opps_key = ctx.keys.opps();
    let entries = whole_stream(conn, &opps_key).await?;
    let outcomes = whole_stream(conn, &ctx.keys.arb_log()).await?;
    let (delivered, pending_ids) = group_state(conn, &opps_key).await?;
    let mut report = Opps { entries: entries.len(), outcomes: outcomes.len(), ..Opps::default() };
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (_, f) in &outcomes {
        if let Some(id) = f.get("id") {
            *count.entry(id.as_str()).or_default() += 1;
        }
    }
    let now = now_millis();
    // Per opportunity id: its latest expiry and whether an entry is still queued.
    let mut opps: BTreeMap<&str, (u64, bool)> = BTreeMap::new();
    for (entry_id, f) in &entries {
        let Some(id) = f.get("id") else { continue };
        let expires = f.get("expires_ms").and_then(|e| e.parse().ok()).unwrap_or(0);
        let undelivered = delivered.iter().any(|d| fetch::id_order(entry_id) > fetch::id_order(d));
        let queued = undelivered || pending_ids.contains(entry_id);
        let slot = opps.entry(id.as_str()).or_insert((0, false));
        slot.0 = slot.0.max(expires);
        slot.1 |= queued;
    }
    report.opportunities = opps.len();
    for (id, (expires, queued)) in &opps {
        match count.get(id).copied().unwrap_or(0) {
            1 => report.with_one_outcome += 1,
            0 if in_flight.contains(*id) => report.in_flight.push((*id).to_owned()),
            0 if *queued => report.queued.push((*id).to_owned()),
            0 if *expires > now => report.pending.push((*id).to_owned()),
            0 => report.lost.push((*id).to_owned()),
            n => {
                report.duplicates.insert((*id).to_owned(), n);
            }
        }
    }
    report.unknown_outcomes = count.iter().filter(|(id, _)| !opps.contains_key(**id)).map(|(_, n)| n).sum();
    let outcome_ids = count.keys().map(|s| (*s).to_owned()).collect();
    Ok((report, outcome_ids))
}

// --- 3. the venue's order log -----------------------------------------------------------------

/// The opportunity id of an executor client id `st<id>-<leg>` / `st<id>-u<n>`.
fn chain_of(client_id: &str) -> Option<&str> {
    let rest = client_id.strip_prefix("st")?;
    let (id, leg) = rest.rsplit_once('-')?;
    (!id.is_empty() && !leg.is_empty()).then_some(id)
}

async fn check_orders(
    api: &Api,
    acct: &str,
    outcome_ids: &BTreeSet<String>,
    in_flight: &BTreeSet<String>,
) -> anyhow::Result<Orders> {
    let mut orders = Orders { account: acct.to_owned(), ..Orders::default() };
    let (status, v) = api.get("/_sim/orders", &format!("account={acct}"), None).await?;
    if status == 404 {
        return Ok(orders); // not available: the caller reports the check as skipped
    }
    if status != 200 {
        bail!("GET /_sim/orders: HTTP {status}: {v}");
    }
    let list = v["orders"].as_array().ok_or_else(|| anyhow!("/_sim/orders: no orders array"))?;
    orders.available = true;
    orders.placements = list.len();
    let mut by_client: BTreeMap<String, usize> = BTreeMap::new();
    let mut chains = BTreeSet::new();
    for o in list {
        if o["orderId"].as_u64().is_some() {
            orders.accepted += 1;
        }
        let Some(cid) = o["clientOrderId"].as_str() else { continue };
        *by_client.entry(cid.to_owned()).or_default() += 1;
        if let Some(chain) = chain_of(cid) {
            chains.insert(chain.to_owned());
        }
    }
    orders.chains = chains.len();
    orders.duplicates = by_client.into_iter().filter(|(_, n)| *n > 1).collect();
    orders.chains_without_outcome =
        chains.into_iter().filter(|c| !outcome_ids.contains(c) && !in_flight.contains(c)).collect();
    Ok(orders)
}

// --- 4. balances ------------------------------------------------------------------------------

type Amounts = BTreeMap<String, (Decimal, Decimal)>;

fn venue_balances(v: &Value) -> anyhow::Result<Amounts> {
    let list = v["balances"].as_array().ok_or_else(|| anyhow!("account reply without balances: {v}"))?;
    let dec = |x: &Value| x.as_str().and_then(|s| s.parse::<Decimal>().ok());
    list.iter()
        .map(|b| {
            let asset = b["asset"].as_str().ok_or_else(|| anyhow!("balance without asset: {b}"))?;
            let (Some(free), Some(locked)) = (dec(&b["free"]), dec(&b["locked"])) else { bail!("odd balance {b}") };
            Ok((asset.to_owned(), (free, locked)))
        })
        .collect()
}

fn redis_balances(fields: &HashMap<String, String>) -> (Amounts, Vec<String>) {
    let mut out = Amounts::new();
    let mut odd = Vec::new();
    for (asset, text) in fields {
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let dec = |name: &str| v[name].as_str().and_then(|s| s.parse::<Decimal>().ok());
        match (dec("free"), dec("locked")) {
            (Some(f), Some(l)) => {
                out.insert(asset.clone(), (f, l));
            }
            _ => odd.push(format!("{asset}: unreadable {text}")),
        }
    }
    (out, odd)
}

fn compare_balances(ours: &Amounts, theirs: &Amounts) -> (usize, Vec<String>) {
    let assets: BTreeSet<&String> = ours.keys().chain(theirs.keys()).collect();
    let zero = (Decimal::ZERO, Decimal::ZERO);
    let mut diffs = Vec::new();
    for a in &assets {
        let (o, t) = (ours.get(*a).copied().unwrap_or(zero), theirs.get(*a).copied().unwrap_or(zero));
        if o != t {
            diffs.push(format!("{a}: redis free {} locked {} vs venue free {} locked {}", o.0, o.1, t.0, t.1));
        }
    }
    (assets.len(), diffs)
}

async fn check_balances(
    ctx: &Ctx,
    conn: &mut Conn,
    api: &Api,
    venue: &str,
    key: &str,
    secret: &str,
    settle: Duration,
) -> anyhow::Result<Balances> {
    let acct = sign::account_id(key);
    let redis_key = ctx.keys.balance(venue, &acct);
    let deadline = Instant::now() + settle;
    loop {
        let v = api.ok("/api/v3/account", "", Some((key, secret))).await?;
        let theirs = venue_balances(&v)?;
        let (ours, odd) = redis_balances(&fetch::hash(conn, &redis_key).await?);
        let (assets, mut differences) = compare_balances(&ours, &theirs);
        differences.extend(odd);
        if differences.is_empty() || Instant::now() >= deadline {
            return Ok(Balances {
                available: true,
                account: acct,
                key: redis_key,
                assets,
                equal: differences.is_empty(),
                differences,
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// --- output -----------------------------------------------------------------------------------

fn listed(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    let mut s = items.iter().take(MAX_LISTED).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > MAX_LISTED {
        s.push_str(&format!(" ... and {} more", items.len() - MAX_LISTED));
    }
    s
}

fn render(r: &Report) -> String {
    let mut out = format!("audit of venue {} ({}) against Redis\n", r.venue, r.rest_url);
    let b = &r.books;
    out.push_str(&format!(
        "  books     {} live checked, {} equal, {} mismatches ({} hashes, {} not live)\n",
        b.checked,
        b.equal,
        b.mismatches.len(),
        b.total,
        b.not_live.len()
    ));
    for m in b.mismatches.iter().take(MAX_LISTED) {
        out.push_str(&format!("    MISMATCH {} ({}): {}\n", m.symbol, m.kind, m.detail));
    }
    if !b.not_live.is_empty() {
        out.push_str(&format!("    not live: {}\n", listed(b.not_live.iter().map(|(s, st)| format!("{s} {st}")))));
    }
    let o = &r.opps;
    out.push_str(&format!(
        "  opps      {} opportunities, {} outcomes, {} with exactly one, {} duplicates, {} lost ({} in flight, {} queued, {} not expired)\n",
        o.opportunities,
        o.outcomes,
        o.with_one_outcome,
        o.duplicates.len(),
        o.lost.len(),
        o.in_flight.len(),
        o.queued.len(),
        o.pending.len()
    ));
    if !o.duplicates.is_empty() {
        out.push_str(&format!(
            "    DUPLICATE outcomes: {}\n",
            listed(o.duplicates.iter().map(|(id, n)| format!("{id} x{n}")))
        ));
    }
    if !o.lost.is_empty() {
        out.push_str(&format!("    LOST (expired, no outcome): {}\n", listed(o.lost.iter().cloned())));
    }
    if o.unknown_outcomes > 0 {
        out.push_str(&format!("    {} outcome(s) for ids not on the opportunities stream\n", o.unknown_outcomes));
    }
    let od = &r.orders;
    if od.available {
        out.push_str(&format!(
            "  orders    account {}: {} placements ({} accepted), {} chains, {} client ids sent twice\n",
            od.account,
            od.placements,
            od.accepted,
            od.chains,
            od.duplicates.len()
        ));
        if !od.duplicates.is_empty() {
            out.push_str(&format!(
                "    DUPLICATE client ids: {}\n",
                listed(od.duplicates.iter().map(|(id, n)| format!("{id} x{n}")))
            ));
        }
        if !od.chains_without_outcome.is_empty() {
            out.push_str(&format!(
                "    chains on the venue without an outcome: {}\n",
                listed(od.chains_without_outcome.iter().cloned())
            ));
        }
    } else {
        out.push_str("  orders    not checked\n");
    }
    let bl = &r.balances;
    if bl.available {
        out.push_str(&format!(
            "  balances  {} vs /api/v3/account: {} ({} assets)\n",
            bl.key,
            if bl.equal { "equal" } else { "DIFFERENT" },
            bl.assets
        ));
        for d in bl.differences.iter().take(MAX_LISTED) {
            out.push_str(&format!("    {d}\n"));
        }
    } else {
        out.push_str("  balances  not checked\n");
    }
    for s in &r.skipped {
        out.push_str(&format!("  SKIPPED   {s}\n"));
    }
    out.push_str(&format!("  result    {}\n", r.result));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_come_from_executor_client_ids() {
        assert_eq!(chain_of("st0123456789abcdef-1"), Some("0123456789abcdef"));
        assert_eq!(chain_of("st0123456789abcdef-u2"), Some("0123456789abcdef"));
        assert_eq!(chain_of("sim00000000000000000001"), None);
        assert_eq!(chain_of("st-1"), None);
    }

    #[test]
    fn levels_compare_as_decimals_and_report_the_first_difference() {
        let a = vec![Level::parse("1.10000000", "2.00000000").unwrap_or_else(|_| unreachable!())];
        let b = vec![Level::parse("1.1", "2").unwrap_or_else(|_| unreachable!())];
        assert_eq!(first_difference("bid", &a, &b, 5), None);
        let c = vec![Level::parse("1.1", "3").unwrap_or_else(|_| unreachable!())];
        let d = first_difference("bid", &a, &c, 5).unwrap_or_default();
        assert!(d.contains("bid level 1") && d.contains("vs venue 1.1 x 3"), "{d}");
        assert!(first_difference("ask", &a, &[], 5).is_some(), "a missing level is a difference");
    }

    #[test]
    fn balances_missing_on_one_side_count_as_zero() {
        let mut ours = Amounts::new();
        ours.insert("USDT".into(), (Decimal::from(10), Decimal::ZERO));
        ours.insert("BTC".into(), (Decimal::ZERO, Decimal::ZERO));
        let mut theirs = Amounts::new();
        theirs.insert("USDT".into(), (Decimal::new(100, 1), Decimal::ZERO));
        assert_eq!(compare_balances(&ours, &theirs), (2, Vec::new()));
        theirs.insert("ETH".into(), (Decimal::ONE, Decimal::ZERO));
        let (_, diffs) = compare_balances(&ours, &theirs);
        assert_eq!(diffs.len(), 1);
        assert!(diffs[0].starts_with("ETH:"), "{diffs:?}");
    }
}
