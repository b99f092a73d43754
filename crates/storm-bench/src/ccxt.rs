//! `vs-ccxt`: one sim feed, consumed at the same moment by ccxt.pro's Python order-book
//! maintenance (`watch_order_book_for_symbols`, from PyPI, in a throwaway virtualenv) and by
//! storm's ingester + booksync, so the CPU-per-event ratio and both update latencies are measured
//! on the same machine under the same load.
//!
//! Fairness choices, stated in the report too: both sides get the same symbols and the same
//! `@depth@100ms` streams over their own WebSocket; the denominator of CPU per event is each
//! side's own count of diffs (ccxt: diffs applied to its books; storm: depth entries the ingester
//! wrote); storm is shown both as "engines only" (ingester + booksync) and "engines + Redis",
//! since ccxt keeps its books in process and storm's books live in Redis; latency on both sides
//! starts at the event's `E` (ms) and ends when a consumer sees the updated book (ccxt: the
//! `await` returns in the same process; storm: a tops entry arrives at an XREAD client). Both
//! books are checked against each other at ccxt's sampled nonces so neither side is measured
//! doing nothing.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::pipeline::{Counters, ProcUsage};
use crate::procs::{cpu_seconds, rss_kib, Engines, Feed, Market, Stack};
use crate::reader::{Best, Observer};
use crate::stats::Percentiles;

/// The ccxt version installed into the virtualenv unless `--ccxt-version` says otherwise
/// (the one PyPI served when this was written; pinned so runs are comparable).
pub const CCXT_VERSION: &str = "4.5.90";

/// The Python script, embedded so the binary works from any directory.
const SCRIPT: &str = include_str!("../py/ccxt_books.py");

/// What to run.
#[derive(Clone, Debug)]
pub struct VsArgs {
    /// Sim events per second.
    pub rate: u64,
    /// Symbols.
    pub symbols: usize,
    /// The sim's `levels_per_event` (diff size).
    pub levels_per_event: usize,
    /// Measured seconds.
    pub duration_s: u64,
    /// Seconds after both sides are ready.
    pub warmup_s: u64,
    /// Virtualenv folder.
    pub venv: PathBuf,
    /// ccxt version to install.
    pub ccxt_version: String,
    /// Replay these recordings instead of the synthetic market (latency then not measured: the
    /// events carry their recorded `E`).
    pub replay: Vec<PathBuf>,
    /// Replay pace factor.
    pub speed: f64,
    /// Symbols followed in a replay (those recorded).
    pub replay_symbols: Vec<String>,
}

/// The Python side's result line.
#[derive(Debug, Deserialize)]
struct PyResult {
    ccxt_version: String,
    python: String,
    applied: u64,
    #[serde(default)]
    levels: u64,
    returns: u64,
    #[serde(default)]
    errors: u64,
    cpu_s: f64,
    wall_s: f64,
    lat_us: Vec<i64>,
    #[serde(default)]
    apply_lat_us: Vec<i64>,
    samples: Vec<Sample>,
}

/// One ccxt book sample: symbol id, nonce, best bid price and quantity, best ask price and
/// quantity (decimal strings, converted from ccxt's floats by their shortest repr).
pub type Sample = (String, u64, String, String, String, String);

/// One side of the comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    /// Events it processed in the window.
    pub events: u64,
    /// Per second.
    pub events_per_s: f64,
    /// CPU µs per event.
    pub us_per_event: f64,
    /// Cores used.
    pub cores: f64,
    /// Resident memory at the end, MiB.
    pub rss_mib: f64,
    /// `E` → the updated book seen by a consumer.
    pub latency: Percentiles,
    /// Median latency, first vs last third of the window, µs (growth = falling behind).
    pub latency_p50_thirds: (u64, u64),
    /// Every event: `E` → applied to the book (ccxt: its handler returned; storm: the hash and
    /// tops entry written, Redis id ms).
    pub applied_latency: Percentiles,
}

/// Agreement of ccxt's books with storm's at ccxt's sampled nonces.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BookCheck {
    /// Samples taken from ccxt.
    pub samples: usize,
    /// storm's top at that nonce (its last tops entry at or before it) has the same best bid
    /// and ask, price and quantity.
    pub equal: usize,
    /// Of which storm published an entry at exactly that update id.
    pub equal_exact_id: usize,
    /// Different best bid or ask.
    pub different: usize,
    /// No storm entry at or before that nonce was seen.
    pub no_storm_entry: usize,
    /// First few differences, for the report.
    pub examples: Vec<String>,
}

