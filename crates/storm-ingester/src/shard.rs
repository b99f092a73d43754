//! Sharding streams over connections: which connection carries which stream.
//!
//! [`ShardPlanner`] owns the assignment and, given the next wanted set, returns a [`ShardPlan`]:
//! connections to open, connections to close, and per connection the streams to unsubscribe and
//! to subscribe. Rules, each checked by the property tests in `tests/shard_properties.rs`:
//!
//! 1. every wanted stream is on exactly one connection, and no unwanted stream on any;
//! 2. no connection holds more than the cap (`max_streams_per_connection`, clamped to
//!    `1..=` the venue's maximum);
//! 3. **stability**: a stream that stays wanted stays on its connection — removals never move
//!    other streams (moving one would mean an unsubscribe, a subscribe and a gap in its data);
//! 4. new streams fill the room on existing connections (oldest first) before any connection is
//!    opened; a connection left empty is reused for new streams, else closed (without
//!    unsubscribing first: closing drops its streams anyway and saves message budget).
//!
//! On a connection, send the unsubscribes before the subscribes, so its stream count never
//! exceeds the cap even for a moment. The planner is generic over the stream key (the ingester
//! uses [`storm_venues::adapter::StreamName`]) and does no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A connection slot, numbered in opening order; never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn-{}", self.0)
    }
}

/// Subscription changes for one connection; both lists sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnChanges<K> {
    /// Streams to unsubscribe (send first).
    pub unsubscribe: Vec<K>,
    /// Streams to subscribe.
    pub subscribe: Vec<K>,
}

impl<K> Default for ConnChanges<K> {
    fn default() -> Self {
        Self { unsubscribe: Vec::new(), subscribe: Vec::new() }
    }
}

/// What to do to reach the new assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardPlan<K> {
    /// Connections to open (their streams are in `changes` as subscribes).
    pub open: Vec<ConnId>,
    /// Connections to close; they have no entry in `changes`.
    pub close: Vec<ConnId>,
    /// Per connection (existing or opened), the streams to unsubscribe and subscribe.
    pub changes: BTreeMap<ConnId, ConnChanges<K>>,
}

impl<K> Default for ShardPlan<K> {
    fn default() -> Self {
        Self { open: Vec::new(), close: Vec::new(), changes: BTreeMap::new() }
    }
}

impl<K> ShardPlan<K> {
    /// True when nothing is to be done.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty() && self.close.is_empty() && self.changes.is_empty()
    }
}

/// The assignment of streams to connections (see the module docs for its rules).
#[derive(Clone, Debug)]
pub struct ShardPlanner<K> {
    cap: usize,
    connections: BTreeMap<ConnId, BTreeSet<K>>,
    home: BTreeMap<K, ConnId>,
    next_id: u64,
}

impl<K: Ord + Clone> ShardPlanner<K> {
    /// A planner with no connections, allowing `requested_per_connection` streams per
    /// connection, clamped to `1..=venue_max` (a venue maximum of 0 is treated as 1).
    pub fn new(requested_per_connection: usize, venue_max: usize) -> Self {
        let cap = requested_per_connection.clamp(1, venue_max.max(1));
        Self { cap, connections: BTreeMap::new(), home: BTreeMap::new(), next_id: 0 }
    }

    /// The effective streams-per-connection cap.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// The connection carrying `stream`, if it is assigned.
    pub fn connection_of(&self, stream: &K) -> Option<ConnId> {
        self.home.get(stream).copied()
    }

    /// The streams of one connection (all of them, to resubscribe after a reconnect).
    pub fn streams_of(&self, conn: ConnId) -> Option<&BTreeSet<K>> {
        self.connections.get(&conn)
    }

    /// Every connection with its streams, in id order.
    pub fn connections(&self) -> impl Iterator<Item = (ConnId, &BTreeSet<K>)> {
        self.connections.iter().map(|(id, streams)| (*id, streams))
    }

