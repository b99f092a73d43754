//! The blocking `XREAD` loop: every reader sees every entry, in order, across reconnects.
//!
//! The reader keeps the last id it returned per stream and always asks for what follows it, so a
//! dropped connection or a Redis restart costs nothing but the wait: the next read resumes where
//! the last one ended. A start position of "new entries only" is resolved to the stream's current
//! last id at construction, so entries written during an outage are not skipped either.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Value};
use storm_core::Backoff;

use crate::codec::StreamEntry;
use crate::conn::Bus;
use crate::error::{is_retryable, BusError};

/// Where a reader starts on a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// From the first entry still in the stream.
    Beginning,
    /// Only entries added after the reader was created.
    End,
    /// After this entry id.
    After(String),
}

/// Reads one or more streams with `XREAD BLOCK` on a dedicated connection.
pub struct StreamReader {
    bus: Bus,
    conn: ConnectionManager,
    keys: Vec<String>,
    last_ids: Vec<String>,
    count: usize,
    block: Duration,
    /// The connection's reply timeout allows no longer a block.
    max_block: Duration,
}

/// Converts a redis `Value` field into bytes.
pub(crate) fn value_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b.clone(),
        Value::SimpleString(s) => s.as_bytes().to_vec(),
        Value::Int(i) => i.to_string().into_bytes(),
        _ => Vec::new(),
    }
}

/// [`value_bytes`] by value: a bulk string's buffer is moved, not copied.
fn into_bytes(v: Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b,
        other => value_bytes(&other),
    }
}

fn into_text(v: Value) -> String {
    String::from_utf8(into_bytes(v)).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Parses `[[id, [field, value, ...]], ...]` (the XRANGE / XAUTOCLAIM shape, and each stream's
/// part of an XREAD reply), moving the bytes out of the reply: every market-data entry passes
/// through here, and copying each field was a measurable share of booksync's time. A deleted
/// entry (XAUTOCLAIM) has no fields.
pub(crate) fn into_entries(stream: &str, v: Value) -> Vec<StreamEntry> {
    let Value::Array(items) = v else { return Vec::new() };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Array(parts) = item else { continue };
        let mut parts = parts.into_iter();
        let Some(id) = parts.next() else { continue };
        let mut fields = Vec::new();
        if let Some(Value::Array(kv)) = parts.next() {
            fields.reserve(kv.len() / 2);
            let mut kv = kv.into_iter();
            while let (Some(k), Some(v)) = (kv.next(), kv.next()) {
                fields.push((into_text(k), into_bytes(v)));
            }
        }
        out.push(StreamEntry { stream: stream.to_owned(), id: into_text(id), fields });
    }
    out
}

/// The entries of an `XRANGE` / `XREVRANGE` reply on `stream`.
pub fn entries(stream: &str, reply: Value) -> Vec<StreamEntry> {
    into_entries(stream, reply)
}

/// The `(stream, entries)` pairs of an XREAD / XREADGROUP reply (RESP2 array or RESP3 map; nil
/// when the block timed out).
pub(crate) fn into_streams(v: Value) -> Vec<(String, Vec<StreamEntry>)> {
    let pairs: Vec<(Value, Value)> = match v {
        Value::Array(streams) => streams
            .into_iter()
            .filter_map(|s| match s {
                Value::Array(kv) if kv.len() == 2 => {
                    let mut kv = kv.into_iter();
                    Some((kv.next()?, kv.next()?))
                }
                _ => None,
            })
            .collect(),
        Value::Map(m) => m,
        _ => Vec::new(),
    };
    pairs
        .into_iter()
        .map(|(k, e)| {
            let key = into_text(k);
            let entries = into_entries(&key, e);
            (key, entries)
        })
        .collect()
}

impl StreamReader {
    /// A reader of `streams`, returning up to `count` entries per read and blocking at most
    /// `block` when there is nothing new.
    pub async fn new(
        bus: &Bus,
        streams: &[(String, StartAt)],
        count: usize,
        block: Duration,
    ) -> Result<Self, BusError> {
        let conn = bus.dedicated(block + bus.config().response_timeout).await?;
        let mut last_ids = Vec::with_capacity(streams.len());
        for (key, start) in streams {
            last_ids.push(match start {
                StartAt::Beginning => "0-0".to_owned(),
                StartAt::After(id) => id.clone(),
                StartAt::End => Self::tail_id(bus, key).await?,
            });
        }
        Ok(Self {
            bus: bus.clone(),
            conn,
            keys: streams.iter().map(|(k, _)| k.clone()).collect(),
            last_ids,
            count: count.max(1),
            block,
            max_block: block,
        })
    }

    /// Blocks at most `block` in the following reads (1 ms up to the `block` given at
    /// construction): a reader with a timer to keep wakes when it is due, not a period later.
    pub fn set_block(&mut self, block: Duration) {
        self.block = block.clamp(Duration::from_millis(1), self.max_block);
    }

    async fn tail_id(bus: &Bus, key: &str) -> Result<String, BusError> {
        let key = key.to_owned();
        let v: Value = bus
            .retry("xrevrange", |mut c| {
                let key = key.clone();
                async move { c.xrevrange_count(&key, "+", "-", 1).await }
            })
            .await?;
        let id = match v {
            Value::Array(items) => items.first().and_then(|e| match e {
                Value::Array(parts) => parts.first().map(|id| String::from_utf8_lossy(&value_bytes(id)).into_owned()),
                _ => None,
            }),
            _ => None,
        };
        Ok(id.unwrap_or_else(|| "0-0".to_owned()))
    }

    /// The last id returned for each stream, in the order given at construction.
    pub fn positions(&self) -> impl Iterator<Item = (&str, &str)> {
        self.keys.iter().map(String::as_str).zip(self.last_ids.iter().map(String::as_str))
    }

    /// The next entries (empty after `block` elapses with nothing new). Connection failures are
    /// retried with backoff until shutdown; the position is never lost.
    pub async fn next_batch(&mut self) -> Result<Vec<StreamEntry>, BusError> {
        let cfg = self.bus.config();
        let mut backoff = Backoff::new(cfg.retry_base, cfg.retry_max);
        let reply: Value = loop {
            let mut cmd = redis::cmd("XREAD");
            cmd.arg("COUNT").arg(self.count).arg("BLOCK").arg(self.block.as_millis() as u64);
            cmd.arg("STREAMS").arg(&self.keys).arg(&self.last_ids);
            let read = cmd.query_async::<Value>(&mut self.conn);
            let res = tokio::select! {
                _ = self.bus.shutdown().cancelled() => return Err(BusError::Cancelled),
                r = read => r,
            };
            match res {
                Ok(r) => break r,
                Err(e) if is_retryable(&e) => self.bus.pause(&mut backoff, "xread", &e).await?,
                Err(e) => return Err(e.into()),
            }
        };
        let mut out = Vec::new();
        for (key, entries) in into_streams(reply) {
            let Some(pos) = self.keys.iter().position(|k| *k == key) else { continue };
            if let Some(last) = entries.last() {
                self.last_ids[pos].clone_from(&last.id);
            }
            out.extend(entries);
        }
        Ok(out)
    }
}
