//! `stormctl doctor`: everything that must hold for the suite to run, checked in order and
//! printed as it goes. A failure (Redis unreachable or too old, a config that does not parse —
//! every engine section is loaded as its engine loads it, see [`crate::sections`] —, a heartbeat
//! that stopped, a venue that does not answer) exits 1; a warning (no AOF, an eviction
//! policy that may drop stream entries, books not all live, clock skew over 500 ms, halt on)
//! exits 0 but is shown, so `stormctl doctor && start-trading` is a meaningful gate.

use std::time::{Duration, Instant};

use serde::Serialize;
use storm_core::time::now_millis;

use crate::ctx::{Conn, Ctx};
use crate::output::{age, print_json, Progress};
use crate::sections::{self, Verdict};
use crate::status::{self, Status};

/// Clock skew above which signed requests start to be at risk.
const MAX_SKEW_MS: i64 = 500;
/// Oldest Redis with `XAUTOCLAIM` (the executor's crash recovery needs it).
const MIN_REDIS: (u32, u32) = (6, 2);

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
enum Level {
    Ok,
    Skip,
    Warn,
    Fail,
}

/// One finding.
#[derive(Debug, Serialize)]
struct Check {
    name: String,
    level: Level,
    detail: String,
}

/// The findings so far, printed as they come in human mode.
struct Report {
    json: bool,
    checks: Vec<Check>,
}

impl Report {
    fn add(&mut self, name: impl Into<String>, level: Level, detail: impl Into<String>) {
        let c = Check { name: name.into(), level, detail: detail.into() };
        if !self.json {
            let tag = match c.level {
                Level::Ok => " ok ",
                Level::Skip => "skip",
                Level::Warn => "WARN",
                Level::Fail => "FAIL",
            };
            println!("[{tag}] {}: {}", c.name, c.detail);
        }
        self.checks.push(c);
    }

    fn count(&self, level: Level) -> usize {
        self.checks.iter().filter(|c| c.level == level).count()
    }
}

/// Runs `doctor`; `Ok(false)` when a check failed.
pub(crate) async fn run(global: &crate::cli::Global) -> anyhow::Result<bool> {
    let (ctx, config_error) = Ctx::load_lenient(global);
    let mut r = Report { json: ctx.json, checks: Vec::new() };
    let used = ctx.config.describe();
    match (&ctx.config.path, config_error) {
        (_, Some(e)) => r.add("config", Level::Fail, format!("{used}: {e}")),
        (Some(p), None) => {
            r.add("config", Level::Ok, format!("{used} parses; {} venue(s)", ctx.venues.len()));
            section_checks(p, &mut r);
        }
        (None, None) => r.add("config", Level::Skip, used),
    }
    redis_checks(&ctx, &mut r).await;
    clock_checks(&ctx, &mut r).await;
    let (fails, warns) = (r.count(Level::Fail), r.count(Level::Warn));
    if ctx.json {
        print_json(&serde_json::json!({ "ok": fails == 0, "failures": fails, "warnings": warns, "checks": r.checks }));
    } else {
        println!("\ndoctor: {} ok, {warns} warning(s), {fails} failure(s)", r.count(Level::Ok));
    }
    Ok(fails == 0)
}

/// Every engine section of the file, loaded as its engine loads it.
fn section_checks(path: &std::path::Path, r: &mut Report) {
    // The file parsed as TOML already (Ctx::load); a failure here is a race with an edit.
    let table = match std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|t| t.parse::<toml::Table>().map_err(|e| e.to_string()))
    {
        Ok(t) => t,
        Err(e) => return r.add("config", Level::Fail, format!("{}: {e}", path.display())),
    };
    let env = std::env::vars().filter(|(k, _)| k.starts_with("STORM_")).collect();
    for (section, verdict) in sections::check(&table, &env) {
        let name = format!("config [{section}]");
        match verdict {
            Verdict::Ok(detail) => r.add(name, Level::Ok, detail),
            Verdict::Invalid(why) => r.add(name, Level::Fail, format!("storm-{section} would refuse to start: {why}")),
            Verdict::Skipped(why) => r.add(name, Level::Skip, why),
        }
    }
}

