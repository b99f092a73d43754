//! Scout mode: scan every book ticker cheaply by REST, stream only what matters.
//!
//! Following every book of a venue by WebSocket costs a connection slot, a snapshot and CPU per
//! symbol. The scout reads all best bids/asks in one REST call ([`market::all_tops_request`]) every
//! `scout.interval_ms`, inside the host's shared weight budget, evaluates every cycle on those
//! top-of-book levels, and adds the symbols of the cycles at least `scout.threshold_bps` good
//! (after fees; usually a little negative, to catch them before they turn profitable) to
//! `storm:subs:<venue>` as `depth:<SYM>` — the ingester and booksync then follow them, and the
//! finder sees real depth. A symbol the scout added is removed again `scout.linger_ms` after it
//! last qualified; members the scout did not add are never touched.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use rust_decimal::Decimal;
use storm_bus::{Bus, WeightBudget, WeightBudgetConfig};
use storm_core::arb::{evaluate, BookView, EvalParams, TriangleGraph};
use storm_core::time::now_millis;
use storm_core::{Asset, Instrument, Level, Symbol, VenueId, VenueKind};
use storm_service::config::VenueConfig;
use storm_service::metrics::Counter;
use storm_service::Metrics;
use storm_venues::market::{self, BookTicker};
use storm_venues::rest::{self, RestClient};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{ArbitrageConfig, ScoutConfig};

/// Starts the scout task.
pub fn spawn(
    bus: &Bus,
    venue: &VenueConfig,
    cfg: &ArbitrageConfig,
    fee: Decimal,
    metrics: &Metrics,
    shutdown: CancellationToken,
) {
    let l = [("venue", venue.name.as_str())];
    let (url, weight) = market::all_tops_request(venue.kind, &venue.rest_url);
    let scout = Scout {
        bus: bus.clone(),
        venue: VenueId::new(&venue.name),
        kind: venue.kind,
        url,
        weight,
        cfg: cfg.scout.clone(),
        start_assets: cfg.start_assets.iter().map(Asset::new).collect(),
        max_start: cfg.max_start.iter().map(|(a, v)| (Asset::new(a), *v)).collect(),
        fee,
        added: HashMap::new(),
        scans: metrics.counter("storm_arbitrage_scout_scans_total", "Book-ticker scans", &l),
        subscribed: metrics.counter("storm_arbitrage_scout_added_total", "Symbols the scout subscribed", &l),
        unsubscribed: metrics.counter("storm_arbitrage_scout_removed_total", "Symbols the scout unsubscribed", &l),
    };
    tokio::spawn(scout.run(shutdown));
}

struct Scout {
    bus: Bus,
    venue: VenueId,
    kind: VenueKind,
    url: String,
    weight: u32,
    cfg: ScoutConfig,
    start_assets: Vec<Asset>,
    max_start: HashMap<Asset, Decimal>,
    fee: Decimal,
    /// Symbols the scout subscribed, with the time they last qualified.
    added: HashMap<Symbol, u64>,
    scans: Counter,
    subscribed: Counter,
    unsubscribed: Counter,
}

