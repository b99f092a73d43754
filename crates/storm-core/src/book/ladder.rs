//! One side of a book: the levels near the top in a small sorted vector, the deep rest in a
//! B-tree.
//!
//! Keys are ordered so that the **best level has the largest key** (asks are stored under
//! `u64::MAX - price`), and the near part keeps the best level **last**: the best price is an
//! O(1) read, and the common updates — a few levels from the top — are a short binary search and
//! a `memmove` of only the elements behind the position. The near part is bounded
//! ([`NEAR_MAX`]): a whole-book vector pays a `memmove` of the entire side for every update deep
//! in a 5,000-level book, which on the real BTCUSDT replay made it slower than a plain B-tree.
//! Deep levels go to the B-tree (O(log n), no large moves). When the near part grows past
//! [`NEAR_MAX`] its worst half spills into the tree; when it shrinks under [`NEAR_MIN`] it is
//! refilled from the tree's best levels.
//!
//! Invariant: every key in `far` is smaller than every key in `near`, and `near` is empty only
//! when `far` is too.

use std::collections::BTreeMap;

/// Most levels kept in the vector part.
pub(crate) const NEAR_MAX: usize = 256;
/// Fewest levels kept in the vector part while the tree has more.
pub(crate) const NEAR_MIN: usize = 32;

/// One side of the book.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ladder {
    near_keys: Vec<u64>,
    near_qtys: Vec<u128>,
    far: BTreeMap<u64, u128>,
}

impl Ladder {
    /// Sets the quantity at `key`; zero removes the level (removing an absent level is a no-op).
    #[inline]
    pub(crate) fn set(&mut self, key: u64, qty: u128) {
        match self.near_keys.first() {
            Some(&lowest) if key >= lowest => self.set_near(key, qty),
            Some(_) => {
                if qty == 0 {
                    self.far.remove(&key);
                } else {
                    self.far.insert(key, qty);
                }
            }
            None => self.set_near(key, qty), // empty side (far is empty too)
        }
    }

    #[inline]
    fn set_near(&mut self, key: u64, qty: u128) {
        // Most updates touch the top of the book, at the end of the vector: check there first.
        let pos = match self.near_keys.last() {
            Some(&last) if last == key => Ok(self.near_keys.len() - 1),
            Some(&last) if last < key => Err(self.near_keys.len()),
            _ => self.near_keys.binary_search(&key),
        };
        match (pos, qty) {
            (Ok(i), 0) => {
                self.near_keys.remove(i);
                self.near_qtys.remove(i);
                if self.near_keys.len() < NEAR_MIN && !self.far.is_empty() {
                    self.refill();
                }
            }
            (Ok(i), q) => self.near_qtys[i] = q,
            (Err(_), 0) => {}
            (Err(i), q) => {
                self.near_keys.insert(i, key);
                self.near_qtys.insert(i, q);
                if self.near_keys.len() > NEAR_MAX {
                    self.spill();
                }
            }
        }
    }

    /// Moves the worst half of the vector into the tree.
    fn spill(&mut self) {
        let n = self.near_keys.len() / 2;
        self.far.extend(self.near_keys.drain(..n).zip(self.near_qtys.drain(..n)));
    }

    /// Moves the tree's best levels in front of the vector, back up to half of [`NEAR_MAX`].
    fn refill(&mut self) {
        let want = NEAR_MAX / 2 - self.near_keys.len();
        let mut moved: Vec<(u64, u128)> = Vec::with_capacity(want);
        while moved.len() < want {
            let Some(kv) = self.far.pop_last() else { break };
            moved.push(kv);
        }
        moved.reverse(); // ascending
        self.near_keys.splice(0..0, moved.iter().map(|&(k, _)| k));
        self.near_qtys.splice(0..0, moved.iter().map(|&(_, q)| q));
    }

    /// Replaces the whole side from unsorted (key, qty) pairs; later duplicates win, zeros vanish.
    pub(crate) fn replace(&mut self, mut levels: Vec<(u64, u128)>) {
        levels.sort_by_key(|&(k, _)| k); // stable: later duplicates stay later
        let mut dedup: Vec<(u64, u128)> = Vec::with_capacity(levels.len());
        for (k, q) in levels {
            if dedup.last().map(|l| l.0) == Some(k) {
                dedup.pop();
            }
            if q != 0 {
                dedup.push((k, q));
            }
        }
        let split = dedup.len().saturating_sub(NEAR_MAX / 2);
        self.far = dedup[..split].iter().copied().collect();
        self.near_keys = dedup[split..].iter().map(|&(k, _)| k).collect();
        self.near_qtys = dedup[split..].iter().map(|&(_, q)| q).collect();
    }

    /// The best (key, qty), if any.
    #[inline]
    pub(crate) fn best(&self) -> Option<(u64, u128)> {
        Some((*self.near_keys.last()?, *self.near_qtys.last()?))
    }

    /// Levels from best to worst.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, u128)> + '_ {
        let near = self.near_keys.iter().rev().copied().zip(self.near_qtys.iter().rev().copied());
        near.chain(self.far.iter().rev().map(|(&k, &q)| (k, q)))
    }

    /// Number of levels.
    pub(crate) fn len(&self) -> usize {
        self.near_keys.len() + self.far.len()
    }

    /// Removes every level.
    pub(crate) fn clear(&mut self) {
        self.near_keys.clear();
        self.near_qtys.clear();
        self.far.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives the ladder across the spill and refill thresholds and checks order and content
    /// against a B-tree after every step.
    #[test]
    fn spill_and_refill_keep_order_and_content() {
        let mut ladder = Ladder::default();
        let mut model = BTreeMap::new();
        let check = |l: &Ladder, m: &BTreeMap<u64, u128>| {
            let got: Vec<_> = l.iter().collect();
            let want: Vec<_> = m.iter().rev().map(|(&k, &q)| (k, q)).collect();
            assert_eq!(got, want);
            assert_eq!(l.len(), m.len());
        };
        // Grow far past NEAR_MAX, in an order that inserts both above and below the vector.
        for i in 0..1_000u64 {
            let key = (i * 7_919) % 1_000;
            ladder.set(key, u128::from(i) + 1);
            model.insert(key, u128::from(i) + 1);
        }
        check(&ladder, &model);
        // Remove from the top until the vector must be refilled, several times over.
        for key in (0..1_000u64).rev().step_by(3) {
            ladder.set(key, 0);
            model.remove(&key);
            assert_eq!(ladder.best().map(|b| b.0), model.keys().next_back().copied());
        }
        check(&ladder, &model);
        ladder.replace(model.iter().map(|(&k, &q)| (k, q)).collect());
        check(&ladder, &model);
    }
}
