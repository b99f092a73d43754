//! Fault injection for the REST side, set through `POST /_sim/fault` (JSON):
//! `{"kind":"latency","ms":200}` delays every REST reply; `{"kind":"order_error","mode":"5xx",
//! "count":1}` answers the next order requests with HTTP 500 **after** the order was placed
//! (`"mode":"timeout"` answers -1007 "execution status unknown" instead); `{"kind":"clear"}`
//! removes every fault. This is what the executor's "status unknown → query, never resend" rule
//! is tested against.
//!
//! The market-data WebSocket (`crate::ws_market`) has its own faults, so that the ingester's and
//! booksync's recovery paths can be exercised on demand instead of waiting for Binance to misbehave:
//! - `{"kind":"close_streams"}` closes every market-data connection now (close frame 1001): the
//!   client must reconnect and resynchronise its books.
//! - `{"kind":"stall","ms":3000}` sends nothing (no frame, no ping, no reply) on every connection
//!   for that long; afterwards the frames held back follow in order, or the connection is dropped
//!   as a slow consumer if the backlog outgrew the buffer. This is what a frozen network looks like.
//! - `{"kind":"gap"}` drops the next depth frame of every connection, so the one after it has
//!   `U > previous u + 1`: a booksync must see the gap and resync from a snapshot.
//! - `{"kind":"malformed"}` sends one frame of invalid JSON on every connection, which stays open:
//!   the client must count and skip it, never crash.
//!
//! Each connection watches [`WsFaults`] (a `watch` channel of generation counters), so injecting a
//! fault costs nothing on the hot path.
//!
//! Two more, for chaos runs (`scripts/chaos`):
//! - `{"kind":"rate_limit","count":3,"retry_after_s":2}` answers the next `count` REST requests
//!   (any endpoint but the admin ones) with HTTP 429, code -1003 and `Retry-After`, **before**
//!   anything is executed, exactly as Binance's weight limiter does, but on demand and without the
//!   418 ban that a client ignoring a real 429 would earn. Defaults: count 1, retry_after_s 1.
//! - `{"kind":"pause"}` freezes the market: no random-walk step, no order flow, no mispricing
//!   until `{"kind":"resume"}` (or `clear`). Orders still match against the frozen books, so a
//!   chain in flight finishes; books then stop moving and can be compared with a client's copy.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::orders::SimError;

/// One admin request.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultRequest {
    /// Delay every REST reply.
    Latency {
        /// Milliseconds.
        ms: u64,
    },
    /// Fail the next `count` order placements after placing them.
    OrderError {
        /// `5xx` or `timeout`.
        mode: OrderErrorMode,
        /// How many orders.
        count: u32,
    },
    /// Close every market-data WebSocket connection now.
    CloseStreams,
    /// Send nothing on any market-data connection for a while.
    Stall {
        /// Milliseconds.
        ms: u64,
    },
    /// Drop the next depth frame of every market-data connection (a sequence gap).
    Gap,
    /// Send one frame of invalid JSON on every market-data connection.
    Malformed,
    /// Answer the next `count` REST requests with 429 and `Retry-After`, executing nothing.
    RateLimit {
        /// How many requests (default 1).
        #[serde(default = "one")]
        count: u32,
        /// The `Retry-After` header, seconds (default 1).
        #[serde(default = "one_u64")]
        retry_after_s: u64,
    },
    /// Freeze the market (no steps, no mispricings) until `resume` or `clear`.
    Pause,
    /// Unfreeze the market.
    Resume,
    /// Remove every fault (and resume a paused market).
    Clear,
}

fn one() -> u32 {
    1
}

fn one_u64() -> u64 {
    1
}

/// How an order placement fails after the fact.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub enum OrderErrorMode {
    /// HTTP 500, unknown error.
    #[serde(rename = "5xx")]
    ServerError,
    /// -1007, timeout waiting for the backend.
    #[serde(rename = "timeout")]
    Timeout,
}

/// Longest stall accepted (one hour), so an absurd request cannot overflow a deadline.
const MAX_STALL_MS: u64 = 3_600_000;

/// The market-data WebSocket faults as every connection sees them. One-shot faults are counters:
/// a connection acts when a counter differs from the value it saw last, so each injection is
/// applied exactly once per connection, however late the connection looks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WsFaultState {
    /// Bumped by `close_streams`.
    pub close_generation: u64,
    /// Bumped by `gap`.
    pub gap_generation: u64,
    /// Bumped by `malformed`.
    pub malformed_generation: u64,
    /// Nothing is sent before this instant (`stall`).
    pub stall_until: Option<Instant>,
}

