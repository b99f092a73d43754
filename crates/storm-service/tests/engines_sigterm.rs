//! Every engine binary, started while Redis cannot be reached (its `redis_url` names a closed
//! local port), keeps retrying with the backoff its log announces, and a SIGTERM (what
//! supervisord sends) makes it exit with status 0 within 5 s: no waiting out a retry, no
//! "cancelled by shutdown" error, no backtrace.
//!
//! The binaries are the real ones, run with a copy of the project's `config/storm.toml`. A crate's
//! integration test only gets `CARGO_BIN_EXE_*` for its own package, and storm-service has none,
//! so this test takes them from the target directory its own executable lives in
//! (`target/debug/deps/engines_sigterm-*` → `target/debug/storm-*`). `cargo test --workspace`
//! (scripts/test) builds every workspace binary there before any test runs; when one is missing
//! (e.g. `cargo test -p storm-service` alone) the test fails and says so. Run alone, it may also
//! pick up binaries older than the sources: `cargo build --bins` first.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long an engine may take to exit after SIGTERM.
const EXIT_WITHIN: Duration = Duration::from_secs(5);
/// How long until each engine has logged its third failed connection attempt. Before the backoff
/// was made honest, redis-rs' own retries put ~5.5 s between two attempts.
const THREE_ATTEMPTS_WITHIN: Duration = Duration::from_secs(5);
/// Slack between the delay an attempt's log line announces and the next attempt's line (a
/// refused connect takes well under a millisecond; the rest is a loaded 2-core CI machine).
const BACKOFF_SLACK: Duration = Duration::from_millis(1000);

/// Every engine: each goes through `storm_service::boot::connect` and maps a shutdown before
/// Redis answered to exit 0 with `storm_service::boot::exit_ok_on_shutdown` in its `main`.
const ENGINES: [&str; 6] =
    ["storm-ingester", "storm-booksync", "storm-arbitrage", "storm-streamer", "storm-executor", "storm-candles"];

#[test]
fn engines_exit_0_on_sigterm_while_redis_is_unreachable() {
    check(&ENGINES);
}

/// A running engine; SIGKILLed when dropped (a failing test leaves nothing behind).
struct Engine {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Drop for Engine {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Engine {
    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn check(engines: &[&'static str]) {
    let bin_dir = bin_dir();
    let port = closed_port();
    let logs = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("engines-sigterm-{}", std::process::id()));
    std::fs::create_dir_all(&logs).expect("log folder");
    // The project's demo config, copied: scripts/run and scripts/stop treat any storm-* process
    // running on the checkout's config/storm.toml as a leftover of the suite.
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/storm.toml");
    let config = logs.join("storm.toml");
    std::fs::copy(&demo, &config).unwrap_or_else(|e| panic!("{}: {e}", demo.display()));

    let mut running: Vec<Engine> = engines
        .iter()
        .map(|&name| {
            let bin = bin_dir.join(name);
            assert!(
                bin.is_file(),
                "{} does not exist: this test runs the engine binaries that `cargo test --workspace` \
                 builds next to its own executable; run it that way (or `cargo build --bins` first)",
                bin.display()
            );
            let log = logs.join(format!("{name}.log"));
            let out = File::create(&log).expect("log file");
            let err = out.try_clone().expect("log file");
            let mut cmd = Command::new(&bin);
            cmd.arg("--config").arg(&config);
            for (k, _) in std::env::vars_os() {
                let k = k.to_string_lossy().into_owned();
                if k.starts_with("STORM_") || k == "RUST_LOG" {
                    cmd.env_remove(k);
                }
            }
            cmd.env("STORM_REDIS_URL", format!("redis://127.0.0.1:{port}/"))
                .env("STORM_METRICS_ADDR", "")
                .env("STORM_LOG_LEVEL", "info")
                .env("STORM_SIM_API_KEY", "engineSigtermTestKey0000000000000000000000000000000000000000001")
                .env("STORM_SIM_API_SECRET", "engineSigtermTestSecret00000000000000000000000000000000000000001")
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err);
            let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            Engine { name, child, log }
        })
        .collect();

