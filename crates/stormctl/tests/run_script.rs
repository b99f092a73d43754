//! The "must show" test for `scripts/run`: the whole suite, started on this machine the way
//! an operator starts it, then driven with `supervisorctl` and `stormctl` only.
//!
//! 1. `scripts/run --no-watch --bin-dir <target/debug>`: no release build; supervisord runs the
//!    debug binaries `cargo test --workspace` built next to stormctl (every workspace binary is
//!    built there before any test runs; the test checks all seven are present). Redis gets a
//!    fresh data folder (`STORM_REDIS_DIR`), so the demo data in `var/redis` is neither read nor
//!    changed and a run never depends on an earlier one (e.g. a `storm:halt` left by it).
//! 2. `stormctl --json status` until every configured book is live and `stormctl --json log tail`
//!    shows an `executed` or `partial` outcome of this run: a trade went through the simulator.
//! 3. `supervisorctl status`: Redis, storm-sim and the six engines RUNNING, each engine from the
//!    bin dir; `stormctl --json book sim BTCUSDT` and `stormctl --json balances sim` parsed.
//! 4. `supervisorctl restart storm:storm-booksync`: the new process (its own heartbeat) brings every
//!    book live again, and an opportunity found after the restart (`stormctl --json opps tail`) is
//!    traded (executed/partial on `storm:arb:log`).
//! 5. `scripts/stop`: no supervisord of this checkout, nothing listening on 6390, 8765 or
//!    9101-9105 and 9107, no process from the bin dir, no Redis of this checkout. A guard runs
//!    `scripts/stop` also when the test fails halfway.
//!
//! It needs the fixed ports of the suite (Redis 6390, sim 8765, /metrics 9101-9105, 9107) and fails, saying
//! which, when another program holds one. It never touches a Redis on 6379: every `STORM_*`
//! variable is removed from the children's environment and stormctl reads `config/storm.toml`.
//! A lock file (`var/run/run-script-test.lock`) keeps two runs of this test apart; a suite of this
//! checkout started by someone else (not from this bin dir) makes the test fail rather than stop it.
//! Typical duration 30-45 s (debug binaries, 2 cores).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod suite;

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::str::FromStr;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rust_decimal::Decimal;
use serde_json::Value;

/// The ports scripts/run's suite listens on (redis.conf, config/storm.toml [sim], supervisord.conf).
const PORTS: [(u16, &str); 8] = [
    (6390, "Redis (redis.conf)"),
    (8765, "storm-sim"),
    (9101, "storm-ingester /metrics"),
    (9102, "storm-booksync /metrics"),
    (9103, "storm-arbitrage /metrics"),
    (9104, "storm-streamer /metrics"),
    (9105, "storm-executor /metrics"),
    (9107, "storm-candles /metrics"),
];
/// The binaries scripts/run starts (plus stormctl, which it runs for the live view).
const BINARIES: [&str; 8] = [
    "storm-sim",
    "storm-ingester",
    "storm-booksync",
    "storm-streamer",
    "storm-arbitrage",
    "storm-executor",
    "storm-candles",
    "stormctl",
];
/// supervisorctl's names: Redis and the simulator on their own, the engines in the `storm` group.
const PROGRAMS: [(&str, Option<&str>); 8] = [
    ("redis", None),
    ("storm-sim", Some("storm-sim")),
    ("storm:storm-ingester", Some("storm-ingester")),
    ("storm:storm-booksync", Some("storm-booksync")),
    ("storm:storm-streamer", Some("storm-streamer")),
    ("storm:storm-arbitrage", Some("storm-arbitrage")),
    ("storm:storm-executor", Some("storm-executor")),
    ("storm:storm-candles", Some("storm-candles")),
];
/// scripts/run's own limit for the books (STORM_RUN_TIMEOUT), and how long it may take in all.
const RUN_BOOKS_TIMEOUT_S: u64 = 60;
const RUN_WITHIN: Duration = Duration::from_secs(90);
/// From scripts/run's exit until every book is live and a trade was made.
const FIRST_TRADE_WITHIN: Duration = Duration::from_secs(60);
/// From the booksync restart until its books are live again and another trade was made.
const AFTER_RESTART_WITHIN: Duration = Duration::from_secs(60);
/// What scripts/stop may take (the executor finishes the chain in hand first).
const STOP_WITHIN: Duration = Duration::from_secs(60);

