//! `scripts/run` with a configuration mistake: it must say why at once, not wait out its timeout.
//! Before, a booksync that refused its config crash-looped in BACKOFF while scripts/run waited its
//! whole timeout (180 s) and then showed 15 lines of backtrace frames without the cause.
//!
//! Each case starts `scripts/run --no-watch --bin-dir <target/debug>` with `RUST_BACKTRACE=1` and
//! one bad `STORM_*` variable in its environment (supervisord hands it to every program), and
//! wants: exit status 1 within 10 s of the start, the engine's own one-line error (its cause)
//! printed before anything is stopped, no backtrace, and nothing of the suite left running.
//!
//! * `STORM_BOOKSYNC_TOP_N=many`: a value booksync refuses (it always did);
//! * `STORM_BOOKSYNC_TOPN=5`: a misspelled key, which booksync used to ignore.
//!
//! And the other way round, no mistake: a `--bin-dir` without one engine's binary leaves that
//! program STOPPED (deliberate, as scripts/run says) and starts the rest — exit 0. Before, it
//! exited 1 saying the others were "not running" (still STARTING): `supervisorctl status` exits
//! non-zero while a program is STOPPED, and under `pipefail` that ended scripts/run's wait for
//! STARTING programs at once (seen when `scripts/chaos` did not copy storm-candles).
//!
//! Like `run_script`, it needs the suite's fixed ports (Redis 6390, sim 8765, /metrics 9101-9105),
//! takes the same lock file (`var/run/run-script-test.lock`) and refuses to touch a suite of this
//! checkout it did not start. Every binary of the suite must be built in stormctl's bin dir
//! (`cargo test --workspace`, or `cargo build --bins` first).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod suite;

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// From the start of scripts/run until it has printed the cause, stopped everything and exited.
const REPORTED_WITHIN: Duration = Duration::from_secs(10);
/// When the test stops waiting for scripts/run (the old one waited its whole timeout).
const GIVE_UP_AFTER: Duration = Duration::from_secs(40);
const PORTS: [u16; 8] = [6390, 8765, 9101, 9102, 9103, 9104, 9105, 9107];
const BINARIES: [&str; 7] = [
    "storm-sim",
    "storm-ingester",
    "storm-booksync",
    "storm-streamer",
    "storm-arbitrage",
    "storm-executor",
    "stormctl",
];

#[test]
fn scripts_run_reports_config_mistakes_at_once_and_leaves_an_absent_binary_stopped() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("project root");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_stormctl")).parent().expect("bin dir").to_path_buf();
    for b in BINARIES {
        assert!(
            bin_dir.join(b).is_file(),
            "{} does not exist: build every binary first (`cargo build --bins`, or `cargo test --workspace`)",
            bin_dir.join(b).display()
        );
    }
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("run-script-errors-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp folder");
    let env = Env { root: root.clone(), bin_dir, tmp: tmp.clone() };
    let _lock = suite::TestLock::take(&root);
    assert!(
        env.supervisord_pid().is_none(),
        "a storm suite of this checkout is running (supervisorctl pid answers): stop it with scripts/stop first"
    );
    let busy: Vec<u16> = PORTS.into_iter().filter(|p| listening(*p)).collect();
    assert!(busy.is_empty(), "ports of the suite are in use by another program: {busy:?}");
    let _guard = Stop(&env);

    let cases = [
        ("STORM_BOOKSYNC_TOP_N", "many", vec!["STORM_BOOKSYNC_TOP_N", "\"many\""]),
        ("STORM_BOOKSYNC_TOPN", "5", vec!["STORM_BOOKSYNC_TOPN", "did you mean STORM_BOOKSYNC_TOP_N?"]),
    ];
    for (var, value, cause) in cases {
        env.run_with_mistake(var, value, &cause);
    }
    env.run_without("storm-candles");
    let _ = std::fs::remove_dir_all(&tmp);
}

struct Env {
    root: PathBuf,
    bin_dir: PathBuf,
    tmp: PathBuf,
}

