//! The simulated exchange as a pure state machine: the market moves when [`Exchange::step`] is
//! called, orders are matched when [`Exchange::place`] is called, and every visible consequence
//! comes back as [`SimEvent`]s for the transport layers to send. No I/O, no clock: time is an
//! argument, randomness a seeded generator, so a seed reproduces a run exactly.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use storm_core::{Asset, DepthDiff, Instrument, Level, Side, Symbol, Ticker, Trade};

use crate::market::{rescale, Market};
use crate::matching::{self, Limits, Queues};
use crate::orders::{Account, Balance, Fill, Order, Placement};
use crate::universe;

/// An execution report for one account (Binance `executionReport`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionReport {
    /// The order after this execution (its `fills` left empty).
    pub order: Order,
    /// `NEW`, `TRADE`, `CANCELED`, `EXPIRED`.
    pub exec_type: &'static str,
    /// The fill of a `TRADE` report.
    pub last: Option<Fill>,
    /// Event time, ms.
    pub time_ms: u64,
}

/// Something the exchange wants the world to see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimEvent {
    /// A depth diff.
    Depth(DepthDiff),
    /// A best bid/offer change.
    Ticker(Ticker),
    /// A public trade.
    Trade(Trade),
    /// An execution report for `api_key`'s user-data stream.
    Execution {
        /// Account.
        api_key: String,
        /// Report (boxed: it is much larger than the market events).
        report: Box<ExecutionReport>,
    },
    /// Changed balances of `api_key` (Binance `outboundAccountPosition`).
    Position {
        /// Account.
        api_key: String,
        /// Event time, ms.
        time_ms: u64,
        /// The assets that changed, with their new balances.
        balances: Vec<(Asset, Balance)>,
    },
}

/// Market-model settings.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// Assets and starting fair values in USDT.
    pub assets: Vec<(String, Decimal)>,
    /// (base, quote) pairs.
    pub pairs: Vec<(String, String)>,
    /// Fee per fill, fraction of the received asset (0.001).
    pub fee: Decimal,
    /// Chance per step that a random taker trades against a book.
    pub taker_probability: f64,
    /// Most random level changes near the top per symbol update (each update draws 1..=this);
    /// see [`crate::config::SimConfig::levels_per_event`].
    pub levels_per_event: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            assets: universe::default_fair_values(),
            pairs: universe::DEFAULT_PAIRS.iter().map(|(b, q)| (b.to_string(), q.to_string())).collect(),
            fee: Decimal::new(1, 3),
            taker_probability: 0.3,
            levels_per_event: crate::config::DEFAULT_LEVELS_PER_EVENT,
        }
    }
}

/// The whole simulated exchange.
pub struct Exchange {
    pub(crate) markets: BTreeMap<Symbol, Market>,
    pub(crate) queues: BTreeMap<Symbol, Queues>,
    pub(crate) accounts: BTreeMap<String, Account>,
    symbols: Vec<Symbol>,
    fair: BTreeMap<String, Decimal>,
    start_fair: BTreeMap<String, Decimal>,
    pub(crate) rng: StdRng,
    pub(crate) next_order_id: u64,
    /// Next trade id per symbol: Binance numbers each symbol's trades 1, 2, 3, ... without holes,
    /// which is what lets a reader of `@trade` notice a missed trade (storm-candles does).
    pub(crate) next_trade_id: BTreeMap<Symbol, u64>,
    pub(crate) fee: Decimal,
    taker_probability: f64,
    levels_per_event: usize,
    /// Every order placement attempt (`place`).
    pub(crate) placements: Vec<Placement>,
}

impl Exchange {
    /// Builds the universe and fills every book. Pairs whose assets are unknown are skipped.
    pub fn new(model: &ModelConfig, seed: u64, now_ms: u64) -> Self {
        let fair: BTreeMap<String, Decimal> = model.assets.iter().cloned().collect();
        let mut ex = Self {
            markets: BTreeMap::new(),
            queues: BTreeMap::new(),
            accounts: BTreeMap::new(),
            symbols: Vec::new(),
            start_fair: fair.clone(),
            fair,
            rng: StdRng::seed_from_u64(seed),
            next_order_id: 1,
            next_trade_id: BTreeMap::new(),
            fee: model.fee,
            taker_probability: model.taker_probability.clamp(0.0, 1.0),
            levels_per_event: model.levels_per_event.clamp(1, crate::config::MAX_LEVELS_PER_EVENT),
            placements: Vec::new(),
        };
        for (base, quote) in &model.pairs {
            let (Some(fb), Some(fq)) = (ex.fair.get(base), ex.fair.get(quote)) else { continue };
            if fq.is_zero() {
                continue;
            }
            let inst = universe::instrument(base, quote, fb / fq, *fq);
            let first_id = ex.rng.gen_range(1_000_000..9_000_000u64);
            ex.symbols.push(inst.symbol.clone());
            ex.markets.insert(inst.symbol.clone(), Market::new(inst, first_id));
        }
        for sym in ex.symbols.clone() {
            ex.reshape(&sym, now_ms, &mut Vec::new());
            if let Some(m) = ex.markets.get_mut(&sym) {
                // The initial ladder is the state before the first event: no diff for it.
                let _ = m.take_diff(0);
                let _ = m.take_ticker(0);
            }
        }
        ex
    }

