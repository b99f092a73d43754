//! Fault injection for the REST side, set through `POST /_sim/fault` (JSON):
//! `{"kind":"latency","ms":200}` delays every REST reply; `{"kind":"order_error","mode":"5xx",
//! "count":1}` answers the next order requests with HTTP 500 **after** the order was placed
//! (`"mode":"timeout"` answers -1007 "execution status unknown" instead); `{"kind":"clear"}`
//! removes every fault. This is what the executor's "status unknown → query, never resend" rule
//! is tested against.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;

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
    /// Remove every fault.
    Clear,
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

/// Active faults.
#[derive(Debug, Default)]
pub struct Faults {
    latency_ms: AtomicU64,
    order_errors: Mutex<Option<(OrderErrorMode, u32)>>,
}

impl Faults {
    /// Applies an admin request.
    pub fn apply(&self, req: &FaultRequest) {
        let mut errs = self.order_errors.lock().unwrap_or_else(|e| e.into_inner());
        match req {
            FaultRequest::Latency { ms } => self.latency_ms.store(*ms, Ordering::Relaxed),
            FaultRequest::OrderError { mode, count } => *errs = Some((*mode, *count)),
            FaultRequest::Clear => {
                self.latency_ms.store(0, Ordering::Relaxed);
                *errs = None;
            }
        }
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