impl Env {
    /// A command with none of our `STORM_*`/`RUST_LOG`, run from the project root.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("STORM_") || k == "RUST_LOG" {
                c.env_remove(k);
            }
        }
        c.env("STORM_REDIS_DIR", self.tmp.join("redis"))
            .env("STORM_RUN_TIMEOUT", "60")
            .env("NO_COLOR", "1")
            .current_dir(&self.root)
            .stdin(Stdio::null());
        c
    }

    fn supervisord_pid(&self) -> Option<u32> {
        let mut c = self.command("supervisorctl");
        c.arg("-c").arg(self.root.join("supervisord.conf")).arg("pid");
        let out = output_within(c, Duration::from_secs(20)).ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    }

    /// scripts/run with `var=value`: exit 1 within [`REPORTED_WITHIN`], the cause (every `cause`
    /// text on booksync's own error line) printed before the suite is stopped, no backtrace.
    fn run_with_mistake(&self, var: &str, value: &str, cause: &[&str]) {
        let log = self.tmp.join(format!("run-{var}.log"));
        let out = File::create(&log).expect("run log");
        let mut run = self.command(self.root.join("scripts/run"));
        run.arg("--no-watch")
            .arg("--bin-dir")
            .arg(&self.bin_dir)
            .env("RUST_BACKTRACE", "1")
            .env(var, value)
            .stdout(out.try_clone().expect("log"))
            .stderr(out);
        let started = Instant::now();
        let mut child = run.spawn().expect("start scripts/run");
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait scripts/run") {
                break Some(s);
            }
            if started.elapsed() > GIVE_UP_AFTER {
                let _ = child.kill(); // its trap does not run: the guard's scripts/stop does
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let took = started.elapsed();
        let printed = std::fs::read_to_string(&log).unwrap_or_default();
        let what =
            format!("scripts/run with {var}={value}: status {status:?} after {took:.1?}; it printed:\n{printed}");
        eprintln!("{what}");
        assert_eq!(status.and_then(|s| s.code()), Some(1), "want exit status 1. {what}");
        assert!(took < REPORTED_WITHIN, "want the report within {REPORTED_WITHIN:?}. {what}");
        let lines: Vec<&str> = printed.lines().collect();
        let cause_at = lines
            .iter()
            .position(|l| l.trim_start().starts_with("storm-booksync: error: ") && cause.iter().all(|c| l.contains(c)))
            .unwrap_or_else(|| panic!("want booksync's error line holding {cause:?}. {what}"));
        let stop_at = lines.iter().position(|l| l.contains("stopping storm")).unwrap_or(usize::MAX);
        assert!(cause_at < stop_at, "want the cause before the suite is stopped. {what}");
        assert!(
            !printed.contains("backtrace") && !printed.contains("Caused by"),
            "want no backtrace, one line per error. {what}"
        );
        // scripts/run stopped what it started.
        assert!(self.supervisord_pid().is_none(), "supervisord still answers after scripts/run exited. {what}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while PORTS.iter().any(|p| listening(*p)) {
            assert!(Instant::now() < deadline, "ports of the suite still listening after scripts/run exited. {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Env {
    /// scripts/run from a copy of the bin dir without `absent`: exit 0, `absent` STOPPED, every
    /// other program RUNNING.
    fn run_without(&self, absent: &str) {
        let dir = self.tmp.join(format!("bin-without-{absent}"));
        std::fs::create_dir_all(&dir).expect("bin dir");
        for b in BINARIES.iter().chain(["storm-candles"].iter()).filter(|b| **b != absent) {
            let (from, to) = (self.bin_dir.join(b), dir.join(b));
            if std::fs::hard_link(&from, &to).is_err() {
                std::fs::copy(&from, &to).expect("copy a binary");
            }
        }
        let mut run = self.command(self.root.join("scripts/run"));
        run.arg("--no-watch").arg("--bin-dir").arg(&dir);
        let out = output_within(run, GIVE_UP_AFTER * 2);
        let printed = out
            .as_ref()
            .map(|o| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)));
        let what = format!("scripts/run without {absent}: {printed:?}");
        assert_eq!(out.as_ref().ok().and_then(|o| o.status.code()), Some(0), "want exit status 0. {what}");
        let mut status = self.command("supervisorctl");
        status.arg("-c").arg(self.root.join("supervisord.conf")).arg("status");
        let status = output_within(status, Duration::from_secs(20)).expect("supervisorctl status");
        let table = String::from_utf8_lossy(&status.stdout).into_owned();
        for line in table.lines() {
            let mut cols = line.split_whitespace();
            let (name, state) = (cols.next().unwrap_or(""), cols.next().unwrap_or(""));
            let want = if name.ends_with(absent) { "STOPPED" } else { "RUNNING" };
            assert_eq!(state, want, "{name} in\n{table}\n{what}");
        }
        assert!(table.lines().count() >= 8, "every program listed:\n{table}");
        let _ = output_within(self.command(self.root.join("scripts/stop")), Duration::from_secs(60));
        assert!(self.supervisord_pid().is_none(), "scripts/stop left supervisord running");
    }
}

/// Runs scripts/stop when dropped, so a failing case leaves nothing running.
struct Stop<'a>(&'a Env);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        let _ = output_within(self.0.command(self.0.root.join("scripts/stop")), Duration::from_secs(60));
    }
}

/// Runs `cmd` to completion, killing it after `limit`. Never panics (the guard calls it in `drop`).
fn output_within(mut cmd: Command, limit: Duration) -> Result<Output, String> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            Err(format!("did not finish within {limit:?}"))
        }
    }
}

fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_millis(300)).is_ok()
}
