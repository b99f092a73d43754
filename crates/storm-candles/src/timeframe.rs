//! Candle timeframes and their boundaries in UTC.
//!
//! Fixed-length timeframes (`1s` … `1d`) open at multiples of their length since the Unix epoch;
//! a week opens on Monday 00:00 UTC and a month on its first day 00:00 UTC, as Binance and
//! KuCoin count them. The arithmetic is integer milliseconds on the workspace's one calendar
//! ([`storm_core::time`]), so no time-zone database is involved.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use storm_core::time::{civil_from_days, days_from_civil};

const DAY_MS: u64 = 86_400_000;

/// A candle timeframe (serialized by its name, `1m`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Timeframe {
    /// One second.
    S1,
    /// One minute.
    M1,
    /// Five minutes.
    M5,
    /// Fifteen minutes.
    M15,
    /// Thirty minutes.
    M30,
    /// One hour.
    H1,
    /// Four hours.
    H4,
    /// One day.
    D1,
    /// One week, Monday to Monday.
    W1,
    /// One calendar month.
    Mo1,
}

/// A timeframe name storm does not know.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown timeframe {0:?} (known: 1s 1m 5m 15m 30m 1h 4h 1d 1w 1M)")]
pub struct UnknownTimeframe(pub String);

impl Timeframe {
    /// Every timeframe, shortest first.
    pub const ALL: [Timeframe; 10] = [
        Timeframe::S1,
        Timeframe::M1,
        Timeframe::M5,
        Timeframe::M15,
        Timeframe::M30,
        Timeframe::H1,
        Timeframe::H4,
        Timeframe::D1,
        Timeframe::W1,
        Timeframe::Mo1,
    ];

