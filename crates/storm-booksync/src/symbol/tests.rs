//! The sync state machine on made-up sequences (the real recordings are in `tests/symbol_replay.rs`).
#![allow(clippy::unwrap_used)]

use super::*;
use storm_venues::adapter::VenueAdapter;
use storm_venues::binance::adapter::BinanceAdapter;

type Side<'a> = &'a [(&'a str, &'a str)];

fn levels(side: Side<'_>) -> Vec<Level> {
    side.iter().map(|(p, q)| Level::parse(p, q).unwrap()).collect()
}

/// A diff `U..=u`, stamped with times derived from `u` (exchange `u * 10`, received `u * 10 + 1`).
fn diff(first: u64, last: u64, bids: Side<'_>, asks: Side<'_>) -> DepthDiff {
    DepthDiff {
        symbol: Symbol::new("BTCUSDT"),
        first_update_id: first,
        last_update_id: last,
        bids: levels(bids),
        asks: levels(asks),
        time_exchange: last * 10,
        time_received: last * 10 + 1,
    }
}

fn empty(first: u64, last: u64) -> DepthDiff {
    diff(first, last, &[], &[])
}

fn snapshot(id: u64, bids: Side<'_>, asks: Side<'_>) -> DepthSnapshot {
    DepthSnapshot { last_update_id: id, bids: levels(bids), asks: levels(asks) }
}

const BIDS: Side<'static> = &[("10", "1"), ("9", "2"), ("8", "3"), ("7", "4")];
const ASKS: Side<'static> = &[("11", "1"), ("12", "2"), ("13", "3"), ("14", "4")];

fn new_book(buffer_max: usize, top_k: usize) -> SymbolBook {
    SymbolBook::new(Symbol::new("BTCUSDT"), BinanceAdapter.depth_sequencer(), buffer_max, top_k)
}

/// A live book at update 100 holding [`BIDS`] and [`ASKS`].
fn live_at_100(top_k: usize) -> SymbolBook {
    let mut b = new_book(100, top_k);
    assert_eq!(b.on_diff(empty(95, 100)), DiffOutcome::Buffered);
    b.snapshot_requested();
    let out = b.on_snapshot(snapshot(100, BIDS, ASKS));
    assert_eq!(out, SnapshotOutcome::Live { applied: 0, dropped: 1, top_changed: true });
    b
}

fn best(b: &SymbolBook) -> (Level, Level) {
    (b.book().best_bid().unwrap(), b.book().best_ask().unwrap())
}

fn lv(p: &str, q: &str) -> Level {
    Level::parse(p, q).unwrap()
}

#[test]
fn buffering_then_snapshot_then_live() {
    let mut b = new_book(100, 10);
    assert_eq!((b.state(), b.wants_snapshot(), b.status()), (SyncState::Buffering, false, BookStatus::Syncing));
    assert_eq!(b.on_diff(empty(95, 100)), DiffOutcome::Buffered);
    assert!(b.wants_snapshot(), "one buffered diff: ask for a snapshot");
    b.snapshot_requested();
    assert_eq!((b.state(), b.wants_snapshot()), (SyncState::Snapshotting, false));
    assert_eq!(b.on_diff(diff(101, 103, &[("10", "5")], &[])), DiffOutcome::Buffered);
    assert_eq!(b.on_diff(diff(104, 104, &[], &[("11", "0")])), DiffOutcome::Buffered);
    assert_eq!(b.buffered(), 3);
    assert_eq!((b.last_time_exchange(), b.last_time_received()), (0, 0));

    let out = b.on_snapshot(snapshot(100, BIDS, ASKS));
    assert_eq!(out, SnapshotOutcome::Live { applied: 2, dropped: 1, top_changed: true });
    assert_eq!((b.state(), b.status(), b.buffered(), b.update_id()), (SyncState::Live, BookStatus::Live, 0, 104));
    assert_eq!(best(&b), (lv("10", "5"), lv("12", "2")));
    assert_eq!((b.last_time_exchange(), b.last_time_received()), (1040, 1041));

    assert_eq!(b.on_diff(diff(105, 106, &[("10.5", "1")], &[])), DiffOutcome::Applied { top_changed: true });
    assert_eq!(b.update_id(), 106);
    assert_eq!((b.last_time_exchange(), b.last_time_received()), (1060, 1061));
    let (bids, asks) = b.top(2);
    assert_eq!(bids, [lv("10.5", "1"), lv("10", "5")]);
    assert_eq!(asks, [lv("12", "2"), lv("13", "3")]);
    assert_eq!(b.published_top(), (&b.top(10).0[..], &b.top(10).1[..]));
    assert_eq!(b.resyncs(), 0);
}

