//! The decimal functions of the executor's Lua scripts on a real redis-server: the sum that keeps
//! the day's loss (`storm:exec:loss:<day>`) agrees with `Decimal` exactly, where doubles round.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use rust_decimal::Decimal;
use storm_testkit::RedisServer;

/// The Lua addition the outcome script uses is exact: it agrees with `Decimal` on sums that a
/// double would round, across signs, scales and carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lua_decimal_sum_is_exact() {
    let server = RedisServer::start().unwrap();
    let mut c = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let script = format!(
        "{}\nlocal r = dadd(ARGV[1], ARGV[2])\nif r == nil then return 'nil' end\nreturn r",
        storm_executor::lua_decimal::SOURCE
    );
    let eval = |a: &str, b: &str| redis::cmd("EVAL").arg(&script).arg(0).arg(a).arg(b).clone();
    let mut pairs: Vec<(String, String)> = [
        ("0.1", "0.2"),
        ("0", "0"),
        ("-0", "0.000"),
        ("999.999", "0.001"),
        ("-1", "1"),
        ("-1.5", "1.25"),
        ("1.25", "-1.5"),
        ("9007199254740993", "1"),
        ("0.30000000000000000001", "-0.3"),
        ("00012.50", "-12.5"),
        ("-0.00000001", "-99999999.99999999"),
        ("79228162514264337593543950334", "1"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    // And a few hundred pseudo-random ones (a fixed LCG: the same every run).
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        x
    };
    for _ in 0..300 {
        let mk = |r: u64, s: u64| {
            let v = Decimal::new((r % 2_000_000_000_000) as i64 - 1_000_000_000_000, (s % 13) as u32);
            v.to_string()
        };
        let (a, b) = (mk(next(), next()), mk(next(), next()));
        pairs.push((a, b));
    }
    for (a, b) in pairs {
        let got: String = eval(&a, &b).query_async(&mut c).await.unwrap();
        let want = (a.parse::<Decimal>().unwrap() + b.parse::<Decimal>().unwrap()).normalize().to_string();
        assert_eq!(got, want, "{a} + {b}");
    }
    for (a, b) in [("garbage", "1"), ("1", ""), ("1e5", "1"), ("-", "1")] {
        let got: String = eval(a, b).query_async(&mut c).await.unwrap();
        assert_eq!(got, "nil", "{a:?} + {b:?} is unreadable");
    }
}
