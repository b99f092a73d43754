//! What a connection tells booksync about its depth books besides the diffs: that they are still
//! the venue's although nothing changed (`alive`), and that one is no longer carried (`unsub`).
//!
//! Why: a quiet symbol is normal on a real venue, so "no diff for a while" cannot mean "stale".
//! Only the connection knows whether it is healthy, so each one writes an [`MdEvent::Alive`] on
//! the depth stream every liveness interval, listing its **confirmed** depth symbols — those whose
//! SUBSCRIBE the venue acknowledged in the current session — as long as it heard from the venue
//! (any frame: data, a reply, a pong) within the last two intervals. When it has heard nothing
//! for half an interval it pings, so a quiet but healthy connection always has a fresh pong. A
//! stalled or dropped connection stops vouching, and booksync marks its books stale once no
//! liveness has covered them for `stale_after_ms`. The entry is sent through the same channel as
//! the connection's diffs, after them, so everything received before it is on the stream before it;
//! its `time_received` is when the venue was last heard, not when the entry was written.
//!
//! A depth stream that is unsubscribed (or whose connection is closed because nothing on it is
//! wanted any more) gets an [`MdEvent::Unsubscribed`] marker after its last forwarded diff, so
//! booksync drops the book instead of serving it as live forever.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use storm_core::time::now_micros;
use storm_core::{Channel, DepthAlive, MdEvent, StreamUnsubscribed, Symbol};
use storm_venues::adapter::{StreamName, Subscription, VenueAdapter};

use crate::shard::ConnId;

/// One session's confirmed depth symbols and its liveness interval.
#[derive(Debug)]
pub(crate) struct Liveness {
    interval: Duration,
    confirmed: BTreeSet<Symbol>,
}

impl Liveness {
    /// Nothing confirmed yet (a new session), vouching every `interval`.
    pub(crate) fn new(interval: Duration) -> Self {
        Self { interval, confirmed: BTreeSet::new() }
    }

    /// The venue acknowledged the SUBSCRIBE of `acked`: the depth ones still carried are confirmed.
    pub(crate) fn confirm(&mut self, carried: &BTreeMap<StreamName, Subscription>, acked: &[StreamName]) {
        for sub in acked.iter().filter_map(|s| carried.get(s)) {
            if sub.channel == Channel::Depth {
                self.confirmed.insert(sub.symbol.clone());
            }
        }
    }

    /// `removed` are no longer carried.
    pub(crate) fn forget(&mut self, adapter: &dyn VenueAdapter, removed: &[StreamName]) {
        for sub in removed.iter().filter_map(|s| adapter.subscription_of(s.as_str()).ok()) {
            self.confirmed.remove(&sub.symbol);
        }
    }

    /// True when nothing was heard for half an interval: time to draw a pong.
    pub(crate) fn wants_ping(&self, since_heard: Duration) -> bool {
        since_heard >= self.interval / 2
    }

    /// The liveness entry to write now, when the connection heard from the venue within two
    /// intervals and confirms at least one depth symbol.
    pub(crate) fn entry(&self, conn: ConnId, since_heard: Duration) -> Option<MdEvent> {
        if since_heard > self.interval * 2 || self.confirmed.is_empty() {
            return None;
        }
        let ago = u64::try_from(since_heard.as_micros()).unwrap_or(u64::MAX);
        Some(MdEvent::Alive(DepthAlive {
            conn: conn.to_string(),
            symbols: self.confirmed.iter().cloned().collect(),
            time_received: now_micros().saturating_sub(ago),
        }))
    }
}

/// Unsubscribe markers for the depth streams among `streams`.
pub(crate) fn unsubscribed(adapter: &dyn VenueAdapter, streams: &[StreamName]) -> Vec<MdEvent> {
    let now = now_micros();
    streams
        .iter()
        .filter_map(|s| adapter.subscription_of(s.as_str()).ok())
        .filter(|sub| sub.channel == Channel::Depth)
        .map(|sub| MdEvent::Unsubscribed(StreamUnsubscribed { symbol: sub.symbol, time_received: now }))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use storm_venues::binance::adapter::BinanceAdapter;

    use super::*;

    fn names(list: &[&str]) -> Vec<StreamName> {
        list.iter().map(|s| StreamName::new(*s)).collect()
    }

    fn carried(list: &[&str]) -> BTreeMap<StreamName, Subscription> {
        names(list).into_iter().map(|s| (s.clone(), BinanceAdapter.subscription_of(s.as_str()).unwrap())).collect()
    }

    fn symbols(ev: Option<MdEvent>) -> Vec<String> {
        match ev {
            Some(MdEvent::Alive(a)) => a.symbols.iter().map(|s| s.to_string()).collect(),
            other => panic!("not a liveness entry: {other:?}"),
        }
    }

    #[test]
    fn only_acknowledged_depth_symbols_are_vouched_for_while_the_venue_is_heard() {
        let second = Duration::from_secs(1);
        let mut l = Liveness::new(second);
        assert!(l.entry(ConnId(1), Duration::ZERO).is_none(), "nothing confirmed yet");
        let streams = carried(&["btcusdt@depth@100ms", "ethusdt@depth@100ms", "ethusdt@trade"]);
        l.confirm(&streams, &names(&["btcusdt@depth@100ms", "ethusdt@trade", "xrpusdt@depth@100ms"]));
        assert_eq!(symbols(l.entry(ConnId(1), Duration::ZERO)), ["BTCUSDT"]);
        l.confirm(&streams, &names(&["ethusdt@depth@100ms"]));
        assert_eq!(symbols(l.entry(ConnId(1), second * 2)), ["BTCUSDT", "ETHUSDT"]);
        assert!(l.entry(ConnId(1), second * 2 + Duration::from_millis(1)).is_none(), "silent too long");
        l.forget(&BinanceAdapter, &names(&["btcusdt@depth@100ms"]));
        assert_eq!(symbols(l.entry(ConnId(1), Duration::ZERO)), ["ETHUSDT"]);
        assert!(!l.wants_ping(Duration::from_millis(499)) && l.wants_ping(Duration::from_millis(500)));
    }

    #[test]
    fn unsubscribe_markers_are_for_depth_streams_only() {
        let markers = unsubscribed(&BinanceAdapter, &names(&["btcusdt@depth@100ms", "ethusdt@trade", "bogus"]));
        assert!(
            matches!(markers.as_slice(), [MdEvent::Unsubscribed(u)] if u.symbol.as_str() == "BTCUSDT"),
            "{markers:?}"
        );
    }
}
