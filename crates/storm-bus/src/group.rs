//! Consumer groups: each entry handled by one consumer of the group, acknowledged only after its
//! outcome is recorded, reclaimed from a dead consumer with `XAUTOCLAIM`.
//!
//! A consumer that restarts under the same name first reads its own pending entries (id `0`),
//! then new ones (`>`). If Redis comes back empty the group is gone (`NOGROUP`): it is recreated
//! and reading goes on.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{RedisError, Value};
use storm_core::Backoff;

use crate::codec::StreamEntry;
use crate::conn::Bus;
use crate::error::{is_retryable, BusError};
use crate::read::{into_entries, into_streams, value_bytes};

fn is_nogroup(e: &RedisError) -> bool {
    e.code() == Some("NOGROUP")
}

/// Creates `group` on `key` (creating the stream too) if it does not exist yet. New groups start
/// at `$` (only entries added from now on) unless `from_start`.
pub async fn ensure_group(bus: &Bus, key: &str, group: &str, from_start: bool) -> Result<(), BusError> {
    let start = if from_start { "0" } else { "$" };
    let res: Result<(), BusError> = bus
        .retry("xgroup create", |mut c| {
            let cmd = redis::cmd("XGROUP").arg("CREATE").arg(key).arg(group).arg(start).arg("MKSTREAM").clone();
            async move { cmd.query_async(&mut c).await }
        })
        .await;
    match res {
        Err(BusError::Redis(e)) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

/// One consumer of a group on one stream.
pub struct GroupConsumer {
    bus: Bus,
    conn: ConnectionManager,
    key: String,
    group: String,
    consumer: String,
    from_start: bool,
    pending_done: bool,
}

impl GroupConsumer {
    /// Joins (creating if needed) `group` on `key` as `consumer`.
    pub async fn new(
        bus: &Bus,
        key: &str,
        group: &str,
        consumer: &str,
        block: Duration,
        from_start: bool,
    ) -> Result<Self, BusError> {
        ensure_group(bus, key, group, from_start).await?;
        let conn = bus.dedicated(block + bus.config().response_timeout).await?;
        Ok(Self {
            bus: bus.clone(),
            conn,
            key: key.to_owned(),
            group: group.to_owned(),
            consumer: consumer.to_owned(),
            from_start,
            pending_done: false,
        })
    }

    /// The stream key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// True while this consumer is still re-reading its own unacknowledged entries: entries the
    /// last [`GroupConsumer::read`] returned in this state were delivered before (a restart).
    pub fn replaying(&self) -> bool {
        !self.pending_done
    }

    /// Next entries for this consumer: first its own unacknowledged ones (after a restart), then
    /// new ones, blocking up to `block`.
    pub async fn read(&mut self, count: usize, block: Duration) -> Result<Vec<StreamEntry>, BusError> {
        let cfg = self.bus.config();
        let mut backoff = Backoff::new(cfg.retry_base, cfg.retry_max);
        loop {
            let id = if self.pending_done { ">" } else { "0" };
            let mut cmd = redis::cmd("XREADGROUP");
            cmd.arg("GROUP").arg(&self.group).arg(&self.consumer).arg("COUNT").arg(count.max(1));
            if self.pending_done {
                cmd.arg("BLOCK").arg(block.as_millis() as u64);
            }
            cmd.arg("STREAMS").arg(&self.key).arg(id);
            let res: Result<Value, RedisError> = tokio::select! {
                _ = self.bus.shutdown().cancelled() => return Err(BusError::Cancelled),
                r = cmd.query_async(&mut self.conn) => r,
            };
            match res {
                Ok(v) => {
                    let entries: Vec<StreamEntry> = into_streams(v).into_iter().flat_map(|(_, e)| e).collect();
                    if !self.pending_done && entries.is_empty() {
                        self.pending_done = true;
                        continue;
                    }
                    return Ok(entries);
                }
                Err(e) if is_nogroup(&e) => {
                    tracing::warn!(stream = %self.key, group = %self.group, "consumer group vanished (redis restarted empty?); recreating");
                    ensure_group(&self.bus, &self.key, &self.group, self.from_start).await?;
                    self.pending_done = true;
                }
                Err(e) if is_retryable(&e) => self.bus.pause(&mut backoff, "xreadgroup", &e).await?,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Acknowledges entries (idempotent, retried).
    pub async fn ack(&self, ids: &[String]) -> Result<u64, BusError> {
        if ids.is_empty() {
            return Ok(0);
        }
        self.bus
            .retry("xack", |mut c| {
                let cmd = redis::cmd("XACK").arg(&self.key).arg(&self.group).arg(ids).clone();
                async move { cmd.query_async(&mut c).await }
            })
            .await
    }

    /// Claims for this consumer up to `count` entries idle longer than `min_idle` in other
    /// consumers' pending lists (a crashed executor's opportunities, say). Sweeps the whole
    /// pending list, following XAUTOCLAIM's cursor.
    pub async fn autoclaim(&self, min_idle: Duration, count: usize) -> Result<Vec<StreamEntry>, BusError> {
        let mut out = Vec::new();
        let mut cursor = "0-0".to_owned();
        loop {
            let v: Value = self
                .bus
                .retry("xautoclaim", |mut c| {
                    let cmd = redis::cmd("XAUTOCLAIM")
                        .arg(&self.key)
                        .arg(&self.group)
                        .arg(&self.consumer)
                        .arg(min_idle.as_millis() as u64)
                        .arg(&cursor)
                        .arg("COUNT")
                        .arg(count.max(1))
                        .clone();
                    async move { cmd.query_async(&mut c).await }
                })
                .await?;
            let Value::Array(parts) = v else { break };
            let mut parts = parts.into_iter();
            let next = parts.next().map(|n| String::from_utf8_lossy(&value_bytes(&n)).into_owned());
            if let Some(entries) = parts.next() {
                out.extend(into_entries(&self.key, entries).into_iter().filter(|e| !e.fields.is_empty()));
            }
            match next {
                Some(n) if n != "0-0" && out.len() < count => cursor = n,
                _ => break,
            }
        }
        Ok(out)
    }
}
