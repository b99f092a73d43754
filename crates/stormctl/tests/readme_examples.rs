//! The issue's "must show" test for stormctl: the README's stormctl examples, taken from the
//! README's code block (so the test breaks when the README drifts), run verbatim with bash from
//! the project root after `scripts/run --no-watch --bin-dir <the debug binaries>`, and each one
//! shown to read the suite's Redis (127.0.0.1:6390), never the default 6379.
//!
//! How "read the suite's Redis" is shown: stormctl names every connection it makes (`CLIENT
//! SETNAME stormctl`), and no engine does, so the suite Redis' `INFO commandstats` count of
//! `client|setname` grows by at least one per `scripts/stormctl` of an example. Beside it, what
//! an example must have done there: `status` reports redis `:6390` and every book live, `halt on`
//! and `off` switched `storm:halt`, `subs add` wrote the set, `doctor` passes without "nothing
//! subscribed".
//!
//! The one substitution: `STORM_WEBHOOK_URL=...` (the README's placeholder for a Discord URL) is
//! replaced by a local HTTP listener. Examples that run until Ctrl-C (`--follow`, `-f`, `watch`,
//! `notify`) get SIGINT after a few seconds and must exit 0. The binaries are found by the wrapper
//! through `STORM_BIN_DIR` (as the README says), the same folder scripts/run was given.
//!
//! It needs the suite's fixed ports (it takes the suite tests' lock, `var/run/run-script-test.lock`), and stops the
//! suite with scripts/stop also when it fails. Typical duration 40-60 s (debug binaries, 2 cores).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod suite;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The suite's Redis (redis.conf).
const SUITE_REDIS_PORT: u16 = 6390;
const PORTS: [u16; 8] = [6390, 8765, 9101, 9102, 9103, 9104, 9105, 9107];
/// How long a "until Ctrl-C" example runs before its SIGINT.
const LONG_RUNNING_FOR: Duration = Duration::from_secs(4);

#[test]
fn the_readme_stormctl_examples_work_verbatim_against_the_suite() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("project root");
    // One suite test at a time per checkout (the same lock as run_script's).
    let _lock = suite::TestLock::take(&root);
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_stormctl")).parent().expect("bin dir").to_path_buf();
    let examples = readme_examples(&std::fs::read_to_string(root.join("README.md")).expect("README.md"));
    assert!(examples.len() >= 8, "the README's stormctl section has too few examples: {examples:#?}");
    for p in [
        "storm-sim",
        "storm-ingester",
        "storm-booksync",
        "storm-streamer",
        "storm-arbitrage",
        "storm-executor",
        "storm-candles",
    ] {
        assert!(bin_dir.join(p).is_file(), "{p} is not built in {} (cargo build --bins first)", bin_dir.display());
    }
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("readme-examples-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp folder");
    let env = Env { root: root.clone(), bin_dir: bin_dir.clone(), redis_dir: tmp.join("redis") };
    let busy: Vec<u16> = PORTS.into_iter().filter(|p| listening(*p)).collect();
    assert!(busy.is_empty(), "ports of the suite are in use: {busy:?} (scripts/stop, or wait for the other run)");

    let mut guard = Suite { env: &env, stopped: false };
    let mut run = env.command(root.join("scripts/run"));
    run.arg("--no-watch").arg("--bin-dir").arg(&bin_dir);
    let out = output_within(run, Duration::from_secs(120), "scripts/run").unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "scripts/run --no-watch failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let hook = Webhook::start();

    for example in &examples {
        let line = substitute_webhook(example, &hook.url());
        let invocations = invocations(&line);
        let before = env.setname_calls();
        let long_running = is_long_running(&line);
        let out = env.bash(&line, long_running);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let said = format!("example: {example}\nexit: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}", out.status);
        assert!(out.status.success(), "a README example failed\n{said}");
        assert!(!stderr.contains("error") && !said.contains(":6379"), "{said}");
        let after = env.setname_calls();
        assert!(
            after >= before + invocations as u64,
            "the suite's Redis (:{SUITE_REDIS_PORT}) saw {} stormctl connection(s), want >= {invocations}\n{said}",
            after - before
        );
        check_effect(example, &stdout);
        eprintln!("ok ({} connection(s) to :{SUITE_REDIS_PORT}): {example}", after - before);
    }
    guard.stop();
    let _ = std::fs::remove_dir_all(&tmp);
}

/// What an example must have done in the suite, beyond exiting 0 on the suite's Redis.
fn check_effect(example: &str, stdout: &str) {
    let sub = example.split_whitespace().skip_while(|w| !w.ends_with("stormctl")).nth(1).unwrap_or("");
    match sub {
        "status" => {
            assert!(stdout.contains("redis redis://127.0.0.1:6390/"), "{example}:\n{stdout}");
            assert!(stdout.contains("books live 29/29"), "{example}:\n{stdout}");
        }
        "book" => assert!(stdout.contains("status LIVE"), "{example}:\n{stdout}"),
        "subs" if example.contains("subs add") => assert!(stdout.contains("storm:subs:sim: added"), "{stdout}"),
        "subs" => assert!(stdout.contains("storm:subs:sim: removed") && stdout.contains("from the config"), "{stdout}"),
        "halt" => {
            assert!(stdout.contains("storm:halt set") && stdout.contains("storm:halt deleted"), "{example}:\n{stdout}")
        }
        "doctor" => assert!(stdout.contains("0 failure(s)") && !stdout.contains("nothing subscribed"), "{stdout}"),
        _ => {}
    }
}

