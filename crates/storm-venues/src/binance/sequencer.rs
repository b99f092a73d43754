//! Binance Spot's order-book sync rule, as a [`DepthSequencer`].
//!
//! BINANCE.md, "Keeping a local order book in sync" (the procedure as corrected in 2025-11):
//!
//! 1. Open the diff stream and buffer events; remember the `U` of the first buffered event.
//! 2. `GET /api/v3/depth?symbol=..&limit=N`.
//! 3. If the snapshot's `lastUpdateId` < that first `U`, the snapshot is too old: fetch again
//!    ([`DepthSequencer::snapshot_usable`]).
//! 4. Drop buffered events with `u <= lastUpdateId`.
//! 5. Book := snapshot, local id := `lastUpdateId` ([`DepthSequencer::reset`]). Then for each
//!    buffered and each live event ([`DepthSequencer::check`]):
//!    - `u < local id` → ignore (stale);
//!    - `U > local id + 1` → gap: discard the book and restart at step 1;
//!    - otherwise apply every level, local id := `u`.
//!
//! Steps 4 and 5 differ on one case, `u == local id`: step 4 drops it, step 5's text would apply
//! it. Such an event's whole range is already in the book, so this type treats it as
//! [`SeqOutcome::Stale`] in both places (one rule, `u <= local id`); the recorded ETHUSDT stream
//! has exactly this case (a buffered diff ending at the snapshot's `lastUpdateId`). Applying it
//! would be harmless — quantities are absolute — but counting it as applied would hide that it
//! carried nothing new.

use crate::adapter::{DepthSequencer, SeqOutcome};

/// Where the book stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No snapshot installed yet.
    NoBook,
    /// The book holds every update up to this id.
    Synced(u64),
    /// A gap was seen; the book needed this id next and never got it.
    Broken {
        /// The missing update id.
        expected: u64,
    },
}

/// Binance Spot's depth sequencing rule (see the module docs); one per symbol's book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinanceSequencer {
    state: State,
}

impl BinanceSequencer {
    /// A sequencer with no book: every diff is a gap until [`DepthSequencer::reset`].
    pub fn new() -> Self {
        Self { state: State::NoBook }
    }
}

impl Default for BinanceSequencer {
    fn default() -> Self {
        Self::new()
    }
}

impl DepthSequencer for BinanceSequencer {
    /// Step 5: book := snapshot, local id := `lastUpdateId`.
    fn reset(&mut self, snapshot_last_update_id: u64) {
        self.state = State::Synced(snapshot_last_update_id);
    }

    /// Steps 4 and 5: `u <= local id` → stale, `U > local id + 1` → gap, otherwise apply.
    fn check(&mut self, first_update_id: u64, last_update_id: u64) -> SeqOutcome {
        let local = match self.state {
            State::NoBook => return SeqOutcome::Gap { expected: 0, got_first: first_update_id },
            State::Broken { expected } => return SeqOutcome::Gap { expected, got_first: first_update_id },
            State::Synced(local) => local,
        };
        if last_update_id <= local {
            return SeqOutcome::Stale;
        }
        // `last_update_id > local`, so `local < u64::MAX` and `local + 1` cannot overflow.
        let expected = local + 1;
        if first_update_id > expected {
            self.state = State::Broken { expected };
            return SeqOutcome::Gap { expected, got_first: first_update_id };
        }
        self.state = State::Synced(last_update_id);
        SeqOutcome::Apply
    }

    fn last_applied(&self) -> Option<u64> {
        match self.state {
            State::Synced(local) => Some(local),
            State::NoBook | State::Broken { .. } => None,
        }
    }

    /// Step 3: usable unless `lastUpdateId` < the first buffered event's `U`. Taken literally: a
    /// snapshot ending just before that event (`lastUpdateId == U - 1`) is refused too.
    fn snapshot_usable(&self, snapshot_last_update_id: u64, first_buffered_first_id: u64) -> bool {
        snapshot_last_update_id >= first_buffered_first_id
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use storm_testkit::fixtures::{load_replay, ReplayMsg};

    /// Outcomes of syncing a recording the way booksync does: buffer diffs until the recorded
    /// snapshot, check it against the first buffered `U`, reset, then check every buffered and
    /// every later diff.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct Replayed {
        buffered: usize,
        applied: usize,
        stale: Vec<(u64, u64)>,
        gaps: Vec<SeqOutcome>,
        last_applied: Option<u64>,
    }

