//! The outcome kinds of `storm:arb:log` (its `outcome` field): one list, so the executor that
//! writes them and the tools that read them (stormctl's log and PnL views) agree on the names.

/// Every leg filled in full.
pub const EXECUTED: &str = "executed";
/// Something traded, not everything as planned (a leg filled in part, or an unwind returned to
/// the start asset).
pub const PARTIAL: &str = "partial";
/// Too late: its `expires_ms` passed before the executor got to it.
pub const EXPIRED: &str = "expired";
/// Priced on a book that a chain has traded on since it was found (its mispricing is taken):
/// ended without an order, at once, instead of being sent or left to expire.
pub const SUPERSEDED: &str = "superseded";
/// Refused before the first order, or the first order filled nothing.
pub const REJECTED: &str = "rejected";
/// The chain broke and inventory is left (or its order status could not be resolved: parked).
pub const FAILED: &str = "failed";
/// `dry-run`: every leg accepted by the venue's order test.
pub const VALIDATED: &str = "validated";

/// Every kind, in the order a report lists them.
pub const ALL: [&str; 7] = [EXECUTED, PARTIAL, FAILED, REJECTED, SUPERSEDED, EXPIRED, VALIDATED];

/// The widest kind's length, for aligned columns.
pub const WIDTH: usize = 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn width_fits_every_kind() {
        assert_eq!(ALL.iter().map(|k| k.len()).max(), Some(WIDTH));
    }
}