    /// Number of assigned streams.
    pub fn stream_count(&self) -> usize {
        self.home.len()
    }

    /// Moves to the assignment for `wanted` and returns the steps to get there.
    pub fn plan(&mut self, wanted: &BTreeSet<K>) -> ShardPlan<K> {
        let mut plan = ShardPlan::default();

        let gone: Vec<(K, ConnId)> =
            self.home.iter().filter(|(k, _)| !wanted.contains(*k)).map(|(k, c)| (k.clone(), *c)).collect();
        for (stream, conn) in gone {
            self.home.remove(&stream);
            if let Some(streams) = self.connections.get_mut(&conn) {
                streams.remove(&stream);
            }
            plan.changes.entry(conn).or_default().unsubscribe.push(stream);
        }

        let new_streams: Vec<K> = wanted.iter().filter(|k| !self.home.contains_key(*k)).cloned().collect();
        let mut new_streams = new_streams.into_iter().peekable();
        for (conn, streams) in self.connections.iter_mut() {
            let room = self.cap.saturating_sub(streams.len());
            for stream in new_streams.by_ref().take(room) {
                streams.insert(stream.clone());
                self.home.insert(stream.clone(), *conn);
                plan.changes.entry(*conn).or_default().subscribe.push(stream);
            }
        }

        let emptied: Vec<ConnId> = self.connections.iter().filter(|(_, s)| s.is_empty()).map(|(c, _)| *c).collect();
        for conn in emptied {
            self.connections.remove(&conn);
            plan.changes.remove(&conn);
            plan.close.push(conn);
        }

        while new_streams.peek().is_some() {
            let conn = self.fresh_id();
            let batch: Vec<K> = new_streams.by_ref().take(self.cap).collect();
            for stream in &batch {
                self.home.insert(stream.clone(), conn);
            }
            self.connections.insert(conn, batch.iter().cloned().collect());
            plan.open.push(conn);
            plan.changes.insert(conn, ConnChanges { unsubscribe: Vec::new(), subscribe: batch });
        }
        plan
    }

    /// Moves every stream of `old` to a new connection (rotation before the venue's maximum
    /// age, or replacing a connection that must be reopened) and returns the new id. The caller
    /// opens and subscribes the new connection, then closes `old`.
    pub fn replace_connection(&mut self, old: ConnId) -> Option<ConnId> {
        let streams = self.connections.remove(&old)?;
        let new = self.fresh_id();
        for stream in &streams {
            self.home.insert(stream.clone(), new);
        }
        self.connections.insert(new, streams);
        Some(new)
    }