    fn tally(seq: &mut BinanceSequencer, out: &mut Replayed, (first, last): (u64, u64)) {
        match seq.check(first, last) {
            SeqOutcome::Apply => out.applied += 1,
            SeqOutcome::Stale => out.stale.push((first, last)),
            gap @ SeqOutcome::Gap { .. } => out.gaps.push(gap),
        }
    }

    fn replay(files: &[&str]) -> Replayed {
        let mut seq = BinanceSequencer::new();
        let mut buffer: Option<Vec<(u64, u64)>> = Some(Vec::new());
        let mut out = Replayed::default();
        for file in files {
            for (_, msg) in load_replay(file).expect("recording under testdata/") {
                match msg {
                    ReplayMsg::Diff(d) => match buffer.as_mut() {
                        Some(buffered) => buffered.push((d.first_update_id, d.last_update_id)),
                        None => tally(&mut seq, &mut out, (d.first_update_id, d.last_update_id)),
                    },
                    ReplayMsg::Snapshot { last_update_id, .. } => {
                        let buffered = buffer.take().expect("one snapshot per recording");
                        assert!(seq.snapshot_usable(last_update_id, buffered[0].0), "recorded snapshot is too old");
                        seq.reset(last_update_id);
                        out.buffered = buffered.len();
                        for diff in buffered {
                            tally(&mut seq, &mut out, diff);
                        }
                    }
                    ReplayMsg::BookTicker(_) | ReplayMsg::Other(_) => {}
                }
            }
        }
        assert!(buffer.is_none(), "recording without a snapshot");
        out.last_applied = seq.last_applied();
        out
    }

    const BTC_DAY1: &str = "binance-spot-replay/spot_btcusdt_20240808.gz";
    const BTC_DAY2: &str = "binance-spot-replay/spot_btcusdt_20240809.gz";
    const ETH_DAY1: &str = "binance-spot-replay/spot_ethusdt_20240808.gz";
    const ETH_DAY2: &str = "binance-spot-replay/spot_ethusdt_20240809.gz";

    #[test]
    fn recorded_btcusdt_drops_the_two_diffs_older_than_the_snapshot_then_applies_all() {
        let got = replay(&[BTC_DAY1]);
        assert_eq!(got.buffered, 3, "the snapshot (lastUpdateId 50093239218) follows three diffs");
        assert_eq!(got.stale, [(50_093_239_189, 50_093_239_202), (50_093_239_203, 50_093_239_207)]);
        assert_eq!(got.gaps, []);
        assert_eq!(got.applied, 3451 - 2, "every other diff of the day is applied");
        assert_eq!(got.last_applied, Some(50_093_421_584));
    }

    #[test]
    fn recorded_btcusdt_both_days_are_one_gap_free_sequence() {
        let got = replay(&[BTC_DAY1, BTC_DAY2]);
        assert_eq!(got.stale.len(), 2);
        assert_eq!(got.gaps, []);
        assert_eq!(got.applied, 3451 + 3044 - 2);
        assert_eq!(got.last_applied, Some(50_093_696_318));
    }

    /// ETHUSDT's second buffered diff ends exactly at the snapshot's `lastUpdateId`: `u == local
    /// id` is stale (step 4), not applied (step 5's `u < local id` taken literally).
    #[test]
    fn recorded_ethusdt_diff_ending_at_the_snapshot_id_is_stale() {
        let got = replay(&[ETH_DAY1, ETH_DAY2]);
        assert_eq!(got.stale, [(35_346_513_499, 35_346_513_505), (35_346_513_506, 35_346_513_512)]);
        assert_eq!(got.gaps, []);
        assert_eq!(got.applied, 6470 - 2);
        assert_eq!(got.last_applied, Some(35_346_924_199));
    }

    fn synced_at(local: u64) -> BinanceSequencer {
        let mut seq = BinanceSequencer::new();
        seq.reset(local);
        seq
    }

    #[test]
    fn each_diff_is_classified_against_the_local_id() {
        // (first U, last u) against a book at 100.
        let cases = [
            ((90, 99), SeqOutcome::Stale),  // entirely older
            ((90, 100), SeqOutcome::Stale), // ends at the local id: nothing new
            ((100, 100), SeqOutcome::Stale),
            ((95, 105), SeqOutcome::Apply),  // straddles the local id
            ((100, 101), SeqOutcome::Apply), // starts at the local id
            ((101, 101), SeqOutcome::Apply), // exactly the next id
            ((101, 130), SeqOutcome::Apply),
            ((102, 102), SeqOutcome::Gap { expected: 101, got_first: 102 }),
            ((150, 160), SeqOutcome::Gap { expected: 101, got_first: 150 }),
        ];
        for ((first, last), want) in cases {
            let mut seq = synced_at(100);
            assert_eq!(seq.check(first, last), want, "U={first} u={last}");
            let local = match want {
                SeqOutcome::Apply => Some(last),
                SeqOutcome::Stale => Some(100),
                SeqOutcome::Gap { .. } => None,
            };
            assert_eq!(seq.last_applied(), local, "U={first} u={last}");
        }
    }

