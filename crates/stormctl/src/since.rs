//! `--since` of `pnl` and `fills`: a duration back from now (`90s`, `15m`, `2h`, `1d`, `500ms`)
//! or a moment in UTC (`2024-08-08`, `2024-08-08T23:54`, `2024-08-08T23:54:15.408Z`, or Unix
//! milliseconds). The result is Unix ms, used as the lowest stream entry id read (entry ids are
//! the time Redis added them), so a window costs one `XRANGE` from there, not a scan of the whole
//! stream. Written here, with the workspace's one calendar (`storm_core::time`), so no time-zone
//! database is needed.

use storm_core::time::days_from_civil;

/// Unix ms of `text` (see the module docs) relative to `now_ms`.
pub(crate) fn parse(text: &str, now_ms: u64) -> Result<u64, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "--since {t:?}: expected a duration (90s, 15m, 2h, 1d) or a UTC time (2024-08-08, \
             2024-08-08T23:54:15Z, Unix ms)"
        )
    };
    if t.is_empty() {
        return Err(bad());
    }
    if let Some(ms) = duration_ms(t) {
        return Ok(now_ms.saturating_sub(ms));
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map_err(|_| bad());
    }
    utc_ms(t).ok_or_else(bad)
}

/// `90s` → 90 000; `None` when `t` is not a number and one unit.
fn duration_ms(t: &str) -> Option<u64> {
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok()?;
    let per: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(per)
}

/// `YYYY-MM-DD[THH:MM[:SS[.fff]]][Z]` in UTC → Unix ms.
fn utc_ms(t: &str) -> Option<u64> {
    let t = t.strip_suffix('Z').unwrap_or(t);
    let (date, time) = t.split_once(['T', ' ']).unwrap_or((t, ""));
    let mut d = date.splitn(3, '-');
    let y: i64 = d.next()?.parse().ok()?;
    let m: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    if date.len() != 10 || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut parts = hms.split(':').filter(|p| !p.is_empty());
    let mut next = |max: u64| -> Option<u64> {
        match parts.next() {
            None => Some(0),
            Some(p) if p.len() == 2 => p.parse().ok().filter(|v| *v <= max),
            Some(_) => None,
        }
    };
    let (h, mi, s) = (next(23)?, next(59)?, next(60)?);
    if parts.next().is_some() || !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    let ms: u64 = format!("{frac:0<3}").get(..3)?.parse().ok()?;
    let days = u64::try_from(days_from_civil(y, m, day)).ok()?;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_count_back_from_now() {
        let now = 10_000_000;
        assert_eq!(parse("90s", now), Ok(now - 90_000));
        assert_eq!(parse("15m", now), Ok(now - 900_000));
        assert_eq!(parse("2h", now), Ok(now - 7_200_000));
        assert_eq!(parse("500ms", now), Ok(now - 500));
        assert_eq!(parse("1d", 5), Ok(0), "never before the epoch");
    }

    #[test]
    fn utc_times_and_unix_ms() {
        assert_eq!(parse("2024-08-08T23:54:15.408Z", 0), Ok(1_723_161_255_408));
        assert_eq!(parse("2024-08-08T23:54:15.4", 0), Ok(1_723_161_255_400));
        assert_eq!(parse("2024-08-08T23:54", 0), Ok(1_723_161_240_000));
        assert_eq!(parse("2024-08-08", 0), Ok(1_723_075_200_000));
        assert_eq!(parse("1723161255408", 0), Ok(1_723_161_255_408));
    }

    #[test]
    fn nonsense_is_an_error_that_says_what_is_expected() {
        for bad in ["", "yesterday", "5y", "2024-13-01", "2024-08-08T25:00", "2024-8-8", "12:00"] {
            let e = parse(bad, 0).expect_err(bad);
            assert!(e.contains("expected a duration"), "{e}");
        }
    }
}
