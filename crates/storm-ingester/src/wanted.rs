//! The wanted set: what the ingester must keep subscribed, and what changed since last time.
//!
//! Wanted = the config's subscriptions (static list and "all markets" expansion) ∪ the members
//! of `storm:subs:<venue>`. Members that do not parse are returned to the caller (to log and
//! count), never fatal, and never stop the valid members. Sets are ordered
//! ([`Subscription`]'s order: symbol, channel, interval), so diffs and everything planned from
//! them come out in the same order on every run.

use std::collections::{BTreeMap, BTreeSet};

use storm_venues::adapter::{AdapterError, StreamName, Subscription, SubscriptionError, VenueAdapter};

/// The subscriptions the ingester must hold, deduplicated and ordered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WantedSet {
    subscriptions: BTreeSet<Subscription>,
}

/// What to change to go from one wanted set to the next; both lists sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WantedDiff {
    /// Wanted now, not before.
    pub to_add: Vec<Subscription>,
    /// Wanted before, not now.
    pub to_remove: Vec<Subscription>,
}

impl WantedDiff {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.to_add.is_empty() && self.to_remove.is_empty()
    }
}

/// A wanted set in the venue's stream names.
#[derive(Debug, Default)]
pub struct WantedStreams {
    /// Each stream with the subscription it serves.
    pub by_stream: BTreeMap<StreamName, Subscription>,
    /// Subscriptions the venue cannot serve (to log and count; they stay unsubscribed).
    pub unsupported: Vec<AdapterError>,
}

impl WantedStreams {
    /// The stream names, ordered: the input of [`crate::shard::ShardPlanner::plan`].
    pub fn names(&self) -> BTreeSet<StreamName> {
        self.by_stream.keys().cloned().collect()
    }
}

impl WantedSet {
    /// Configured subscriptions ∪ Redis set members. Returns the set and the members that did
    /// not parse (in input order).
    pub fn from_sources<M: AsRef<str>>(
        configured: impl IntoIterator<Item = Subscription>,
        redis_members: impl IntoIterator<Item = M>,
    ) -> (Self, Vec<SubscriptionError>) {
        let mut subscriptions: BTreeSet<Subscription> = configured.into_iter().collect();
        let mut rejected = Vec::new();
        for member in redis_members {
            match Subscription::parse(member.as_ref()) {
                Ok(subscription) => {
                    subscriptions.insert(subscription);
                }
                Err(error) => rejected.push(error),
            }
        }
        (Self { subscriptions }, rejected)
    }

    /// Number of subscriptions.
    pub fn len(&self) -> usize {
        self.subscriptions.len()
    }

    /// True when nothing is wanted.
    pub fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
    }

    /// True when `subscription` is wanted (e.g. to drop a frame for a stream nobody asked for).
    pub fn contains(&self, subscription: &Subscription) -> bool {
        self.subscriptions.contains(subscription)
    }

    /// The subscriptions, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Subscription> {
        self.subscriptions.iter()
    }

    /// What to add and remove to go from `self` (previous) to `next`.
    pub fn diff(&self, next: &WantedSet) -> WantedDiff {
        WantedDiff {
            to_add: next.subscriptions.difference(&self.subscriptions).cloned().collect(),
            to_remove: self.subscriptions.difference(&next.subscriptions).cloned().collect(),
        }
    }

    /// The set in `adapter`'s stream names.
    pub fn streams(&self, adapter: &dyn VenueAdapter) -> WantedStreams {
        let mut out = WantedStreams::default();
        for subscription in &self.subscriptions {
            match adapter.stream_name(subscription) {
                Ok(name) => {
                    out.by_stream.insert(name, subscription.clone());
                }
                Err(error) => out.unsupported.push(error),
            }
        }
        out
    }
}

impl FromIterator<Subscription> for WantedSet {
    fn from_iter<I: IntoIterator<Item = Subscription>>(iter: I) -> Self {
        Self { subscriptions: iter.into_iter().collect() }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use storm_venues::adapter::SubscriptionProblem;
    use storm_venues::binance::adapter::BinanceAdapter;

    use super::*;

    fn subs(members: &[&str]) -> Vec<Subscription> {
        members.iter().map(|m| m.parse().unwrap()).collect()
    }

    fn members(set: &WantedSet) -> Vec<String> {
        set.iter().map(Subscription::member).collect()
    }

    #[test]
    fn wanted_is_the_union_of_config_and_redis_members_deduplicated() {
        let configured = subs(&["depth:BTCUSDT", "ticker:ETHUSDT"]);
        let (wanted, rejected) = WantedSet::from_sources(
            configured,
            ["depth:btcusdt", "trade:BTCUSDT", "kline:BTCUSDT:1m", "DEPTH:BTCUSDT"],
        );
        assert!(rejected.is_empty());
        assert_eq!(members(&wanted), ["depth:BTCUSDT", "trade:BTCUSDT", "kline:BTCUSDT:1m", "ticker:ETHUSDT"]);
        assert!(wanted.contains(&"kline:BTCUSDT:1m".parse().unwrap()));
        assert!(!wanted.contains(&"kline:BTCUSDT:1h".parse().unwrap()));
    }

    #[test]
    fn bad_redis_members_are_reported_and_the_rest_kept() {
        let (wanted, rejected) =
            WantedSet::from_sources(Vec::new(), ["depth:", "foo:BTCUSDT", "trade:ETHBTC", "kline:BTCUSDT:7x"]);
        assert_eq!(members(&wanted), ["trade:ETHBTC"]);
        let problems: Vec<(String, SubscriptionProblem)> =
            rejected.into_iter().map(|e| (e.member, e.problem)).collect();
        assert_eq!(
            problems,
            [
                ("depth:".into(), SubscriptionProblem::MissingSymbol),
                ("foo:BTCUSDT".into(), SubscriptionProblem::UnknownChannel("foo".into())),
                ("kline:BTCUSDT:7x".into(), SubscriptionProblem::UnknownInterval("7x".into())),
            ]
        );
    }

    #[test]
    fn diff_lists_additions_and_removals_in_set_order() {
        let before: WantedSet = subs(&["trade:ETHBTC", "depth:BTCUSDT", "depth:ETHBTC"]).into_iter().collect();
        let after: WantedSet =
            subs(&["depth:ETHBTC", "trade:BNBUSDT", "depth:BTCUSDT", "ticker:AAVEUSDT"]).into_iter().collect();
        let diff = before.diff(&after);
        assert_eq!(diff.to_add, subs(&["ticker:AAVEUSDT", "trade:BNBUSDT"]));
        assert_eq!(diff.to_remove, subs(&["trade:ETHBTC"]));
        let back = after.diff(&before);
        assert_eq!((back.to_add, back.to_remove), (diff.to_remove, diff.to_add));
        assert!(after.diff(&after).is_empty());
        assert_eq!(WantedSet::default().diff(&after).to_add.len(), after.len());
    }

    #[test]
    fn streams_use_venue_names_and_report_what_the_venue_cannot_serve() {
        let wanted: WantedSet = subs(&["depth:BTCUSDT", "kline:ETHBTC:1m", "trade:BTC-USDT"]).into_iter().collect();
        let streams = wanted.streams(&BinanceAdapter);
        let names: Vec<&str> = streams.by_stream.keys().map(StreamName::as_str).collect();
        assert_eq!(names, ["btcusdt@depth@100ms", "ethbtc@kline_1m"]);
        assert_eq!(streams.names().len(), 2);
        assert_eq!(streams.unsupported.len(), 1, "{:?}", streams.unsupported);
        assert!(streams.unsupported[0].to_string().contains("trade:BTC-USDT"));
    }
}