    #[test]
    fn overlapping_first_event_straddling_the_snapshot_is_applied() {
        let mut seq = synced_at(50_093_239_218);
        assert_eq!(seq.check(50_093_239_208, 50_093_239_224), SeqOutcome::Apply);
        assert_eq!(seq.last_applied(), Some(50_093_239_224));
        assert_eq!(seq.check(50_093_239_225, 50_093_239_237), SeqOutcome::Apply);
    }

    #[test]
    fn stale_event_is_ignored_and_duplicates_or_late_events_stay_stale() {
        let mut seq = synced_at(10);
        assert_eq!(seq.check(11, 15), SeqOutcome::Apply);
        assert_eq!(seq.check(11, 15), SeqOutcome::Stale, "duplicate");
        assert_eq!(seq.check(16, 20), SeqOutcome::Apply);
        assert_eq!(seq.check(11, 15), SeqOutcome::Stale, "late re-delivery");
        assert_eq!(seq.check(3, 9), SeqOutcome::Stale, "from before the snapshot");
        assert_eq!(seq.last_applied(), Some(20));
        assert_eq!(seq.check(21, 21), SeqOutcome::Apply);
    }

    #[test]
    fn gap_forces_resync_and_is_final_until_reset() {
        let mut seq = synced_at(10);
        assert_eq!(seq.check(11, 15), SeqOutcome::Apply);
        assert_eq!(seq.check(17, 20), SeqOutcome::Gap { expected: 16, got_first: 17 });
        assert_eq!(seq.last_applied(), None, "a book that lost updates is not trusted");
        // Nothing brings it back but a snapshot: not the next diff, not a late copy of the missing one.
        assert_eq!(seq.check(21, 25), SeqOutcome::Gap { expected: 16, got_first: 21 });
        assert_eq!(seq.check(16, 16), SeqOutcome::Gap { expected: 16, got_first: 16 });
        assert_eq!(seq.check(1, 2), SeqOutcome::Gap { expected: 16, got_first: 1 });
        seq.reset(22);
        assert_eq!(seq.last_applied(), Some(22));
        assert_eq!(seq.check(21, 25), SeqOutcome::Apply);
        assert_eq!(seq.last_applied(), Some(25));
    }

    #[test]
    fn without_a_snapshot_every_diff_is_a_gap() {
        let mut seq = BinanceSequencer::default();
        assert_eq!(seq.last_applied(), None);
        assert_eq!(seq.check(1, 1), SeqOutcome::Gap { expected: 0, got_first: 1 });
        assert_eq!(seq.check(0, 0), SeqOutcome::Gap { expected: 0, got_first: 0 });
        assert_eq!(seq, BinanceSequencer::new(), "a gap before any snapshot changes nothing");
    }

    #[test]
    fn reset_accepts_any_snapshot_even_an_older_one() {
        let mut seq = synced_at(100);
        assert_eq!(seq.check(101, 110), SeqOutcome::Apply);
        seq.reset(50);
        assert_eq!(seq.last_applied(), Some(50));
        assert_eq!(seq.check(51, 60), SeqOutcome::Apply);
    }

    #[test]
    fn extreme_ids_do_not_overflow() {
        let mut seq = synced_at(u64::MAX);
        assert_eq!(seq.check(u64::MAX, u64::MAX), SeqOutcome::Stale);
        let mut seq = synced_at(u64::MAX - 1);
        assert_eq!(seq.check(u64::MAX, u64::MAX), SeqOutcome::Apply);
        assert_eq!(seq.last_applied(), Some(u64::MAX));
        let mut seq = synced_at(0);
        assert_eq!(seq.check(1, 1), SeqOutcome::Apply);
    }

    #[test]
    fn snapshot_is_too_old_when_its_id_is_below_the_first_buffered_u() {
        let seq = BinanceSequencer::new();
        assert!(seq.snapshot_usable(50_093_239_218, 50_093_239_189), "the recorded BTCUSDT case");
        assert!(seq.snapshot_usable(100, 100));
        assert!(!seq.snapshot_usable(99, 100), "BINANCE.md: lastUpdateId < U → fetch again");
        assert!(!seq.snapshot_usable(0, u64::MAX));
        let mut synced = synced_at(7);
        assert!(synced.snapshot_usable(10, 5), "does not depend on or change the state");
        assert_eq!(synced.check(8, 8), SeqOutcome::Apply);
    }

