//! Percentiles and per-second rates. Latency samples are kept raw (µs, one `u64` each) and
//! summarised once at the end, so a percentile is an exact order statistic of what was seen,
//! not a histogram bucket bound.

use serde::Serialize;

/// p50/p90/p99/max of one latency series, µs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// Number of samples.
    pub n: usize,
    /// Median, µs.
    pub p50_us: u64,
    /// 90th percentile, µs.
    pub p90_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// Largest sample, µs.
    pub max_us: u64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples` (sorted in place); all zero when empty.
    pub fn of(samples: &mut [u64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
        Self {
            n: samples.len(),
            p50_us: at(0.5),
            p90_us: at(0.9),
            p99_us: at(0.99),
            max_us: samples[samples.len() - 1],
        }
    }
}

/// Median of a few values (e.g. the per-third medians used to see latency growth).
pub fn median(values: &mut [u64]) -> u64 {
    Percentiles::of(values).p50_us
}

/// `µs` as a short human string: `850 µs`, `12.3 ms`, `1.20 s`.
pub fn human_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.1} ms", us as f64 / 1_000.0)
    } else {
        format!("{:.2} s", us as f64 / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_order_statistics() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        let p = Percentiles::of(&mut v);
        assert_eq!((p.n, p.p50_us, p.p90_us, p.p99_us, p.max_us), (100, 51, 90, 99, 100));
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
        assert_eq!(median(&mut [5, 1, 3]), 3);
    }

    #[test]
    fn human_units() {
        assert_eq!(human_us(850), "850 µs");
        assert_eq!(human_us(12_345), "12.3 ms");
        assert_eq!(human_us(1_200_000), "1.20 s");
    }
}