    /// Adds (or replaces) an account.
    pub fn add_account(&mut self, api_key: &str, secret: &str, balances: &[(Asset, Decimal)]) {
        let mut acct = Account { secret: secret.to_owned(), ..Account::default() };
        for (asset, amount) in balances {
            acct.credit(asset, *amount);
        }
        self.accounts.insert(api_key.to_owned(), acct);
    }

    /// The HMAC secret of an API key.
    pub fn secret(&self, api_key: &str) -> Option<&str> {
        self.accounts.get(api_key).map(|a| a.secret.as_str())
    }

    /// Every instrument.
    pub fn instruments(&self) -> impl Iterator<Item = &Instrument> {
        self.markets.values().map(|m| &m.instrument)
    }

    /// The instrument of a symbol.
    pub fn instrument(&self, symbol: &Symbol) -> Option<&Instrument> {
        self.markets.get(symbol).map(|m| &m.instrument)
    }

    /// `lastUpdateId` and the best `limit` levels of each side, scaled as Binance prints them.
    pub fn depth(&self, symbol: &Symbol, limit: usize) -> Option<(u64, Vec<Level>, Vec<Level>)> {
        let m = self.markets.get(symbol)?;
        let scale = |l: Level| Level::new(storm_core::Price(rescale(l.price.0)), storm_core::Qty(rescale(l.qty.0)));
        let side = |s| m.book.levels(s).take(limit).map(scale).collect();
        Some((m.update_id, side(storm_core::BookSide::Bid), side(storm_core::BookSide::Ask)))
    }

    /// Best bid/offer of a symbol.
    pub fn book_ticker(&self, symbol: &Symbol) -> Option<(Level, Level)> {
        let m = self.markets.get(symbol)?;
        Some((m.book.best_bid()?, m.book.best_ask()?))
    }

    /// An account.
    pub fn account(&self, api_key: &str) -> Option<&Account> {
        self.accounts.get(api_key)
    }

    /// The fair price of a market (quote per base), mispricing included.
    fn fair_price(&self, m: &Market, now_ms: u64) -> Option<(Decimal, Decimal)> {
        let fb = *self.fair.get(m.instrument.base.as_str())?;
        let fq = *self.fair.get(m.instrument.quote.as_str())?;
        if fq.is_zero() {
            return None;
        }
        let bias = match m.bias {
            Some((b, until)) if until > now_ms => b,
            _ => Decimal::ZERO,
        };
        Some((fb / fq * (Decimal::ONE + bias), fq))
    }

    /// One round of order flow on a symbol. A resting user order that the fair price has walked
    /// through is taken first by a taker at the fair price, as arbitrageurs would on a real venue,
    /// so the synthetic ladder never crosses it.
    fn reshape(&mut self, symbol: &Symbol, now_ms: u64, out: &mut Vec<SimEvent>) {
        let Some(m) = self.markets.get(symbol) else { return };
        let Some((fair, quote_usdt)) = self.fair_price(m, now_ms) else { return };
        if !m.user_qty.is_empty() {
            let ask_below = m.book.best_ask().is_some_and(|a| a.price.0 < fair);
            let bid_above = m.book.best_bid().is_some_and(|b| b.price.0 > fair);
            for (cross, side) in [(ask_below, Side::Buy), (bid_above, Side::Sell)] {
                if !cross {
                    continue;
                }
                let Some(m) = self.markets.get_mut(symbol) else { return };
                let queues = self.queues.entry(symbol.clone()).or_default();
                let takes = matching::sweep(m, queues, side, Limits { price: Some(fair), qty: None, quote: None });
                self.settle_takes(symbol, side, None, &takes, now_ms, out);
            }
        }
        if let Some(m) = self.markets.get_mut(symbol) {
            m.reshape(&mut self.rng, fair, quote_usdt, self.levels_per_event);
        }
    }

