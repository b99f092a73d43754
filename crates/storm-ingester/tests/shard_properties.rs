//! Property tests of the shard planner against its invariants, over random sequences of wanted
//! sets: every wanted stream on exactly one connection, none over the cap, unchanged streams
//! never move, new streams fill existing connections before one is opened, and each plan
//! describes exactly the change from the previous assignment to the next.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use storm_ingester::shard::{ConnId, ShardPlan, ShardPlanner};
use storm_ingester::wanted::WantedSet;
use storm_venues::adapter::Subscription;
use storm_venues::binance::adapter::BinanceAdapter;

type Assignment = BTreeMap<ConnId, BTreeSet<u16>>;

fn snapshot(planner: &ShardPlanner<u16>) -> Assignment {
    planner.connections().map(|(id, streams)| (id, streams.clone())).collect()
}

/// Applies `plan` to `before` the way the connection tasks will: close, open, unsubscribe,
/// subscribe. Fails on any step that makes no sense (subscribing twice, unknown connection ...).
fn apply(before: &Assignment, plan: &ShardPlan<u16>) -> Result<Assignment, TestCaseError> {
    let mut after = before.clone();
    for conn in &plan.close {
        prop_assert!(after.remove(conn).is_some(), "closing unknown {conn}");
        prop_assert!(!plan.changes.contains_key(conn), "changes for closed {conn}");
    }
    for conn in &plan.open {
        prop_assert!(after.insert(*conn, BTreeSet::new()).is_none(), "opening existing {conn}");
    }
    for (conn, changes) in &plan.changes {
        let streams = after.get_mut(conn).ok_or_else(|| TestCaseError::fail(format!("changes for unknown {conn}")))?;
        for s in &changes.unsubscribe {
            prop_assert!(streams.remove(s), "{conn}: unsubscribing {s} it does not hold");
        }
        for s in &changes.subscribe {
            prop_assert!(streams.insert(*s), "{conn}: subscribing {s} twice");
        }
        prop_assert!(changes.unsubscribe.windows(2).all(|w| w[0] < w[1]), "unsubscribes sorted");
        prop_assert!(changes.subscribe.windows(2).all(|w| w[0] < w[1]), "subscribes sorted");
    }
    Ok(after)
}

fn check_step(
    planner: &ShardPlanner<u16>,
    before: &Assignment,
    plan: &ShardPlan<u16>,
    wanted: &BTreeSet<u16>,
) -> Result<(), TestCaseError> {
    let cap = planner.cap();
    let after = snapshot(planner);
    prop_assert_eq!(&apply(before, plan)?, &after, "the plan must describe the change exactly");

    let mut seen = BTreeSet::new();
    for (conn, streams) in &after {
        prop_assert!(!streams.is_empty(), "{} is empty but open", conn);
        prop_assert!(streams.len() <= cap, "{} holds {} > cap {}", conn, streams.len(), cap);
        for s in streams {
            prop_assert!(seen.insert(*s), "stream {} on two connections", s);
            prop_assert_eq!(planner.connection_of(s), Some(*conn));
        }
    }
    prop_assert_eq!(&seen, wanted, "exactly the wanted streams are assigned");

    let home_before: BTreeMap<u16, ConnId> =
        before.iter().flat_map(|(c, ss)| ss.iter().map(move |s| (*s, *c))).collect();
    for s in wanted {
        if let Some(conn) = home_before.get(s) {
            prop_assert_eq!(planner.connection_of(s), Some(*conn), "stream {} moved", s);
        }
    }
    // New streams fill the room left on existing connections first; only the rest opens
    // connections, as few as the cap allows.
    let new_streams = wanted.iter().filter(|s| !home_before.contains_key(s)).count();
    let room: usize = before.values().map(|ss| cap - ss.iter().filter(|s| wanted.contains(s)).count()).sum();
    prop_assert_eq!(plan.open.len(), new_streams.saturating_sub(room).div_ceil(cap), "connections opened");
    if !plan.open.is_empty() {
        for (conn, streams) in &after {
            if before.contains_key(conn) {
                prop_assert_eq!(streams.len(), cap, "{} had room while a connection was opened", conn);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn planner_keeps_its_invariants_over_any_sequence_of_wanted_sets(
        requested_cap in 0usize..12,
        venue_max in 1usize..10,
        steps in proptest::collection::vec(proptest::collection::btree_set(0u16..60, 0..60), 1..12),
    ) {
        let mut planner = ShardPlanner::new(requested_cap, venue_max);
        prop_assert!(planner.cap() >= 1 && planner.cap() <= venue_max);
        for wanted in &steps {
            let before = snapshot(&planner);
            let plan = planner.plan(wanted);
            check_step(&planner, &before, &plan, wanted)?;
            prop_assert!(planner.plan(wanted).is_empty(), "planning the same set twice is a no-op");
        }
    }

    #[test]
    fn rotation_keeps_every_stream_and_moves_only_the_rotated_connection(
        wanted in proptest::collection::btree_set(0u16..200, 1..200),
        cap in 1usize..50,
        pick in any::<proptest::sample::Index>(),
    ) {
        let mut planner = ShardPlanner::new(cap, 1024);
        planner.plan(&wanted);
        let before = snapshot(&planner);
        let ids: Vec<ConnId> = before.keys().copied().collect();
        let old = ids[pick.index(ids.len())];
        let new = planner.replace_connection(old).expect("a live connection");
        let after = snapshot(&planner);
        prop_assert_eq!(after.get(&new), before.get(&old));
        prop_assert!(!after.contains_key(&old));
        for (conn, streams) in &before {
            if *conn != old {
                prop_assert_eq!(after.get(conn), Some(streams));
            }
        }
        prop_assert!(planner.plan(&wanted).is_empty());
    }
}

#[test]
fn a_thousand_binance_subscriptions_shard_into_full_connections_of_venue_streams() {
    let members: Vec<String> = (0..1_000).map(|i| format!("depth:SYM{i:04}USDT")).collect();
    let (wanted, rejected) = WantedSet::from_sources(Vec::<Subscription>::new(), &members);
    assert!(rejected.is_empty());
    let streams = wanted.streams(&BinanceAdapter);
    let mut planner = ShardPlanner::new(200, 1024);
    let plan = planner.plan(&streams.names());
    assert_eq!(plan.open.len(), 5);
    let first = &plan.changes[&plan.open[0]].subscribe;
    assert_eq!(first[0].as_str(), "sym0000usdt@depth@100ms");
    assert_eq!(first.len(), 200);
}
