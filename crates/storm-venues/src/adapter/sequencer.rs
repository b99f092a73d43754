//! The venue-neutral sequence check of a depth stream: may this diff be applied to the book?
//!
//! Every venue that streams book diffs numbers them and publishes a REST snapshot stamped with
//! the same numbering (Binance `U`/`u` and `lastUpdateId`, KuCoin `sequenceStart`/`sequenceEnd`
//! and `sequence`). The booksync engine keeps one book per symbol and, for each diff, needs one
//! answer: apply it, ignore it (its changes are already in the book), or throw the book away
//! because updates were lost. The exact rule differs per venue in small but important ways, so
//! each venue names its rule as a type implementing [`DepthSequencer`], and the engine holds a
//! `Box<dyn DepthSequencer>` from [`super::VenueAdapter::depth_sequencer`].
//!
//! A sequencer is pure state (one update id), with no I/O and no clock: it is tested on recorded
//! streams and on made-up sequences alike.

use std::fmt;

/// What to do with one depth diff, given the book's last applied update id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeqOutcome {
    /// The diff continues the book (or straddles its last id): set its levels, then the book is
    /// at the diff's last update id.
    Apply,
    /// Every update of the diff is already in the book (an event from before the snapshot, a
    /// duplicate, a late re-delivery): ignore it; the book is unchanged and still valid.
    Stale,
    /// Updates between the book and the diff were never seen: the book can no longer be trusted.
    /// Discard it and resynchronise from a fresh snapshot.
    Gap {
        /// The first update id the book needed next (its last applied id + 1); `0` when no
        /// snapshot was installed, so there is no book to continue.
        expected: u64,
        /// The diff's first update id, which came after the missing ones.
        got_first: u64,
    },
}

/// One venue's rule for continuing a book from a snapshot with a stream of numbered diffs.
///
/// The engine's procedure, in the venue's terms:
/// 1. buffer diffs from the stream; fetch a REST snapshot;
/// 2. if [`DepthSequencer::snapshot_usable`] says no, fetch the snapshot again;
/// 3. install the snapshot in the book and call [`DepthSequencer::reset`] with its update id;
/// 4. pass every buffered, then every live diff through [`DepthSequencer::check`] and act on the
///    [`SeqOutcome`]; on [`SeqOutcome::Gap`] go back to step 1.
///
/// [`DepthSequencer::reset`] starts a sync, [`SeqOutcome::Apply`] advances it, a stale diff leaves
/// it unchanged, and a gap ends it: until the next reset every diff is a gap (even a late copy of
/// the missing one) and [`DepthSequencer::last_applied`] is `None`, so a book that lost updates is
/// never trusted again by accident. Object-safe and `Send`, so an engine task can own a
/// `Box<dyn DepthSequencer>`.
pub trait DepthSequencer: fmt::Debug + Send {
    /// Starts over from a snapshot taken at `snapshot_last_update_id`: the book now holds every
    /// update up to and including that id.
    fn reset(&mut self, snapshot_last_update_id: u64);

    /// Classifies the diff covering updates `first_update_id..=last_update_id`. On
    /// [`SeqOutcome::Apply`] the book's last applied id becomes `last_update_id`. Before the first
    /// [`DepthSequencer::reset`] there is no book, and every diff is a gap with `expected: 0`;
    /// after a gap, every diff repeats that gap's `expected`.
    fn check(&mut self, first_update_id: u64, last_update_id: u64) -> SeqOutcome;

    /// The update id the book is at: the snapshot's, or the last applied diff's; `None` while
    /// there is no trustworthy book (before the first [`DepthSequencer::reset`], after a gap).
    fn last_applied(&self) -> Option<u64>;

    /// True when a snapshot at `snapshot_last_update_id` can start the book, given the first
    /// update id of the first diff buffered before it was fetched; false means the snapshot is
    /// too old (or otherwise unusable): fetch another one. Does not change the state.
    fn snapshot_usable(&self, snapshot_last_update_id: u64, first_buffered_first_id: u64) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trait must stay object-safe and `Send`: the engine moves a boxed sequencer into a task.
    #[test]
    fn depth_sequencer_is_object_safe_and_send() {
        fn assert_send<T: Send + ?Sized>() {}
        assert_send::<Box<dyn DepthSequencer>>();
    }

    #[test]
    fn gap_outcome_names_both_ids() {
        let gap = SeqOutcome::Gap { expected: 11, got_first: 15 };
        assert_eq!(format!("{gap:?}"), "Gap { expected: 11, got_first: 15 }");
        assert_ne!(gap, SeqOutcome::Stale);
    }
}
