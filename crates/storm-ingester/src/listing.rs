//! `all_markets_quotes` at run time: the venue's instrument listing, fetched at start and again
//! every `all_markets_refresh_ms`, turned into subscriptions for the engine loop.
//!
//! A task of its own, so a slow or failing REST call never delays the subscription loop: the
//! engine reads the latest selection from a `watch` channel on every poll. Until the first
//! listing arrives the selection is empty (the configured and Redis-set streams flow already);
//! a failed refresh keeps the previous selection — a venue's REST being away must never
//! unsubscribe anything — and is retried with backoff. Newly listed symbols are picked up at
//! the next refresh, delisted or halted ones dropped.

use std::sync::Arc;
use std::time::Duration;

use storm_core::{Asset, Backoff};
use storm_venues::adapter::{Subscription, VenueAdapter};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::markets::{all_markets_from_listing, MarketChannel};

/// Longest wait for the listing reply (Binance's exchangeInfo is ~10 MB for every symbol).
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// What to select from the listing, and where it is.
#[derive(Clone, Debug)]
pub struct ListingSpec {
    /// The listing's URL ([`VenueAdapter::listing_url`]).
    pub url: String,
    /// Quote or base assets whose TRADING markets are selected.
    pub assets: Vec<Asset>,
    /// Channels subscribed for each selected market.
    pub channels: Vec<MarketChannel>,
    /// Time between two successful reads.
    pub refresh: Duration,
}

/// Starts the listing task; the receiver always holds the latest selection.
pub fn spawn(
    adapter: Arc<dyn VenueAdapter>,
    spec: ListingSpec,
    shutdown: CancellationToken,
) -> watch::Receiver<Vec<Subscription>> {
    let (tx, rx) = watch::channel(Vec::new());
    tokio::spawn(run(adapter, spec, tx, shutdown));
    rx
}

async fn run(
    adapter: Arc<dyn VenueAdapter>,
    spec: ListingSpec,
    tx: watch::Sender<Vec<Subscription>>,
    shutdown: CancellationToken,
) {
    let client = match reqwest::Client::builder().timeout(FETCH_TIMEOUT).build() {
        Ok(client) => client,
        Err(e) => {
            warn!(error = %e, "cannot build an HTTP client; all_markets_quotes stays empty");
            return;
        }
    };
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        let wait = match fetch(&client, adapter.as_ref(), &spec).await {
            Ok(selection) => {
                backoff.reset();
                if *tx.borrow() != selection {
                    info!(url = %spec.url, subscriptions = selection.len(), "all-markets selection updated");
                    tx.send_replace(selection);
                }
                spec.refresh
            }
            Err(e) => {
                let delay = backoff.next_delay();
                warn!(url = %spec.url, error = %e, ?delay, "cannot read the venue listing; keeping the previous selection");
                delay
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn fetch(
    client: &reqwest::Client,
    adapter: &dyn VenueAdapter,
    spec: &ListingSpec,
) -> Result<Vec<Subscription>, String> {
    let reply = client.get(&spec.url).send().await.map_err(|e| e.to_string())?;
    let status = reply.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let body = reply.text().await.map_err(|e| e.to_string())?;
    let selection =
        all_markets_from_listing(adapter, &body, &spec.assets, &spec.channels).map_err(|e| e.to_string())?;
    for skipped in &selection.skipped {
        warn!(error = %skipped, "listed market skipped");
    }
    Ok(selection.subscriptions)
}