    // Each engine is in its retry loop, with attempts as far apart as its log says.
    let started = Instant::now();
    for e in &mut running {
        loop {
            let out = e.output();
            let attempts = attempts(&out);
            if attempts.len() >= 3 {
                check_backoff(e.name, &attempts);
                break;
            }
            if let Ok(Some(status)) = e.child.try_wait() {
                panic!("{} exited ({status}) instead of retrying Redis:\n{out}", e.name);
            }
            assert!(
                started.elapsed() < THREE_ATTEMPTS_WITHIN,
                "{} logged {} failed Redis connection attempts in {THREE_ATTEMPTS_WITHIN:?} (want 3; \
                 attempts far apart mean a retry policy hidden inside one attempt):\n{out}",
                e.name,
                attempts.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // Let the backoff grow a little, so the signal lands in a long wait or mid-attempt.
    std::thread::sleep(Duration::from_millis(700));

    for e in &running {
        let status = Command::new("kill").arg("-TERM").arg(e.child.id().to_string()).status().expect("kill");
        assert!(status.success(), "kill -TERM {} ({}) failed", e.child.id(), e.name);
    }
    let signalled = Instant::now();
    let mut failures = Vec::new();
    for e in &mut running {
        let status = wait_for(&mut e.child, EXIT_WITHIN.saturating_sub(signalled.elapsed()));
        let out = e.output();
        match status {
            Some(s) if s.code() == Some(0) => {
                if out.contains("Error:") || out.contains("backtrace") || out.contains("panicked") {
                    failures.push(format!("{} exited 0 but printed an error:\n{out}", e.name));
                }
            }
            Some(s) => failures.push(format!("{} exited with {s} after SIGTERM (want 0):\n{out}", e.name)),
            None => failures.push(format!("{} still running {EXIT_WITHIN:?} after SIGTERM:\n{out}", e.name)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let _ = std::fs::remove_dir_all(&logs);
}

/// Waits up to `limit` for the child to exit.
fn wait_for(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The folder holding the workspace's binaries: the parent of `deps/` holding this test.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("own executable");
    let deps = exe.parent().expect("deps folder");
    let dir = if deps.ends_with("deps") { deps.parent().expect("target profile folder") } else { deps };
    dir.to_path_buf()
}

/// A local port nothing listens on: taken from the OS, then released.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

/// One "redis unreachable, retrying" line: when it was logged (seconds since midnight, UTC) and
/// the delay it announced before the next attempt.
#[derive(Debug)]
struct Attempt {
    at: f64,
    retry_in: Duration,
    line: String,
}

fn attempts(log: &str) -> Vec<Attempt> {
    log.lines()
        .filter(|l| l.contains("redis unreachable, retrying"))
        .filter_map(|l| Some(Attempt { at: time_of_day(l)?, retry_in: retry_in(l)?, line: l.to_owned() }))
        .collect()
}

/// `2026-11-23T19:47:26.980694Z ...` → 71246.980694.
fn time_of_day(line: &str) -> Option<f64> {
    let t = line.split_whitespace().next()?;
    let clock = t.split('T').nth(1)?.trim_end_matches('Z');
    let mut parts = clock.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
}

/// `... retry_in=32.498ms` (a `Duration`'s Debug form) → 32.498 ms.
fn retry_in(line: &str) -> Option<Duration> {
    let v = line.split("retry_in=").nth(1)?.split_whitespace().next()?;
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic() || c == 'µ')?);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "ms" => n / 1e3,
        "µs" | "us" => n / 1e6,
        "ns" => n / 1e9,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

/// Every gap between two attempts is the announced delay (plus slack), never seconds more.
fn check_backoff(engine: &str, attempts: &[Attempt]) {
    for pair in attempts.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let gap = (b.at - a.at).rem_euclid(86_400.0);
        let allowed = (a.retry_in + BACKOFF_SLACK).as_secs_f64();
        assert!(
            gap <= allowed,
            "{engine}: {gap:.3} s between two Redis connection attempts, but the log announced {:?}:\n{}\n{}",
            a.retry_in,
            a.line,
            b.line
        );
    }
}

#[test]
fn log_lines_parse() {
    let l = "2026-11-23T19:47:26.980694Z  WARN storm_bus::conn: redis unreachable, retrying \
             redis=redis://127.0.0.1:6399/ error=Connection refused (os error 111) attempt=1 retry_in=32.498ms";
    let a = attempts(l);
    assert_eq!(a.len(), 1);
    assert!((a[0].at - 71_246.980_694).abs() < 1e-6);
    assert_eq!(a[0].retry_in, Duration::from_micros(32_498));
    assert_eq!(retry_in("x retry_in=1.693364s"), Some(Duration::from_micros(1_693_364)));
    assert_eq!(retry_in("x retry_in=900µs"), Some(Duration::from_micros(900)));
}