/// The sending side of [`WsFaultState`].
#[derive(Debug)]
pub struct WsFaults {
    tx: watch::Sender<WsFaultState>,
}

impl Default for WsFaults {
    fn default() -> Self {
        Self { tx: watch::channel(WsFaultState::default()).0 }
    }
}

impl WsFaults {
    /// Changes the state and wakes every connection (also when none is listening yet).
    fn update(&self, f: impl FnOnce(&mut WsFaultState)) {
        self.tx.send_modify(f);
    }
}

/// Active faults.
#[derive(Debug, Default)]
pub struct Faults {
    latency_ms: AtomicU64,
    order_errors: Mutex<Option<(OrderErrorMode, u32)>>,
    /// Injected 429s: (requests left, Retry-After seconds).
    rate_limits: Mutex<Option<(u32, u64)>>,
    paused: AtomicBool,
    ws: WsFaults,
}

impl Faults {
    /// Applies an admin request.
    pub fn apply(&self, req: &FaultRequest) {
        let mut errs = self.order_errors.lock().unwrap_or_else(|e| e.into_inner());
        match req {
            FaultRequest::Latency { ms } => self.latency_ms.store(*ms, Ordering::Relaxed),
            FaultRequest::OrderError { mode, count } => *errs = Some((*mode, *count)),
            FaultRequest::CloseStreams => self.ws.update(|s| s.close_generation += 1),
            FaultRequest::Stall { ms } => {
                let until = Instant::now() + Duration::from_millis((*ms).min(MAX_STALL_MS));
                self.ws.update(|s| s.stall_until = Some(until));
            }
            FaultRequest::Gap => self.ws.update(|s| s.gap_generation += 1),
            FaultRequest::Malformed => self.ws.update(|s| s.malformed_generation += 1),
            FaultRequest::RateLimit { count, retry_after_s } => {
                *self.rate_limits.lock().unwrap_or_else(|e| e.into_inner()) =
                    (*count > 0).then_some((*count, (*retry_after_s).min(MAX_STALL_MS / 1000)));
            }
            FaultRequest::Pause => self.paused.store(true, Ordering::Relaxed),
            FaultRequest::Resume => self.paused.store(false, Ordering::Relaxed),
            FaultRequest::Clear => {
                self.latency_ms.store(0, Ordering::Relaxed);
                *errs = None;
                *self.rate_limits.lock().unwrap_or_else(|e| e.into_inner()) = None;
                self.paused.store(false, Ordering::Relaxed);
                self.ws.update(|s| s.stall_until = None);
            }
        }
    }

    /// A receiver of the market-data WebSocket faults, for one connection.
    pub fn ws_watch(&self) -> watch::Receiver<WsFaultState> {
        self.ws.tx.subscribe()
    }

    /// True while the market is frozen (`pause`).
    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    /// Called before a REST request is served: `Some(retry_after_s)` when an injected 429 is
    /// due (one of `count` used up).
    pub fn take_rate_limit(&self) -> Option<u64> {
        let mut rl = self.rate_limits.lock().unwrap_or_else(|e| e.into_inner());
        let (left, secs) = (*rl)?;
        *rl = if left > 1 { Some((left - 1, secs)) } else { None };
        Some(secs)
    }

    /// Delay to add to a REST reply.
    pub fn rest_latency(&self) -> Option<Duration> {
        match self.latency_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// Called after an order was placed: the error to answer with instead of the result, if any.
    pub fn after_order(&self) -> Result<(), SimError> {
        let mut errs = self.order_errors.lock().unwrap_or_else(|e| e.into_inner());
        let Some((mode, left)) = *errs else { return Ok(()) };
        *errs = if left > 1 { Some((mode, left - 1)) } else { None };
        Err(match mode {
            OrderErrorMode::ServerError => SimError {
                code: -1000,
                msg: "An unknown error occurred while processing the request.".into(),
                http: 500,
            },
            OrderErrorMode::Timeout => SimError {
                code: -1007,
                msg: "Timeout waiting for response from backend server. Send status unknown; execution status unknown."
                    .into(),
                http: 503,
            },
        })
    }
}
