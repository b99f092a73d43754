//! Pipelined stream writes that survive Redis going away, without loss or duplicates.
//!
//! A batch of entries (possibly to many streams) goes out as one `MULTI … EXEC` pipeline: one
//! round trip however many entries, each `XADD key MAXLEN ~ n * field value …`. The same
//! transaction sets this publisher's marker key to the batch number. If the reply is lost — the
//! connection dropped, Redis restarted, a timeout — the batch either landed whole or not at all
//! (a transaction is atomic, also in the AOF), and the marker says which: after reconnecting the
//! publisher reads it and resends only when the batch is not there. A blind resend could append
//! every entry twice; skipping the check could lose them.

use redis::Value;
use storm_core::{time::now_micros, Backoff};
use tracing::{info, warn};

use crate::codec::Entry;
use crate::conn::Bus;
use crate::error::{is_retryable, BusError};

/// How long a producer marker outlives its last batch.
const MARKER_TTL_SECS: u64 = 86_400;

/// A hash update that rides along with a batch: `HSET key fields…` then `PEXPIRE key ttl_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashWrite {
    /// The hash.
    pub key: String,
    /// Field/value pairs to set (none: only the TTL is refreshed).
    pub fields: Vec<(&'static str, String)>,
    /// New TTL, ms.
    pub ttl_ms: Option<u64>,
}

/// Writes batches of entries for one producer (one per process and purpose).
#[derive(Debug)]
pub struct Publisher {
    bus: Bus,
    marker_key: String,
    batch: u64,
}

impl Publisher {
    /// A publisher named after its owner (e.g. `ingester:a`); the process id and start time are
    /// appended so two incarnations never share a marker.
    pub fn new(bus: &Bus, name: &str) -> Self {
        let producer = format!("{name}:{}:{}", std::process::id(), now_micros());
        Self { marker_key: bus.keys().producer_marker(&producer), bus: bus.clone(), batch: 0 }
    }

    /// Appends every entry, in order, as one atomic pipeline. Retries connection failures until
    /// the batch is known to have landed exactly once (or shutdown fires). Returns the number of
    /// entries written.
    pub async fn publish(&mut self, entries: &[Entry]) -> Result<usize, BusError> {
        self.publish_with_hashes(entries, &[]).await
    }

    /// [`Publisher::publish`] plus hash writes in the same transaction, so readers never see a
    /// stream entry without the hash state it describes (booksync: tops entries and book hashes).
    /// Hash writes are idempotent, so the resend rule is unchanged.
    pub async fn publish_with_hashes(&mut self, entries: &[Entry], hashes: &[HashWrite]) -> Result<usize, BusError> {
        if entries.is_empty() && hashes.is_empty() {
            return Ok(0);
        }
        self.batch += 1;
        let batch = self.batch;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for e in entries {
            let cmd = pipe.cmd("XADD").arg(&e.key);
            if e.maxlen > 0 {
                cmd.arg("MAXLEN").arg("~").arg(e.maxlen);
            }
            cmd.arg("*");
            for (name, value) in &e.fields {
                cmd.arg(*name).arg(value.as_slice());
            }
            cmd.ignore();
        }
        for h in hashes {
            if !h.fields.is_empty() {
                let cmd = pipe.cmd("HSET").arg(&h.key);
                for (name, value) in &h.fields {
                    cmd.arg(*name).arg(value);
                }
                cmd.ignore();
            }
            if let Some(ttl) = h.ttl_ms {
                pipe.cmd("PEXPIRE").arg(&h.key).arg(ttl).ignore();
            }
        }
        pipe.cmd("SET").arg(&self.marker_key).arg(batch).arg("EX").arg(MARKER_TTL_SECS).ignore();

        let cfg = self.bus.config();
        let mut backoff = Backoff::new(cfg.retry_base, cfg.retry_max);
        let mut conn = self.bus.conn();
        loop {
            match pipe.query_async::<Value>(&mut conn).await {
                Ok(_) => {
                    if backoff.attempt() > 0 {
                        info!(batch, entries = entries.len(), "publish recovered after redis failure");
                    }
                    return Ok(entries.len());
                }
                Err(e) if is_retryable(&e) => {
                    self.bus.pause(&mut backoff, "publish", &e).await?;
                    if self.landed(batch).await? {
                        info!(batch, "batch had landed before the connection failed; not resending");
                        return Ok(entries.len());
                    }
                    warn!(batch, entries = entries.len(), "batch did not land; resending");
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// True when the marker shows `batch` committed.
    async fn landed(&self, batch: u64) -> Result<bool, BusError> {
        let key = self.marker_key.clone();
        let marker: Option<u64> = self
            .bus
            .retry("publish marker", |mut c| {
                let key = key.clone();
                async move { redis::cmd("GET").arg(&key).query_async(&mut c).await }
            })
            .await?;
        Ok(marker == Some(batch))
    }
}