    /// Deterministic xorshift64*: reproducible random cases without a dev-dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        /// Uniform-enough in `0..n` (n > 0).
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A contiguous stream (each `U` = previous `u` + 1) and a snapshot id somewhere from just
    /// before its first update to its last.
    fn random_case(rng: &mut Rng) -> (Vec<(u64, u64)>, u64) {
        let start = 1 + rng.below(1 << 40);
        let mut next = start;
        let events: Vec<(u64, u64)> = (0..1 + rng.below(40))
            .map(|_| {
                let first = next;
                next += 1 + rng.below(5);
                (first, next - 1)
            })
            .collect();
        let snapshot = start - 1 + rng.below(next - start + 1);
        (events, snapshot)
    }

    /// What the sequencer should do with a clean contiguous stream, by the naive reading of the
    /// procedure: skip what the snapshot covers, apply the rest.
    fn naive(events: &[(u64, u64)], snapshot: u64) -> Vec<SeqOutcome> {
        events.iter().map(|&(_, last)| if last <= snapshot { SeqOutcome::Stale } else { SeqOutcome::Apply }).collect()
    }

    #[test]
    fn random_contiguous_streams_apply_everything_past_the_snapshot_once() {
        let mut rng = Rng(0x5EED_0001);
        for case in 0..2000 {
            let (events, snapshot) = random_case(&mut rng);
            let mut seq = synced_at(snapshot);
            let got: Vec<SeqOutcome> = events.iter().map(|&(first, last)| seq.check(first, last)).collect();
            assert_eq!(got, naive(&events, snapshot), "case {case}: snapshot {snapshot}, {events:?}");
            let last = events.last().map_or(snapshot, |&(_, last)| last.max(snapshot));
            assert_eq!(seq.last_applied(), Some(last), "case {case}");
        }
    }

    #[test]
    fn random_redeliveries_are_stale_and_change_nothing() {
        let mut rng = Rng(0x5EED_0002);
        for case in 0..2000 {
            let (events, snapshot) = random_case(&mut rng);
            // Re-send random earlier events after their original, as a reconnecting feed might.
            let mut stream: Vec<((u64, u64), bool)> = Vec::new();
            for (i, &event) in events.iter().enumerate() {
                stream.push((event, false));
                for _ in 0..rng.below(3) {
                    stream.push((events[rng.below(i as u64 + 1) as usize], true));
                }
            }
            let mut seq = synced_at(snapshot);
            let mut applied = Vec::new();
            for &((first, last), duplicate) in &stream {
                let outcome = seq.check(first, last);
                assert!(!matches!(outcome, SeqOutcome::Gap { .. }), "case {case}: {outcome:?}");
                if duplicate {
                    assert_eq!(outcome, SeqOutcome::Stale, "case {case}: duplicate ({first}, {last})");
                }
                if outcome == SeqOutcome::Apply {
                    applied.push((first, last));
                }
            }
            let want: Vec<(u64, u64)> = events.iter().copied().filter(|&(_, last)| last > snapshot).collect();
            assert_eq!(applied, want, "case {case}");
        }
    }

    #[test]
    fn random_lost_events_are_gaps_naming_the_missing_id() {
        let mut rng = Rng(0x5EED_0003);
        let mut checked = 0;
        for case in 0..2000 {
            let (events, snapshot) = random_case(&mut rng);
            // Lose one event that carried something new and was not the last.
            let candidates: Vec<usize> =
                (0..events.len().saturating_sub(1)).filter(|&i| events[i].1 > snapshot).collect();
            if candidates.is_empty() {
                continue;
            }
            let lost = candidates[rng.below(candidates.len() as u64) as usize];
            // The book stands at the last id before the lost event (or the snapshot's).
            let expected = lost.checked_sub(1).map_or(snapshot, |i| events[i].1.max(snapshot)) + 1;
            let mut seq = synced_at(snapshot);
            for (i, &(first, last)) in events.iter().enumerate().filter(|&(i, _)| i != lost) {
                let outcome = seq.check(first, last);
                if i < lost {
                    assert_eq!(outcome, naive(&events[i..=i], snapshot)[0], "case {case}");
                } else {
                    let want = SeqOutcome::Gap { expected, got_first: first };
                    assert_eq!(outcome, want, "case {case}: lost {:?} of {events:?}", events[lost]);
                    assert_eq!(seq.last_applied(), None, "case {case}");
                }
            }
            checked += 1;
        }
        assert!(checked > 1000, "too few random cases had an event to lose: {checked}");
    }
}
