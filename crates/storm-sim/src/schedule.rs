//! Which part of a recording plays, and when: `--replay-from-ms`/`--replay-to-ms` cut a window out
//! of it, `--replay-now`/`--replay-shift-ms` move its venue times forward so that it plays now.
//!
//! Why: storm's consumers run on their own clock. storm-candles closes a candle at its boundary
//! on storm's clock and refuses a trade an hour older than it, so a 2024 recording played with
//! its 2024 times builds nothing. Shifted, every venue time (trade `T`, depth `E`) and receive
//! time moves by the same amount, and playback waits until the wall clock reaches the first
//! frame's shifted time. A shift that is a whole number of `align` (1m, 5m, 1h) keeps those
//! candle boundaries in place: the candles of the replay are the recording's candles, open times
//! moved by the shift.
//!
//! The recorder's clock is not the venue's (hftbacktest's receive times run ~1.27 s *behind*
//! Binance's trade times), so frames keep their recorded receive pace but are anchored by the
//! smallest venue − receive offset of the recording: each frame goes out at or before its
//! shifted venue time, never after it (early by at most the spread of that offset, ~0.2 s on the
//! BTCUSDT file). Frames before the window are not published, but their diffs are applied to the
//! replayed books, so `/api/v3/depth` answers the book the window starts from.

use storm_core::DepthDiff;

use crate::exchange::SimEvent;
use crate::replay::{Item, Recording};

/// How venue times move.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Shift {
    /// As recorded; playback starts at once.
    #[default]
    None,
    /// Forward by this many ms; playback starts when the first frame's shifted time comes.
    By(u64),
    /// Forward by the smallest multiple of `align_ms` that puts the first frame at or after now.
    Now {
        /// The shift is a whole number of this (e.g. 3,600,000 for whole hours).
        align_ms: u64,
    },
}

/// The part of a recording to play: offsets in ms from its first receive time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// Frames received before `first + from_ms` are not published.
    pub from_ms: u64,
    /// Frames received at or after `first + to_ms` are not published (None: to the end).
    pub to_ms: Option<u64>,
}

/// A recording cut and shifted, ready to play.
#[derive(Clone, Debug, Default)]
pub struct Schedule {
    /// Diffs before the window, to apply to the books before serving.
    pub warmup: Vec<DepthDiff>,
    /// The window's items (receive ns, item), venue and receive times shifted.
    pub items: Vec<(u64, Item)>,
    /// The shift applied, ms.
    pub shift_ms: u64,
    /// Wall-clock ms at which the first item goes out (None: at once).
    pub start_ms: Option<u64>,
}

/// `venue − receive` in ms of every item that carries a venue time.
fn venue_offsets(items: &[(u64, Item)]) -> impl Iterator<Item = i64> + '_ {
    items.iter().filter_map(|(ns, item)| {
        let venue_us = match item {
            Item::Event(SimEvent::Depth(d)) => d.time_exchange,
            Item::Event(SimEvent::Trade(t)) => t.time_exchange,
            _ => return None,
        };
        Some((venue_us / 1_000) as i64 - (ns / 1_000_000) as i64)
    })
}

/// The smallest `venue − receive` offset of the recording, ms (0 when nothing carries a venue time).
pub fn venue_lead_ms(rec: &Recording) -> i64 {
    venue_offsets(&rec.items).min().unwrap_or(0)
}

/// First receive time of the recording, ms.
fn first_ms(rec: &Recording) -> u64 {
    rec.items.first().map_or(0, |(ns, _)| ns / 1_000_000)
}

/// Wall-clock ms at which the window starting at `from_ms` goes out without a shift.
fn anchor_ms(rec: &Recording, from_ms: u64) -> u64 {
    let from = first_ms(rec).saturating_add(from_ms);
    let first_in = rec.items.iter().map(|(ns, _)| ns / 1_000_000).find(|ms| *ms >= from).unwrap_or(from);
    first_in.saturating_add_signed(venue_lead_ms(rec))
}

/// The smallest multiple of `align_ms` that makes the window starting at `from_ms` go out at or
/// after `not_before_ms`.
pub fn shift_for(rec: &Recording, from_ms: u64, align_ms: u64, not_before_ms: u64) -> u64 {
    let align = align_ms.max(1);
    not_before_ms.saturating_sub(anchor_ms(rec, from_ms)).div_ceil(align).saturating_mul(align)
}

/// A window start (offset ms) whose first frame, shifted by a multiple of `align_ms`, goes out
/// about `wait_ms` after `now_ms`: the test's way to play a slice now without waiting for the
/// hour (or minute) to come round. Returns (from_ms, shift_ms).
pub fn window_for_now(rec: &Recording, align_ms: u64, wait_ms: u64, now_ms: u64) -> (u64, u64) {
    let align = align_ms.max(1);
    let target = now_ms.saturating_add(wait_ms);
    let unshifted = anchor_ms(rec, 0);
    let from = (target % align + align - unshifted % align) % align;
    (from, shift_for(rec, from, align, target))
}

