//! Rotation without a window: the old and the replacement connection overlap, and every event
//! is forwarded exactly once, in order.
//!
//! Binance closes a connection at 24 h. The engine rotates earlier: it opens a replacement with
//! the same streams while the old connection keeps flowing, and closes the old one once the
//! replacement is proven to carry every stream (or after `rotation_overlap_ms`). During the
//! overlap both sockets deliver the same events; a [`Handover`] shared by the two decides, per
//! frame, which copy goes to Redis:
//!
//! - each stream remembers the highest sequence forwarded (depth `u`, trade id, bookTicker `u`,
//!   kline event time); a frame whose sequence is not above it is a copy and is dropped;
//! - the **old** connection forwards as before (above the mark);
//! - the **new** connection forwards a stream only once it has *joined* it: its frame overlaps
//!   what was forwarded or, for gap-free sequences (depth, trades), continues it directly
//!   (`first <= last + 1`). Until then its frames are dropped: the old connection, still
//!   subscribed, delivers those events itself.
//!
//! Each socket delivers its stream in order and complete, so once joined, whichever copy comes
//! first is forwarded and nothing is lost. A stream the new connection could not join before
//! the old one closed, *and* for which it dropped frames beyond the mark, may have lost events:
//! [`Handover::finish`] names those, and the engine writes a reset marker for the depth ones.

use std::collections::HashMap;
use std::sync::Mutex;

use storm_core::MdEvent;
use storm_venues::adapter::Subscription;

/// Which side of a rotation a connection is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The connection being replaced.
    Old,
    /// The replacement.
    New,
}

/// The sequence range an event covers, and whether the venue's sequence has no holes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seq {
    first: u64,
    last: u64,
    gap_free: bool,
}

impl Seq {
    /// The sequence of a market-data event (`None` for markers).
    pub fn of(event: &MdEvent) -> Option<Seq> {
        let (first, last, gap_free) = match event {
            MdEvent::Depth(d) => (d.first_update_id, d.last_update_id, true),
            MdEvent::Trade(t) => (t.trade_id, t.trade_id, true),
            MdEvent::Ticker(t) => (t.update_id, t.update_id, false),
            MdEvent::Kline(k) => (k.time_exchange, k.time_exchange, false),
            MdEvent::Reset(_) | MdEvent::Alive(_) | MdEvent::Unsubscribed(_) => return None,
        };
        Some(Seq { first, last, gap_free })
    }
}

#[derive(Debug, Default)]
struct StreamMark {
    /// Highest sequence forwarded since the handover began.
    last: Option<u64>,
    /// The new connection has joined this stream.
    joined: bool,
    /// Highest sequence the new connection dropped before joining.
    dropped_beyond: Option<u64>,
}

#[derive(Debug, Default)]
struct State {
    streams: HashMap<Subscription, StreamMark>,
    unjoined: usize,
    finished: bool,
}

/// The shared decision of one rotation (see the module docs).
#[derive(Debug, Default)]
pub struct Handover {
    state: Mutex<State>,
}

