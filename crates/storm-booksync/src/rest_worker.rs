//! The one task that talks REST for booksync: exchangeInfo into `storm:instruments:<venue>`, then
//! order-book snapshots "one by one" from a queue, all inside the host's shared weight budget.
//!
//! Why one task, one request at a time: snapshots are the heaviest thing booksync does (weight 50
//! per 1000-level book), and the venue's limit is per IP and shared with every other storm process,
//! so startup for N symbols is bounded by the budget, not by concurrency; one request in flight
//! keeps the spend honest and the order fair (first asked, first served). The budget waits
//! (never spins) when the minute is spent or a 429/418 quiet period is on, and every reply's
//! `X-MBX-USED-WEIGHT-1M` is fed back, so booksync never causes a 429 in normal operation.
//!
//! A failed or garbage snapshot is counted, logged and the symbol goes back to the end of the
//! queue after a backoff; the engine is told only of snapshots that parsed.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use storm_bus::{Bus, WeightBudget, WeightBudgetConfig};
use storm_core::{Backoff, Instrument, Symbol, VenueId};
use storm_service::metrics::Counter;
use storm_service::Metrics;
use storm_venues::adapter::{DepthSnapshot, VenueAdapter};
use storm_venues::error::VenueError;
use storm_venues::rest::RestClient;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// What the worker reports to the engine.
#[derive(Debug)]
pub enum RestEvent {
    /// The venue's instruments (at start and after each refresh).
    Instruments(Vec<Instrument>),
    /// A snapshot that parsed.
    Snapshot(Symbol, DepthSnapshot),
}

/// Where and how much.
#[derive(Clone, Debug)]
pub struct RestSettings {
    /// The venue (Redis keys).
    pub venue: VenueId,
    /// Its wire dialect.
    pub kind: storm_core::VenueKind,
    /// The venue's `rest_url`.
    pub rest_url: String,
    /// Snapshot depth.
    pub depth: u32,
    /// Weight limit until exchangeInfo says otherwise.
    pub weight_limit: u32,
    /// Share of it handed out.
    pub usable_percent: u32,
    /// exchangeInfo re-read period.
    pub instruments_refresh: Duration,
}

/// The worker's counters.
#[derive(Clone, Debug)]
struct RestStats {
    snapshots: Counter,
    failures: Counter,
    rate_limited: Counter,
    banned: Counter,
}

