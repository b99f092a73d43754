//! storm-executor: turns opportunities on `storm:opps` into orders, fail-safe.
//!
//! What "fail-safe" means here, and where each promise is kept:
//! - **Never a leg twice.** Each order has a deterministic client order id (opportunity id +
//!   leg, [`journal::client_order_id`]) and its intent is written to `storm:exec:journal`
//!   *before* the request leaves ([`order::send`]). A timeout, HTTP 5xx or the venue's own
//!   "timeout" code is "status unknown": the order is queried by that id until the venue knows it or it can no longer
//!   appear ([`order::resolve`]) — never resent blind.
//! - **Never on a stale signal.** Expired opportunities, `storm:halt`, `max_notional`,
//!   `max_open_chains`, the free balance and the daily loss cap (shared by every executor in
//!   Redis) are checked before the first order ([`risk`]).
//! - **Never a panic on bad input.** An opportunity is checked whole before leg 1 — plausible
//!   amounts, this venue, every leg within its filters — and all arithmetic on values from Redis
//!   or the venue is checked ([`sanity`]); an unusable entry ends `rejected` and acknowledged.
//! - **Never a loop without end.** An order whose status cannot be resolved (a permanent venue
//!   error, or `unknown_resolve_max_ms` spent) parks its chain on `storm:exec:failed` and
//!   `storm:exec:parked` for an operator ([`order::resolve`]).
//! - **Legs sized from real fills.** Leg `k + 1` trades what leg `k` delivered, net of commission,
//!   floored to the step and checked against the filters; a leg that fills nothing ends the
//!   chain; a broken chain is unwound by policy ([`chain`]).
//! - **Every opportunity ends in `storm:arb:log` exactly once**, acknowledged in the same script
//!   ([`outcome::finish`]); a crash anywhere is continued from the journal by this consumer after
//!   a restart or by another after `claim_idle_ms` ([`engine`]), also when the entry is gone
//!   ([`resume`]).
//! - **One owner per chain.** The journal record names its owner and a fencing epoch; the owner
//!   renews a lease while it works, and only an executor whose lease ran out loses the chain —
//!   every journal write is a compare-and-set on owner and epoch, and a stale owner stops before
//!   it sends ([`claim`]). A chain finishes in the mode it started in.
//! - **Modes** ([`config::Mode`]): `dry-run` (venue's order test, nothing trades), `paper`
//!   (fills against the book hashes, [`paper`]), `live` (needs `live_enabled = true` and keys from
//!   the environment).
//! - **Keeping up.** A chain starts only when `orders_per_10s` has room for all its legs now
//!   (else it is refused at once, [`order::OrderLimiter::has_room`]), so no chain waits in the
//!   middle for the order rate while the queue behind it expires; and the opportunities a traded
//!   chain made stale end at once as `superseded` ([`supersede`]).

pub mod book;
pub mod chain;
pub mod claim;
pub mod config;
pub mod ctx;
pub mod durability;
pub mod engine;
pub mod gate;
pub mod gateway;
pub mod handle;
pub mod journal;
pub mod lua_decimal;
pub mod order;
pub mod outcome;
pub mod paper;
pub mod pnl;
pub mod resume;
pub mod risk;
pub mod sanity;
pub mod stats;
pub mod supersede;

pub use config::{ExecutorConfig, Mode, UnwindPolicy};
pub use ctx::GROUP;
pub use engine::{run, run_with_metrics, EngineError};
