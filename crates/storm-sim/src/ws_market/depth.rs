//! The one-second diff-depth stream (`<sym>@depth`): consecutive diffs of a symbol merged into
//! one event per window.
//!
//! Binance's 1000 ms stream is the 100 ms stream with more updates per event, and a booksync
//! follows the same rule on both (`U` of an event = `u` of the previous one + 1). So a window
//! keeps `U` of its first diff and `u` of its last, and every changed level once, with the last
//! quantity written winning; a level that was added and removed inside the window is sent with
//! quantity zero, which a client treats as "remove if present".

use std::collections::BTreeMap;

use storm_core::{DepthDiff, Level, Price, Qty, Symbol};

/// The diffs of one symbol since the last flush.
#[derive(Debug, Default)]
pub struct DepthWindow {
    /// `U` of the first diff, 0 while empty.
    first: u64,
    /// `u` of the last diff.
    last: u64,
    /// Event time of the last diff, µs.
    time_us: u64,
    bids: BTreeMap<Price, Qty>,
    asks: BTreeMap<Price, Qty>,
}

impl DepthWindow {
    /// Adds a diff. A diff that does not follow the window's last one (the hub missed some)
    /// starts the window again, so a window never claims ids it does not carry.
    pub fn push(&mut self, d: &DepthDiff) {
        if self.first == 0 || d.first_update_id != self.last + 1 {
            self.clear();
            self.first = d.first_update_id;
        }
        self.last = d.last_update_id;
        self.time_us = d.time_exchange;
        for l in &d.bids {
            self.bids.insert(l.price, l.qty);
        }
        for l in &d.asks {
            self.asks.insert(l.price, l.qty);
        }
    }

    /// Forgets everything (the hub skipped diffs of this symbol).
    pub fn clear(&mut self) {
        self.first = 0;
        self.bids.clear();
        self.asks.clear();
    }

    /// The merged event, best levels first, leaving the window empty; `None` if nothing came.
    pub fn take(&mut self, symbol: &Symbol, now_us: u64) -> Option<DepthDiff> {
        if self.first == 0 {
            return None;
        }
        let level = |(p, q): (Price, Qty)| Level::new(p, q);
        let diff = DepthDiff {
            symbol: symbol.clone(),
            first_update_id: self.first,
            last_update_id: self.last,
            bids: std::mem::take(&mut self.bids).into_iter().rev().map(level).collect(),
            asks: std::mem::take(&mut self.asks).into_iter().map(level).collect(),
            time_exchange: self.time_us.max(now_us),
            time_received: now_us,
        };
        self.first = 0;
        Some(diff)
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn lv(p: &str, q: &str) -> Level {
        Level::new(Price::from_str(p).unwrap_or_default(), Qty::from_str(q).unwrap_or_default())
    }

    fn diff(first: u64, last: u64, bids: Vec<Level>, asks: Vec<Level>) -> DepthDiff {
        DepthDiff {
            symbol: Symbol::new("BTCUSDT"),
            first_update_id: first,
            last_update_id: last,
            bids,
            asks,
            time_exchange: first,
            time_received: first,
        }
    }

    #[test]
    fn window_spans_first_u_to_last_u_and_last_quantity_wins() {
        let mut w = DepthWindow::default();
        w.push(&diff(10, 12, vec![lv("100", "1"), lv("99", "2")], vec![lv("101", "1")]));
        w.push(&diff(13, 14, vec![lv("100", "0")], vec![lv("102", "5"), lv("101", "3")]));
        let merged = w.take(&Symbol::new("BTCUSDT"), 20).unwrap_or_else(|| panic!("a window"));
        assert_eq!((merged.first_update_id, merged.last_update_id), (10, 14));
        assert_eq!(merged.bids, vec![lv("100", "0"), lv("99", "2")], "bids best first");
        assert_eq!(merged.asks, vec![lv("101", "3"), lv("102", "5")], "asks best first");
        assert!(w.take(&Symbol::new("BTCUSDT"), 21).is_none(), "emptied");
        w.push(&diff(15, 15, vec![], vec![lv("103", "1")]));
        let next = w.take(&Symbol::new("BTCUSDT"), 22).unwrap_or_else(|| panic!("a window"));
        assert_eq!(next.first_update_id, merged.last_update_id + 1, "windows stay contiguous");
    }

    #[test]
    fn a_missing_diff_restarts_the_window() {
        let mut w = DepthWindow::default();
        w.push(&diff(10, 12, vec![lv("100", "1")], vec![]));
        w.push(&diff(20, 21, vec![lv("98", "1")], vec![]));
        let merged = w.take(&Symbol::new("BTCUSDT"), 30).unwrap_or_else(|| panic!("a window"));
        assert_eq!((merged.first_update_id, merged.last_update_id), (20, 21));
        assert_eq!(merged.bids, vec![lv("98", "1")]);
    }
}
