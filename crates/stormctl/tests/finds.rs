//! stormctl finds the suite and says why (issue 22): the checkout's config is found from the current
//! folder and named, every error names the Redis it read, `subs ls` shows the config's
//! subscriptions beside the set (and `doctor` does not call that "nothing subscribed"), `subs add`
//! refuses unknown venues and symbols, `status` names the books that are not live and why, and
//! `doctor` loads every engine section as its engine does. Each on a throwaway redis-server.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bare, dead_url, seed_book, Env, Out};
use redis::AsyncCommands;
use storm_core::BookStatus;

/// A folder laid out like a checkout: `config/storm.toml` (venue sim, the ingester subscribing
/// BTCUSDT and ETHUSDT depth, `extra` appended) and an empty `crates/deep/src` to run from.
struct Checkout {
    root: PathBuf,
    url: String,
}

impl Checkout {
    fn new(env: &Env, name: &str, extra: &str) -> Self {
        let root = env.redis.dir().join(name);
        std::fs::create_dir_all(root.join("config")).unwrap();
        std::fs::create_dir_all(root.join("crates/deep/src")).unwrap();
        let text = format!(
            "redis_url = \"{}\"\n[[venue]]\nname = \"sim\"\nkind = \"binance\"\nrest_url = \"http://127.0.0.1:1\"\n\
             ws_url = \"ws://127.0.0.1:1\"\n[ingester]\nvenue = \"sim\"\n\
             subscriptions = [\"depth:BTCUSDT\", \"depth:ETHUSDT\"]\n{extra}",
            env.url()
        );
        std::fs::write(root.join("config/storm.toml"), text).unwrap();
        Self { root, url: env.url() }
    }

    fn config(&self) -> PathBuf {
        self.root.join("config/storm.toml")
    }

    /// `stormctl <args>` run from deep inside the checkout, no flag or env naming a config.
    fn run_found(&self, args: &[&str]) -> Out {
        run_in(&self.root.join("crates/deep/src"), args)
    }

    /// [`Checkout::run_found`] with `--redis-url` of the test's Redis too (the URL the found
    /// config names; given explicitly, so that a stormctl that does not find the config still
    /// reads the test's Redis, never the default 6379).
    fn run(&self, args: &[&str]) -> Out {
        let mut all = vec!["--redis-url", self.url.as_str()];
        all.extend_from_slice(args);
        self.run_found(&all)
    }
}

fn run_in(dir: &Path, args: &[&str]) -> Out {
    let mut c: Command = bare();
    c.current_dir(dir).args(args);
    Out::from(c.output().unwrap())
}

