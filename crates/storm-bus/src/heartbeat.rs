//! The heartbeat every engine writes to `storm:health:<engine>:<instance>`.
//!
//! Fields: `pid`, `version`, `started` (ms), `last_beat` (ms), plus whatever the engine reports
//! (counters, lag, books live). The hash expires after three beats, so a dead process leaves no
//! fresh-looking health behind.

use std::time::Duration;

use storm_core::time::now_millis;
use tracing::warn;

use crate::conn::Bus;

/// Writes one heartbeat: identity fields, `extra`, and a TTL of three intervals.
pub async fn beat(
    bus: &Bus,
    engine: &str,
    instance: &str,
    started_ms: u64,
    interval: Duration,
    extra: &[(String, String)],
) -> Result<(), crate::BusError> {
    let key = bus.keys().health(engine, instance);
    let mut fields: Vec<(String, String)> = vec![
        ("pid".into(), std::process::id().to_string()),
        ("version".into(), env!("CARGO_PKG_VERSION").into()),
        ("started".into(), started_ms.to_string()),
        ("last_beat".into(), now_millis().to_string()),
    ];
    fields.extend_from_slice(extra);
    let ttl = (interval.as_millis() as u64 * 3).max(1000);
    bus.retry("heartbeat", |mut c| {
        // DEL + HSET in one transaction: fields of series that are gone (a closed connection's
        // ping lag) disappear, and a reader never sees the hash half-written.
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("DEL").arg(&key).ignore();
        pipe.cmd("HSET").arg(&key).arg(&fields).ignore();
        pipe.cmd("PEXPIRE").arg(&key).arg(ttl).ignore();
        async move { pipe.query_async::<()>(&mut c).await }
    })
    .await
}

/// Runs [`beat`] every `interval` until shutdown; `report` supplies the engine's fields.
pub async fn run<F>(bus: Bus, engine: String, instance: String, interval: Duration, report: F)
where
    F: Fn() -> Vec<(String, String)> + Send + 'static,
{
    let started = now_millis();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = bus.shutdown().cancelled() => break,
            _ = tick.tick() => {}
        }
        match beat(&bus, &engine, &instance, started, interval, &report()).await {
            Ok(()) | Err(crate::BusError::Cancelled) => {}
            Err(e) => warn!(error = %e, "heartbeat failed"),
        }
    }
    // Leave no live-looking heartbeat behind after a clean stop.
    let key = bus.keys().health(&engine, &instance);
    let mut c = bus.conn();
    let _: Result<(), _> = redis::cmd("DEL").arg(&key).query_async(&mut c).await;
}
