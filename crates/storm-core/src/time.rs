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

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm): the one
/// calendar of the workspace, so no time-zone database is needed anywhere.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The `(year, month, day)` of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A Unix time as a UTC calendar date and time of day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utc {
    /// Year (proleptic Gregorian).
    pub year: i64,
    /// 1..=12.
    pub month: u32,
    /// 1..=31.
    pub day: u32,
    /// 0..=23.
    pub hour: u64,
    /// 0..=59.
    pub minute: u64,
    /// 0..=59.
    pub second: u64,
    /// 0..=999.
    pub millis: u64,
}

impl Utc {
    /// The UTC date and time of `ms` since the Unix epoch.
    pub fn from_millis(ms: u64) -> Self {
        let secs = ms / 1_000;
        let (year, month, day) = civil_from_days((secs / 86_400) as i64);
        let rem = secs % 86_400;
        Self { year, month, day, hour: rem / 3_600, minute: rem % 3_600 / 60, second: rem % 60, millis: ms % 1_000 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        for days in [-800_000, -1, 0, 59, 365, 19_943, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn a_known_instant_reads_as_its_utc_date() {
        let t = Utc::from_millis(1_723_163_655_408); // Binance's E of a recorded BTCUSDT diff
        assert_eq!(t, Utc { year: 2024, month: 8, day: 9, hour: 0, minute: 34, second: 15, millis: 408 });
        assert_eq!(Utc::from_millis(951_782_400_000).month, 2, "2000-02-29, a leap day");
        assert_eq!(Utc::from_millis(951_782_400_000).day, 29);
    }
}