    /// The name venues and storm's keys use (`1m`, `1M` for a month).
    pub const fn as_str(self) -> &'static str {
        match self {
            Timeframe::S1 => "1s",
            Timeframe::M1 => "1m",
            Timeframe::M5 => "5m",
            Timeframe::M15 => "15m",
            Timeframe::M30 => "30m",
            Timeframe::H1 => "1h",
            Timeframe::H4 => "4h",
            Timeframe::D1 => "1d",
            Timeframe::W1 => "1w",
            Timeframe::Mo1 => "1M",
        }
    }

    /// The length in ms of a fixed-length timeframe (`None` for a month).
    pub const fn fixed_ms(self) -> Option<u64> {
        Some(match self {
            Timeframe::S1 => 1_000,
            Timeframe::M1 => 60_000,
            Timeframe::M5 => 300_000,
            Timeframe::M15 => 900_000,
            Timeframe::M30 => 1_800_000,
            Timeframe::H1 => 3_600_000,
            Timeframe::H4 => 14_400_000,
            Timeframe::D1 => DAY_MS,
            Timeframe::W1 => 7 * DAY_MS,
            Timeframe::Mo1 => return None,
        })
    }

    /// Open time of the candle that holds `ms`.
    pub fn open_of(self, ms: u64) -> u64 {
        match self {
            Timeframe::W1 => {
                let day = ms / DAY_MS;
                // 1970-01-01 was a Thursday: Monday is 3 days before.
                let since_monday = (day + 3) % 7;
                (day - since_monday.min(day)) * DAY_MS
            }
            Timeframe::Mo1 => {
                let (y, m, _) = civil_from_days((ms / DAY_MS) as i64);
                days_from_civil(y, m, 1).max(0) as u64 * DAY_MS
            }
            fixed => {
                let len = fixed.fixed_ms().unwrap_or(1);
                ms - ms % len
            }
        }
    }

    /// Open time of the candle after the one opening at `open_ms` (= this one's end).
    pub fn next_open(self, open_ms: u64) -> u64 {
        match self {
            Timeframe::Mo1 => {
                let (y, m, _) = civil_from_days((open_ms / DAY_MS) as i64);
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(y, m, 1).max(0) as u64 * DAY_MS
            }
            Timeframe::W1 => self.open_of(open_ms) + 7 * DAY_MS,
            fixed => self.open_of(open_ms) + fixed.fixed_ms().unwrap_or(1),
        }
    }

    /// True when every boundary of `higher` is a boundary of `self`, so `higher` can be rolled
    /// up from `self`'s candles (a day is a multiple of every fixed length up to a day, and
    /// weeks and months start on days).
    pub fn divides(self, higher: Timeframe) -> bool {
        match (self.fixed_ms(), higher.fixed_ms()) {
            (Some(a), _) if a > DAY_MS => self == higher,
            (Some(a), Some(b)) => b % a == 0 && (b <= DAY_MS || DAY_MS % a == 0),
            (Some(a), None) => DAY_MS % a == 0,
            (None, _) => higher == Timeframe::Mo1,
        }
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Timeframe> for String {
    fn from(tf: Timeframe) -> String {
        tf.as_str().to_owned()
    }
}

impl TryFrom<String> for Timeframe {
    type Error = UnknownTimeframe;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl FromStr for Timeframe {
    type Err = UnknownTimeframe;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timeframe::ALL.into_iter().find(|tf| tf.as_str() == s).ok_or_else(|| UnknownTimeframe(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(y: i64, m: u32, d: u32, hh: u64, mm: u64) -> u64 {
        days_from_civil(y, m, d) as u64 * DAY_MS + hh * 3_600_000 + mm * 60_000
    }

    #[test]
    fn names_round_trip_and_month_is_capital_m() {
        for tf in Timeframe::ALL {
            assert_eq!(tf.as_str().parse::<Timeframe>(), Ok(tf));
        }
        assert_eq!("1M".parse::<Timeframe>(), Ok(Timeframe::Mo1));
        assert!("2m".parse::<Timeframe>().is_err());
    }

    #[test]
    fn fixed_boundaries() {
        let t = ms(2024, 8, 8, 23, 57) + 12_345;
        assert_eq!(Timeframe::M1.open_of(t), ms(2024, 8, 8, 23, 57));
        assert_eq!(Timeframe::M5.open_of(t), ms(2024, 8, 8, 23, 55));
        assert_eq!(Timeframe::H4.open_of(t), ms(2024, 8, 8, 20, 0));
        assert_eq!(Timeframe::D1.next_open(Timeframe::D1.open_of(t)), ms(2024, 8, 9, 0, 0));
        assert_eq!(Timeframe::S1.open_of(t), t - 345);
    }

    #[test]
    fn weeks_open_on_monday_utc() {
        // 2024-08-08 was a Thursday; its week opened Monday 2024-08-05.
        let t = ms(2024, 8, 8, 23, 57);
        assert_eq!(Timeframe::W1.open_of(t), ms(2024, 8, 5, 0, 0));
        assert_eq!(Timeframe::W1.next_open(ms(2024, 8, 5, 0, 0)), ms(2024, 8, 12, 0, 0));
        assert_eq!(Timeframe::W1.open_of(ms(2024, 8, 12, 0, 0)), ms(2024, 8, 12, 0, 0));
        assert_eq!(Timeframe::W1.open_of(ms(2024, 8, 11, 23, 59)), ms(2024, 8, 5, 0, 0));
    }

    #[test]
    fn months_are_calendar_months_with_leap_february() {
        assert_eq!(Timeframe::Mo1.open_of(ms(2024, 2, 29, 12, 0)), ms(2024, 2, 1, 0, 0));
        assert_eq!(Timeframe::Mo1.next_open(ms(2024, 2, 1, 0, 0)), ms(2024, 3, 1, 0, 0));
        assert_eq!(Timeframe::Mo1.next_open(ms(2024, 12, 1, 0, 0)), ms(2025, 1, 1, 0, 0));
        assert_eq!(Timeframe::Mo1.next_open(ms(2023, 2, 1, 0, 0)) - ms(2023, 2, 1, 0, 0), 28 * DAY_MS);
    }

    #[test]
    fn which_timeframes_roll_up_from_which() {
        assert!(Timeframe::M1.divides(Timeframe::Mo1));
        assert!(Timeframe::M1.divides(Timeframe::W1));
        assert!(Timeframe::M5.divides(Timeframe::H1));
        assert!(Timeframe::D1.divides(Timeframe::Mo1));
        assert!(!Timeframe::W1.divides(Timeframe::Mo1));
        assert!(!Timeframe::H4.divides(Timeframe::M5));
    }
}