/// The comparison.
#[derive(Clone, Debug, Serialize)]
pub struct VsReport {
    /// Start of the window.
    pub date_utc: String,
    /// ccxt's version.
    pub ccxt_version: String,
    /// Python's version.
    pub python_version: String,
    /// Target sim events/s.
    pub rate: u64,
    /// Symbols followed by both.
    pub symbols: usize,
    /// `synthetic` (the sim's market) or `replay <files> at <speed>×`.
    pub feed: String,
    /// Price levels per diff in the window (what ccxt applied ÷ diffs), the feed's weight.
    pub levels_per_event: f64,
    /// Whether the latencies mean anything (not in a replay: `E` is the recorded time).
    pub latency_measured: bool,
    /// Window, s.
    pub window_s: f64,
    /// ccxt (one Python process).
    pub ccxt: Side,
    /// storm engines only (ingester + booksync).
    pub storm_engines: Side,
    /// storm engines + Redis.
    pub storm_engines_redis: Side,
    /// Every process.
    pub usage: Vec<ProcUsage>,
    /// ccxt µs/event ÷ storm engines µs/event.
    pub ratio_engines: f64,
    /// ccxt µs/event ÷ storm engines + Redis µs/event.
    pub ratio_engines_redis: f64,
    /// ccxt's own getrusage CPU over its window, s (cross-check of /proc).
    pub ccxt_getrusage_cpu_s: f64,
    /// watch returns in the window (ccxt resolves once per batch of messages it read).
    pub ccxt_returns: u64,
    /// Errors a watch raised in the window (a gap's ChecksumError, ...), each followed by a new
    /// snapshot.
    pub ccxt_errors: u64,
    /// storm: written − processed at the start and end of the window, and resyncs.
    pub storm_backlog: (i64, i64),
    /// The books agree?
    pub check: BookCheck,
}

/// Makes sure `venv` has ccxt `version`; returns its python.
pub async fn ensure_venv(venv: &Path, version: &str) -> Result<PathBuf> {
    let python = venv.join("bin").join("python");
    let installed = if python.is_file() {
        let out = Command::new(&python).args(["-c", "import ccxt; print(ccxt.__version__)"]).output().await?;
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    } else {
        let st = Command::new("python3").arg("-m").arg("venv").arg(venv).status().await.context("python3 -m venv")?;
        if !st.success() {
            bail!("python3 -m venv {} failed", venv.display());
        }
        String::new()
    };
    if installed != version {
        eprintln!("installing ccxt=={version} from PyPI into {}", venv.display());
        let st = Command::new(venv.join("bin").join("pip"))
            .args(["install", "-q", "--disable-pip-version-check", &format!("ccxt=={version}")])
            .status()
            .await
            .context("pip install ccxt")?;
        if !st.success() {
            bail!("pip install ccxt=={version} failed");
        }
    }
    Ok(python)
}

fn epoch_s() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Compares ccxt's samples with storm's tops entries.
pub fn check_books(
    samples: &[Sample],
    books: &std::collections::HashMap<String, std::collections::BTreeMap<u64, Best>>,
) -> BookCheck {
    let mut c = BookCheck { samples: samples.len(), ..BookCheck::default() };
    // Decimals compare by value (`100.5` = `100.50000000`); an unreadable one equals nothing.
    let dec = |s: &str| s.parse::<Decimal>().ok();
    let level = |s: &Option<(String, String)>| s.as_ref().map(|(p, q)| (dec(p), dec(q)));
    let same = |storm: &Option<(String, String)>, px: &str, qty: &str| match level(storm) {
        Some((Some(p), Some(q))) => Some(p) == dec(px) && Some(q) == dec(qty),
        _ => false,
    };
    for (id, nonce, bp, bq, ap, aq) in samples {
        let Some((at, (bid, ask))) = books.get(id).and_then(|b| b.range(..=*nonce).next_back()) else {
            c.no_storm_entry += 1;
            continue;
        };
        if same(bid, bp, bq) && same(ask, ap, aq) {
            c.equal += 1;
            c.equal_exact_id += usize::from(at == nonce);
        } else {
            c.different += 1;
            if c.examples.len() < 5 {
                c.examples.push(format!(
                    "{id} nonce {nonce}: ccxt bid {bp}×{bq} ask {ap}×{aq}; storm (u {at}) bid {bid:?} ask {ask:?}"
                ));
            }
        }
    }
    c
}

