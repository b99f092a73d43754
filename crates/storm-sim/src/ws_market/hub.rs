//! The hub: one task per simulator that turns exchange events into market-data frames for every
//! connection.
//!
//! Serialising is the expensive part of a stream server, so it happens at most once per event
//! and form: the hub wraps each event a connection could want in an [`Out`], and the first
//! connection that sends it serialises it (raw or combined) into shared bytes that every other
//! connection sends as they are (a reference-count increment, no copy, no allocation). Events
//! that no connection subscribed to are dropped before any of that, by one atomic load
//! ([`Shared::wanted`]). The hub also owns the state that must be the same for every client:
//! the one-second depth windows and the candles, whose clock reads the wall time just after
//! every whole second (every kline boundary and update period is one).
//!
//! Connections read the hub's `broadcast` channel in order, so no connection can skip a diff:
//! one that falls behind by more than [`CAPACITY`] frames gets `Lagged` and is disconnected,
//! exactly as a real exchange drops a slow consumer rather than leaving holes in its sequence.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use storm_core::DepthDiff;
use storm_venues::binance::wire::{BookTicker, Combined, DepthUpdate, KlineEvent, TradeEvent};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::time::MissedTickBehavior;
use tracing::{error, warn};

use super::depth::DepthWindow;
use super::kline::{Candle, Candles};
use super::stream::{Interval, Kind, StreamKey, Universe};
use crate::exchange::SimEvent;
use crate::server::SimState;

/// Frames buffered per connection before it counts as a slow consumer (about 1.6 s at 20,000
/// events per second).
pub const CAPACITY: usize = 32_768;

/// How long after each whole second the kline clock reads the time: every kline boundary and
/// update period is a whole second, and the margin lets a trade stamped just before the boundary
/// reach the hub first.
const KLINE_CLOCK_LAG_MS: u64 = 5;

/// What the hub broadcasts.
#[derive(Clone, Debug)]
pub enum Item {
    /// A frame of one stream.
    Frame(Arc<Out>),
    /// The hub missed exchange events: every connection must close (its streams have holes).
    Reset,
}

/// The payload of an [`Out`].
#[derive(Debug)]
enum Body {
    /// A diff, ticker or trade, shared with the exchange's own broadcast.
    Sim(Arc<SimEvent>),
    /// A one-second depth window.
    Depth(DepthDiff),
    /// A candle update.
    Kline(KlineEvent),
}

/// One frame of one stream, serialised lazily and at most once per form.
#[derive(Debug)]
pub struct Out {
    /// The stream it belongs to.
    pub key: StreamKey,
    body: Body,
    raw: OnceLock<Option<Utf8Bytes>>,
    combined: OnceLock<Option<Utf8Bytes>>,
}

fn encode<T: Serialize>(payload: &T, stream: Option<String>) -> Option<Utf8Bytes> {
    let json = match stream {
        Some(stream) => serde_json::to_string(&Combined { stream, data: payload }),
        None => serde_json::to_string(payload),
    };
    json.map(Utf8Bytes::from).map_err(|e| error!(error = %e, "cannot serialise a market-data frame")).ok()
}

impl Out {
    fn new(key: StreamKey, body: Body) -> Arc<Self> {
        Arc::new(Self { key, body, raw: OnceLock::new(), combined: OnceLock::new() })
    }

    /// The frame's text: the bare payload, or `{"stream":..,"data":..}` when `combined`.
    pub fn text(&self, combined: bool, universe: &Universe) -> Option<Utf8Bytes> {
        let cell = if combined { &self.combined } else { &self.raw };
        cell.get_or_init(|| self.serialize(combined.then(|| universe.name(self.key)))).clone()
    }

    fn serialize(&self, stream: Option<String>) -> Option<Utf8Bytes> {
        match &self.body {
            Body::Sim(event) => match &**event {
                SimEvent::Depth(d) => encode(&DepthUpdate::from(d), stream),
                SimEvent::Ticker(t) => encode(&BookTicker::from(t), stream),
                SimEvent::Trade(t) => encode(&TradeEvent::from(t), stream),
                SimEvent::Execution { .. } | SimEvent::Position { .. } => None,
            },
            Body::Depth(d) => encode(&DepthUpdate::from(d), stream),
            Body::Kline(k) => encode(k, stream),
        }
    }
}