/// How many times `line` runs stormctl (`stormctl`, `scripts/stormctl`, any `.../stormctl`).
fn invocations(line: &str) -> usize {
    let code = line.split(" #").next().unwrap_or(line);
    code.split(|c: char| c.is_whitespace() || c == ';').filter(|w| *w == "stormctl" || w.ends_with("/stormctl")).count()
}

/// Every line of the code blocks of README's "stormctl" section (a `###` heading) that runs stormctl.
fn readme_examples(readme: &str) -> Vec<String> {
    let start = readme.find("\n### stormctl\n").expect("README has a \"### stormctl\" section");
    let section = &readme[start + 1..];
    let end = section[4..].find("\n#").map_or(section.len(), |i| i + 4);
    let mut in_code = false;
    let mut out = Vec::new();
    for line in section[..end].lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if in_code && invocations(line) > 0 {
            out.push(line.trim().to_owned());
        }
    }
    out
}

fn is_long_running(line: &str) -> bool {
    let code = line.split(" #").next().unwrap_or(line);
    code.split_whitespace().any(|w| matches!(w, "--follow" | "-f" | "watch" | "notify"))
}

/// `STORM_WEBHOOK_URL=<anything>` → the local listener.
fn substitute_webhook(line: &str, url: &str) -> String {
    line.split(' ')
        .map(|w| if w.starts_with("STORM_WEBHOOK_URL=") { format!("STORM_WEBHOOK_URL={url}") } else { w.to_owned() })
        .collect::<Vec<_>>()
        .join(" ")
}

struct Env {
    root: PathBuf,
    bin_dir: PathBuf,
    redis_dir: PathBuf,
}

impl Env {
    /// From the project root, without any `STORM_*`/`RUST_LOG` of ours (never another Redis).
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("STORM_") || k == "RUST_LOG" {
                c.env_remove(k);
            }
        }
        c.env("STORM_REDIS_DIR", &self.redis_dir)
            .env("STORM_RUN_TIMEOUT", "60")
            .env("NO_COLOR", "1")
            .current_dir(&self.root)
            .stdin(Stdio::null());
        c
    }

    /// One README line in bash, with the wrapper finding the binaries scripts/run was given.
    fn bash(&self, line: &str, long_running: bool) -> Output {
        let mut c = if long_running {
            let mut c = self.command("timeout");
            c.args(["--preserve-status", "-s", "INT", &LONG_RUNNING_FOR.as_secs().to_string(), "bash", "-c", line]);
            c
        } else {
            let mut c = self.command("bash");
            c.args(["-c", line]);
            c
        };
        c.env("STORM_BIN_DIR", &self.bin_dir);
        output_within(c, Duration::from_secs(60), line).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `client|setname` calls the suite's Redis has served.
    fn setname_calls(&self) -> u64 {
        let mut c = self.command("redis-cli");
        c.args(["-p", &SUITE_REDIS_PORT.to_string(), "INFO", "commandstats"]);
        let out = output_within(c, Duration::from_secs(10), "redis-cli").unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix("cmdstat_client|setname:calls="))
            .and_then(|rest| rest.split(',').next())
            .map_or(0, |n| n.parse().expect("calls"))
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
        let out = output_within(self.env.command(self.env.root.join("scripts/stop")), Duration::from_secs(60), "stop");
        let out = out.unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "scripts/stop failed: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Suite<'_> {
    fn drop(&mut self) {
        if !self.stopped {
            let _ =
                output_within(self.env.command(self.env.root.join("scripts/stop")), Duration::from_secs(60), "stop");
        }
    }
}

/// A webhook that answers 204 to everything (notify's posts stay on this machine).
struct Webhook {
    addr: SocketAddr,
}

impl Webhook {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                std::thread::spawn(move || answer(conn));
            }
        });
        Self { addr }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }
}

fn answer(mut conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 16 * 1024];
    let _ = conn.read(&mut buf);
    let _ = conn.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
}

/// Runs `cmd` to completion, killing it after `limit`.
fn output_within(mut cmd: Command, limit: Duration, what: &str) -> Result<Output, String> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().map_err(|e| format!("cannot run {what}: {e}"))?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let t0 = Instant::now();
    match rx.recv_timeout(limit) {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            Err(format!("{what} did not finish within {:?}", t0.elapsed()))
        }
    }
}

fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_millis(500)).is_ok()
}

#[test]
fn examples_are_taken_from_the_stormctl_section_only() {
    let readme = "# x\n```\nscripts/stormctl nope\n```\n### stormctl\ntext\n```\nscripts/stormctl status   # a\n\
                  scripts/stormctl halt on; scripts/stormctl halt off\n```\n### next\n```\nscripts/stormctl later\n```\n";
    assert_eq!(
        readme_examples(readme),
        ["scripts/stormctl status   # a", "scripts/stormctl halt on; scripts/stormctl halt off"]
    );
    assert!(is_long_running("scripts/stormctl log tail -f   # outcomes"));
    assert!(!is_long_running("scripts/stormctl status   # not -f"));
    assert_eq!(invocations("scripts/stormctl halt on --reason \"x\"; scripts/stormctl halt off  # a stormctl"), 2);
    assert_eq!(invocations("stormctl --config c.toml status"), 1);
    assert_eq!(substitute_webhook("STORM_WEBHOOK_URL=https://x/... a", "http://h"), "STORM_WEBHOOK_URL=http://h a");
}