#[test]
fn scripts_run_starts_trades_survives_a_restart_and_stops_clean() {
    let t0 = Instant::now();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("project root");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_stormctl")).parent().expect("bin dir").to_path_buf();
    for b in BINARIES {
        let p = bin_dir.join(b);
        assert!(
            p.is_file(),
            "{} does not exist. This test runs scripts/run with the binaries `cargo test --workspace` \
             builds next to stormctl ({}); run it that way (or `cargo build --bins` first).",
            p.display(),
            bin_dir.display()
        );
    }
    let demo = Demo::read(&root.join("config/storm.toml"));
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("run-script-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp folder");
    let env =
        Env { root: root.clone(), bin_dir: bin_dir.clone(), redis_dir: tmp.join("redis"), log: tmp.join("run.log") };

    let _lock = suite::TestLock::take(&root);
    env.refuse_foreign_suite();
    let mut guard = Suite { env: &env, stopped: false };
    env.check_ports_free();

    // 1. scripts/run --no-watch.
    let started_ms = now_ms();
    let out = File::create(&env.log).expect("run log");
    let mut run = env.script("run");
    run.arg("--no-watch").arg("--bin-dir").arg(&bin_dir).stdout(out.try_clone().expect("log")).stderr(out);
    let mut child = run.spawn().expect("start scripts/run");
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait scripts/run") {
            break s;
        }
        if t0.elapsed() > RUN_WITHIN {
            let _ = child.kill(); // SIGKILL: its trap does not run, the guard's scripts/stop does
            let _ = child.wait();
            env.fail(&format!("scripts/run --no-watch did not return within {RUN_WITHIN:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if !status.success() {
        env.fail(&format!("scripts/run --no-watch failed ({status})"));
    }
    let run_done = t0.elapsed();
    eprintln!("scripts/run --no-watch returned after {run_done:.1?}");

    // 2. Every book live and a trade of this run.
    let deadline = Instant::now() + FIRST_TRADE_WITHIN;
    let first = loop {
        let status = env.stormctl(&["status"]).json();
        assert!(
            status["redis"].as_str().is_some_and(|r| r.contains(":6390")),
            "stormctl talks to the wrong Redis: {}",
            status["redis"]
        );
        let live = books_live(&status, &demo);
        let trade = env.trades(&demo).into_iter().find(|t| t.id_ms >= started_ms);
        match (live, trade) {
            (true, Some(t)) => break t,
            _ if Instant::now() > deadline => env.fail(&format!(
                "after {FIRST_TRADE_WITHIN:?}: books {} (want {0} of {0} live), an executed/partial \
                 outcome since the start: {} (halt: {})",
                demo.symbols,
                if live { "all live" } else { "not all live" },
                status["halt"],
            )),
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    };
    eprintln!(
        "all {} books live and a trade ({} {} {}) after {:.1?}",
        demo.symbols,
        first.outcome,
        first.path,
        first.realized,
        t0.elapsed()
    );

    // 3. supervisorctl status, book and balances.
    let programs = env.programs();
    for (name, bin) in PROGRAMS {
        let Some((state, pid)) = programs.iter().find(|p| p.0 == name).map(|p| (&p.1, p.2)) else {
            env.fail(&format!("supervisorctl status does not list {name}"));
        };
        if state != "RUNNING" {
            env.fail(&format!("{name} is {state}, not RUNNING"));
        }
        if let (Some(bin), Some(pid)) = (bin, pid) {
            let exe = cmdline(pid).into_iter().next().unwrap_or_default();
            assert_eq!(Path::new(&exe), bin_dir.join(bin), "{name} (pid {pid}) does not run the --bin-dir binary");
        }
    }
    check_book(&env.stormctl(&["book", &demo.venue, "BTCUSDT"]).json());
    check_balances(&env.stormctl(&["balances", &demo.venue]).json(), &demo);
    check_candles(&env, &demo.venue);

    // 4. Restart booksync: a new process brings every book live again, trading goes on.
    let old_pid = env.pid_of("storm:storm-booksync");
    let restart_ms = now_ms();
    let restart = env.supervisorctl(&["restart", "storm:storm-booksync"]);
    let said = String::from_utf8_lossy(&restart.stdout).into_owned();
    if !said.contains("started") {
        env.fail(&format!("supervisorctl restart storm:storm-booksync: {said}"));
    }
    let new_pid = env.pid_of("storm:storm-booksync");
    assert_ne!(new_pid, old_pid, "booksync has the same pid after a restart");
    let restarted_ms = now_ms();
    eprintln!("booksync restarted (pid {old_pid} -> {new_pid}) in {} ms", restarted_ms - restart_ms);
    let deadline = Instant::now() + AFTER_RESTART_WITHIN;
    let after = loop {
        let status = env.stormctl(&["status"]).json();
        let fresh = booksync_fresh(&status, new_pid, restart_ms, &demo);
        let live = books_live(&status, &demo);
        // A trade of an opportunity found after the restart (from the new booksync's books).
        let trade = env
            .trades(&demo)
            .into_iter()
            .find(|t| t.id_ms > restarted_ms && env.opportunity_created_ms(&t.opp).is_some_and(|c| c > restart_ms));
        match (fresh && live, trade) {
            (true, Some(t)) => break t,
            (ok, t) if Instant::now() > deadline => env.fail(&format!(
                "{AFTER_RESTART_WITHIN:?} after restarting booksync: new process with every book live: {ok}, \
                 a trade since: {} (halt: {})",
                t.is_some(),
                status["halt"]
            )),
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    };
    eprintln!(
        "after the restart: books live again, trade {} {} at +{} ms",
        after.outcome,
        after.path,
        after.id_ms - restarted_ms
    );

    // 5. scripts/stop: nothing of this run is left.
    let mut pids: Vec<u32> = programs.iter().filter_map(|p| p.2).collect();
    pids.push(new_pid);
    pids.push(env.supervisord_pid().unwrap_or(0));
    let stop_t = Instant::now();
    guard.stop();
    eprintln!("scripts/stop took {:.1?}", stop_t.elapsed());
    env.check_nothing_left(&pids);
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!("total {:.1?}", t0.elapsed());
}

/// What the test needs from config/storm.toml.
struct Demo {
    venue: String,
    namespace: String,
    symbols: usize,
    account: String,
}

impl Demo {
    fn read(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let cfg: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let section = |name: &str| cfg.get(name).and_then(|v| v.as_table()).cloned().unwrap_or_default();
        let text_of = |t: &toml::Table, k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let (ingester, booksync, arbitrage) = (section("ingester"), section("booksync"), section("arbitrage"));
        let symbols = ingester
            .get("subscriptions")
            .and_then(|v| v.as_array())
            .map_or(0, |subs| subs.iter().filter(|s| s.as_str().is_some_and(|s| s.starts_with("depth:"))).count());
        assert!(symbols > 0, "config/storm.toml subscribes no depth stream");
        Self {
            venue: text_of(&booksync, "venue").expect("booksync.venue"),
            namespace: text_of(&cfg, "namespace").unwrap_or_else(|| "storm".into()),
            symbols,
            account: text_of(&arbitrage, "account").unwrap_or_default(),
        }
    }
}

/// Where things are, and how every child is started.
struct Env {
    root: PathBuf,
    bin_dir: PathBuf,
    redis_dir: PathBuf,
    log: PathBuf,
}

/// One outcome line of `stormctl --json log tail`.
#[derive(Debug)]
struct Trade {
    id_ms: u64,
    /// The opportunity's id (`fields.id`).
    opp: String,
    outcome: String,
    path: String,
    realized: String,
}

impl Env {
    /// A command with no `STORM_*`/`RUST_LOG` of ours (never another Redis), run from the root.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("STORM_") || k == "RUST_LOG" {
                c.env_remove(k);
            }
        }
        c.env("STORM_REDIS_DIR", &self.redis_dir)
            .env("STORM_RUN_TIMEOUT", RUN_BOOKS_TIMEOUT_S.to_string())
            .env("NO_COLOR", "1")
            .current_dir(&self.root)
            .stdin(Stdio::null());
        c
    }

    fn script(&self, name: &str) -> Command {
        self.command(self.root.join("scripts").join(name))
    }

    fn supervisorctl(&self, args: &[&str]) -> Output {
        let mut c = self.command("supervisorctl");
        c.arg("-c").arg(self.root.join("supervisord.conf")).args(args);
        output_within(c, Duration::from_secs(30), "supervisorctl").unwrap_or_else(|e| panic!("{e}"))
    }

    fn stormctl(&self, args: &[&str]) -> Json {
        let mut c = self.command(self.bin_dir.join("stormctl"));
        c.arg("--json").arg("--config").arg(self.root.join("config/storm.toml")).args(args);
        let out = output_within(c, Duration::from_secs(20), "stormctl").unwrap_or_else(|e| panic!("{e}"));
        if !out.status.success() {
            self.fail(&format!(
                "stormctl {args:?} failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Json(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The executed/partial outcomes on `storm:arb:log`, newest last.
    fn trades(&self, demo: &Demo) -> Vec<Trade> {
        let stream = format!("{}:arb:log", demo.namespace);
        self.stormctl(&["log", "tail", "-n", "500"])
            .lines()
            .into_iter()
            .filter(|e| e["stream"].as_str() == Some(stream.as_str()))
            .filter_map(|e| {
                let f = &e["fields"];
                let outcome = f["outcome"].as_str()?;
                if outcome != "executed" && outcome != "partial" {
                    return None;
                }
                let id_ms = e["stream_id"].as_str()?.split('-').next()?.parse().ok()?;
                Some(Trade {
                    id_ms,
                    opp: f["id"].as_str().unwrap_or_default().to_owned(),
                    outcome: outcome.to_owned(),
                    path: f["path"].as_str().unwrap_or("?").to_owned(),
                    realized: format!(
                        "{} {}",
                        f["realized"].as_str().unwrap_or("?"),
                        f["asset"].as_str().unwrap_or("?")
                    ),
                })
            })
            .collect()
    }

    /// When the opportunity `id` was found (its `created_ms` on `storm:opps`).
    fn opportunity_created_ms(&self, id: &str) -> Option<u64> {
        self.stormctl(&["opps", "tail", "-n", "500"])
            .lines()
            .into_iter()
            .find(|e| e["opp"]["id"].as_str() == Some(id))
            .and_then(|e| e["opp"]["created_ms"].as_u64())
    }

    /// `supervisorctl status` as (name, state, pid).
    fn programs(&self) -> Vec<(String, String, Option<u32>)> {
        // Exit status 3 when a program is not running: the lines are what counts.
        let out = self.supervisorctl(&["status"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let (name, state) = (w.next()?, w.next()?);
                let pid = l.split("pid ").nth(1).and_then(|r| r.split(',').next()).and_then(|p| p.parse().ok());
                Some((name.to_owned(), state.to_owned(), pid))
            })
            .collect()
    }

    fn pid_of(&self, program: &str) -> u32 {
        match self.programs().into_iter().find(|p| p.0 == program) {
            Some((_, state, Some(pid))) if state == "RUNNING" => pid,
            other => self.fail(&format!("{program}: {other:?}")),
        }
    }

    /// The pid of this checkout's supervisord, when one answers.
    fn supervisord_pid(&self) -> Option<u32> {
        let out = self.supervisorctl(&["pid"]);
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    }

    /// A suite of this checkout not started by this test (its engines are not from our bin dir):
    /// fail instead of stopping it. Otherwise scripts/stop clears what an earlier run of this test
    /// (the lock says none is going on now) or a dead supervisord left behind.
    fn refuse_foreign_suite(&self) {
        let ours = processes().into_iter().any(|(_, argv)| self.is_suite_process(&argv));
        if let Some(pid) = self.supervisord_pid() {
            assert!(
                ours,
                "a storm suite of this checkout is already running (supervisord pid {pid}, not started by this \
                 test): this test needs its ports and would stop it. Stop it with scripts/stop, then run the test again."
            );
            eprintln!("an earlier run of this test left the suite running (supervisord pid {pid})");
        }
        let out = output_within(self.script("stop"), STOP_WITHIN, "scripts/stop").unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "scripts/stop failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }

    /// A storm-* process from the bin dir on this checkout's config/storm.toml (what supervisord
    /// runs; other tests' engines use configs of their own).
    fn is_suite_process(&self, argv: &[String]) -> bool {
        let config = self.root.join("config/storm.toml");
        argv.first().is_some_and(|exe| {
            let exe = Path::new(exe);
            exe.parent() == Some(self.bin_dir.as_path())
                && exe.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("storm-"))
        }) && argv.windows(2).any(|w| w[0] == "--config" && Path::new(&w[1]) == config)
    }

    fn check_ports_free(&self) {
        let busy: Vec<String> =
            PORTS.iter().filter(|(p, _)| listening(*p)).map(|(p, what)| format!("{p} ({what})")).collect();
        assert!(
            busy.is_empty(),
            "ports of the suite are in use by another program: {}. This test runs scripts/run, which needs \
             them; free them (`ss -ltnp` shows who holds them) and run it again.",
            busy.join(", ")
        );
    }

    /// After scripts/stop: no supervisord, no listener, no process of this run (zombies count as gone).
    fn check_nothing_left(&self, pids: &[u32]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut left: Vec<String> = Vec::new();
            left.extend(pids.iter().filter(|p| **p > 0 && alive(**p)).map(|p| format!("pid {p}: {:?}", cmdline(*p))));
            left.extend(
                PORTS.iter().filter(|(p, _)| listening(*p)).map(|(p, what)| format!("port {p} ({what}) listening")),
            );
            let conf = self.root.join("supervisord.conf").display().to_string();
            let redis_conf = self.root.join("redis.conf").display().to_string();
            for (pid, argv) in processes() {
                let joined = argv.join(" ");
                if self.is_suite_process(&argv)
                    || (joined.contains("supervisord") && joined.contains(&conf))
                    || (joined.contains("redis-server") && (joined.contains(&redis_conf) || joined.contains(":6390")))
                {
                    left.push(format!("pid {pid}: {joined}"));
                }
            }
            if left.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                self.fail(&format!("scripts/stop left processes behind:\n{}", left.join("\n")));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Fails with what scripts/run printed, supervisorctl status and the tails of the logs.
    fn fail(&self, why: &str) -> ! {
        let mut m = format!(
            "{why}\n\n--- scripts/run output ({}; Redis data of this run: {})\n{}",
            self.log.display(),
            self.redis_dir.display(),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
        let status = self.supervisorctl(&["status"]);
        m.push_str(&format!("\n--- supervisorctl status\n{}", String::from_utf8_lossy(&status.stdout)));
        for f in [
            "supervisord",
            "redis",
            "storm-sim",
            "storm-ingester",
            "storm-booksync",
            "storm-arbitrage",
            "storm-executor",
        ] {
            let text = std::fs::read_to_string(self.root.join(format!("var/log/{f}.log"))).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            m.push_str(&format!("\n--- var/log/{f}.log (last 15 lines)\n"));
            for l in tail.into_iter().rev() {
                m.push_str(l);
                m.push('\n');
            }
        }
        panic!("{m}");
    }
}

/// Stops the suite with scripts/stop when dropped (a failing test leaves nothing running).
struct Suite<'a> {
    env: &'a Env,
    stopped: bool,
}

impl Suite<'_> {
    fn stop(&mut self) {
        self.stopped = true;
        let out = output_within(self.env.script("stop"), STOP_WITHIN, "scripts/stop").unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.status.success(),
            "scripts/stop failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Suite<'_> {
    fn drop(&mut self) {
        if !self.stopped {
            eprintln!("stopping the suite (scripts/stop) after a failure");
            let _ = output_within(self.env.script("stop"), STOP_WITHIN, "scripts/stop");
        }
    }
}

/// Output of a stormctl call.
struct Json(String);

impl Json {
    fn json(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or_else(|e| panic!("stormctl printed no JSON ({e}):\n{}", self.0))
    }

    fn lines(&self) -> Vec<Value> {
        self.0
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
            .collect()
    }
}

/// Every configured book live, per `stormctl status`.
fn books_live(status: &Value, demo: &Demo) -> bool {
    let v = &status["venues"][&demo.venue];
    let n = |k: &str| v[k].as_u64().unwrap_or(0) as usize;
    n("total") == demo.symbols && n("live") == demo.symbols
}

/// booksync's heartbeat comes from the restarted process, which has every book live itself.
fn booksync_fresh(status: &Value, pid: u32, restart_ms: u64, demo: &Demo) -> bool {
    let Some(engines) = status["engines"].as_array() else { return false };
    let live_metric = format!("storm_booksync_books{{venue=\"{}\",status=\"live\"}}", demo.venue);
    engines.iter().any(|e| {
        e["engine"].as_str() == Some("booksync")
            && e["pid"].as_str() == Some(pid.to_string().as_str())
            && e["started_ms"].as_u64().is_some_and(|s| s >= restart_ms)
            && e["metrics"][&live_metric].as_str().and_then(|v| v.parse::<f64>().ok()) == Some(demo.symbols as f64)
    })
}

/// `stormctl --json book sim BTCUSDT`: live, both sides, not crossed.
fn check_book(book: &Value) {
    assert_eq!(book["status"].as_str(), Some("live"), "BTCUSDT not live: {book}");
    let best = |side: &str| -> Decimal {
        let price = book[side][0][0].as_str().unwrap_or_else(|| panic!("BTCUSDT has no {side}: {book}"));
        Decimal::from_str(price).unwrap_or_else(|e| panic!("{side} price {price:?}: {e}"))
    };
    let (bid, ask) = (best("bids"), best("asks"));
    assert!(bid > Decimal::ZERO && bid < ask, "BTCUSDT best bid {bid} / ask {ask}");
    assert!(book["age_ms"].as_u64().is_some_and(|a| a < 10_000), "BTCUSDT book is old: {book}");
}

/// `stormctl --json balances sim`: the demo account's balances, as the streamer mirrors them.
fn check_balances(b: &Value, demo: &Demo) {
    let rows = b["balances"].as_array().unwrap_or_else(|| panic!("no balances: {b}"));
    let usdt = rows
        .iter()
        .find(|r| {
            r["asset"].as_str() == Some("USDT")
                && (demo.account.is_empty() || r["acct"].as_str() == Some(&demo.account))
        })
        .unwrap_or_else(|| panic!("no USDT balance of account {}: {b}", demo.account));
    let free = usdt["free"].as_str().and_then(|f| Decimal::from_str(f).ok());
    assert!(free.is_some_and(|f| f > Decimal::ZERO), "USDT free balance: {usdt}");
}

/// Runs `cmd` to completion, killing it after `limit`. Never panics (the guard calls it in `drop`).
fn output_within(mut cmd: Command, limit: Duration, what: &str) -> Result<Output, String> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().map_err(|e| format!("cannot run {what}: {e}"))?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            Err(format!("{what} did not finish within {limit:?}"))
        }
    }
}

/// Something accepts connections on 127.0.0.1:`port`.
fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_millis(500)).is_ok()
}