#[test]
fn snapshot_older_than_the_first_buffered_diff_is_too_old_then_a_newer_one_works() {
    let mut b = new_book(100, 10);
    b.on_diff(empty(101, 105));
    b.snapshot_requested();
    // `lastUpdateId` < first `U` is too old; equal to `U - 1` too, taken literally.
    for id in [50, 99, 100] {
        assert_eq!(b.on_snapshot(snapshot(id, BIDS, ASKS)), SnapshotOutcome::TooOld, "{id}");
        assert_eq!((b.state(), b.buffered(), b.wants_snapshot()), (SyncState::Snapshotting, 1, false));
        assert_eq!(b.book().depth(BookSide::Bid), 0);
    }
    b.on_diff(diff(106, 107, &[("9", "0")], &[]));
    let out = b.on_snapshot(snapshot(103, BIDS, ASKS));
    assert_eq!(out, SnapshotOutcome::Live { applied: 2, dropped: 0, top_changed: true });
    assert_eq!((b.update_id(), b.book().depth(BookSide::Bid), b.resyncs()), (107, 3, 0));
}

#[test]
fn snapshot_is_ignored_unless_one_is_awaited() {
    let mut b = new_book(100, 10);
    b.on_diff(empty(1, 1));
    assert_eq!(b.on_snapshot(snapshot(5, BIDS, ASKS)), SnapshotOutcome::Ignored, "not requested");
    let mut live = live_at_100(10);
    assert_eq!(live.on_snapshot(snapshot(500, &[], &[])), SnapshotOutcome::Ignored, "already live");
    assert_eq!((live.update_id(), live.book().depth(BookSide::Ask)), (100, 4));
}

#[test]
fn snapshot_with_an_empty_buffer_is_accepted_and_the_next_diff_is_checked() {
    let mut b = new_book(100, 10);
    b.snapshot_requested();
    let out = b.on_snapshot(snapshot(100, BIDS, ASKS));
    assert_eq!(out, SnapshotOutcome::Live { applied: 0, dropped: 0, top_changed: true });
    assert_eq!(b.on_diff(empty(90, 100)), DiffOutcome::Stale);
    assert_eq!(b.on_diff(empty(105, 106)), DiffOutcome::Resync(ResyncReason::Gap { expected: 101, got_first: 105 }));
}

#[test]
fn gap_forces_resync_and_the_diff_starts_the_new_buffer() {
    let mut b = live_at_100(10);
    assert_eq!(b.on_diff(empty(101, 104)), DiffOutcome::Applied { top_changed: false });
    let gap = ResyncReason::Gap { expected: 105, got_first: 110 };
    assert_eq!(b.on_diff(diff(110, 112, &[("10", "7")], &[])), DiffOutcome::Resync(gap.clone()));
    assert_eq!((b.state(), b.buffered(), b.wants_snapshot()), (SyncState::Buffering, 1, true));
    assert_eq!((b.book().depth(BookSide::Bid), b.update_id(), b.resyncs()), (0, 0, 1));
    assert_eq!(b.last_resync(), Some(&gap));
    assert_eq!((b.last_time_exchange(), b.published_top()), (0, (&[][..], &[][..])));

    b.snapshot_requested();
    let out = b.on_snapshot(snapshot(111, BIDS, ASKS));
    assert_eq!(out, SnapshotOutcome::Live { applied: 1, dropped: 0, top_changed: true });
    assert_eq!((b.update_id(), best(&b).0), (112, lv("10", "7")));
}

#[test]
fn gap_inside_the_buffer_resyncs_from_the_diff_after_the_hole() {
    let mut b = new_book(100, 10);
    for d in [empty(95, 100), empty(101, 102), empty(105, 106), empty(107, 107)] {
        b.on_diff(d);
    }
    b.snapshot_requested();
    let out = b.on_snapshot(snapshot(100, BIDS, ASKS));
    assert_eq!(out, SnapshotOutcome::Resync(ResyncReason::Gap { expected: 103, got_first: 105 }));
    assert_eq!((b.state(), b.buffered(), b.wants_snapshot(), b.resyncs()), (SyncState::Buffering, 2, true, 1));
    b.snapshot_requested();
    let out = b.on_snapshot(snapshot(106, BIDS, ASKS));
    assert_eq!(out, SnapshotOutcome::Live { applied: 1, dropped: 1, top_changed: true });
}

