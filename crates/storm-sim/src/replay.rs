//! Replay of real recordings: the sim serves recorded frames instead of its synthetic market.
//!
//! Two formats from `testdata/` are read:
//! * hftbacktest (`binance-spot-replay/*.gz`): gzip lines `<receive ns> <raw JSON>`, combined
//!   frames plus one bare REST depth reply (the snapshot) written where it was received;
//! * cryptofeed (`binance-spot-multi/BINANCE.ws.*`): a URL line, then `<ts seconds>: <frame>`
//!   lines; its snapshots live in the sibling `BINANCE.http.*` file as `<url> -> <ts>: <body>`.
//!
//! Each symbol's first recorded snapshot is installed before playback starts, so
//! `GET /api/v3/depth` answers the recorded snapshot at first; frames are then published at the
//! recorded pace (times a speed factor), in receive order, and every diff newer than the book is
//! applied to it, so later `/depth` calls answer the replayed book with its current
//! `lastUpdateId`: a client following Binance's procedure syncs whenever it connects.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use storm_core::{BookSide, DepthDiff, Level, Symbol};
use storm_venues::binance::wire::{parse_frame, DepthSnapshot, Frame};

use crate::exchange::{Exchange, SimEvent};
use crate::market::Market;
use crate::universe;

/// One recorded item.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// A market event to publish.
    Event(SimEvent),
    /// A REST depth snapshot of a symbol.
    Snapshot {
        /// Symbol.
        symbol: Symbol,
        /// The reply.
        snapshot: DepthSnapshot,
    },
}

/// A recording, in receive order, with receive times in ns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recording {
    /// (receive ns, item).
    pub items: Vec<(u64, Item)>,
    /// Lines that could not be understood (counted, not fatal).
    pub skipped: usize,
}

fn read_text(path: &Path) -> std::io::Result<Box<dyn BufRead>> {
    let file =
        std::fs::File::open(path).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let reader: Box<dyn Read> =
        if path.extension().is_some_and(|e| e == "gz") { Box::new(GzDecoder::new(file)) } else { Box::new(file) };
    Ok(Box::new(BufReader::new(reader)))
}

fn event_of(frame: Frame) -> Option<SimEvent> {
    match frame {
        Frame::Depth(d) => Some(SimEvent::Depth(d)),
        Frame::Ticker(t) => Some(SimEvent::Ticker(t)),
        Frame::Trade(t) => Some(SimEvent::Trade(t)),
        _ => None,
    }
}

impl Recording {
    /// Loads and merges recordings (by receive time).
    pub fn load(paths: &[PathBuf]) -> std::io::Result<Self> {
        let mut all = Recording::default();
        for p in paths {
            let one = if p.file_name().is_some_and(|n| n.to_string_lossy().contains(".ws.")) {
                Self::load_cryptofeed(p)?
            } else {
                Self::load_hftbacktest(p)?
            };
            all.items.extend(one.items);
            all.skipped += one.skipped;
        }
        all.items.sort_by_key(|(ns, _)| *ns); // stable: equal times keep file order
        Ok(all)
    }

    /// `<ns> <json>` lines; the bare snapshot takes the symbol of the file's frames.
    fn load_hftbacktest(path: &Path) -> std::io::Result<Self> {
        let mut rec = Recording::default();
        let mut pending_snapshots = Vec::new();
        let mut symbol = None;
        for line in read_text(path)?.lines() {
            let line = line?;
            let Some((ns, json)) = line.split_once(' ') else {
                rec.skipped += 1;
                continue;
            };
            let Ok(ns) = ns.parse::<u64>() else {
                rec.skipped += 1;
                continue;
            };
            if json.starts_with("{\"lastUpdateId\"") {
                match serde_json::from_str::<DepthSnapshot>(json) {
                    Ok(s) => pending_snapshots.push((ns, s)),
                    Err(_) => rec.skipped += 1,
                }
                continue;
            }
            match parse_frame(json, ns / 1_000).ok().and_then(event_of) {
                Some(ev) => {
                    if let SimEvent::Depth(d) = &ev {
                        symbol.get_or_insert_with(|| d.symbol.clone());
                    }
                    rec.items.push((ns, Item::Event(ev)));
                }
                None => rec.skipped += 1,
            }
        }
        if let Some(symbol) = symbol {
            for (ns, snapshot) in pending_snapshots {
                rec.items.push((ns, Item::Snapshot { symbol: symbol.clone(), snapshot }));
            }
        }
        rec.items.sort_by_key(|(ns, _)| *ns);
        Ok(rec)
    }

