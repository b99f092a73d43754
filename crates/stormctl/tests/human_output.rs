//! What a person reads: every human output of stormctl (book, opps, log, orders, balances,
//! status, watch) shows no number with more digits than its instrument allows (prices at the tick
//! size, quantities at the step size, amounts at most 8 decimals, bps 2, ms none), and `watch`
//! fits an 80×24 terminal (a real tmux): the header on line 1, no line wrapped or cut in a number,
//! at most 24 lines. The data is what the engines write, seeded through storm-bus into a
//! throwaway redis-server, with the long decimals Redis really holds.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{seed_book, Env};
use redis::AsyncCommands;
use rust_decimal::Decimal;
use storm_bus::heartbeat;
use storm_core::arb::{OppKind, OppLeg, Opportunity};
use storm_core::time::now_millis;
use storm_core::{Asset, BookStatus, Instrument, Side, Symbol, SymbolStatus, VenueId};

/// (symbol, base, quote, tick size, step size) of the seeded instruments.
const INSTRUMENTS: [(&str, &str, &str, &str, &str); 4] = [
    ("BTCUSDT", "BTC", "USDT", "0.01", "0.00001"),
    ("ETHBTC", "ETH", "BTC", "0.00001", "0.0001"),
    ("ETHUSDT", "ETH", "USDT", "0.01", "0.0001"),
    ("BNBBTC", "BNB", "BTC", "0.0000001", "0.001"),
];

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// Decimals of a filter (`0.00001` → 5).
fn places(filter: &str) -> u32 {
    dec(filter).normalize().scale()
}

/// Symbol → the most decimals a number about it may show (its price or its quantity).
fn allowed() -> HashMap<&'static str, u32> {
    INSTRUMENTS.iter().map(|(s, _, _, tick, step)| (*s, places(tick).max(places(step)))).collect()
}