/// Runs the comparison.
pub async fn vs_ccxt(bin_dir: &Path, a: &VsArgs) -> Result<VsReport> {
    let python = ensure_venv(&a.venv, &a.ccxt_version).await?;
    let script = a.venv.join("ccxt_books.py");
    std::fs::write(&script, SCRIPT)?;
    let feed = if a.replay.is_empty() {
        Feed::Synthetic(Market { rate: a.rate, symbols: a.symbols, levels: a.levels_per_event, step_ms: 10 })
    } else {
        Feed::Replay { files: a.replay.clone(), speed: a.speed, symbols: a.replay_symbols.clone() }
    };
    let stack = Stack::start(bin_dir, &feed, Engines::default()).await?;
    let observer = Observer::start(&stack.redis.url(), "sim", true, true).await?;
    let sim = format!("127.0.0.1:{}", stack.sim_port);
    let mut py = Command::new(&python)
        .arg(&script)
        .arg(format!("http://{sim}"))
        .arg(format!("ws://{sim}"))
        .arg(stack.symbols.join(","))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("start the ccxt script")?;
    let py_pid = py.id().context("python pid")?;
    let mut lines = BufReader::new(py.stdout.take().context("stdout")?).lines();
    let mut stdin = py.stdin.take().context("stdin")?;
    let ready = tokio::time::timeout(Duration::from_secs(240), async {
        while let Some(l) = lines.next_line().await? {
            if l.trim() == "READY" {
                return Ok(());
            }
        }
        bail!("the ccxt script ended before READY")
    })
    .await
    .context(
        "ccxt did not have every book within 240 s (if its stderr above shows 'closing code 1008', \
         the sim dropped it as a slow consumer: try fewer symbols or a lower --rate)",
    )?;
    ready?;
    stack.wait_books_live(Duration::from_secs(240)).await?;
    tokio::time::sleep(Duration::from_secs(a.warmup_s)).await;

    let t0 = epoch_s() + 1.0;
    let t1 = t0 + a.duration_s as f64;
    stdin.write_all(format!("START {t0:.6} {t1:.6}\n").as_bytes()).await?;
    stdin.flush().await?;
    let until = |t: f64| Instant::now() + Duration::from_secs_f64((t - epoch_s()).max(0.0));
    tokio::time::sleep_until(until(t0).into()).await;
    let mut pids = stack.pids();
    pids.push(("ccxt", py_pid));
    let cpu0: Vec<f64> = pids.iter().map(|(_, p)| cpu_seconds(*p)).collect();
    let c0 = Counters::read(&stack).await?;
    let date_utc = crate::report::utc_now();
    let t0_us = storm_core::time::now_micros();
    observer.set_window(true);
    let w0 = Instant::now();
    tokio::time::sleep_until(until(t1).into()).await;
    observer.set_window(false);
    let elapsed = w0.elapsed().as_secs_f64();
    let cpu1: Vec<f64> = pids.iter().map(|(_, p)| cpu_seconds(*p)).collect();
    let c1 = Counters::read(&stack).await?;
    let t1_us = storm_core::time::now_micros();
    let rss: Vec<u64> = pids.iter().map(|(_, p)| rss_kib(*p)).collect();

    let result: PyResult = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(l) = lines.next_line().await? {
            if let Some(json) = l.strip_prefix("RESULT ") {
                return Ok(serde_json::from_str(json)?);
            }
        }
        bail!("the ccxt script ended without a result")
    })
    .await
    .context("no ccxt result within 120 s")??;
    let _ = py.wait().await;
    tokio::time::sleep(Duration::from_secs(1)).await; // storm's last entries of the window arrive
    let seen = observer.finish().await?;
    let symbols = stack.symbols.len();
    drop(stack);

    let storm_events = (c1.written.saturating_sub(c0.written)).max(1);
    let usage: Vec<ProcUsage> = pids
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let ev = if *name == "ccxt" { result.applied.max(1) } else { storm_events };
            ProcUsage {
                name: (*name).to_owned(),
                cores: (cpu1[i] - cpu0[i]) / elapsed,
                us_per_event: (cpu1[i] - cpu0[i]) * 1e6 / ev as f64,
                rss_mib: rss[i] as f64 / 1024.0,
            }
        })
        .collect();
    let u = |n: &str| usage.iter().find(|u| u.name == n).cloned();
    let (ing, bs, redis, cc) = (u("ingester"), u("booksync"), u("redis"), u("ccxt"));
    let (ing, bs, redis, cc) =
        (ing.context("ingester")?, bs.context("booksync")?, redis.context("redis")?, cc.context("ccxt")?);

    let mut ccxt_lat: Vec<u64> = result.lat_us.iter().map(|v| (*v).max(0) as u64).collect();
    // The Python samples are in arrival order over the window: thirds by position.
    let ccxt_thirds = {
        let n = ccxt_lat.len();
        let mut first = ccxt_lat[..n / 3].to_vec();
        let mut last = ccxt_lat[n - n / 3..].to_vec();
        (crate::stats::median(&mut first), crate::stats::median(&mut last))
    };
    let storm_lat = crate::pipeline::latencies(&seen, t0_us, t1_us);
    let storm_side = |us_per_event: f64, cores: f64, rss_mib: f64| Side {
        events: storm_events,
        events_per_s: storm_events as f64 / elapsed,
        us_per_event,
        cores,
        rss_mib,
        latency: storm_lat.e_to_tops,
        latency_p50_thirds: storm_lat.e_to_tops_p50_thirds,
        applied_latency: storm_lat.e_to_hash_write,
    };
    let engines = storm_side(ing.us_per_event + bs.us_per_event, ing.cores + bs.cores, ing.rss_mib + bs.rss_mib);
    let with_redis = storm_side(
        engines.us_per_event + redis.us_per_event,
        engines.cores + redis.cores,
        engines.rss_mib + redis.rss_mib,
    );
    let ccxt = Side {
        events: result.applied,
        events_per_s: result.applied as f64 / result.wall_s.max(1e-9),
        us_per_event: cc.us_per_event,
        cores: cc.cores,
        rss_mib: cc.rss_mib,
        latency: Percentiles::of(&mut ccxt_lat),
        latency_p50_thirds: ccxt_thirds,
        applied_latency: Percentiles::of(
            &mut result.apply_lat_us.iter().map(|v| (*v).max(0) as u64).collect::<Vec<_>>(),
        ),
    };
    let latency_measured = a.replay.is_empty();
    let (mut ccxt, mut engines, mut with_redis) = (ccxt, engines, with_redis);
    if !latency_measured {
        for s in [&mut ccxt, &mut engines, &mut with_redis] {
            s.latency = Percentiles::default();
            s.latency_p50_thirds = (0, 0);
            s.applied_latency = Percentiles::default();
        }
    }
    let feed = if latency_measured {
        "synthetic".to_owned()
    } else {
        let names: Vec<String> =
            a.replay.iter().map(|f| f.file_name().unwrap_or_default().to_string_lossy().into_owned()).collect();
        format!("replay {} at {}×", names.join(" + "), a.speed)
    };
    let check = check_books(&result.samples, &seen.books);
    Ok(VsReport {
        date_utc,
        ccxt_version: result.ccxt_version,
        python_version: result.python,
        rate: a.rate,
        symbols,
        feed,
        levels_per_event: result.levels as f64 / result.applied.max(1) as f64,
        latency_measured,
        window_s: elapsed,
        ratio_engines: ccxt.us_per_event / engines.us_per_event,
        ratio_engines_redis: ccxt.us_per_event / with_redis.us_per_event,
        ccxt,
        storm_engines: engines,
        storm_engines_redis: with_redis,
        usage,
        ccxt_getrusage_cpu_s: result.cpu_s,
        ccxt_returns: result.returns,
        ccxt_errors: result.errors,
        storm_backlog: (c0.backlog(), c1.backlog()),
        check,
    })
}