async fn redis_checks(ctx: &Ctx, r: &mut Report) {
    let started = Instant::now();
    let mut conn = match ctx.connect().await {
        Ok(c) => c,
        Err(e) => {
            r.add("redis", Level::Fail, format!("{e:#}"));
            r.add("keys and heartbeats", Level::Skip, "redis unreachable");
            return;
        }
    };
    let pong: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
    match pong {
        Ok(_) => r.add("redis", Level::Ok, format!("{} answers ({:.1?})", ctx.redacted_url(), started.elapsed())),
        Err(e) => {
            r.add("redis", Level::Fail, format!("{}: {e}", ctx.redacted_url()));
            return;
        }
    }
    server_checks(&mut conn, r).await;
    let mut progress = Progress::new(ctx.json);
    match status::gather(ctx, &mut conn, &mut progress).await {
        Ok(st) => key_checks(ctx, &st, &mut conn, r).await,
        Err(e) => r.add("keys and heartbeats", Level::Fail, format!("reading status: {e}")),
    }
}

/// `INFO` works where `CONFIG` is disabled (managed Redis), so every setting is read from it.
async fn server_checks(conn: &mut Conn, r: &mut Report) {
    let info: String = match redis::cmd("INFO").arg("everything").query_async(conn).await {
        Ok(i) => i,
        Err(e) => {
            r.add("redis settings", Level::Warn, format!("INFO failed: {e}"));
            return;
        }
    };
    let field = |name: &str| {
        info.lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(':'))).map(str::trim)
    };
    match field("redis_version") {
        Some(v) => {
            let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
            let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
            if (major, minor) >= MIN_REDIS {
                r.add("redis version", Level::Ok, v.to_owned());
            } else {
                r.add("redis version", Level::Fail, format!("{v}: storm needs ≥ 6.2 (XAUTOCLAIM)"));
            }
        }
        None => r.add("redis version", Level::Warn, "INFO has no redis_version"),
    }
    match field("maxmemory_policy") {
        Some("noeviction") => r.add("maxmemory-policy", Level::Ok, "noeviction"),
        Some(p) => r.add(
            "maxmemory-policy",
            Level::Warn,
            format!("{p}: under memory pressure Redis may evict streams, books or the journal; set noeviction"),
        ),
        None => r.add("maxmemory-policy", Level::Warn, "not reported by INFO"),
    }
    match field("aof_enabled") {
        Some("1") => r.add("append-only file", Level::Ok, "on"),
        Some(_) => r.add(
            "append-only file",
            Level::Warn,
            "off: a Redis restart loses the journal and unacknowledged opportunities (appendonly yes)",
        ),
        None => r.add("append-only file", Level::Warn, "not reported by INFO"),
    }
}