async fn seed(env: &Env) {
    let keys = env.bus.keys().clone();
    let instruments: Vec<Instrument> = INSTRUMENTS
        .iter()
        .map(|(s, b, q, tick, step)| Instrument {
            symbol: Symbol::new(s),
            base: Asset::new(b),
            quote: Asset::new(q),
            status: SymbolStatus::Trading,
            tick_size: dec(tick),
            min_price: dec(tick),
            max_price: Decimal::ZERO,
            step_size: dec(step),
            min_qty: dec(step),
            max_qty: Decimal::ZERO,
            min_notional: Decimal::ZERO,
            max_notional: Decimal::ZERO,
        })
        .collect();
    storm_bus::instruments::write(&env.bus, "sim", &instruments).await.unwrap();
    // Books as booksync writes them: the venue's 8 decimals.
    seed_book(
        env,
        "sim",
        "BTCUSDT",
        BookStatus::Live,
        &[("61837.63000000", "3.78826000"), ("61837.62000000", "0.00100000")],
        &[("61838.04000000", "0.51000000"), ("61838.05000000", "1.20000000")],
        40,
    )
    .await;
    seed_book(env, "sim", "ETHBTC", BookStatus::Live, &[("0.05000000", "1.0000")], &[("0.05001000", "2")], 40).await;
    seed_book(env, "sim", "BNBBTC", BookStatus::Syncing, &[("0.00912340", "1.090")], &[], 40).await;
    let mut c = env.conn().await;
    for sym in ["BTCUSDT", "ETHBTC", "BNBBTC"] {
        let _: () = c.sadd(keys.subs("sim"), format!("depth:{sym}")).await.unwrap();
    }

    // Opportunities with the finder's exact decimals (a profit_bps of 27 digits, a leg quantity
    // with trailing zeros to the 27th decimal).
    let now = now_millis();
    for (i, bps) in ["43.336884841158809655335691026", "12.5", "8.04100000000000000000000001"].iter().enumerate() {
        let leg = |s: &str, side, p: &str, q: &str| OppLeg {
            venue: VenueId::new("sim"),
            symbol: Symbol::new(s),
            side,
            price: p.parse().unwrap(),
            qty: q.parse().unwrap(),
        };
        let opp = Opportunity {
            id: format!("sim-{i}-0123456789abcdef"),
            kind: OppKind::Triangular,
            venue: VenueId::new("sim"),
            path: "BTC>BNB>USDT>BTC".into(),
            asset: Asset::new("BTC"),
            size: dec("0.01189000000000000000000000"),
            profit: dec("0.0000515275560185447474856"),
            profit_bps: dec(bps),
            confidence: 0.75,
            created_ms: now,
            expires_ms: now + 60_000,
            legs: vec![
                leg("BNBBTC", Side::Buy, "0.009123400000000000000", "1.090200000000000000000000000"),
                leg("BTCUSDT", Side::Sell, "61837.630000000000", "0.011890000000000000000"),
                leg("ETHUSDT", Side::Buy, "3100.000000000000", "0.33310000000000000"),
            ],
            book_ids: vec![1, 2, 3],
            time_trigger_us: now * 1_000,
        };
        common::publish(env, &[storm_bus::opps::entry(&keys, 10_000, &opp).unwrap()]).await;
    }
    // The executor's group, caught up (lag 0).
    storm_bus::ensure_group(&env.bus, &keys.opps(), "executor", false).await.unwrap();

    // Outcomes as the executor writes them: amounts from fill arithmetic, normalized.
    for i in 0..6 {
        let e = common::outcome(env, &format!("sim-{i}-0123456789abcdef"), "executed", "0.43346884841158809655335691")
            .field("slippage", "-0.0000000012345678901234567");
        common::publish(env, &[e]).await;
    }
    common::publish(env, &[common::failure(env, "sim-9", "leg 2 unfillable: unwound")]).await;

    // Own orders and balances as the streamer writes them (venue strings, 8 decimals).
    let order = serde_json::json!({
        "symbol": "BTCUSDT", "order_id": 7, "client_order_id": "stsim-0-1", "side": "BUY",
        "order_type": "LIMIT", "time_in_force": "IOC", "price": "60045.58000000",
        "orig_qty": "0.00137000", "status": "FILLED", "executed_qty": "0.00137000",
        "cumulative_quote_qty": "82.26244800", "update_ms": now,
    });
    let _: () = c.hset(keys.order("sim", "acct0001", &Symbol::new("BTCUSDT")), "7", order.to_string()).await.unwrap();
    let balance = |f: &str, l: &str| serde_json::json!({ "free": f, "locked": l, "time": now }).to_string();
    let _: () = c
        .hset_multiple(
            keys.balance("sim", "acct0001"),
            &[("BTC", balance("0.01189000", "0.00000000")), ("USDT", balance("1000.12345678", "0.10000000"))],
        )
        .await
        .unwrap();

    // Heartbeats: the ingester's ping lag is an f64 gauge (`0.08253200000000001`).
    let lag =
        [("storm_ingester_conn_ping_lag_ms{venue=\"sim\",conn=\"c0\"}".to_owned(), "0.08253200000000001".to_owned())];
    for engine in ["ingester", "booksync", "arbitrage", "executor", "streamer", "sim"] {
        let metrics: &[(String, String)] = if engine == "ingester" { &lag } else { &[] };
        heartbeat::beat(&env.bus, engine, "main", now_millis(), Duration::from_secs(30), metrics).await.unwrap();
    }
}

/// A decimal number at the start of `token` (`12.3s` → `12.3`), if there is one.
fn number(token: &str) -> Option<(String, u32)> {
    let t = token.trim_start_matches(['+', '-']);
    let end = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, rest) = t.split_at(end);
    // `1.2.3`, `v1`, ids with letters inside: not an amount.
    if num.is_empty() || num.matches('.').count() > 1 || rest.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        return None;
    }
    let d: Decimal = num.parse().ok()?;
    Some((num.to_owned(), d.scale()))
}

