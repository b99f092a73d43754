//! One side of a book as two parallel sorted vectors (keys, quantities), best level **last**.
//!
//! Keeping the best level at the end makes the best price an O(1) read and makes the common
//! updates — near the top of the book — cheap inserts and removals (only the few elements after
//! the position move). Lookups are a binary search over a dense `Vec<u64>`, which stays in cache
//! for books of thousands of levels. Asks are stored under the key `u64::MAX - price` so that one
//! ascending order serves both sides.

/// One side of the book.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ladder {
    keys: Vec<u64>,
    qtys: Vec<u128>,
}

impl Ladder {
    /// Sets the quantity at `key`; zero removes the level (removing an absent level is a no-op).
    #[inline]
    pub(crate) fn set(&mut self, key: u64, qty: u128) {
        // Most updates touch the top of the book, at the end of the vectors: check there first.
        let pos = match self.keys.last() {
            Some(&last) if last == key => Ok(self.keys.len() - 1),
            Some(&last) if last < key => Err(self.keys.len()),
            _ => self.keys.binary_search(&key),
        };
        match (pos, qty) {
            (Ok(i), 0) => {
                self.keys.remove(i);
                self.qtys.remove(i);
            }
            (Ok(i), q) => self.qtys[i] = q,
            (Err(_), 0) => {}
            (Err(i), q) => {
                self.keys.insert(i, key);
                self.qtys.insert(i, q);
            }
        }
    }

    /// Replaces the whole side from unsorted (key, qty) pairs; later duplicates win, zeros vanish.
    pub(crate) fn replace(&mut self, mut levels: Vec<(u64, u128)>) {
        levels.sort_by_key(|&(k, _)| k); // stable: later duplicates stay later
        self.keys.clear();
        self.qtys.clear();
        for (k, q) in levels {
            if self.keys.last() == Some(&k) {
                self.keys.pop();
                self.qtys.pop();
            }
            if q != 0 {
                self.keys.push(k);
                self.qtys.push(q);
            }
        }
    }

    /// The best (key, qty), if any.
    #[inline]
    pub(crate) fn best(&self) -> Option<(u64, u128)> {
        Some((*self.keys.last()?, *self.qtys.last()?))
    }

    /// Levels from best to worst.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, u128)> + '_ {
        self.keys.iter().rev().copied().zip(self.qtys.iter().rev().copied())
    }

    /// Number of levels.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Removes every level.
    pub(crate) fn clear(&mut self) {
        self.keys.clear();
        self.qtys.clear();
    }
}
