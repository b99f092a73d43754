//! The read-and-switch subcommands against a real redis-server seeded through storm-bus, checked
//! by running the real `stormctl` binary: status, book, subs, halt, opps tail, log tail, orders,
//! balances, and what happens with data that is not what the contract says.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{dead_url, failure, opportunity, outcome, publish, seed_book, Env};
use redis::AsyncCommands;
use storm_bus::{heartbeat, Entry};
use storm_core::time::now_millis;
use storm_core::{BookStatus, Channel};

const BIDS: [(&str, &str); 3] =
    [("61837.63000000", "3.78826000"), ("61837.62000000", "0.00100000"), ("61830.00000000", "1.00000000")];
const ASKS: [(&str, &str); 3] =
    [("61838.04000000", "0.50000000"), ("61839.00000000", "1.25000000"), ("61840.00000000", "2.00000000")];

#[tokio::test]
async fn status_counts_books_per_venue_and_reads_heartbeats() {
    let env = Env::start().await;
    for (sym, st) in [
        ("BTCUSDT", BookStatus::Live),
        ("ETHUSDT", BookStatus::Live),
        ("BNBUSDT", BookStatus::Syncing),
        ("SOLUSDT", BookStatus::Stale),
    ] {
        seed_book(&env, "sim", sym, st, &BIDS, &ASKS, 300).await;
    }
    seed_book(&env, "alt", "ADAUSDT", BookStatus::Live, &BIDS, &ASKS, 100).await;
    let mut c = env.conn().await;
    // Wanted but never synced: counts in N as missing.
    let _: () =
        c.sadd(env.bus.keys().subs("sim"), &["depth:BTCUSDT", "depth:XRPUSDT", "ticker:ETHUSDT"]).await.unwrap();
    let extra = vec![
        ("storm_booksync_diffs_applied_total{venue=\"sim\"}".to_owned(), "1200".to_owned()),
        ("storm_booksync_diffs_applied_total{venue=\"alt\"}".to_owned(), "34".to_owned()),
        ("storm_booksync_lag_ms{venue=\"sim\"}".to_owned(), "4.5".to_owned()),
    ];
    heartbeat::beat(&env.bus, "booksync", "main", now_millis() - 65_000, Duration::from_secs(2), &extra).await.unwrap();
    let md = env.bus.keys().md("sim", Channel::Depth);
    publish(
        &env,
        &(0..3)
            .map(|i| Entry::new(md.clone(), 1000).field("sym", "BTCUSDT").field("n", i.to_string()))
            .collect::<Vec<_>>(),
    )
    .await;
    storm_bus::ensure_group(&env.bus, &env.bus.keys().opps(), "executor", true).await.unwrap();
    let _: () = c.set(env.bus.keys().halt(), "maintenance").await.unwrap();

    let human = env.run(&["status"]).ok().stdout;
    assert!(human.contains("books live 3/6 (syncing 1, stale 1, missing 1)"), "{human}");
    let sim_row = human.lines().find(|l| l.trim_start().starts_with("sim ")).expect("sim row");
    assert_eq!(sim_row.split_whitespace().collect::<Vec<_>>()[..6], ["sim", "2/5", "1", "1", "1", "0"], "{human}");
    // A ms gauge shows whole ms (4.5 rounds up).
    assert!(
        human.contains("booksync") && human.contains("diffs_applied=1234") && human.contains("lag_ms=5"),
        "{human}"
    );
    assert!(human.contains("1m05s") || human.contains("1m06s"), "uptime: {human}");
    assert!(human.contains("HALTED: maintenance"), "{human}");
    assert!(human.contains("storm:md:sim:depth") && human.contains("executor"), "{human}");

    let j = env.run(&["status", "--json"]).ok().json();
    assert_eq!(j["books"]["live"], 3);
    assert_eq!(j["books"]["total"], 6);
    let sim = &j["venues"]["sim"];
    assert_eq!((sim["live"].as_u64(), sim["syncing"].as_u64(), sim["stale"].as_u64()), (Some(2), Some(1), Some(1)));
    assert_eq!((sim["missing"].as_u64(), sim["total"].as_u64()), (Some(1), Some(5)));
    assert_eq!(j["venues"]["alt"]["live"], 1);
    assert_eq!(j["engines"][0]["engine"], "booksync");
    assert_eq!(j["engines"][0]["pid"], std::process::id().to_string());
    assert_eq!(j["engines"][0]["counters"]["diffs_applied"], 1234);
    let depth = j["streams"].as_array().unwrap().iter().find(|s| s["key"] == md.as_str()).expect("md stream");
    assert_eq!(depth["length"], 3);
    assert_eq!(j["opps_groups"][0]["name"], "executor");
    assert_eq!(j["halt"]["halted"], true);
}

