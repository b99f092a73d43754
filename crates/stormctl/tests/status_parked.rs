//! `stormctl status` shows the executor's parked chains (`storm:exec:parked`: orders whose status
//! could not be resolved, waiting for an operator), human and `--json`, against a real Redis.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Env;
use redis::AsyncCommands;
use storm_core::time::now_millis;

#[tokio::test]
async fn status_lists_parked_chains_with_their_unresolved_orders() {
    let env = Env::start().await;
    let mut c = env.conn().await;
    let empty = env.run(&["status"]).ok().stdout;
    assert!(empty.contains("parked chains (storm:exec:parked): none"), "{empty}");
    // As the executor writes it (storm_executor::outcome::parked_json).
    let parked = serde_json::json!({
        "id": "5a5a000000000001",
        "path": "USDT>BTC>ETH>USDT",
        "asset": "USDT",
        "reason": "st5a5a000000000001-2: the order query cannot succeed: rejected by venue: -2015 Invalid API-key, IP, or permissions for action.",
        "unresolved": ["st5a5a000000000001-2 ETHBTC"],
        "executor": "exec-a",
        "time_ms": now_millis() - 90_000,
    });
    let _: () = c.hset("storm:exec:parked", "5a5a000000000001", parked.to_string()).await.unwrap();
    let _: () = c.hset("storm:exec:parked", "broken", "not json").await.unwrap();

    let human = env.run(&["status"]).ok().stdout;
    assert!(human.contains("parked chains (storm:exec:parked): 2"), "{human}");
    let row = human.lines().find(|l| l.contains("5a5a000000000001")).expect("a row for the parked chain");
    assert!(row.contains("st5a5a000000000001-2 ETHBTC") && row.contains("-2015") && row.contains("exec-a"), "{row}");
    assert!(row.contains("1m30s") || row.contains("1m31s"), "age: {row}");
    assert!(human.contains("storm:exec:parked broken: unreadable"), "{human}");

    let j = env.run(&["status", "--json"]).ok().json();
    assert_eq!(j["exec_parked_key"], "storm:exec:parked");
    let list = j["parked"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{j}");
    let p = list.iter().find(|p| p["id"] == "5a5a000000000001").unwrap();
    assert_eq!(p["unresolved"][0], "st5a5a000000000001-2 ETHBTC");
    assert_eq!(p["executor"], "exec-a");
    assert!(p["reason"].as_str().unwrap().contains("-2015"));
}
