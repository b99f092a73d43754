//! Intent durability: an intent must survive a Redis crash while its order is out.
//!
//! With `appendfsync everysec` (Redis' default for AOF) a write acknowledged to the executor can
//! be lost in a crash within about a second. On Redis ≥ 7.2 with AOF on, the executor waits after
//! each intent with `WAITAOF 1 0 <timeout>` until Redis has fsynced it, so an acknowledged intent
//! survives. Older Redis has no WAITAOF (and without AOF there is nothing to wait for): a crash
//! can then lose the last intent; what remains is the second line of defence, the lookup at the
//! venue of leg 1's client id before a redelivered opportunity without a record is decided
//! ([`crate::resume::lost_intent`]). The decision is taken once at start from `INFO`.

use std::time::Duration;

use storm_bus::Bus;
use tracing::{info, warn};

use crate::ctx::Ctx;

/// Longest wait for an intent to reach the AOF (past it the order goes anyway, counted).
const WAIT: Duration = Duration::from_millis(1_500);

/// What is done after an intent is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `WAITAOF 1 0` after every intent.
    WaitAof,
    /// Nothing to wait with; why.
    Unavailable(String),
}

/// The decision for a Redis whose `INFO` (sections server and persistence) reads `info`.
pub fn decide(info: &str) -> Durability {
    let field = |name: &str| {
        info.lines().find_map(|l| l.trim().strip_prefix(name).and_then(|r| r.strip_prefix(':')).map(str::trim))
    };
    let Some(version) = field("redis_version") else {
        return Durability::Unavailable("INFO has no redis_version".into());
    };
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) < (7, 2) {
        return Durability::Unavailable(format!(
            "Redis {version} has no WAITAOF (7.2+): an intent acknowledged within the last fsync interval can be lost in a Redis crash"
        ));
    }
    if field("aof_enabled") != Some("1") {
        return Durability::Unavailable(format!(
            "Redis {version} runs without AOF (appendonly no): nothing to wait for"
        ));
    }
    Durability::WaitAof
}

/// Reads `INFO` and decides; a Redis that cannot be asked gets no waiting (logged).
pub async fn detect(bus: &Bus) -> Durability {
    let info: Result<String, _> =
        bus.retry("info", |mut c| async move {
            redis::cmd("INFO").arg("server").arg("persistence").query_async(&mut c).await
        })
        .await;
    let d = match info {
        Ok(text) => decide(&text),
        Err(e) => Durability::Unavailable(format!("INFO failed: {e}")),
    };
    match &d {
        Durability::WaitAof => info!("intents wait for the AOF fsync (WAITAOF)"),
        Durability::Unavailable(why) => warn!(reason = %why, "intents are not waited on to reach disk"),
    }
    d
}

/// After an intent was written: waits until Redis fsynced it, when it can.
pub async fn after_intent(ctx: &Ctx) {
    if ctx.durability != Durability::WaitAof {
        return;
    }
    let timeout = WAIT.as_millis() as u64;
    let mut c = ctx.bus.conn();
    let reply: Result<(i64, i64), _> = redis::cmd("WAITAOF").arg(1).arg(0).arg(timeout).query_async(&mut c).await;
    match reply {
        Ok((local, _)) if local >= 1 => {}
        Ok(_) => warn!(timeout_ms = timeout, "intent not fsynced in time; the order goes anyway"),
        Err(e) => warn!(error = %e, "WAITAOF failed; the order goes anyway"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(version: &str, aof: &str) -> String {
        format!("# Server\r\nredis_version:{version}\r\nredis_mode:standalone\r\n\r\n# Persistence\r\nloading:0\r\naof_enabled:{aof}\r\n")
    }

    #[test]
    fn waitaof_only_from_redis_7_2_with_aof_on() {
        let cases = [
            ("7.0.15", "1", false),
            ("6.2.14", "1", false),
            ("7.2.0", "1", true),
            ("7.2.4", "0", false),
            ("7.4.1", "1", true),
            ("8.0.0", "1", true),
            ("10.0.0", "1", true),
            ("7.10.0", "1", true),
        ];
        for (version, aof, wait) in cases {
            let got = decide(&info(version, aof));
            assert_eq!(got == Durability::WaitAof, wait, "{version} aof {aof}: {got:?}");
        }
    }

    #[test]
    fn what_older_redis_gives_up_is_said() {
        let Durability::Unavailable(why) = decide(&info("7.0.15", "1")) else { panic!("7.0 cannot wait") };
        assert!(why.contains("7.0.15") && why.contains("WAITAOF"), "{why}");
        assert!(matches!(decide("garbage"), Durability::Unavailable(_)));
    }
}