/// What connections share with the hub.
#[derive(Debug)]
pub struct Shared {
    /// The listed symbols and their stream names.
    pub universe: Universe,
    /// Per stream slot, how many connections hold it.
    interest: Vec<AtomicU32>,
    tx: broadcast::Sender<Item>,
}

impl Shared {
    /// A receiver of every frame from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Item> {
        self.tx.subscribe()
    }

    /// True when some connection holds the stream.
    fn wanted(&self, key: StreamKey) -> bool {
        self.interest.get(key.slot()).is_some_and(|n| n.load(Ordering::Relaxed) > 0)
    }

    fn send(&self, key: StreamKey, body: Body) {
        // An error only means that no connection is listening.
        let _ = self.tx.send(Item::Frame(Out::new(key, body)));
    }
}

/// The streams one connection holds, in subscription order, with a bit per slot for the hot
/// path. Holding a stream counts in [`Shared::wanted`] until it is removed or this is dropped.
#[derive(Debug)]
pub struct Subscriptions {
    shared: Arc<Shared>,
    list: Vec<StreamKey>,
    bits: Vec<u64>,
}

impl Subscriptions {
    /// None yet.
    pub fn new(shared: Arc<Shared>) -> Self {
        let bits = vec![0; shared.universe.slots().div_ceil(64)];
        Self { shared, list: Vec::new(), bits }
    }

    /// True when the stream is held.
    pub fn contains(&self, key: StreamKey) -> bool {
        let slot = key.slot();
        self.bits.get(slot / 64).is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }

    /// Number of streams held.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when no stream is held.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Adds a stream (no-op if held).
    pub fn add(&mut self, key: StreamKey) {
        let slot = key.slot();
        if self.contains(key) || slot / 64 >= self.bits.len() {
            return;
        }
        self.bits[slot / 64] |= 1 << (slot % 64);
        self.list.push(key);
        if let Some(n) = self.shared.interest.get(slot) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Removes a stream (no-op if not held).
    pub fn remove(&mut self, key: StreamKey) {
        if !self.contains(key) {
            return;
        }
        let slot = key.slot();
        self.bits[slot / 64] &= !(1 << (slot % 64));
        self.list.retain(|k| *k != key);
        if let Some(n) = self.shared.interest.get(slot) {
            n.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The stream names, in subscription order.
    pub fn names(&self) -> Vec<String> {
        self.list.iter().map(|k| self.shared.universe.name(*k)).collect()
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        for key in std::mem::take(&mut self.list) {
            if let Some(n) = self.shared.interest.get(key.slot()) {
                n.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

/// Starts the hub of `state` (call once, inside a Tokio runtime). It runs until the exchange's
/// event channel closes, i.e. until the simulator is dropped.
pub fn start(state: &SimState) -> Arc<Shared> {
    let symbols: Vec<_> = state.exchange().instruments().map(|i| i.symbol.clone()).collect();
    let universe = Universe::new(symbols);
    let (tx, _) = broadcast::channel(CAPACITY);
    let n = universe.len();
    let interest = (0..universe.slots()).map(|_| AtomicU32::new(0)).collect();
    let shared = Arc::new(Shared { universe, interest, tx });
    let hub = Hub {
        rx: state.subscribe(),
        shared: shared.clone(),
        windows: (0..n).map(|_| DepthWindow::default()).collect(),
        candles: Candles::new(n),
    };
    tokio::spawn(hub.run());
    shared
}

struct Hub {
    rx: broadcast::Receiver<Arc<SimEvent>>,
    shared: Arc<Shared>,
    windows: Vec<DepthWindow>,
    candles: Candles,
}

impl Hub {
    async fn run(mut self) {
        let mut depth_tick = tokio::time::interval(Duration::from_millis(1_000));
        depth_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let kline_clock = tokio::time::sleep(until_next_second());
        tokio::pin!(kline_clock);
        loop {
            tokio::select! {
                r = self.rx.recv() => if !self.on_recv(r) {
                    break;
                },
                _ = depth_tick.tick() => self.flush_depth(),
                _ = &mut kline_clock => {
                    kline_clock.as_mut().reset(tokio::time::Instant::now() + until_next_second());
                    // Trades already published belong before the clock's reading.
                    loop {
                        match self.rx.try_recv() {
                            Ok(event) => self.on_event(event),
                            Err(TryRecvError::Lagged(missed)) => self.on_lagged(missed),
                            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                        }
                    }
                    let shared = &self.shared;
                    self.candles.on_clock(storm_core::time::now_millis(), &mut |sym, i, c, x, ms| {
                        emit_kline(shared, sym, i, c, x, ms)
                    });
                }
            }
        }
    }

    /// Handles one `recv` result; false when the exchange is gone.
    fn on_recv(&mut self, r: Result<Arc<SimEvent>, RecvError>) -> bool {
        match r {
            Ok(event) => self.on_event(event),
            Err(RecvError::Lagged(missed)) => self.on_lagged(missed),
            Err(RecvError::Closed) => return false,
        }
        true
    }

    fn on_lagged(&mut self, missed: u64) {
        warn!(missed, "market-data hub fell behind the exchange: closing every stream");
        self.windows.iter_mut().for_each(DepthWindow::clear);
        let _ = self.shared.tx.send(Item::Reset);
    }

    fn on_event(&mut self, event: Arc<SimEvent>) {
        let shared = &*self.shared;
        let (symbol, kind) = match &*event {
            SimEvent::Depth(d) => (&d.symbol, Kind::Depth100ms),
            SimEvent::Ticker(t) => (&t.symbol, Kind::BookTicker),
            SimEvent::Trade(t) => (&t.symbol, Kind::Trade),
            SimEvent::Execution { .. } | SimEvent::Position { .. } => return,
        };
        let Some(sym) = shared.universe.index(symbol) else { return };
        match &*event {
            SimEvent::Depth(d) => {
                if let Some(w) = self.windows.get_mut(sym as usize) {
                    // Windows are only kept for symbols someone follows; skipping a diff empties
                    // the window, so a window never has holes.
                    if shared.wanted(StreamKey { symbol: sym, kind: Kind::Depth }) {
                        w.push(d);
                    } else {
                        w.clear();
                    }
                }
            }
            SimEvent::Trade(t) => {
                self.candles.on_trade(sym, t, &mut |sym, i, c, x, ms| emit_kline(shared, sym, i, c, x, ms));
            }
            _ => {}
        }
        let key = StreamKey { symbol: sym, kind };
        if shared.wanted(key) {
            shared.send(key, Body::Sim(event));
        }
    }

    fn flush_depth(&mut self) {
        let now_us = storm_core::time::now_micros();
        for (sym, w) in self.windows.iter_mut().enumerate() {
            let key = StreamKey { symbol: sym as u32, kind: Kind::Depth };
            let Some(symbol) = self.shared.universe.symbol(key.symbol) else { continue };
            if let Some(diff) = w.take(symbol, now_us) {
                self.shared.send(key, Body::Depth(diff));
            }
        }
    }
}

/// Time until [`KLINE_CLOCK_LAG_MS`] past the next whole second of the wall clock.
fn until_next_second() -> Duration {
    let now = storm_core::time::now_millis();
    Duration::from_millis(1_000 - now % 1_000 + KLINE_CLOCK_LAG_MS)
}

fn emit_kline(shared: &Shared, sym: u32, interval: Interval, candle: &Candle, closed: bool, event_ms: u64) {
    let key = StreamKey { symbol: sym, kind: Kind::Kline(interval) };
    if !shared.wanted(key) {
        return;
    }
    if let Some(symbol) = shared.universe.symbol(sym) {
        shared.send(key, Body::Kline(candle.event(symbol, interval, closed, event_ms)));
    }
}
