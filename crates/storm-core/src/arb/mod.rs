//! Triangular arbitrage math, pure: the cycle graph of a venue and the evaluation of one cycle
//! against its three books (fees, tick/step rounding, min qty/notional, depth, age).
//!
//! - [`graph`]: assets are nodes, TRADING symbols edges usable both ways; every 3-cycle (or those
//!   through configured start assets), indexed by symbol so a book change re-evaluates only the
//!   cycles through it.
//! - [`eval`]: sizing by walking the levels of the three legs, profit after fees and rounding,
//!   confidence.
//! - [`opportunity`]: what the finder publishes on `storm:opps` (and the executor reads).

pub mod eval;
pub mod graph;
pub mod opportunity;

pub use eval::{evaluate, quick_rate, BookView, EvalParams, Evaluation, PlannedLeg, RateScreen, Reject};
pub use graph::{Cycle, CycleLeg, TriangleGraph};
pub use opportunity::{OppKind, OppLeg, Opportunity};