    /// Pushes `symbol`'s book away from fair value by `fraction` (0.008 = +0.8 %) until `until_ms`.
    pub fn misprice(&mut self, symbol: &Symbol, fraction: Decimal, until_ms: u64) -> bool {
        match self.markets.get_mut(symbol) {
            Some(m) => {
                m.bias = Some((fraction, until_ms));
                true
            }
            None => false,
        }
    }

    /// Moves every fair value one random-walk step (±0.02 %, pulled back within ±20 % of start).
    fn walk(&mut self) {
        for (asset, v) in self.fair.iter_mut() {
            if asset == "USDT" {
                continue;
            }
            let start = self.start_fair.get(asset).copied().unwrap_or(*v);
            let mut step = Decimal::new(self.rng.gen_range(-20..=20), 5);
            if *v > start * Decimal::new(12, 1) {
                step = -step.abs();
            } else if *v < start * Decimal::new(8, 1) {
                step = step.abs();
            }
            *v = (*v * (Decimal::ONE + step)).round_dp(12);
        }
    }

    /// One step of market activity: fair values move, and `events` random symbols each get one
    /// round of order flow (and sometimes a taker). Returns what happened.
    pub fn step(&mut self, now_ms: u64, events: usize) -> Vec<SimEvent> {
        self.walk();
        let mut out = Vec::with_capacity(events * 2);
        if self.symbols.is_empty() {
            return out;
        }
        for _ in 0..events {
            let sym = self.symbols[self.rng.gen_range(0..self.symbols.len())].clone();
            self.reshape(&sym, now_ms, &mut out);
            if self.rng.gen_bool(self.taker_probability) {
                self.synthetic_taker(&sym, now_ms, &mut out);
            }
            self.flush_market(&sym, now_ms, &mut out);
        }
        out
    }

    /// A random anonymous market order hitting the top of a book.
    fn synthetic_taker(&mut self, sym: &Symbol, now_ms: u64, out: &mut Vec<SimEvent>) {
        let side = if self.rng.gen_bool(0.5) { Side::Buy } else { Side::Sell };
        let Some(m) = self.markets.get_mut(sym) else { return };
        let Some(top) = m.book.best(matching::opposite_book(side)) else { return };
        let qty = m.instrument.floor_qty(storm_core::Qty(top.qty.0 * Decimal::new(self.rng.gen_range(1..15), 1))).0;
        if qty.is_zero() {
            return;
        }
        let queues = self.queues.entry(sym.clone()).or_default();
        let takes = matching::sweep(m, queues, side, Limits { price: None, qty: Some(qty), quote: None });
        self.settle_takes(sym, side, None, &takes, now_ms, out);
    }

    /// Emits the pending depth diff and ticker of a market.
    pub(crate) fn flush_market(&mut self, sym: &Symbol, now_ms: u64, out: &mut Vec<SimEvent>) {
        if let Some(m) = self.markets.get_mut(sym) {
            let now_us = now_ms * 1_000;
            if let Some(d) = m.take_diff(now_us) {
                out.push(SimEvent::Depth(d));
            }
            if let Some(t) = m.take_ticker(now_us) {
                out.push(SimEvent::Ticker(t));
            }
        }
    }

    /// Public trades and maker-side fills for a taker's executions.
    pub(crate) fn settle_takes(
        &mut self,
        sym: &Symbol,
        taker_side: Side,
        taker: Option<(&str, u64)>,
        takes: &[matching::Take],
        now_ms: u64,
        out: &mut Vec<SimEvent>,
    ) -> Vec<Fill> {
        let mut taker_fills = Vec::new();
        for t in takes {
            let next = self.next_trade_id.entry(sym.clone()).or_insert(1);
            let trade_id = *next;
            *next += 1;
            out.push(SimEvent::Trade(Trade {
                symbol: sym.clone(),
                trade_id,
                price: storm_core::Price(rescale(t.price)),
                qty: storm_core::Qty(rescale(t.qty)),
                buyer_is_maker: taker_side == Side::Sell,
                time_exchange: now_ms * 1_000,
                time_received: now_ms * 1_000,
            }));
            for (api_key, order_id, qty) in &t.makers {
                self.fill_order(api_key, *order_id, t.price, *qty, true, trade_id, now_ms, out);
            }
            if let Some((api_key, order_id)) = taker {
                if let Some(f) = self.fill_order(api_key, order_id, t.price, t.qty, false, trade_id, now_ms, out) {
                    taker_fills.push(f);
                }
            }
        }
        taker_fills
    }
}