/// Every process as (pid, argv).
fn processes() -> Vec<(u32, Vec<String>)> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| {
        let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        if !alive(pid) {
            return None;
        }
        Some((pid, cmdline(pid)))
    })
    .collect()
}

fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
        })
        .unwrap_or_default()
}

/// The process exists and is not a zombie (an exited child nobody reaped yet is gone for us).
fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let state = stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()).unwrap_or("Z");
    state != "Z" && state != "X"
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// storm-candles follows the sim's trades: BTCUSDT's forming minute holds trades and its ticker
/// field has a last price and a best bid/ask (within 20 s: the sim trades every few seconds).
fn check_candles(env: &Env, venue: &str) {
    let cli = |args: &[&str]| {
        let out = env.command("redis-cli").arg("-p").arg("6390").arg("--raw").args(args).output().expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let trades = cli(&["HGET", &format!("storm:candle:{venue}:BTCUSDT:1m"), "trades"]);
        let closed = cli(&["XLEN", &format!("storm:candles:{venue}:BTCUSDT:1m")]);
        let ticker = cli(&["HGET", &format!("storm:ticker:{venue}"), "BTCUSDT"]);
        let t: Value = serde_json::from_str(&ticker).unwrap_or(Value::Null);
        let traded = trades.parse::<u64>().unwrap_or(0) > 0 || closed.parse::<u64>().unwrap_or(0) > 0;
        if traded && t["last"].is_string() && t["bid"].is_string() {
            eprintln!("candles: BTCUSDT 1m forming with {trades} trade(s), {closed} closed; ticker {ticker}");
            return;
        }
        if Instant::now() > deadline {
            env.fail(&format!(
                "no candles from storm-candles: 1m trades {trades:?}, closed {closed:?}, ticker {ticker:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
