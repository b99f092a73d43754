//! Every storm binary refuses a bad configuration with ONE plain line on stderr and exit status 1,
//! even with `RUST_BACKTRACE=1`: the line names the cause (``unknown field `top_nn` ``, the
//! misspelled variable) and the key that was probably meant. supervisord writes that line to the
//! engine's log and `scripts/run` prints it; before, an operator got anyhow's "Caused by:" block
//! and 15 lines of backtrace frames, and a misspelled override (`STORM_BOOKSYNC_TOPN=5`) was
//! ignored without a word.
//!
//! The binaries are the real ones, found as `engines_sigterm` finds them (next to this test's
//! `deps/` folder: `cargo test --workspace`, or `cargo build --bins` first), run on a copy of the
//! project's `config/storm.toml` with Redis on a closed port (a binary that does not refuse its
//! config keeps retrying Redis, and the test says so after a few seconds).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a binary may take to refuse its config (a debug build on a busy 2-core machine).
const REFUSE_WITHIN: Duration = Duration::from_secs(5);

/// Every binary that loads the suite's config: `(binary, its section)`.
const BINARIES: [(&str, &str); 7] = [
    ("storm-ingester", "ingester"),
    ("storm-booksync", "booksync"),
    ("storm-streamer", "streamer"),
    ("storm-arbitrage", "arbitrage"),
    ("storm-executor", "executor"),
    ("storm-candles", "candles"),
    ("storm-sim", "sim"),
];

#[test]
fn a_misspelled_key_in_the_file_is_one_line_without_backtrace() {
    let dir = work_dir("file");
    let demo = std::fs::read_to_string(project().join("config/storm.toml")).expect("config/storm.toml");
    let typo = demo.replacen("top_n = 20", "top_nn = 20", 1);
    assert_ne!(typo, demo, "config/storm.toml has no `top_n = 20` line to misspell");
    let config = dir.join("storm.toml");
    std::fs::write(&config, typo).expect("write config");
    let out = refuse("storm-booksync", &config, &[]);
    assert_one_line("storm-booksync", &out, &["unknown field `top_nn`", "did you mean `top_n`?"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_misspelled_override_of_its_own_section_stops_every_binary_with_one_line() {
    let dir = work_dir("env");
    let config = dir.join("storm.toml");
    std::fs::copy(project().join("config/storm.toml"), &config).expect("copy config");
    let mut failures = Vec::new();
    for (bin, section) in BINARIES {
        let var = format!("STORM_{}_NO_SUCH_KEY", section.to_ascii_uppercase());
        let out = refuse(bin, &config, &[(&var, "5")]);
        if let Err(e) = one_line(bin, &out, &[&var, "did you mean"]) {
            failures.push(e);
        }
    }
    // The issue's own example, with the key it meant.
    let out = refuse("storm-booksync", &config, &[("STORM_BOOKSYNC_TOPN", "5")]);
    assert_one_line("storm-booksync", &out, &["STORM_BOOKSYNC_TOPN", "did you mean STORM_BOOKSYNC_TOP_N?"]);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_that_is_no_toml_is_one_line_with_its_place() {
    let dir = work_dir("syntax");
    let config = dir.join("storm.toml");
    std::fs::write(&config, "namespace = \"storm\"\n[booksync]\ntop_n = = 3\n").expect("write config");
    let out = refuse("storm-booksync", &config, &[]);
    assert_one_line("storm-booksync", &out, &["storm.toml", "line 3, column"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a binary printed and how it ended.
struct Refusal {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

/// Runs `bin` on `config` with `RUST_BACKTRACE=1`, Redis on a closed port and `env`; it must exit
/// within [`REFUSE_WITHIN`].
fn refuse(bin: &str, config: &Path, env: &[(&str, &str)]) -> Refusal {
    let path = bin_dir().join(bin);
    assert!(
        path.is_file(),
        "{} does not exist: this test runs the binaries `cargo test --workspace` builds next to its own \
         executable; run it that way (or `cargo build --bins` first)",
        path.display()
    );
    let mut cmd = Command::new(&path);
    cmd.arg("--config").arg(config);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("STORM_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .env("STORM_REDIS_URL", format!("redis://127.0.0.1:{}/", closed_port()))
        .env("STORM_METRICS_ADDR", "")
        .env("STORM_SIM_LISTEN", "127.0.0.1:0") // storm-sim, should it start: never the suite's port
        .env("STORM_SIM_API_KEY", "configErrorsTestKey00000000000000000000000000000000000000000001")
        .env("STORM_SIM_API_SECRET", "configErrorsTestSecret0000000000000000000000000000000000000001")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let started = Instant::now();
    match rx.recv_timeout(REFUSE_WITHIN) {
        Ok(Ok(Output { status, stdout, stderr })) => Refusal {
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            code: status.code(),
        },
        Ok(Err(e)) => panic!("{bin}: {e}"),
        Err(_) => {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            let out = rx.recv_timeout(Duration::from_secs(5)).ok().and_then(Result::ok);
            let text = out.map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).unwrap_or_default();
            panic!(
                "{bin} {env:?} was still running after {:.1?} instead of refusing its config; it printed:\n{text}",
                started.elapsed()
            );
        }
    }
}

/// Exit status 1, nothing on stdout, and exactly one stderr line `<bin>: error: ...` holding
/// every `want`; no backtrace, no "Caused by".
fn one_line(bin: &str, out: &Refusal, want: &[&str]) -> Result<(), String> {
    let lines: Vec<&str> = out.stderr.lines().collect();
    let ok = out.code == Some(1)
        && out.stdout.trim().is_empty()
        && lines.len() == 1
        && lines[0].starts_with(&format!("{bin}: error: "))
        && want.iter().all(|w| lines[0].contains(w));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{bin}: want exit status 1 and one stderr line `{bin}: error: ...` containing {want:?}; got status \
             {:?}, {} stderr line(s):\n{}\n(stdout: {:?})",
            out.code,
            lines.len(),
            out.stderr,
            out.stdout
        ))
    }
}

fn assert_one_line(bin: &str, out: &Refusal, want: &[&str]) {
    if let Err(e) = one_line(bin, out, want) {
        panic!("{e}");
    }
}

fn project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn work_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("config-errors-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("work folder");
    dir
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