#[test]
fn stale_duplicates_and_late_events_are_ignored() {
    let mut b = live_at_100(10);
    let d = diff(101, 102, &[("10", "9")], &[]);
    assert_eq!(b.on_diff(d.clone()), DiffOutcome::Applied { top_changed: true });
    let before = b.book().clone();
    assert_eq!(b.on_diff(d), DiffOutcome::Stale, "duplicate");
    assert_eq!(b.on_diff(diff(90, 99, &[("10", "1")], &[])), DiffOutcome::Stale, "from before the snapshot");
    assert_eq!(b.book(), &before);
    assert_eq!((b.state(), b.resyncs(), b.last_time_exchange()), (SyncState::Live, 0, 1020));
}

#[test]
fn crossed_book_forces_resync() {
    let mut b = live_at_100(10);
    let out = b.on_diff(diff(101, 101, &[("11", "1")], &[]));
    assert_eq!(out, DiffOutcome::Resync(ResyncReason::Crossed));
    assert_eq!((b.state(), b.buffered(), b.wants_snapshot()), (SyncState::Buffering, 0, false));
    assert_eq!((b.book().depth(BookSide::Ask), b.resyncs()), (0, 1));
    assert_eq!(b.on_diff(empty(102, 102)), DiffOutcome::Buffered);
    assert!(b.wants_snapshot());

    // A snapshot that is crossed by itself, or after the buffered diffs, is no better.
    b.snapshot_requested();
    let out = b.on_snapshot(snapshot(102, &[("12", "1")], ASKS));
    assert_eq!(out, SnapshotOutcome::Resync(ResyncReason::Crossed));
    b.on_diff(diff(102, 103, &[], &[("9", "1")]));
    b.snapshot_requested();
    let out = b.on_snapshot(snapshot(102, BIDS, ASKS));
    assert_eq!(out, SnapshotOutcome::Resync(ResyncReason::Crossed));
    assert_eq!((b.state(), b.resyncs()), (SyncState::Buffering, 3));
}

#[test]
fn buffer_overflow_resyncs_and_keeps_the_newest_diff() {
    let mut b = new_book(3, 10);
    for i in 1..=3 {
        assert_eq!(b.on_diff(empty(i, i)), DiffOutcome::Buffered);
        b.snapshot_requested();
    }
    assert_eq!(b.on_diff(empty(4, 4)), DiffOutcome::Resync(ResyncReason::BufferOverflow));
    assert_eq!((b.state(), b.buffered(), b.wants_snapshot(), b.resyncs()), (SyncState::Buffering, 1, true, 1));
    assert_eq!(b.on_snapshot(snapshot(3, BIDS, ASKS)), SnapshotOutcome::Ignored, "the request in flight");
    b.snapshot_requested();
    assert_eq!(b.on_snapshot(snapshot(3, BIDS, ASKS)), SnapshotOutcome::TooOld, "4 is the first buffered diff");
    let out = b.on_snapshot(snapshot(4, BIDS, ASKS));
    assert_eq!(out, SnapshotOutcome::Live { applied: 0, dropped: 1, top_changed: true });

    let mut tiny = new_book(0, 10); // at least one diff is always buffered
    assert_eq!(tiny.on_diff(empty(1, 1)), DiffOutcome::Buffered);
    assert_eq!(tiny.on_diff(empty(2, 2)), DiffOutcome::Resync(ResyncReason::BufferOverflow));
}

#[test]
fn reset_marker_discards_book_buffer_and_pending_snapshot() {
    let mut b = live_at_100(10);
    b.on_reset("reconnect");
    assert_eq!((b.state(), b.buffered(), b.wants_snapshot(), b.resyncs()), (SyncState::Buffering, 0, false, 1));
    assert_eq!((b.book().depth(BookSide::Bid), b.last_resync()), (0, Some(&ResyncReason::Reset("reconnect".into()))));
    b.on_reset("reconnect");
    assert_eq!(b.resyncs(), 1, "nothing left to discard");

    b.on_diff(empty(200, 201));
    b.snapshot_requested();
    b.on_reset("rotation");
    assert_eq!((b.state(), b.buffered(), b.resyncs()), (SyncState::Buffering, 0, 2));
    assert_eq!(b.on_snapshot(snapshot(201, BIDS, ASKS)), SnapshotOutcome::Ignored, "fetched before the reset");
}

