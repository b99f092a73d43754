//! Request weights per client IP per minute, as Binance counts them.
//!
//! Every response carries `X-MBX-USED-WEIGHT-1M`. A request that takes the minute's total over
//! the limit is answered 429 with `Retry-After` (seconds to the next minute). A client that
//! keeps sending while limited is banned: 418 with `Retry-After` for the ban's length (2 minutes
//! on the first offence, doubling for repeat offenders, as Binance escalates).

use std::collections::HashMap;
use std::net::IpAddr;

/// Outcome of charging a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charge {
    /// Served; the minute's used weight after this request.
    Ok(u64),
    /// 429: over the limit; retry after this many seconds.
    Limited(u64),
    /// 418: banned; retry after this many seconds.
    Banned(u64),
}

#[derive(Debug, Default)]
struct Client {
    minute: u64,
    used: u64,
    limited_in_minute: bool,
    banned_until_ms: u64,
    bans: u32,
}

/// Per-IP weight accounting.
#[derive(Debug)]
pub struct WeightLimiter {
    limit: u64,
    clients: HashMap<IpAddr, Client>,
}

impl WeightLimiter {
    /// A limiter allowing `limit` weight per IP per minute (Binance: 6000).
    pub fn new(limit: u64) -> Self {
        Self { limit, clients: HashMap::new() }
    }

    /// The configured limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Charges `weight` to `ip` at `now_ms`.
    pub fn charge(&mut self, ip: IpAddr, weight: u64, now_ms: u64) -> Charge {
        let minute = now_ms / 60_000;
        let c = self.clients.entry(ip).or_default();
        if c.banned_until_ms > now_ms {
            return Charge::Banned((c.banned_until_ms - now_ms).div_ceil(1000));
        }
        if c.minute != minute {
            c.minute = minute;
            c.used = 0;
            c.limited_in_minute = false;
        }
        let to_next_minute = ((minute + 1) * 60_000 - now_ms).div_ceil(1000);
        if c.limited_in_minute {
            // Kept sending after a 429: ban, 2 minutes doubling per offence.
            c.bans += 1;
            let ban_ms = 120_000u64.saturating_mul(1 << (c.bans - 1).min(10));
            c.banned_until_ms = now_ms + ban_ms;
            return Charge::Banned(ban_ms / 1000);
        }
        if c.used + weight > self.limit {
            c.limited_in_minute = true;
            return Charge::Limited(to_next_minute.max(1));
        }
        c.used += weight;
        Charge::Ok(c.used)
    }

    /// Weight used by `ip` in the current minute.
    pub fn used(&self, ip: IpAddr, now_ms: u64) -> u64 {
        self.clients.get(&ip).filter(|c| c.minute == now_ms / 60_000).map_or(0, |c| c.used)
    }
}

/// Weight of `GET /api/v3/depth` by `limit` (BINANCE.md).
pub fn depth_weight(limit: usize) -> u64 {
    match limit {
        0..=100 => 5,
        101..=500 => 25,
        501..=1000 => 50,
        _ => 250,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_then_429_then_418() {
        let ip: IpAddr = [127, 0, 0, 1].into();
        let mut w = WeightLimiter::new(100);
        let t = 60_000 * 10 + 15_000; // 15 s into a minute
        assert_eq!(w.charge(ip, 50, t), Charge::Ok(50));
        assert_eq!(w.charge(ip, 50, t), Charge::Ok(100));
        assert_eq!(w.charge(ip, 1, t), Charge::Limited(45));
        assert_eq!(w.charge(ip, 1, t + 1), Charge::Banned(120));
        assert_eq!(w.charge(ip, 1, t + 60_000), Charge::Banned(61), "still banned next minute");
        assert!(matches!(w.charge(ip, 1, t + 121_000), Charge::Ok(1)), "ban over, new minute");
        let other: IpAddr = [127, 0, 0, 2].into();
        assert_eq!(w.charge(other, 1, t), Charge::Ok(1), "limits are per IP");
    }

    #[test]
    fn depth_weights_follow_binance() {
        assert_eq!([1, 100, 101, 500, 501, 1000, 1001, 5000].map(depth_weight), [5, 5, 25, 25, 50, 50, 250, 250]);
    }
}
