//! Timestamps. storm keeps two clocks apart by name: `time_exchange` (the venue's event time)
//! and `time_received` (our wall clock when the frame arrived). Both are carried as
//! microseconds since the Unix epoch so latency arithmetic never mixes units.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch on this machine's wall clock.
pub fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// Milliseconds since the Unix epoch on this machine's wall clock.
pub fn now_millis() -> u64 {
    now_micros() / 1_000
}

/// Converts a venue millisecond timestamp to storm's microseconds.
pub const fn millis_to_micros(ms: u64) -> u64 {
    ms.saturating_mul(1_000)
}