#[tokio::test]
async fn book_ladder_puts_asks_above_bids_best_nearest_the_spread() {
    let env = Env::start().await;
    seed_book(&env, "sim", "BTCUSDT", BookStatus::Live, &BIDS, &ASKS, 1_500).await;
    let out = env.run(&["book", "sim", "btcusdt", "--depth", "2"]).ok().stdout;
    let rows: Vec<&str> =
        out.lines().filter(|l| l.contains("ask ") || l.contains("bid ") || l.contains("spread")).collect();
    let prices: Vec<&str> = rows.iter().map(|l| l.split_whitespace().nth(1).unwrap_or("")).collect();
    assert_eq!(prices, ["61839.00000000", "61838.04000000", "spread", "61837.63000000", "61837.62000000"], "{out}");
    assert!(out.contains("spread 0.41000000 (0.07 bps)") && out.contains("status LIVE"), "{out}");
    assert!(["1.5s", "1.6s", "1.7s", "1.8s", "1.9s"].iter().any(|a| out.contains(&format!("({a} ago)"))), "{out}");
    assert!(!out.contains("61840.00000000"), "depth 2 shows two levels: {out}");

    let j = env.run(&["book", "sim", "BTCUSDT", "--json"]).ok().json();
    assert_eq!(j["asks"][0][0], "61838.04000000");
    assert_eq!(j["bids"][0][0], "61837.63000000");
    assert_eq!(j["bids"].as_array().unwrap().len(), 3);
    assert_eq!(j["status"], "live");

    let missing = env.run(&["book", "sim", "ETHUSDT"]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("no book at storm:book:sim:ETHUSDT"), "{missing:?}");
    let mut c = env.conn().await;
    let _: () = c.hset("storm:book:sim:BTCUSDT", "bids", "not json").await.unwrap();
    let bad = env.run(&["book", "sim", "BTCUSDT"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("unreadable") && !bad.stderr.contains("panicked"), "{bad:?}");
}

#[tokio::test]
async fn subs_add_rm_ls_round_trip_and_a_bad_member_is_refused() {
    let env = Env::start().await;
    let key = env.bus.keys().subs("sim");
    let mut c = env.conn().await;
    // `add` checks the symbols against the venue's instruments (booksync writes them).
    for sym in ["BTCUSDT", "ETHUSDT"] {
        let _: () = c.hset(env.bus.keys().instruments("sim"), sym, format!(r#"{{"symbol":"{sym}"}}"#)).await.unwrap();
    }
    let out = env.run(&["subs", "add", "sim", "depth:btcusdt", "kline:ETHUSDT:1m", "trade:ETHUSDT"]).ok();
    assert!(out.stdout.contains("added 3 of 3"), "{out:?}");
    let mut members: Vec<String> = c.smembers(&key).await.unwrap();
    members.sort();
    assert_eq!(members, ["depth:BTCUSDT", "kline:ETHUSDT:1m", "trade:ETHUSDT"]);

    for bad in [["depth:XRPUSDT", "book:BTCUSDT"], ["kline:BTCUSDT", "ticker:ETHUSDT"], ["depth:BTC/USDT", "trade:X"]] {
        let out = env.run(&["subs", "add", "sim", bad[0], bad[1]]);
        assert_eq!(out.code, 2, "{bad:?}: {out:?}");
        assert!(out.stderr.contains("invalid subscription"), "{out:?}");
        let n: usize = c.scard(&key).await.unwrap();
        assert_eq!(n, 3, "nothing written when one member is bad");
    }

    let ls = env.run(&["subs", "ls", "sim", "--json"]).ok().json();
    assert_eq!(ls["sim"]["members"], serde_json::json!(["depth:BTCUSDT", "trade:ETHUSDT", "kline:ETHUSDT:1m"]));
    let out = env.run(&["subs", "rm", "sim", "depth:BTCUSDT", "ticker:SOLUSDT"]).ok();
    assert!(out.stdout.contains("removed 1 of 2"), "{out:?}");
    let human = env.run(&["subs", "ls"]).ok().stdout;
    assert!(human.contains("sim (storm:subs:sim): 2 member(s)") && !human.contains("depth:BTCUSDT"), "{human}");
}

#[tokio::test]
async fn halt_on_sets_the_key_and_off_deletes_it() {
    let env = Env::start().await;
    let key = env.bus.keys().halt();
    let mut c = env.conn().await;
    assert!(env.run(&["halt", "status"]).ok().stdout.contains("off"));
    env.run(&["halt", "on", "--reason", "exchange maintenance"]).ok();
    let v: Option<String> = c.get(&key).await.unwrap();
    assert_eq!(v.as_deref(), Some("exchange maintenance"));
    let ttl: i64 = c.pttl(&key).await.unwrap();
    assert_eq!(ttl, -1, "a halt never expires by itself");
    let j = env.run(&["halt", "status", "--json"]).ok().json();
    assert_eq!(
        (j["halt"]["halted"].as_bool(), j["halt"]["reason"].as_str()),
        (Some(true), Some("exchange maintenance"))
    );
    let off = env.run(&["halt", "off"]).ok().stdout;
    assert!(off.contains("was: exchange maintenance"), "{off}");
    let exists: bool = c.exists(&key).await.unwrap();
    assert!(!exists);
    assert!(env.run(&["halt", "off"]).ok().stdout.contains("was not set"));
}

#[tokio::test]
async fn opps_tail_decodes_the_legs() {
    let env = Env::start().await;
    let keys = env.bus.keys().clone();
    let opps: Vec<Entry> = (1..=3)
        .map(|i| storm_bus::opps::entry(&keys, 1000, &opportunity(&format!("opp{i}"), 10 * i)).unwrap())
        .collect();
    publish(&env, &opps).await;
    let out = env.run(&["opps", "tail", "-n", "2"]).ok().stdout;
    assert!(!out.contains("opp1") && out.contains("opp2") && out.contains("opp3"), "{out}");
    assert!(out.find("opp2") < out.find("opp3"), "oldest first: {out}");
    assert!(out.contains("BUY BTCUSDT 0.01666 @ 60000.00") && out.contains("SELL ETHUSDT 0.3331 @ 3100.00"), "{out}");
    assert!(out.contains("USDT>BTC>ETH>USDT") && out.contains("30.00 bps") && out.contains("expires in"), "{out}");

    // An entry of another schema version is shown by its plain fields, not misread.
    let mut c = env.conn().await;
    let _: String = c.xadd(keys.opps(), "*", &[("id", "future"), ("v", "2"), ("m", "x")]).await.unwrap();
    let lines = env.run(&["opps", "tail", "--json"]).ok().json_lines();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["opp"]["id"], "opp1");
    assert_eq!(lines[2]["opp"]["legs"][0]["price"], "60000.00");
    assert_eq!(lines[3]["fields"]["id"], "future");
    assert!(lines[3]["error"].as_str().unwrap().contains("version"), "{}", lines[3]);
}

#[tokio::test]
async fn log_tail_prints_every_plain_field_of_both_streams() {
    let env = Env::start().await;
    // Two streams merge by entry id, which orders only to the millisecond: keep them apart.
    for e in [
        outcome(&env, "opp1", "executed", "0.51200000"),
        failure(&env, "opp2", "leg 2 rejected: insufficient balance"),
        outcome(&env, "opp3", "expired", "0"),
    ] {
        publish(&env, &[e]).await;
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let out = env.run(&["log", "tail"]).ok().stdout;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].contains("storm:arb:log") && lines[0].contains("executed    id=opp1 venue=sim"), "{out}");
    assert!(lines[0].contains(r#"realized=0.51200000 pnl={"USDT":"0.51200000"}"#), "{out}");
    assert!(lines[0].contains("executor=main mode=paper orders=3") && lines[0].contains("v=1"), "{out}");
    assert!(
        lines[1].contains("storm:exec:failed") && lines[1].contains("reason=\"leg 2 rejected: insufficient balance\""),
        "{out}"
    );
    assert!(lines[1].contains(r#"residue={"BTC":"0.00010000"}"#), "{out}");
    assert!(lines[2].contains("expired") && lines[2].contains("id=opp3"), "{out}");
    assert!(!out.contains("m="), "the msgpack payload is skipped: {out}");

    let json = env.run(&["log", "tail", "-n", "2", "--json"]).ok().json_lines();
    assert_eq!(json.len(), 2);
    assert_eq!(json[0]["fields"]["id"], "opp2");
    assert_eq!(json[1]["fields"]["outcome"], "expired");
    assert_eq!(json[1]["fields"]["v"], "1");
    assert!(json[1]["fields"].get("m").is_none());
}

#[tokio::test]
async fn orders_and_balances_print_from_the_streamers_json() {
    let env = Env::start().await;
    let keys = env.bus.keys().clone();
    let mut c = env.conn().await;
    let now = now_millis();
    let filled = serde_json::json!({
        "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "status": "FILLED", "price": "60000.00",
        "origQty": "0.01000000", "executedQty": "0.01000000", "cummulativeQuoteQty": "599.99000000",
        "clientOrderId": "storm-opp1-0", "updateTime": now - 2_000,
    });
    // The streamer's OrderState (storm_bus::account), as JSON.
    let open = serde_json::json!({
        "symbol": "ETHBTC", "order_id": 1002, "client_order_id": "storm-opp1-1", "side": "SELL",
        "order_type": "LIMIT", "time_in_force": "IOC", "price": "0.05000", "orig_qty": "0.3332",
        "status": "NEW", "executed_qty": "0", "cumulative_quote_qty": "0", "avg_price": null,
        "created_ms": now, "update_ms": now, "last_trade_id": null, "source": "ws",
    });
    let _: () = c.hset(keys.order("sim", "1a2b3c4d", &"BTCUSDT".into()), "1001", filled.to_string()).await.unwrap();
    let _: () = c.hset(keys.order("sim", "1a2b3c4d", &"ETHBTC".into()), "1002", open.to_string()).await.unwrap();
    let _: () = c.hset(keys.order("sim", "9f9f9f9f", &"ETHBTC".into()), "7", "{not json").await.unwrap();

    let out = env.run(&["orders", "sim", "--acct", "1a2b3c4d"]).ok().stdout;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[1].contains("ETHBTC") && lines[1].contains("LIMIT IOC  NEW") && lines[1].contains("storm-opp1-1"),
        "newest first"
    );
    for cell in ["FILLED", "60000.00", "0.01000000", "59999", "storm-opp1-0", "s ago"] {
        assert!(lines[2].contains(cell), "{cell}: {out}");
    }
    let all = env.run(&["orders", "sim", "--json"]).ok().json();
    assert_eq!(all["total"], 3);
    let odd = all["orders"].as_array().unwrap().iter().find(|o| o["order_id"] == "7").expect("odd order");
    assert!(odd["note"].as_str().unwrap().contains("not JSON"));
    let sym = env.run(&["orders", "sim", "--symbol", "btcusdt", "--json"]).ok().json();
    assert_eq!(sym["total"], 1);
    assert_eq!(sym["orders"][0]["order"]["clientOrderId"], "storm-opp1-0");

    let bal = keys.balance("sim", "1a2b3c4d");
    let _: () = c
        .hset_multiple(
            &bal,
            &[
                ("USDT", format!(r#"{{"free":"1000.50000000","locked":"10.00000000","time":{now}}}"#)),
                ("BTC", r#"{"free":"0.01000000","locked":"0.00000000","time":1}"#.to_owned()),
                ("BNB", r#"{"free":"0.00000000","locked":"0.00000000","time":1}"#.to_owned()),
            ],
        )
        .await
        .unwrap();
    let out = env.run(&["balances", "sim"]).ok().stdout;
    assert!(out.contains("1000.50000000") && out.contains("1010.50000000") && out.contains("0.01000000"), "{out}");
    assert!(!out.contains("BNB") && out.contains("1 zero balance(s) hidden"), "{out}");
    let j = env.run(&["balances", "sim", "--all", "--json"]).ok().json();
    let assets: Vec<&str> = j["balances"].as_array().unwrap().iter().map(|b| b["asset"].as_str().unwrap()).collect();
    assert_eq!(assets, ["BNB", "BTC", "USDT"]);
    assert_eq!(j["balances"][2]["total"], "1010.50000000");
}

#[tokio::test]
async fn odd_data_is_a_note_never_a_panic() {
    let env = Env::start().await;
    let keys = env.bus.keys().clone();
    let mut c = env.conn().await;
    let _: () = c.set("storm:book:sim:WRONGTYPE", "a string").await.unwrap();
    let _: () = c.hset("storm:book:sim:NOSTATUS", "bids", "[]").await.unwrap();
    let _: () = c.hset(keys.health("ingester", "x"), "last_beat", "yesterday").await.unwrap();
    let _: () = c.set(keys.arb_log(), "not a stream").await.unwrap();
    let _: () = c.sadd(keys.subs("sim"), vec![vec![0xffu8, 0xfe], b"depth:BTCUSDT".to_vec()]).await.unwrap();
    let out = env.run(&["status"]).ok().stdout;
    assert!(out.contains("WRONGTYPE") && out.contains("no status field"), "{out}");
    assert!(out.contains("last_beat is not a number"), "{out}");
    assert!(out.contains("storm:arb:log is not of the type"), "{out}");
    env.run(&["subs", "ls"]).ok();
    let log = env.run(&["log", "tail"]);
    assert_eq!(log.code, 1, "{log:?}");
    assert!(log.stderr.contains("WRONGTYPE") && !log.stderr.contains("panicked"), "{log:?}");

    let down = common::ctl(&dead_url(), &["status"]).output().unwrap();
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("redis unreachable at redis://127.0.0.1:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tails_follow_new_entries_until_sigterm() {
    let env = Env::start().await;
    publish(&env, &[outcome(&env, "before", "executed", "1")]).await;
    let spawn = |args: &[&str]| common::Proc::new(env.cmd(args).stdout(Stdio::piped()).spawn().unwrap());
    let log = spawn(&["log", "tail", "-n", "1", "--follow", "--json"]);
    let opps = spawn(&["opps", "tail", "-n", "0", "--follow"]);
    tokio::time::sleep(Duration::from_millis(800)).await;
    publish(&env, &[outcome(&env, "after", "partial", "-0.1"), failure(&env, "broken", "unwound")]).await;
    publish(&env, &[storm_bus::opps::entry(env.bus.keys(), 1000, &opportunity("live1", 12)).unwrap()]).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut printed = Vec::new();
    for child in [log, opps] {
        let (st, _, stdout, _) = child.stop("TERM", Duration::from_secs(2)).await;
        assert!(st.success(), "{st:?}");
        printed.push(stdout);
    }
    let ids: Vec<String> = printed[0]
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["fields"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["before", "after", "broken"], "{}", printed[0]);
    assert!(printed[1].contains("live1") && printed[1].contains("BUY BTCUSDT 0.01666 @ 60000.00"), "{}", printed[1]);
    assert!(printed[1].contains("waiting for opportunities"), "{}", printed[1]);
}