/// Starts the worker: send symbols to snapshot on the returned sender, read results on the
/// receiver. Requests for a symbol already queued are merged.
pub fn spawn(
    adapter: Arc<dyn VenueAdapter>,
    bus: Bus,
    settings: RestSettings,
    metrics: &Metrics,
    shutdown: CancellationToken,
) -> (mpsc::UnboundedSender<Symbol>, mpsc::Receiver<RestEvent>) {
    let (req_tx, req_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::channel(64);
    let l = [("venue", settings.venue.as_str())];
    let stats = RestStats {
        snapshots: metrics.counter("storm_booksync_snapshots_total", "Snapshots fetched and parsed", &l),
        failures: metrics.counter(
            "storm_booksync_rest_failures_total",
            "REST calls that failed or returned garbage",
            &l,
        ),
        rate_limited: metrics.counter("storm_booksync_rest_429_total", "HTTP 429 replies (Retry-After honoured)", &l),
        banned: metrics.counter("storm_booksync_rest_418_total", "HTTP 418 replies: IP banned", &l),
    };
    let worker = Worker { adapter, bus, settings, stats, events: ev_tx, shutdown };
    tokio::spawn(worker.run(req_rx));
    (req_tx, ev_rx)
}

struct Worker {
    adapter: Arc<dyn VenueAdapter>,
    bus: Bus,
    settings: RestSettings,
    stats: RestStats,
    events: mpsc::Sender<RestEvent>,
    shutdown: CancellationToken,
}

impl Worker {
    fn budget(&self, limit: u32) -> Option<WeightBudget> {
        let mut cfg = WeightBudgetConfig::new(limit);
        cfg.usable_percent = self.settings.usable_percent;
        match WeightBudget::new(&self.bus, self.settings.venue.as_str(), cfg) {
            Ok(budget) => Some(budget),
            Err(e) => {
                warn!(error = %e, "unusable weight budget; booksync makes no REST call");
                None
            }
        }
    }

    async fn run(self, mut requests: mpsc::UnboundedReceiver<Symbol>) {
        let Some(budget) = self.budget(self.settings.weight_limit) else { return };
        let mut client = match RestClient::new(self.settings.kind, budget) {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "no REST client; booksync makes no REST call");
                return;
            }
        };
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
        // Instruments first: they carry the live weight limit the snapshots are budgeted by.
        loop {
            match self.instruments(&mut client).await {
                Ok(()) => break,
                Err(e) => {
                    self.stats.failures.inc();
                    let delay = backoff.next_delay();
                    warn!(error = %e, ?delay, "exchangeInfo failed; retrying");
                    if self.pause(delay).await {
                        return;
                    }
                }
            }
        }
        backoff.reset();
        let mut refresh_at = Instant::now() + self.settings.instruments_refresh;
        let mut queue: VecDeque<Symbol> = VecDeque::new();
        let mut queued: BTreeSet<Symbol> = BTreeSet::new();
        loop {
            if queue.is_empty() {
                tokio::select! {
                    _ = self.shutdown.cancelled() => return,
                    _ = tokio::time::sleep_until(refresh_at) => {}
                    request = requests.recv() => match request {
                        None => return,
                        Some(symbol) => if queued.insert(symbol.clone()) { queue.push_back(symbol) },
                    },
                }
            }
            while let Ok(symbol) = requests.try_recv() {
                if queued.insert(symbol.clone()) {
                    queue.push_back(symbol);
                }
            }
            if Instant::now() >= refresh_at {
                if let Err(e) = self.instruments(&mut client).await {
                    self.stats.failures.inc();
                    warn!(error = %e, "exchangeInfo refresh failed; keeping the previous instruments");
                }
                refresh_at = Instant::now() + self.settings.instruments_refresh;
            }
            let Some(symbol) = queue.pop_front() else { continue };
            match self.snapshot(&client, &symbol).await {
                Ok(snapshot) => {
                    backoff.reset();
                    queued.remove(&symbol);
                    self.stats.snapshots.inc();
                    if self.events.send(RestEvent::Snapshot(symbol, snapshot)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    self.stats.failures.inc();
                    let delay = backoff.next_delay();
                    warn!(symbol = %symbol, error = %e, ?delay, "snapshot failed; will retry");
                    queue.push_back(symbol);
                    if self.pause(delay).await {
                        return;
                    }
                }
            }
        }
    }

    /// Sleeps unless shutdown comes first (then true).
    async fn pause(&self, delay: Duration) -> bool {
        tokio::select! {
            _ = self.shutdown.cancelled() => true,
            _ = tokio::time::sleep(delay) => false,
        }
    }

    async fn snapshot(&self, client: &RestClient, symbol: &Symbol) -> Result<DepthSnapshot, String> {
        let s = &self.settings;
        let url = self.adapter.snapshot_url(&s.rest_url, symbol, s.depth);
        let body = self.get(client, &url, self.adapter.snapshot_weight(s.depth)).await?;
        self.adapter.parse_snapshot(&body).map_err(|e| e.to_string())
    }

    /// One budgeted GET; 429s and 418s counted (the client has told every process to wait).
    async fn get(&self, client: &RestClient, url: &str, weight: u32) -> Result<String, String> {
        client.get(url, weight).await.map_err(|e| {
            match e {
                VenueError::RateLimited { .. } => self.stats.rate_limited.inc(),
                VenueError::Banned { .. } => self.stats.banned.inc(),
                _ => {}
            }
            e.to_string()
        })
    }

    /// Reads exchangeInfo, adopts its weight limit, replaces `storm:instruments:<venue>` and tells
    /// the engine.
    async fn instruments(&self, client: &mut RestClient) -> Result<(), String> {
        let url = self.adapter.listing_url(&self.settings.rest_url);
        let body = self.get(client, &url, self.adapter.listing_weight()).await?;
        let instruments = self.adapter.parse_instruments(&body).map_err(|e| e.to_string())?;
        if let Ok(Some(limit)) = self.adapter.request_weight_limit(&body) {
            if limit.max != client.budget().config().limit {
                if let Some(budget) = self.budget(limit.max) {
                    info!(limit = limit.max, "weight limit from exchangeInfo");
                    client.set_budget(budget);
                }
            }
        }
        self.write_instruments(&instruments).await.map_err(|e| e.to_string())?;
        info!(instruments = instruments.len(), "instruments published");
        self.events.send(RestEvent::Instruments(instruments)).await.map_err(|_| "engine gone".to_owned())
    }

    /// Replaces the hash atomically (`storm_bus::instruments::write`).
    async fn write_instruments(&self, instruments: &[Instrument]) -> Result<(), storm_bus::BusError> {
        storm_bus::instruments::write(&self.bus, self.settings.venue.as_str(), instruments).await
    }
}