fn check<'a>(doctor: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    doctor["checks"].as_array().unwrap().iter().find(|c| c["name"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkout_config_is_found_and_every_error_names_the_redis_it_read() {
    let env = Env::start().await;
    let co = Checkout::new(&env, "checkout", "");
    let config = co.config().display().to_string();

    // doctor says which config it found (Redis given elsewhere: nothing of this reads 6379).
    let dead = dead_url();
    let out = co.run_found(&["--redis-url", &dead, "doctor", "--json"]);
    let doctor = out.json();
    let c = check(&doctor, "config").unwrap_or_else(|| panic!("no config check: {doctor:#}"));
    assert_eq!(c["level"], "ok", "{c}");
    let detail = c["detail"].as_str().unwrap();
    assert!(detail.contains(&config) && detail.contains("found from the current folder"), "{detail}");

    // Without any flag, the found config's Redis is the one read.
    let status = co.run_found(&["status", "--json"]).ok().json();
    assert_eq!(status["redis"], env.url(), "{status:#}");
    assert!(status["config"].as_str().unwrap().contains(&config), "{status:#}");
    let text = co.run_found(&["status"]).ok().stdout;
    assert!(text.contains(&format!("config: {config} (found from the current folder)")), "{text}");

    // An error after reading Redis names it (and the config): "no book" is never a silent guess.
    let out = co.run_found(&["book", "sim", "BTCUSDT"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("no book at storm:book:sim:BTCUSDT"), "{}", out.stderr);
    assert!(out.stderr.contains(&format!("redis {}", env.url())) && out.stderr.contains(&config), "{}", out.stderr);

    // No config anywhere: the error says so, beside the URL it tried.
    let out = run_in(&std::env::temp_dir(), &["--redis-url", &dead, "halt", "status"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains(&format!("redis unreachable at {dead}")), "{}", out.stderr);
    assert!(out.stderr.contains("config none (no --config, no STORM_CONFIG"), "{}", out.stderr);

    // STORM_CONFIG wins over the found file, and a bad one is named as such.
    let mut c = bare();
    c.current_dir(co.root.join("crates/deep/src")).env("STORM_CONFIG", "/nonexistent/storm.toml").arg("status");
    let out = Out::from(c.output().unwrap());
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("cannot read config /nonexistent/storm.toml"), "{}", out.stderr);
    assert!(out.stderr.contains("(STORM_CONFIG)"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subs_ls_shows_the_config_subscriptions_beside_the_set_and_doctor_is_content() {
    let env = Env::start().await;
    let co = Checkout::new(&env, "checkout", "");
    seed_book(&env, "sim", "BTCUSDT", BookStatus::Live, &[("100.0", "1")], &[("100.1", "1")], 50).await;

    // The set is empty, the config subscribes two: not "nothing subscribed".
    let doctor = co.run(&["doctor", "--json"]).json();
    let warned: Vec<&serde_json::Value> = doctor["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["detail"].as_str().unwrap_or("").contains("nothing subscribed"))
        .collect();
    assert!(warned.is_empty(), "doctor warns although the config subscribes: {warned:?}");
    let sim = check(&doctor, "venue sim").unwrap();
    assert!(sim["detail"].as_str().unwrap().contains("2 subscription(s) from the config"), "{sim}");

    let mut c = env.conn().await;
    let _: () = c.sadd(env.bus.keys().subs("sim"), &["depth:SOLUSDT", "depth:BTCUSDT"]).await.unwrap();
    let out = co.run(&["subs", "ls", "sim"]).ok().stdout;
    assert!(out.contains("2 member(s), and 2 from the config ([ingester] subscriptions of"), "{out}");
    let line = |m: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(m))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
    };
    assert_eq!(line("depth:BTCUSDT").as_deref(), Some("config + redis"), "{out}");
    assert_eq!(line("depth:ETHUSDT").as_deref(), Some("config"), "{out}");
    assert_eq!(line("depth:SOLUSDT").as_deref(), Some("redis"), "{out}");
    let json = co.run(&["subs", "ls", "sim", "--json"]).ok().json();
    assert_eq!(json["sim"]["config"], serde_json::json!(["depth:BTCUSDT", "depth:ETHUSDT"]), "{json:#}");
    assert_eq!(json["sim"]["members"], serde_json::json!(["depth:BTCUSDT", "depth:SOLUSDT"]), "{json:#}");

    // Removing a config member from the set says the ingester keeps it.
    let out = co.run(&["subs", "rm", "sim", "depth:BTCUSDT"]).ok().stdout;
    assert!(out.contains("also in the config's [ingester] subscriptions"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subs_add_refuses_unknown_symbols_and_venues_and_status_names_the_books_not_live() {
    let env = Env::start().await;
    let co = Checkout::new(&env, "checkout", "");
    let keys = env.bus.keys().clone();
    let mut c = env.conn().await;
    for sym in ["BTCUSDT", "ETHUSDT", "SOLUSDT"] {
        let _: () = c.hset(keys.instruments("sim"), sym, format!(r#"{{"symbol":"{sym}"}}"#)).await.unwrap();
    }
    let is_member = |m: &'static str| {
        let mut c = c.clone();
        let key = keys.subs("sim");
        async move { c.sismember::<_, _, bool>(key, m).await.unwrap() }
    };

    let out = co.run(&["subs", "add", "sim", "depth:NOPEUSDT"]);
    assert_eq!(out.code, 2, "an unlisted symbol is refused: {out:?}");
    assert!(
        out.stderr.contains("depth:NOPEUSDT: NOPEUSDT is not listed by sim (storm:instruments:sim"),
        "{}",
        out.stderr
    );
    assert!(!is_member("depth:NOPEUSDT").await, "nothing written");
    let out = co.run(&["subs", "add", "nosuchvenue", "depth:BTCUSDT"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("venue nosuchvenue is not configured (the config's [[venue]] names: sim)"),
        "{}",
        out.stderr
    );
    // All members are checked before any is written.
    let out = co.run(&["subs", "add", "sim", "depth:SOLUSDT", "ticker:NOPEUSDT"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(!is_member("depth:SOLUSDT").await);
    co.run(&["subs", "add", "sim", "depth:solusdt"]).ok();
    assert!(is_member("depth:SOLUSDT").await);
    co.run(&["subs", "add", "sim", "depth:NOPEUSDT", "--force"]).ok();
    assert!(is_member("depth:NOPEUSDT").await, "--force skips the check");

    // status: 4 books wanted; BTCUSDT live, ETHUSDT stale for 5 s, NOPEUSDT syncing, SOLUSDT missing.
    seed_book(&env, "sim", "BTCUSDT", BookStatus::Live, &[("100.0", "1")], &[("100.1", "1")], 50).await;
    seed_book(&env, "sim", "ETHUSDT", BookStatus::Stale, &[("10.0", "1")], &[("10.1", "1")], 5_000).await;
    seed_book(&env, "sim", "NOPEUSDT", BookStatus::Syncing, &[], &[], 0).await;
    let text = co.run(&["status"]).ok().stdout;
    assert!(text.contains("books live 1/4 (syncing 1, stale 1, missing 1"), "{text}");
    assert!(text.contains("not live (3):"), "{text}");
    let row = |sym: &str| {
        text.lines()
            .find(|l| l.split_whitespace().nth(1) == Some(sym))
            .unwrap_or_else(|| panic!("no row for {sym}: {text}"))
            .to_owned()
    };
    let eth = row("ETHUSDT");
    assert!(
        eth.contains("stale") && eth.contains(" 5.") && eth.contains("s ago") && eth.contains("stopped vouching"),
        "{eth}"
    );
    let nope = row("NOPEUSDT");
    assert!(nope.contains("syncing") && nope.contains("sim does not list NOPEUSDT"), "{nope}");
    let sol = row("SOLUSDT");
    assert!(sol.contains("missing") && sol.contains("booksync has not started it"), "{sol}");
    let json = co.run(&["status", "--json"]).ok().json();
    let not_live: Vec<(String, String)> = json["not_live"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["symbol"].as_str().unwrap().to_owned(), b["status"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        not_live,
        [("ETHUSDT", "stale"), ("NOPEUSDT", "syncing"), ("SOLUSDT", "missing")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_loads_every_engine_section_as_its_engine_does() {
    let env = Env::start().await;
    let co = Checkout::new(&env, "typo", "[booksync]\nvenue = \"sim\"\ntop_nn = 20\n[executor]\nvenue = \"sim\"\n");
    let out = co.run(&["doctor", "--config", co.config().to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.lines().any(|l| l.starts_with("[FAIL] config [booksync]: storm-booksync would refuse to start")
            && l.contains("unknown field `top_nn`")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("[ ok ] config [ingester]: venue sim, 2 subscription(s)"), "{}", out.stdout);
    assert!(out.stdout.contains("[ ok ] config [executor]: venue sim"), "{}", out.stdout);

    // The demo's own config/storm.toml: every section loads.
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/storm.toml");
    let out = run_in(
        &std::env::temp_dir(),
        &["--config", demo.to_str().unwrap(), "--redis-url", &env.url(), "doctor", "--json"],
    );
    let doctor = out.json();
    for section in ["sim", "ingester", "booksync", "arbitrage", "streamer", "executor"] {
        let c = check(&doctor, &format!("config [{section}]"))
            .unwrap_or_else(|| panic!("{section} not checked: {doctor:#}"));
        assert_eq!(c["level"], "ok", "{c}");
    }
}