fn shift_item(item: &mut Item, by_ms: u64) {
    let by_us = by_ms.saturating_mul(1_000);
    if let Item::Event(ev) = item {
        match ev {
            SimEvent::Depth(d) => {
                d.time_exchange = d.time_exchange.saturating_add(by_us);
                d.time_received = d.time_received.saturating_add(by_us);
            }
            SimEvent::Trade(t) => {
                t.time_exchange = t.time_exchange.saturating_add(by_us);
                t.time_received = t.time_received.saturating_add(by_us);
            }
            // bookTicker carries no venue time (time_exchange stays 0).
            SimEvent::Ticker(t) => t.time_received = t.time_received.saturating_add(by_us),
            SimEvent::Execution { .. } | SimEvent::Position { .. } => {}
        }
    }
}

/// Cuts `rec` to `window` and shifts it per `shift`, the wall clock reading `now_ms`.
pub fn schedule(rec: Recording, window: Window, shift: Shift, now_ms: u64) -> Schedule {
    let shift_ms = match shift {
        Shift::None => 0,
        Shift::By(ms) => ms,
        Shift::Now { align_ms } => shift_for(&rec, window.from_ms, align_ms, now_ms),
    };
    let start_ms = (shift != Shift::None).then(|| anchor_ms(&rec, window.from_ms).saturating_add(shift_ms));
    let first_ns = rec.items.first().map_or(0, |(ns, _)| *ns);
    let from_ns = first_ns.saturating_add(window.from_ms.saturating_mul(1_000_000));
    let to_ns = window.to_ms.map_or(u64::MAX, |to| first_ns.saturating_add(to.saturating_mul(1_000_000)));
    let mut out = Schedule { shift_ms, start_ms, ..Schedule::default() };
    for (ns, mut item) in rec.items {
        if ns < from_ns {
            if let Item::Event(SimEvent::Depth(d)) = item {
                out.warmup.push(d);
            }
        } else if ns < to_ns {
            shift_item(&mut item, shift_ms);
            out.items.push((ns.saturating_add(shift_ms.saturating_mul(1_000_000)), item));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use storm_core::{Price, Qty, Symbol, Trade};

    use super::*;

    fn trade(recv_ms: u64, venue_ms: u64) -> (u64, Item) {
        let t = Trade {
            symbol: Symbol::new("BTCUSDT"),
            trade_id: recv_ms,
            price: Price(1.into()),
            qty: Qty(1.into()),
            buyer_is_maker: false,
            time_exchange: venue_ms * 1_000,
            time_received: recv_ms * 1_000,
        };
        (recv_ms * 1_000_000, Item::Event(SimEvent::Trade(t)))
    }

    fn rec() -> Recording {
        // Receive times 1.2–1.3 s behind the venue's, as in the hftbacktest files.
        Recording { items: vec![trade(10_000, 11_300), trade(20_000, 21_200), trade(70_000, 71_250)], skipped: 0 }
    }

    #[test]
    fn frames_go_out_no_later_than_their_shifted_venue_time() {
        assert_eq!(venue_lead_ms(&rec()), 1_200);
        let s = schedule(rec(), Window::default(), Shift::Now { align_ms: 60_000 }, 1_000_000);
        assert_eq!(s.shift_ms % 60_000, 0);
        let start = s.start_ms.unwrap_or(0);
        assert!((1_000_000..1_060_000).contains(&start), "{start}");
        // Each item's wall time: start + (receive − first receive); never after its venue time.
        for (ns, item) in &s.items {
            let Item::Event(SimEvent::Trade(t)) = item else { continue };
            let wall = start + (ns / 1_000_000 - (10_000 + s.shift_ms));
            assert!(wall <= t.time_exchange / 1_000, "{wall} after {}", t.time_exchange / 1_000);
        }
    }

    #[test]
    fn a_window_plays_its_part_and_warms_up_on_the_rest() {
        let s = schedule(rec(), Window { from_ms: 5_000, to_ms: Some(60_000) }, Shift::By(120_000), 0);
        let ids: Vec<u64> = s
            .items
            .iter()
            .filter_map(|(_, i)| match i {
                Item::Event(SimEvent::Trade(t)) => Some(t.time_exchange / 1_000),
                _ => None,
            })
            .collect();
        assert_eq!(ids, [141_200], "only the second trade, moved by two minutes");
        assert_eq!(s.start_ms, Some(20_000 + 1_200 + 120_000));
    }

    #[test]
    fn window_for_now_starts_a_slice_about_when_asked() {
        let now = 1_765_000_123_456;
        let (from, shift) = window_for_now(&rec(), 60_000, 5_000, now);
        assert_eq!(shift % 60_000, 0);
        let s = schedule(rec(), Window { from_ms: from, to_ms: None }, Shift::By(shift), now);
        // The recording here is sparse: the slice starts at the first frame at or after `from`.
        assert!(s.start_ms.unwrap_or(0) >= now + 5_000, "{:?}", s.start_ms);
    }
}