/// Every digit rule broken in `text`; `symbol`: the instrument a ladder is about.
fn violations(what: &str, text: &str, symbol: Option<&str>) -> Vec<String> {
    let allowed = allowed();
    let mut bad = Vec::new();
    for line in text.lines() {
        // A leg list is checked leg by leg (each names its own symbol).
        for part in line.split('|') {
            let limit = INSTRUMENTS
                .iter()
                .find(|(s, ..)| part.split_whitespace().any(|w| w == *s))
                .map(|(s, ..)| allowed[s])
                .or_else(|| symbol.map(|s| allowed[s]))
                .unwrap_or(8);
            let cleaned: String = part.chars().map(|c| if "\"{},()[]".contains(c) { ' ' } else { c }).collect();
            let words: Vec<&str> = cleaned.split_whitespace().collect();
            for (i, w) in words.iter().enumerate() {
                // Times (`23:54:15.408Z`, `2024-08-08T…`), keys and URLs are not amounts.
                if w.contains(':') || w.contains('T') && w.ends_with('Z') {
                    continue;
                }
                let (key, value) = w.split_once('=').unwrap_or(("", w));
                let Some((num, dp)) = number(value) else { continue };
                let rule = if key.ends_with("_ms") {
                    ("ms without fractions", 0)
                } else if key.ends_with("_bps") || words.get(i + 1) == Some(&"bps") {
                    ("bps with 2 decimals", 2)
                } else {
                    ("the instrument's digits", limit)
                };
                if dp > rule.1 {
                    bad.push(format!("{what}: {num} has {dp} decimals, more than {} ({}) in: {line}", rule.1, rule.0));
                }
            }
        }
    }
    bad
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_number_shows_more_digits_than_its_instrument_allows() {
    let env = Env::start().await;
    seed(&env).await;
    let mut bad = Vec::new();
    let runs: [(&str, &[&str], Option<&str>); 8] = [
        ("book", &["book", "sim", "BTCUSDT"], Some("BTCUSDT")),
        ("book", &["book", "sim", "BNBBTC"], Some("BNBBTC")),
        ("opps tail", &["opps", "tail", "-n", "3"], None),
        ("log tail", &["log", "tail", "-n", "10"], None),
        ("orders", &["orders", "sim"], None),
        ("balances", &["balances", "sim"], None),
        ("status", &["status"], None),
        ("halt status", &["halt", "status"], None),
    ];
    for (what, args, symbol) in runs {
        let out = env.run(args).ok();
        assert!(!out.stdout.trim().is_empty(), "{what} printed nothing");
        bad.extend(violations(what, &out.stdout, symbol));
    }
    // `watch` into a pipe: its first frame.
    let child = common::ctl(&env.url(), &["watch", "--interval-ms", "300"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (_, _, stdout, _) = common::Proc::new(child).stop("TERM", Duration::from_secs(5)).await;
    let first = stdout.split("----").next().unwrap();
    assert!(first.contains("latest outcomes"), "{stdout}");
    bad.extend(violations("watch", first, None));
    assert!(bad.is_empty(), "{} number(s) with too many digits:\n{}", bad.len(), bad.join("\n"));
}

/// tmux, installed as scripts/test installs what is missing (apt-get when root).
fn tmux_present() {
    if Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success()) {
        return;
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
    assert!(root, "tmux is missing: install it first (apt-get install tmux)");
    let apt = |args: &[&str]| Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive").status();
    let _ = apt(&["update", "-qq"]);
    let ok = apt(&["install", "-y", "-qq", "--no-install-recommends", "tmux"]).is_ok_and(|s| s.success());
    assert!(ok, "could not install tmux with apt-get");
}

/// A tmux server of its own (a private socket), killed when dropped.
struct Tmux {
    socket: std::path::PathBuf,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket).arg("-f").arg("/dev/null").env("TERM", "xterm-256color");
        c
    }

    fn capture(&self) -> String {
        let out = self.cmd().args(["capture-pane", "-p", "-t", "watch"]).output().unwrap();
        assert!(out.status.success(), "capture-pane: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_fits_an_80x24_terminal_in_tmux() {
    tmux_present();
    let env = Env::start().await;
    seed(&env).await;
    let tmux = Tmux { socket: env.redis.dir().join("tmux.sock") };
    let shell = format!(
        "env -u STORM_CONFIG -u STORM_REDIS_URL -u STORM_NAMESPACE -u RUST_LOG {} --redis-url {} watch --interval-ms 300",
        common::BIN,
        env.url()
    );
    // Started outside the checkout: from inside it stormctl would read the demo's config/storm.toml.
    let dir = env.redis.dir().to_str().unwrap().to_owned();
    let started = tmux
        .cmd()
        .args(["new-session", "-d", "-s", "watch", "-x", "80", "-y", "24", "-c", &dir, &shell])
        .status()
        .unwrap();
    assert!(started.success(), "tmux new-session");
    // The frame is complete once its last section is drawn.
    let t0 = Instant::now();
    let mut pane = String::new();
    while t0.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        pane = tmux.capture();
        if pane.contains("latest outcomes") && pane.contains("executed") {
            break;
        }
    }
    let lines: Vec<&str> = pane.trim_end_matches('\n').lines().collect();
    let shown = format!("pane at 80x24:\n{pane}");
    assert!(lines.len() <= 24, "{} lines: {shown}", lines.len());
    assert!(lines[0].starts_with("storm watch  "), "the header is not on line 1: {shown}");
    for (i, l) in lines.iter().enumerate() {
        // A line filling all 80 columns is one tmux wrapped (the layout leaves the last free).
        assert!(l.chars().count() < 80, "line {} is {} wide (wrapped): {shown}", i + 1, l.chars().count());
        // A cut line ends at a space before `…`: no number or word is cut in two.
        if let Some(head) = l.strip_suffix('…') {
            assert!(head.is_empty() || head.ends_with(' '), "line {} cut mid-word: {shown}", i + 1);
        }
    }
    // What an operator came for is on the screen: books, the executor, engines, the latest entries.
    assert_eq!(lines[1], "books live 2/3 (syncing 1, stale 0, missing 0)  halt off", "{shown}");
    assert!(lines[2].starts_with("executor lag 0 pending 0"), "{shown}");
    for engine in ["ingester", "booksync", "executor"] {
        assert!(lines.iter().any(|l| l.trim_start().starts_with(engine)), "engine {engine} missing: {shown}");
    }
    let opps = lines.iter().filter(|l| l.contains("BTC>BNB>USDT>BTC") && l.contains(" bps")).count();
    let outcomes = lines.iter().filter(|l| l.contains("executed")).count();
    assert!(opps >= 2 && outcomes >= 2, "{opps} opportunities, {outcomes} outcomes: {shown}");
    assert!(violations("watch at 80x24", &pane, None).is_empty(), "{:?}", violations("watch", &pane, None));
}

/// One entry of an `XRANGE` reply: id and fields in order.
type StreamReply = (String, Vec<(String, Vec<u8>)>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xrevrange_shows_an_opportunitys_plain_fields_before_the_blob() {
    let env = Env::start().await;
    seed(&env).await;
    // What `redis-cli XREVRANGE storm:opps + - COUNT 1` prints, field by field.
    let mut c = env.conn().await;
    let reply: Vec<StreamReply> = redis::cmd("XREVRANGE")
        .arg(env.bus.keys().opps())
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut c)
        .await
        .unwrap();
    let names: Vec<&str> = reply[0].1.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["id", "kind", "venue", "path", "profit_bps", "size", "asset", "expires_ms", "v", "m"]);
    let plain = |i: usize| String::from_utf8_lossy(&reply[0].1[i].1).into_owned();
    assert_eq!(plain(4), "8.04", "the plain profit_bps has 2 decimals");
    assert_eq!(plain(5), "0.01189", "the plain size has no trailing zeros");
}
