//! The fence on a chain's journal record, on a real redis-server: while its owner holds the lease
//! nobody takes the chain; once the lease ran out another executor takes it with the next epoch,
//! and from then on every write, every order and the outcome of the stale owner are refused — and
//! nothing overwrites `done`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use rust_decimal::Decimal;
use storm_executor::claim::{take_over_as, Claim};
use storm_executor::gate::{pass, Ask, Gate};
use storm_executor::journal::{self, ChainRecord, JournalError};
use storm_executor::outcome::{self, ArbOutcome, Finish};
use storm_executor::Mode;

use common::Rig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_taken_over_fences_out_its_stale_owner() {
    let rig = Rig::start(6000, &[("USDT", 1_000)]).await;
    let bus = &rig.bus;
    let opp = rig.triangle("fe0c000000000001", Decimal::from(100), Decimal::new(5, 3), 60_000);
    let lease = Duration::from_millis(300);
    let a = ChainRecord::new(&opp.id, &opp.path, &opp.asset, "a", 1).with_plan(&opp, "1-0", Mode::Live);
    let ask = Ask {
        record: &a,
        lease_ms: 300,
        max_open: 0,
        balance_key: None,
        spend: Decimal::ZERO,
        local: storm_executor::gate::Local::None,
        venue: "sim",
        priced_on: (0, Vec::new()),
        books: Vec::new(),
        write: true,
        loss_cap: None,
    };
    assert_eq!(pass(bus, None, &ask).await.unwrap(), Gate::Go(Vec::new()));
    assert!(take_over_as(bus, &a, "b", lease).await.unwrap().is_none(), "a holds its lease");
    // "a" stalls and stops renewing: once its lease ran out, "b" takes the chain over.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (b, _) = loop {
        if let Some(taken) = take_over_as(bus, &a, "b", lease).await.unwrap() {
            break taken;
        }
        assert!(Instant::now() < deadline, "never taken over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!((b.owner.as_str(), b.epoch), ("b", 2));
    assert_eq!(rig.journal(&opp.id).await.unwrap()["epoch"], 2);
    // "a" wakes up: it may not send (its hold ran out and cannot be renewed) ...
    let stale = Claim::granted(&a, lease, Instant::now() - Duration::from_secs(1));
    assert!(matches!(stale.ensure(bus).await, Err(JournalError::Lost(_))));
    assert!(stale.is_lost());
    // ... nor write its late result ...
    let mut late = a.clone();
    late.path = "written by the stale owner".into();
    assert!(matches!(journal::save(bus, &late, 300).await, Err(JournalError::Lost(_))));
    assert_eq!(rig.journal(&opp.id).await.unwrap()["owner"], "b");
    // ... nor log an outcome.
    let out = ArbOutcome::new(&opp, "executed", None, "live", &Default::default(), 3);
    let how = |who| Finish {
        group: ("storm:opps", "executor"),
        entry_ids: Vec::new(),
        maxlen: 1_000,
        retention_ms: 60_000,
        executor: who,
        traded: Vec::new(),
    };
    assert!(!outcome::finish(bus, &how("a"), Some(&mut late), &out, None).await.unwrap());
    assert!(rig.outcomes(&opp.id).await.is_empty());
    // The owner writes and finishes; afterwards nothing overwrites "done" and a repeat only acks.
    journal::save(bus, &b, 300).await.unwrap();
    assert!(outcome::finish(bus, &how("b"), Some(&mut b.clone()), &out, None).await.unwrap());
    assert_eq!(rig.outcomes(&opp.id).await.len(), 1);
    assert!(matches!(journal::save(bus, &b, 300).await, Err(JournalError::Lost(_))), "running over done");
    assert_eq!(rig.journal(&opp.id).await.unwrap()["state"], "done");
    assert!(outcome::finish(bus, &how("b"), Some(&mut b.clone()), &out, None).await.unwrap());
    assert_eq!(rig.outcomes(&opp.id).await.len(), 1, "exactly one outcome");
    let mut c = rig.redis().await;
    let open: usize = c.hlen("storm:exec:open").await.unwrap();
    let leases: usize = c.zcard("storm:exec:lease").await.unwrap();
    assert_eq!((open, leases), (0, 0), "a finished chain leaves the open set and the leases");
}
