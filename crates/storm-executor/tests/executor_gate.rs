//! The gate's Lua script on a real redis-server: the balance comparison is exact on decimal
//! strings (no float rounding), the record check comes first, and `max_open_chains` is counted.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use redis::AsyncCommands;
use rust_decimal::Decimal;
use storm_bus::{BlockingConn, Bus, BusConfig};
use storm_core::Asset;
use storm_executor::gate::{pass, Ask, Gate};
use storm_executor::journal::ChainRecord;
use storm_testkit::RedisServer;
use tokio_util::sync::CancellationToken;

async fn ask_with(bus: &Bus, fast: Option<&BlockingConn>, id: &str, spend: &str, max_open: usize, write: bool) -> Gate {
    let record = ChainRecord::new(id, "USDT>BTC>ETH>USDT", &Asset::new("USDT"), "t", 1);
    let ask = Ask {
        record: &record,
        lease_ms: 1000,
        max_open,
        balance_key: Some("storm:balance:sim:acct"),
        spend: spend.parse::<Decimal>().unwrap(),
        local: storm_executor::gate::Local::None,
        venue: "sim",
        priced_on: (0, Vec::new()),
        books: Vec::new(),
        write,
        loss_cap: None,
    };
    pass(bus, fast, &ask).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balances_compare_exactly_and_open_chains_are_counted() {
    let server = RedisServer::start().unwrap();
    let bus = Bus::connect(BusConfig::new(server.url()), CancellationToken::new()).await.unwrap();
    let mut c = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let cases = [
        ("100", "99.99999999", true),
        ("100", "100", true),
        ("100.00000000", "100", true),
        ("99.999", "100", false),
        ("0.1", "0.10000001", false),
        // 0.1 + 0.2 as doubles is 0.30000000000000004 > 0.3: a float compare would refuse this.
        ("0.30000000000000000001", "0.3", true),
        ("9007199254740993", "9007199254740992.5", true),
        ("00012.50", "12.5", true),
        ("12.4999999999999999999", "12.5", false),
        ("-1", "0.5", false),
        ("0", "0.00000001", false),
    ];
    // The blocking fast path and the async connection run the same script: same answers.
    let fast = BlockingConn::new(&server.url());
    for path in [None, Some(&fast)] {
        for (n, (free, spend, go)) in cases.iter().enumerate() {
            let json = format!(r#"{{"free":"{free}","locked":"0","time":1}}"#);
            let _: () = c.hset("storm:balance:sim:acct", "USDT", json).await.unwrap();
            let got = ask_with(&bus, path, &format!("b{n}"), spend, 0, false).await;
            assert_eq!(matches!(got, Gate::Go(_)), *go, "free {free}, spend {spend}, fast {}: {got:?}", path.is_some());
        }
    }
    let _: () = c.del("storm:balance:sim:acct").await.unwrap();
    // No balance entry: the venue decides.
    assert_eq!(ask_with(&bus, Some(&fast), "nobal", "1000000", 0, false).await, Gate::Go(Vec::new()));
    // max_open_chains = 2: two chains start (and are journaled), the third is refused.
    assert_eq!(ask_with(&bus, Some(&fast), "o1", "1", 2, true).await, Gate::Go(Vec::new()));
    assert_eq!(ask_with(&bus, Some(&fast), "o2", "1", 2, true).await, Gate::Go(Vec::new()));
    assert_eq!(ask_with(&bus, Some(&fast), "o3", "1", 2, true).await, Gate::Full(2));
    // A journaled opportunity comes back as its record, before any other check.
    let _: () = c.set("storm:halt", "x").await.unwrap();
    assert!(
        matches!(ask_with(&bus, Some(&fast), "o1", "1", 2, true).await, Gate::Existing(r) if r.contains("\"opp_id\":\"o1\""))
    );
    assert_eq!(ask_with(&bus, Some(&fast), "o4", "1", 0, true).await, Gate::Halted("x".into()));
}