#[test]
fn bad_levels_in_live_diffs_force_resync_and_leave_nothing_half_applied() {
    let cases: [(Side<'_>, Side<'_>, &str); 5] = [
        (&[("10", "-1")], &[], "negative qty"),
        (&[("-10", "1")], &[], "negative price"),
        (&[("0", "1")], &[], "zero price"),
        (&[], &[("12", "0.000000001")], "qty finer than the book's scale"),
        (&[("9.5", "1")], &[("0.00", "1")], "zero price after a good level"),
    ];
    for (bids, asks, what) in cases {
        let mut b = live_at_100(10);
        let out = b.on_diff(diff(101, 101, bids, asks));
        assert!(
            matches!(&out, DiffOutcome::Resync(r @ ResyncReason::BadLevel(_)) if r.label() == "bad_level"),
            "{what}"
        );
        assert_eq!((b.state(), b.buffered(), b.resyncs()), (SyncState::Buffering, 0, 1), "{what}");
    }
}

#[test]
fn bad_snapshot_resyncs_but_keeps_the_buffer_and_bad_buffered_diff_resyncs() {
    let mut b = new_book(100, 10);
    b.on_diff(empty(95, 101));
    for bad in [snapshot(100, &[("0", "1")], ASKS), snapshot(100, BIDS, &[("11", "-2")])] {
        b.snapshot_requested();
        let out = b.on_snapshot(bad);
        assert!(matches!(out, SnapshotOutcome::Resync(ResyncReason::BadSnapshot(_))), "{out:?}");
        assert_eq!((b.state(), b.buffered(), b.wants_snapshot()), (SyncState::Buffering, 1, true));
    }
    assert_eq!(b.resyncs(), 2);

    b.on_diff(diff(102, 102, &[("10", "-1")], &[]));
    b.snapshot_requested();
    let out = b.on_snapshot(snapshot(100, BIDS, ASKS));
    assert!(matches!(out, SnapshotOutcome::Resync(ResyncReason::BadLevel(_))), "{out:?}");
    assert_eq!((b.state(), b.buffered(), b.book().depth(BookSide::Bid)), (SyncState::Buffering, 0, 0));
}

#[test]
fn top_changed_only_when_the_top_k_levels_change() {
    let cases: [(Side<'_>, Side<'_>, bool, &str); 8] = [
        (&[("7", "9")], &[], false, "deep bid qty beyond top 2"),
        (&[("8.5", "1")], &[], false, "new bid at rank 3"),
        (&[], &[("14", "0")], false, "deep ask removed"),
        (&[("10", "1")], &[], false, "same qty re-sent"),
        (&[("5", "0")], &[], false, "unknown level removed"),
        (&[("9", "2.5")], &[], true, "rank-2 bid qty"),
        (&[], &[("12", "0")], true, "rank-2 ask removed: rank 3 moves up"),
        (&[], &[("10.5", "1")], true, "new best ask"),
    ];
    for (bids, asks, want, what) in cases {
        let mut b = live_at_100(2);
        assert_eq!(b.published_top(), (&levels(&BIDS[..2])[..], &levels(&ASKS[..2])[..]));
        assert_eq!(b.on_diff(diff(101, 101, bids, asks)), DiffOutcome::Applied { top_changed: want }, "{what}");
        let (top_bids, top_asks) = b.top(2);
        assert_eq!(b.published_top(), (&top_bids[..], &top_asks[..]), "{what}");
    }
}

#[test]
fn reasons_have_stable_labels_and_readable_messages() {
    let cases = [
        (
            ResyncReason::Gap { expected: 11, got_first: 15 },
            "gap",
            "gap: expected update 11, got a diff starting at 15",
        ),
        (ResyncReason::Crossed, "crossed", "crossed book"),
        (ResyncReason::BufferOverflow, "buffer_overflow", "diff buffer overflow"),
        (ResyncReason::BadLevel("bids[0] price is zero".into()), "bad_level", "bad level: bids[0] price is zero"),
        (ResyncReason::Reset("reconnect".into()), "reset", "stream reset: reconnect"),
        (ResyncReason::BadSnapshot("asks[2] qty".into()), "bad_snapshot", "bad snapshot: asks[2] qty"),
    ];
    for (reason, label, message) in cases {
        assert_eq!((reason.label(), reason.to_string()), (label, message.to_owned()));
    }
    let states = [SyncState::Buffering, SyncState::Snapshotting, SyncState::Live];
    let shown: Vec<String> = states.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["buffering", "snapshotting", "live"]);
}