impl Handover {
    /// A handover of `streams` from the old connection to the new one.
    pub fn new(streams: impl IntoIterator<Item = Subscription>) -> Self {
        let streams: HashMap<_, _> = streams.into_iter().map(|s| (s, StreamMark::default())).collect();
        let unjoined = streams.len();
        Self { state: Mutex::new(State { streams, unjoined, finished: false }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a frame of `sub` with sequence `seq`, received by `role`, is forwarded.
    pub fn admit(&self, role: Role, sub: &Subscription, seq: Option<Seq>) -> bool {
        let mut state = self.lock();
        let finished = state.finished;
        let Some(mark) = state.streams.get_mut(sub) else {
            // Not part of the handover: subscribed on the new connection since (forward), or
            // unsubscribed during it (the old connection must not forward it).
            return role == Role::New;
        };
        let Some(seq) = seq else { return (role == Role::Old) != finished };
        let above = mark.last.is_none_or(|last| seq.last > last);
        if role == Role::New && !mark.joined && !finished {
            let joins = match mark.last {
                None => false,
                Some(last) if seq.gap_free => seq.first <= last.saturating_add(1),
                Some(last) => seq.first <= last,
            };
            if !joins {
                mark.dropped_beyond = Some(mark.dropped_beyond.map_or(seq.last, |d| d.max(seq.last)));
                return false;
            }
            mark.joined = true;
            state.unjoined -= 1;
            let Some(mark) = state.streams.get_mut(sub) else { return false };
            return Self::forward(mark, seq, above);
        }
        Self::forward(mark, seq, above)
    }

    fn forward(mark: &mut StreamMark, seq: Seq, above: bool) -> bool {
        if above {
            mark.last = Some(seq.last);
        }
        above
    }

    /// The stream is no longer wanted: neither connection forwards it under this handover.
    pub fn forget(&self, sub: &Subscription) {
        let mut state = self.lock();
        if let Some(mark) = state.streams.remove(sub) {
            if !mark.joined {
                state.unjoined -= 1;
            }
        }
    }

    /// True when the new connection has joined every stream.
    pub fn all_joined(&self) -> bool {
        self.lock().unjoined == 0
    }

    /// Ends the overlap (the old connection is about to close); returns the streams that may
    /// have lost events: not joined, with frames dropped beyond what was forwarded.
    pub fn finish(&self) -> Vec<Subscription> {
        let mut state = self.lock();
        state.finished = true;
        let mut lost = Vec::new();
        for (sub, mark) in state.streams.iter_mut() {
            if mark.joined {
                continue;
            }
            mark.joined = true;
            let dropped_unseen = match (mark.dropped_beyond, mark.last) {
                (Some(dropped), Some(last)) => dropped > last,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if dropped_unseen {
                lost.push(sub.clone());
            }
        }
        state.unjoined = 0;
        lost
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sub(s: &str) -> Subscription {
        s.parse().unwrap()
    }

    fn depth(first: u64, last: u64) -> Option<Seq> {
        Some(Seq { first, last, gap_free: true })
    }

    fn ticker(u: u64) -> Option<Seq> {
        Some(Seq { first: u, last: u, gap_free: false })
    }

    #[test]
    fn each_event_is_forwarded_once_whichever_socket_delivers_it_first() {
        let btc = sub("depth:BTCUSDT");
        let h = Handover::new([btc.clone()]);
        assert!(h.admit(Role::Old, &btc, depth(10, 12)));
        assert!(!h.admit(Role::New, &btc, depth(16, 18)), "new is ahead of a gap: the old one delivers 13..15");
        assert!(h.admit(Role::Old, &btc, depth(13, 15)));
        assert!(!h.all_joined());
        assert!(!h.admit(Role::New, &btc, depth(13, 15)), "a copy joins but is not forwarded twice");
        assert!(h.all_joined());
        assert!(h.admit(Role::New, &btc, depth(16, 18)), "new first this time");
        assert!(!h.admit(Role::Old, &btc, depth(16, 18)), "the old copy is dropped");
        assert!(h.finish().is_empty());
        assert!(h.admit(Role::New, &btc, depth(19, 20)));
    }

    #[test]
    fn a_directly_continuing_frame_joins_a_gap_free_stream() {
        let btc = sub("depth:BTCUSDT");
        let h = Handover::new([btc.clone()]);
        assert!(h.admit(Role::Old, &btc, depth(1, 5)));
        assert!(h.admit(Role::New, &btc, depth(6, 9)), "continues 5 directly");
        assert!(h.all_joined());
        assert!(!h.admit(Role::Old, &btc, depth(6, 9)));
    }

    #[test]
    fn non_contiguous_sequences_join_only_on_overlap() {
        let t = sub("ticker:ETHUSDT");
        let h = Handover::new([t.clone()]);
        assert!(h.admit(Role::Old, &t, ticker(100)));
        assert!(!h.admit(Role::New, &t, ticker(101)), "101 may not be the next update: wait for overlap");
        assert!(h.admit(Role::Old, &t, ticker(101)));
        assert!(!h.admit(Role::New, &t, ticker(101)));
        assert!(h.all_joined());
    }

    #[test]
    fn finish_names_streams_that_may_have_lost_events() {
        let (a, b, c) = (sub("depth:AAAUSDT"), sub("depth:BBBUSDT"), sub("depth:CCCUSDT"));
        let h = Handover::new([a.clone(), b.clone(), c.clone()]);
        assert!(h.admit(Role::Old, &a, depth(1, 1)));
        assert!(!h.admit(Role::New, &a, depth(5, 5)), "a: new saw 5, old only forwarded 1");
        assert!(!h.admit(Role::New, &b, depth(7, 7)), "b: the old one forwarded nothing at all");
        // c: quiet on both sockets, nothing can have been lost.
        let mut lost = h.finish();
        lost.sort_by_key(|s| s.member());
        assert_eq!(lost, [a.clone(), b.clone()]);
        assert!(h.admit(Role::New, &a, depth(6, 6)), "after finish the new connection forwards");
        assert!(h.admit(Role::New, &c, depth(1, 1)));
    }

    #[test]
    fn streams_outside_the_handover_belong_to_the_new_connection() {
        let (kept, added, dropped) = (sub("trade:AAAUSDT"), sub("trade:NEWUSDT"), sub("trade:OLDUSDT"));
        let h = Handover::new([kept.clone(), dropped.clone()]);
        h.forget(&dropped);
        assert!(!h.admit(Role::Old, &dropped, depth(1, 1)));
        assert!(h.admit(Role::New, &added, depth(1, 1)));
        assert!(!h.admit(Role::Old, &added, depth(1, 1)));
        assert!(!h.all_joined(), "kept is still unjoined");
        h.forget(&kept);
        assert!(h.all_joined());
    }
}