impl Scout {
    async fn run(mut self, shutdown: CancellationToken) {
        let budget = match WeightBudget::new(
            &self.bus,
            self.venue.as_str(),
            WeightBudgetConfig::new(rest::weight_per_minute(self.kind)),
        ) {
            Ok(b) => b,
            Err(e) => return warn!(error = %e, "scout: unusable weight budget"),
        };
        let client = match RestClient::new(self.kind, budget) {
            Ok(c) => c,
            Err(e) => return warn!(error = %e, "scout: no REST client"),
        };
        loop {
            if let Err(e) = self.scan(&client).await {
                warn!(error = %e, "scout scan failed");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(self.cfg.interval_ms)) => {}
            }
        }
    }

    async fn scan(&mut self, client: &RestClient) -> Result<(), String> {
        let instruments = self.instruments().await?;
        let body = client.get(&self.url, self.weight).await.map_err(|e| e.to_string())?;
        let tickers = market::parse_all_tops(self.kind, &body)?;
        self.scans.inc();
        let hot = hot_symbols(&instruments, &self.start_assets, &self.max_start, &tickers, self.fee, &self.cfg);
        let now = now_millis();
        let key = self.bus.keys().subs(self.venue.as_str());
        let new: Vec<String> =
            hot.iter().filter(|s| !self.added.contains_key(*s)).map(|s| format!("depth:{s}")).collect();
        for s in &hot {
            self.added.insert(s.clone(), now);
        }
        let expired: Vec<Symbol> = self
            .added
            .iter()
            .filter(|(_, at)| now.saturating_sub(**at) > self.cfg.linger_ms)
            .map(|(s, _)| s.clone())
            .collect();
        let gone: Vec<String> = expired.iter().map(|s| format!("depth:{s}")).collect();
        let mut c = self.bus.conn();
        if !new.is_empty() {
            redis::cmd("SADD").arg(&key).arg(&new).query_async::<()>(&mut c).await.map_err(|e| e.to_string())?;
            self.subscribed.add(new.len() as u64);
            info!(added = ?new, "scout: near-profitable cycles, following their books");
        }
        if !gone.is_empty() {
            redis::cmd("SREM").arg(&key).arg(&gone).query_async::<()>(&mut c).await.map_err(|e| e.to_string())?;
            self.unsubscribed.add(gone.len() as u64);
            for s in &expired {
                self.added.remove(s);
            }
            info!(removed = ?gone, "scout: no longer near-profitable, unfollowed");
        }
        Ok(())
    }

    async fn instruments(&self) -> Result<Vec<Instrument>, String> {
        let (list, _bad) =
            storm_bus::instruments::read(&self.bus, self.venue.as_str()).await.map_err(|e| e.to_string())?;
        Ok(list)
    }
}

/// The symbols of every cycle at least `threshold_bps` good on top of book, best cycles first,
/// at most `max_symbols`.
pub fn hot_symbols(
    instruments: &[Instrument],
    start_assets: &[Asset],
    max_start: &HashMap<Asset, Decimal>,
    tickers: &[BookTicker],
    fee: Decimal,
    cfg: &ScoutConfig,
) -> Vec<Symbol> {
    let graph = TriangleGraph::build(instruments, start_assets);
    let by_symbol: HashMap<&Symbol, &Instrument> = instruments.iter().map(|i| (&i.symbol, i)).collect();
    let levels: HashMap<&Symbol, ([Level; 1], [Level; 1])> = tickers
        .iter()
        .map(|t| (&t.symbol, ([Level::new(t.bid_price, t.bid_qty)], [Level::new(t.ask_price, t.ask_qty)])))
        .collect();
    let params = |cap| EvalParams {
        taker_fee: fee,
        min_profit_bps: cfg.threshold_bps,
        max_start: Some(cap),
        max_age_ms: u64::MAX,
    };
    let mut found: Vec<(Decimal, [Symbol; 3])> = Vec::new();
    for cycle in graph.cycles() {
        let syms = [&cycle.legs[0].symbol, &cycle.legs[1].symbol, &cycle.legs[2].symbol];
        let (Some(l0), Some(l1), Some(l2)) = (levels.get(syms[0]), levels.get(syms[1]), levels.get(syms[2])) else {
            continue;
        };
        let (Some(i0), Some(i1), Some(i2)) = (by_symbol.get(syms[0]), by_symbol.get(syms[1]), by_symbol.get(syms[2]))
        else {
            continue;
        };
        let Some(cap) = max_start.get(&cycle.start) else { continue };
        let view = |l: &'_ ([Level; 1], [Level; 1])| -> (Vec<Level>, Vec<Level>) { (l.0.to_vec(), l.1.to_vec()) };
        let (v0, v1, v2) = (view(l0), view(l1), view(l2));
        let books = [
            BookView { bids: &v0.0, asks: &v0.1, update_id: 0, age_ms: 0, live: true },
            BookView { bids: &v1.0, asks: &v1.1, update_id: 0, age_ms: 0, live: true },
            BookView { bids: &v2.0, asks: &v2.1, update_id: 0, age_ms: 0, live: true },
        ];
        if let Ok(e) = evaluate(cycle, [&books[0], &books[1], &books[2]], [i0, i1, i2], &params(*cap)) {
            found.push((e.profit_bps, [syms[0].clone(), syms[1].clone(), syms[2].clone()]));
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    let mut hot: Vec<Symbol> = Vec::new();
    let mut seen: HashSet<Symbol> = HashSet::new();
    for (_, syms) in found {
        if hot.len() + 3 > cfg.max_symbols {
            break;
        }
        for s in syms {
            if seen.insert(s.clone()) {
                hot.push(s);
            }
        }
    }
    hot
}