    fn fresh_id(&mut self) -> ConnId {
        let id = ConnId(self.next_id);
        self.next_id += 1;
        id
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn set(range: std::ops::Range<u32>) -> BTreeSet<u32> {
        range.collect()
    }

    fn sizes(planner: &ShardPlanner<u32>) -> Vec<(u64, usize)> {
        planner.connections().map(|(c, s)| (c.0, s.len())).collect()
    }

    #[test]
    fn cap_is_clamped_to_the_venue_maximum_and_at_least_one() {
        assert_eq!(ShardPlanner::<u32>::new(200, 1024).cap(), 200);
        assert_eq!(ShardPlanner::<u32>::new(5000, 1024).cap(), 1024);
        assert_eq!(ShardPlanner::<u32>::new(0, 1024).cap(), 1);
        assert_eq!(ShardPlanner::<u32>::new(10, 0).cap(), 1);
    }

    #[test]
    fn a_thousand_streams_at_cap_200_open_five_full_connections() {
        let mut planner = ShardPlanner::new(200, 1024);
        let plan = planner.plan(&set(0..1000));
        assert_eq!(plan.open, [ConnId(0), ConnId(1), ConnId(2), ConnId(3), ConnId(4)]);
        assert!(plan.close.is_empty());
        assert!(plan.changes.values().all(|c| c.subscribe.len() == 200 && c.unsubscribe.is_empty()));
        assert_eq!(plan.changes[&ConnId(1)].subscribe.first(), Some(&200), "deterministic, in key order");
        assert_eq!(planner.stream_count(), 1000);
        assert!(planner.plan(&set(0..1000)).is_empty(), "same wanted set, nothing to do");
    }

    #[test]
    fn new_streams_fill_existing_connections_before_opening_one() {
        let mut planner = ShardPlanner::new(3, 1024);
        planner.plan(&set(0..5)); // conn-0: 0,1,2  conn-1: 3,4
        let plan = planner.plan(&set(0..8));
        assert_eq!(plan.changes[&ConnId(1)].subscribe, [5]);
        assert_eq!(plan.open, [ConnId(2)]);
        assert_eq!(plan.changes[&ConnId(2)].subscribe, [6, 7]);
        assert_eq!(sizes(&planner), [(0, 3), (1, 3), (2, 2)]);
    }

    #[test]
    fn removing_streams_never_moves_the_others() {
        let mut planner = ShardPlanner::new(3, 1024);
        planner.plan(&set(0..9));
        let before: Vec<Option<ConnId>> = (0..9).map(|k| planner.connection_of(&k)).collect();
        let wanted: BTreeSet<u32> = [0, 2, 4, 8].into();
        let plan = planner.plan(&wanted);
        assert!(plan.open.is_empty() && plan.close.is_empty());
        assert_eq!(plan.changes[&ConnId(0)].unsubscribe, [1]);
        assert_eq!(plan.changes[&ConnId(1)].unsubscribe, [3, 5]);
        assert_eq!(plan.changes[&ConnId(2)].unsubscribe, [6, 7]);
        for k in wanted {
            assert_eq!(planner.connection_of(&k), before[k as usize], "stream {k} moved");
        }
        assert_eq!(planner.connection_of(&1), None);
    }

    #[test]
    fn an_emptied_connection_is_closed_without_unsubscribing() {
        let mut planner = ShardPlanner::new(2, 1024);
        planner.plan(&set(0..4));
        let plan = planner.plan(&set(0..2));
        assert_eq!(plan.close, [ConnId(1)]);
        assert!(plan.changes.is_empty(), "{plan:?}");
        assert_eq!(planner.streams_of(ConnId(1)), None);
    }

    #[test]
    fn an_emptied_connection_is_reused_for_new_streams() {
        let mut planner = ShardPlanner::new(2, 1024);
        planner.plan(&set(0..4));
        let plan = planner.plan(&[0, 1, 10].into());
        assert!(plan.open.is_empty() && plan.close.is_empty(), "{plan:?}");
        assert_eq!(plan.changes[&ConnId(1)], ConnChanges { unsubscribe: vec![2, 3], subscribe: vec![10] });
    }

    #[test]
    fn replacing_a_connection_moves_all_its_streams_to_a_new_id() {
        let mut planner = ShardPlanner::new(2, 1024);
        planner.plan(&set(0..3));
        let new = planner.replace_connection(ConnId(0)).unwrap();
        assert_eq!(new, ConnId(2));
        assert_eq!(planner.streams_of(new).unwrap(), &set(0..2));
        assert_eq!(planner.connection_of(&0), Some(new));
        assert!(planner.replace_connection(ConnId(0)).is_none(), "gone");
        assert!(planner.plan(&set(0..3)).is_empty());
    }

    #[test]
    fn emptying_the_wanted_set_closes_every_connection() {
        let mut planner = ShardPlanner::new(2, 1024);
        planner.plan(&set(0..5));
        let plan = planner.plan(&BTreeSet::new());
        assert_eq!(plan.close, [ConnId(0), ConnId(1), ConnId(2)]);
        assert_eq!((planner.stream_count(), planner.connections().count()), (0, 0));
    }
}