    /// cryptofeed's `BINANCE.ws.*` plus snapshots from the sibling `BINANCE.http.*`.
    fn load_cryptofeed(path: &Path) -> std::io::Result<Self> {
        let mut rec = Recording::default();
        let secs_to_ns = |s: &str| s.trim().parse::<f64>().ok().map(|t| (t * 1e9) as u64);
        for line in read_text(path)?.lines().skip(1) {
            let line = line?;
            let Some((ts, frame)) = line.split_once(": ") else {
                rec.skipped += 1;
                continue;
            };
            match secs_to_ns(ts).and_then(|ns| parse_frame(frame, ns / 1_000).ok().and_then(event_of).map(|e| (ns, e)))
            {
                Some((ns, ev)) => rec.items.push((ns, Item::Event(ev))),
                None => rec.skipped += 1,
            }
        }
        // Snapshots live in the sibling `<EXCHANGE>.http.*` file(s).
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let prefix = name.split(".ws.").next().unwrap_or_default().to_owned() + ".http.";
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut http_files: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&prefix)))
            .collect();
        http_files.sort();
        for http in http_files {
            let text = read_text(&http)?;
            for line in text.lines() {
                let line = line?;
                let parsed = line.split_once(" -> ").and_then(|(url, rest)| {
                    let symbol = url.split("symbol=").nth(1)?.split('&').next()?;
                    let (ts, body) = rest.split_once(": ")?;
                    Some((Symbol::new(symbol), secs_to_ns(ts)?, serde_json::from_str::<DepthSnapshot>(body).ok()?))
                });
                match parsed {
                    Some((symbol, ns, snapshot)) => rec.items.push((ns, Item::Snapshot { symbol, snapshot })),
                    None => rec.skipped += 1,
                }
            }
        }
        Ok(rec)
    }
}

/// Splits a Binance symbol into (base, quote) by its quote suffix.
fn split_symbol(s: &str) -> (String, String) {
    for q in ["USDT", "FDUSD", "USDC", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY", "BRL"] {
        if let Some(base) = s.strip_suffix(q) {
            if !base.is_empty() {
                return (base.to_owned(), q.to_owned());
            }
        }
    }
    (s.to_owned(), String::new())
}

impl Exchange {
    /// Installs a recorded snapshot as the book of `symbol` (creating the market).
    pub fn load_snapshot(&mut self, symbol: &Symbol, snap: &DepthSnapshot) {
        let mid = match (snap.bids.first(), snap.asks.first()) {
            (Some(b), Some(a)) => (b.price.0 + a.price.0) / rust_decimal::Decimal::TWO,
            (Some(l), None) | (None, Some(l)) => l.price.0,
            _ => rust_decimal::Decimal::ONE,
        };
        let (base, quote) = split_symbol(symbol.as_str());
        let mut inst = universe::instrument(&base, &quote, mid, rust_decimal::Decimal::ONE);
        inst.symbol = symbol.clone();
        let m = self.markets.entry(symbol.clone()).or_insert_with(|| Market::new(inst, 0));
        if m.book.replace(&snap.bids, &snap.asks, snap.last_update_id).is_ok() {
            m.update_id = snap.last_update_id;
        }
    }

    /// Applies a recorded diff to the replayed book when it follows it (`u` > book id);
    /// earlier diffs are part of the snapshot already. Returns whether it was applied.
    pub fn apply_recorded(&mut self, d: &DepthDiff) -> bool {
        let Some(m) = self.markets.get_mut(&d.symbol) else { return false };
        if d.last_update_id <= m.update_id || m.update_id == 0 {
            return false;
        }
        for (side, levels) in [(BookSide::Bid, &d.bids), (BookSide::Ask, &d.asks)] {
            for l in levels.iter().copied() {
                let Level { price, qty } = l;
                let _ = m.book.apply(side, price, qty);
            }
        }
        m.update_id = d.last_update_id;
        m.book.set_update_id(d.last_update_id);
        true
    }
}
