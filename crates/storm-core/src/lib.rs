//! storm-core: the domain of storm, with no I/O.
//!
//! Everything that two engines must agree on lives here: identifiers, exact prices and
//! quantities, normalized market-data events, instruments with their exchange filters and
//! rounding rules, and the order book. Nothing in this crate touches the network, Redis, files
//! or the clock beyond [`time::now_micros`], so every rule here is testable in isolation.

pub mod arb;
pub mod backoff;
pub mod book;
pub mod events;
pub mod ids;
pub mod instrument;
pub mod num;
pub mod order;
pub mod side;
pub mod time;
pub mod top;

pub use backoff::Backoff;
pub use book::{BookError, BookSide, OrderBook};
pub use events::{Channel, DepthAlive, DepthDiff, Kline, MdEvent, StreamReset, StreamUnsubscribed, Ticker, Trade};
pub use ids::{Asset, Symbol, VenueId, VenueKind};
pub use instrument::{FilterError, Instrument, SymbolStatus};
pub use num::{Level, Price, Qty};
pub use order::OrderStatus;
pub use side::Side;
pub use top::{BookStatus, BookTop};