/// The comparison as a table.
pub fn vs_table(r: &VsReport) -> String {
    use crate::stats::human_us;
    let mut out = vec![format!(
        "storm-bench vs-ccxt: {} | ccxt {} (Python {}) | {} symbols | {} | window {:.1} s | {:.1} levels/diff",
        r.date_utc,
        r.ccxt_version,
        r.python_version,
        r.symbols,
        if r.latency_measured { format!("synthetic {} ev/s", r.rate) } else { r.feed.clone() },
        r.window_s,
        r.levels_per_event
    )];
    out.push(format!(
        "  {:<24} {:>9} {:>9} {:>10} {:>7} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "side", "events", "ev/s", "CPU µs/ev", "cores", "RSS MiB", "E→applied", "p90", "p99", "max"
    ));
    for (name, s) in [
        ("ccxt.pro (Python)", &r.ccxt),
        ("storm engines", &r.storm_engines),
        ("storm engines + redis", &r.storm_engines_redis),
    ] {
        out.push(format!(
            "  {:<24} {:>9} {:>9.0} {:>10.2} {:>7.3} {:>8.1} {:>9} {:>9} {:>9} {:>9}",
            name,
            s.events,
            s.events_per_s,
            s.us_per_event,
            s.cores,
            s.rss_mib,
            human_us(s.applied_latency.p50_us),
            human_us(s.applied_latency.p90_us),
            human_us(s.applied_latency.p99_us),
            human_us(s.applied_latency.max_us)
        ));
    }
    if r.latency_measured {
        out.push(format!(
            "  E → seen by a consumer (ccxt: its await returns, only the book returned, n {}; storm: tops entry read by \
             XREAD, every top change, n {}): ccxt p50 {} p90 {} p99 {} max {}; storm p50 {} p90 {} p99 {} max {}",
            r.ccxt.latency.n,
            r.storm_engines.latency.n,
            human_us(r.ccxt.latency.p50_us),
            human_us(r.ccxt.latency.p90_us),
            human_us(r.ccxt.latency.p99_us),
            human_us(r.ccxt.latency.max_us),
            human_us(r.storm_engines.latency.p50_us),
            human_us(r.storm_engines.latency.p90_us),
            human_us(r.storm_engines.latency.p99_us),
            human_us(r.storm_engines.latency.max_us),
        ));
    }
    out.push(format!(
        "  CPU per event, ccxt ÷ storm: {:.1}× (engines only), {:.1}× (engines + redis)",
        r.ratio_engines, r.ratio_engines_redis
    ));
    out.push(format!(
        "  E→seen medians, first → last third: ccxt {} → {}, storm {} → {}; storm backlog {} → {}",
        human_us(r.ccxt.latency_p50_thirds.0),
        human_us(r.ccxt.latency_p50_thirds.1),
        human_us(r.storm_engines.latency_p50_thirds.0),
        human_us(r.storm_engines.latency_p50_thirds.1),
        r.storm_backlog.0,
        r.storm_backlog.1
    ));
    out.push(format!(
        "  ccxt: {} watch returns ({} diffs applied, {} watch errors), getrusage CPU {:.2} s; processes: {}",
        r.ccxt_returns,
        r.ccxt.events,
        r.ccxt_errors,
        r.ccxt_getrusage_cpu_s,
        r.usage.iter().map(|u| format!("{} {:.2} cores", u.name, u.cores)).collect::<Vec<_>>().join(", ")
    ));
    let c = &r.check;
    out.push(format!(
        "  books agree: {} of {} ccxt samples equal storm's best bid/ask (px and qty) at the same nonce ({} at an exact storm update id), {} different, {} without a storm entry",
        c.equal, c.samples, c.equal_exact_id, c.different, c.no_storm_entry
    ));
    for e in &c.examples {
        out.push(format!("    {e}"));
    }
    if !r.latency_measured {
        out.push("  latency not measured: a replay's events carry their recorded E".into());
    }
    out.push("  E→applied, every diff: E (sim event time, ms, truncated) → ccxt's handler applied it (µs) / storm's book hash + tops entry written (Redis entry id, ms); same host clock".into());
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use super::*;

    #[test]
    fn books_are_compared_at_the_last_storm_entry_not_after_the_nonce() {
        let mut b = BTreeMap::new();
        let best = |bp: &str, ap: &str| {
            (Some((bp.to_owned(), "1.00000000".to_owned())), Some((ap.to_owned(), "2.00000000".to_owned())))
        };
        b.insert(10, best("100.00000000", "101.00000000"));
        b.insert(20, best("100.50000000", "101.00000000"));
        let books = HashMap::from([("BTCUSDT".to_owned(), b)]);
        let s =
            |n, bp: &str| ("BTCUSDT".to_owned(), n, bp.to_owned(), "1.0".to_owned(), "101".to_owned(), "2".to_owned());
        let c = check_books(&[s(10, "100"), s(15, "100.0"), s(25, "100.5"), s(19, "100.5"), s(5, "100")], &books);
        assert_eq!((c.samples, c.equal, c.equal_exact_id, c.different, c.no_storm_entry), (5, 3, 1, 1, 1));
        assert_eq!(c.examples.len(), 1);
    }

    #[test]
    fn the_script_is_embedded() {
        assert!(SCRIPT.contains("watch_order_book_for_symbols") && SCRIPT.contains("RESULT "));
    }
}
