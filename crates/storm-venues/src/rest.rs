//! The REST client every engine uses for a venue's public and signed endpoints, inside the
//! per-IP weight budget shared through Redis ([`storm_bus::WeightBudget`]).
//!
//! One call is: reserve the request's weight (waiting, never spinning, if the minute is spent
//! or a rate-limit quiet period is on), send, feed the venue's own count of what it used back
//! into the shared counter, and on a rate limit or ban record the wait so that *every* process
//! on the host stops — continuing after a 429 is what earns a ban. A non-success reply becomes a
//! [`VenueError`] that says whether a retry can help; nothing here retries by itself, because
//! only the caller knows whether repeating the request is safe (a snapshot yes, an order no).
//!
//! What differs per venue — the header carrying the used weight, how an error reply reads, the
//! budget per minute — comes from the client's [`VenueKind`]; the headers a signed request needs
//! come from the venue's signing code with each request.

use std::time::Duration;

use storm_bus::{RateLimitError, WeightBudget};
use tracing::warn;

use storm_core::VenueKind;

use crate::error::VenueError;

/// The request weight a venue of `kind` allows per minute and IP (until its listing says
/// otherwise).
pub fn weight_per_minute(kind: VenueKind) -> u32 {
    match kind {
        VenueKind::Binance => crate::binance::rest_wire::WEIGHT_PER_MINUTE,
    }
}

/// The reply header carrying the weight a venue of `kind` counts as used.
fn used_weight_header(kind: VenueKind) -> &'static str {
    match kind {
        VenueKind::Binance => crate::binance::rest_wire::USED_WEIGHT_HEADER,
    }
}

/// A non-success reply of a venue of `kind` as a [`VenueError`].
fn classify(kind: VenueKind, status: u16, body: &str, retry_after: Option<Duration>) -> VenueError {
    match kind {
        VenueKind::Binance => crate::binance::error::classify(status, body, retry_after),
    }
}

/// Longest wait for one reply (exchangeInfo of every symbol is ~10 MB).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A budgeted REST client for one venue.
#[derive(Clone)]
pub struct RestClient {
    kind: VenueKind,
    http: reqwest::Client,
    budget: WeightBudget,
    on_send: Option<SendHook>,
}

/// Called right before a request goes to the HTTP client: weight reserved, URL signed (see
/// [`RestClient::on_send`]).
pub type SendHook = std::sync::Arc<dyn Fn() + Send + Sync>;

impl std::fmt::Debug for RestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestClient").field("budget", &self.budget.budget()).finish()
    }
}

impl RestClient {
    /// A client of a venue of `kind` spending from `budget`.
    pub fn new(kind: VenueKind, budget: WeightBudget) -> Result<Self, VenueError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| VenueError::Transport(format!("cannot build an HTTP client: {e}")))?;
        Ok(Self { kind, http, budget, on_send: None })
    }

    /// Calls `hook` right before each request is handed to the HTTP client, after its weight is
    /// reserved and its URL built: the executor's signal-to-order latency ends there.
    pub fn on_send(&mut self, hook: SendHook) {
        self.on_send = Some(hook);
    }

    /// The shared budget.
    pub fn budget(&self) -> &WeightBudget {
        &self.budget
    }

    /// Uses another budget from now on (the venue's live limit became known).
    pub fn set_budget(&mut self, budget: WeightBudget) {
        self.budget = budget;
    }

    /// `GET url` weighing `weight`; the body of a 2xx reply.
    pub async fn get(&self, url: &str, weight: u32) -> Result<String, VenueError> {
        self.send(reqwest::Method::GET, url, weight, &[], REQUEST_TIMEOUT).await
    }

    /// `method url` weighing `weight`, with `headers` (a signed request's key and signature)
    /// and its own reply timeout (orders want seconds, not the 30 s an exchangeInfo may need); the body of a 2xx
    /// reply. A timeout is [`VenueError::Unknown`]: the request may have been executed.
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        weight: u32,
        headers: &[(&'static str, &str)],
        timeout: Duration,
    ) -> Result<String, VenueError> {
        self.send_by(method, url, weight, headers, timeout, None).await
    }

    /// [`RestClient::send`] that gives up — before anything is sent — when the weight budget
    /// cannot be had by `budget_deadline` (an order whose signal expires meanwhile must not wait
    /// out a 429 quiet period and then trade on stale prices).
    pub async fn send_by(
        &self,
        method: reqwest::Method,
        url: &str,
        weight: u32,
        headers: &[(&'static str, &str)],
        timeout: Duration,
        budget_deadline: Option<std::time::Instant>,
    ) -> Result<String, VenueError> {
        let permit = match budget_deadline {
            None => self.budget.acquire(weight).await,
            Some(at) => {
                let left = at.saturating_duration_since(std::time::Instant::now());
                match tokio::time::timeout(left, self.budget.acquire(weight)).await {
                    Ok(p) => p,
                    Err(_) => return Err(VenueError::RateLimited { retry_after: Duration::ZERO }),
                }
            }
        };
        permit.map_err(budget_error)?;
        let mut request = self.http.request(method, url).timeout(timeout);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(hook) = &self.on_send {
            hook();
        }
        let reply = request.send().await.map_err(|e| {
            if e.is_timeout() {
                VenueError::Unknown { reason: "no reply in time".into() }
            } else if e.is_connect() {
                VenueError::Transport(format!("cannot connect: {}", without_url(&e)))
            } else {
                // The request may have left: for an order that is "status unknown".
                VenueError::Unknown { reason: format!("request failed: {}", without_url(&e)) }
            }
        })?;
        let status = reply.status().as_u16();
        let used = header_u64(&reply, used_weight_header(self.kind));
        let retry_after = header_u64(&reply, "retry-after").map(Duration::from_secs);
        let body = reply
            .text()
            .await
            .map_err(|e| VenueError::Unknown { reason: format!("reading the reply: {}", without_url(&e)) })?;
        if let Some(used) = used {
            if let Err(e) = self.budget.observe_used(u32::try_from(used).unwrap_or(u32::MAX)).await {
                warn!(error = %e, "cannot record the venue's used weight");
            }
        }
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let error = classify(self.kind, status, &body, retry_after);
        if let VenueError::RateLimited { retry_after } | VenueError::Banned { retry_after } = &error {
            let banned = matches!(error, VenueError::Banned { .. });
            if let Err(e) = self.budget.penalize(*retry_after, banned).await {
                warn!(error = %e, "cannot record the venue's Retry-After in Redis");
            }
        }
        Err(error)
    }
}

/// A reqwest error without the URL: a signed URL carries the signature and must not be logged.
fn without_url(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    if let Some(url) = e.url() {
        msg = msg.replace(url.as_str(), "<url>");
    }
    msg
}

fn header_u64(reply: &reqwest::Response, name: &str) -> Option<u64> {
    reply.headers().get(name)?.to_str().ok()?.trim().parse().ok()
}

fn budget_error(e: RateLimitError) -> VenueError {
    match e {
        RateLimitError::Cancelled => VenueError::Transport("shutting down".into()),
        other => VenueError::Transport(format!("weight budget: {other}")),
    }
}