async fn key_checks(ctx: &Ctx, st: &Status, conn: &mut Conn, r: &mut Report) {
    // Heartbeats: the hash expires after 3 beats, so one older than that is a frozen engine or
    // a clock problem between hosts.
    let max_age = ctx.heartbeat_ms.saturating_mul(3).max(1_000);
    if st.engines.is_empty() {
        r.add("heartbeats", Level::Warn, "none: no engine is running (or they use another namespace)");
    }
    for e in &st.engines {
        let name = format!("heartbeat {}:{}", e.engine, e.instance);
        match e.beat_age_ms {
            None => r.add(name, Level::Fail, format!("{}: no readable last_beat", e.key)),
            Some(a) if a > max_age => {
                r.add(name, Level::Fail, format!("last beat {} ago (expected every {} ms)", age(a), ctx.heartbeat_ms))
            }
            Some(a) => r.add(name, Level::Ok, format!("pid {} beat {} ago", e.pid.as_deref().unwrap_or("?"), age(a))),
        }
    }
    if st.venues.is_empty() {
        r.add("venues", Level::Warn, "no venue configured (--config) and none found in Redis");
    }
    for (venue, books) in &st.venues {
        let subs: usize = redis::cmd("SCARD").arg(ctx.keys.subs(venue)).query_async(conn).await.unwrap_or(0);
        let depth = ctx.keys.md(venue, storm_core::Channel::Depth);
        let instruments = ctx.keys.instruments(venue);
        let exists = |n: usize| n > 0;
        let (has_depth, has_instruments): (usize, usize) = redis::pipe()
            .cmd("EXISTS")
            .arg(&depth)
            .cmd("EXISTS")
            .arg(&instruments)
            .query_async(conn)
            .await
            .unwrap_or((0, 0));
        let name = format!("venue {venue}");
        let from_config = ctx.config_subs(venue).len();
        let all_markets = ctx.ingester.as_ref().is_some_and(|i| i.venue == *venue && !i.all_markets_quotes.is_empty());
        if subs == 0 && from_config == 0 && !all_markets {
            r.add(
                &name,
                Level::Warn,
                format!("nothing subscribed: {} is empty and the config subscribes nothing", ctx.keys.subs(venue)),
            );
        } else {
            r.add(
                &name,
                Level::Ok,
                format!("{from_config} subscription(s) from the config, {subs} in {}", ctx.keys.subs(venue)),
            );
        }
        if !exists(has_depth) {
            r.add(&name, Level::Warn, format!("{depth} missing: the ingester has written no depth"));
        }
        if !exists(has_instruments) {
            r.add(&name, Level::Warn, format!("{instruments} missing: booksync has not loaded exchangeInfo"));
        }
        let line = status::books_line(books);
        match (books.total, books.live == books.total) {
            (0, _) => r.add(&name, Level::Warn, "no book at all"),
            (_, true) => r.add(&name, Level::Ok, format!("books {line}")),
            (_, false) => r.add(&name, Level::Warn, format!("books {line}")),
        }
    }
    if st.opps_groups.is_empty() {
        r.add(
            "executor group",
            Level::Warn,
            format!("no consumer group on {}: the executor has not started", st.opps_key),
        );
    } else {
        for g in &st.opps_groups {
            r.add(
                format!("group {}", g.name),
                Level::Ok,
                format!(
                    "{} consumer(s), {} pending, lag {}",
                    g.consumers,
                    g.pending,
                    g.lag.map_or("?".into(), |l| l.to_string())
                ),
            );
        }
    }
    if st.halt.halted {
        r.add("halt", Level::Warn, st.halt.line());
    } else {
        r.add("halt", Level::Ok, "off");
    }
    for n in &st.notes {
        r.add("data", Level::Warn, n.clone());
    }
}

/// Skew of each configured Binance-dialect venue: `serverTime` against the midpoint of the
/// request on the local clock.
async fn clock_checks(ctx: &Ctx, r: &mut Report) {
    if ctx.venues.is_empty() {
        return;
    }
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(5)).build() {
        Ok(c) => c,
        Err(e) => {
            r.add("clock", Level::Fail, format!("no HTTP client: {e}"));
            return;
        }
    };
    let mut progress = Progress::new(ctx.json);
    for v in &ctx.venues {
        let name = format!("clock {}", v.name);
        progress.show(&format!("asking {} for its time…", v.name));
        let url = storm_venues::clock::time_url(v.kind, &v.rest_url);
        let t0 = now_millis();
        let res = client.get(&url).send().await.and_then(reqwest::Response::error_for_status);
        let body = match res {
            Ok(resp) => resp.json::<serde_json::Value>().await,
            Err(e) => Err(e),
        };
        let t1 = now_millis();
        progress.done();
        let server = match body {
            Ok(b) => storm_venues::clock::parse_time(v.kind, &b),
            Err(e) => {
                r.add(name, Level::Fail, format!("{url}: {}", e.without_url()));
                continue;
            }
        };
        let Some(server) = server else {
            r.add(name, Level::Fail, format!("{url}: reply has no server time"));
            continue;
        };
        let local = (t0 + t1) / 2;
        let skew = i64::try_from(server).unwrap_or(i64::MAX).saturating_sub(i64::try_from(local).unwrap_or(0));
        let detail = format!("venue clock {skew:+} ms from ours (round trip {} ms)", t1 - t0);
        if skew.abs() > MAX_SKEW_MS {
            r.add(
                name,
                Level::Warn,
                format!("{detail}: over {MAX_SKEW_MS} ms, fix NTP (signed requests may be refused)"),
            );
        } else {
            r.add(name, Level::Ok, detail);
        }
    }
}
