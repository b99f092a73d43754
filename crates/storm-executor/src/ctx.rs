//! What every part of the executor shares while it works on a chain: the context ([`Ctx`]: Redis,
//! the gateway, settings, limits, metrics, the claim in hand), the error that stops a chain
//! ([`ChainError`]) and the consumer group ([`GROUP`]). One module, so that the chain, its orders,
//! the intake of an entry and the engine loop depend on it rather than on each other.

use std::collections::HashMap;
use std::sync::RwLock;

use storm_bus::Bus;
use storm_core::{Instrument, Symbol};
use tokio_util::sync::CancellationToken;

use crate::config::ExecutorConfig;
use crate::gateway::Gateway;
use crate::journal::JournalError;
use crate::order::OrderLimiter;
use crate::stats::Stats;

/// The consumer group every executor reads `storm:opps` in.
pub const GROUP: &str = "executor";

/// Everything a chain needs.
pub struct Ctx {
    /// Redis.
    pub bus: Bus,
    /// Venue name.
    pub venue: String,
    /// Where orders go.
    pub gateway: Gateway,
    /// Settings.
    pub cfg: ExecutorConfig,
    /// This executor's instance name.
    pub owner: String,
    /// ORDERS per 10 s.
    pub limiter: OrderLimiter,
    /// Symbol filters, refreshed from `storm:instruments:<venue>`.
    pub instruments: RwLock<HashMap<Symbol, Instrument>>,
    /// Metrics.
    pub stats: Stats,
    /// Process shutdown.
    pub shutdown: CancellationToken,
    /// The blocking connection for the gate and the weight budget (None: async only).
    pub fast: Option<std::sync::Arc<storm_bus::BlockingConn>>,
    /// The hold on the chain in hand ([`crate::claim`]); one chain at a time per process.
    pub claim: std::sync::Mutex<Option<std::sync::Arc<crate::claim::Claim>>>,
    /// Whether an intent is waited on to reach the AOF ([`crate::durability`]).
    pub durability: crate::durability::Durability,
}

impl Ctx {
    /// The filters of `symbol`.
    pub fn instrument(&self, symbol: &Symbol) -> Option<Instrument> {
        self.instruments.read().unwrap_or_else(|e| e.into_inner()).get(symbol).cloned()
    }
}

/// A chain that cannot be finished now; its record stays `running` and its entry unacknowledged,
/// so the next run (or another executor, after `claim_idle_ms`) continues it.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The journal is unusable: trading without it is not allowed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Shutdown while an order's outcome was being resolved.
    #[error("interrupted by shutdown")]
    Interrupted,
    /// A record that contradicts itself.
    #[error("inconsistent journal: {0}")]
    Inconsistent(String),
    /// An order whose status cannot be found out (a permanent venue error, the time cap spent)
    /// or a venue result that cannot be believed: the chain stops here for an operator
    /// ([`crate::chain::parked`]); nothing more is sent for it.
    #[error("parked: {0}")]
    Parked(String),
}
