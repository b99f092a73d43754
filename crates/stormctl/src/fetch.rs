//! Redis reads that never trust what they get back. Everything here tolerates keys of the wrong
//! type, non-UTF-8 bytes and odd replies: the caller gets text (lossily decoded) or an error it
//! turns into a note, never a panic. Scan patterns come from `storm_bus::keys` (a key function
//! called with `*`), and [`prefix_of`] recovers the fixed part to strip from each key found.

use std::collections::{BTreeSet, HashMap};

use redis::{RedisError, RedisResult, Value};
use storm_bus::StreamEntry;

use crate::ctx::Conn;

/// Every key matching `pattern` (`SCAN`, so a big keyspace is walked without blocking Redis),
/// sorted and unique.
pub(crate) async fn scan(conn: &mut Conn, pattern: &str) -> RedisResult<Vec<String>> {
    let mut cursor: u64 = 0;
    let mut keys = BTreeSet::new();
    loop {
        let (next, batch): (u64, Vec<Vec<u8>>) =
            redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(1000).query_async(conn).await?;
        keys.extend(batch.into_iter().map(|k| String::from_utf8_lossy(&k).into_owned()));
        if next == 0 {
            return Ok(keys.into_iter().collect());
        }
        cursor = next;
    }
}

/// The text before the first `*` of a pattern built by `storm_bus::keys` (`storm:book:sim:*`
/// → `storm:book:sim:`): what to strip from a scanned key to get the variable part.
pub(crate) fn prefix_of(pattern: &str) -> &str {
    pattern.split('*').next().unwrap_or(pattern)
}

/// `HGETALL`, decoded lossily (a missing key is an empty map).
pub(crate) async fn hash(conn: &mut Conn, key: &str) -> RedisResult<HashMap<String, String>> {
    let raw: Vec<(Vec<u8>, Vec<u8>)> = redis::cmd("HGETALL").arg(key).query_async(conn).await?;
    Ok(raw.into_iter().map(|(k, v)| (lossy(&k), lossy(&v))).collect())
}

/// The last `n` entries of a stream, oldest first (a missing stream has none).
pub(crate) async fn last_entries(conn: &mut Conn, key: &str, n: usize) -> RedisResult<Vec<StreamEntry>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let v: Value = redis::cmd("XREVRANGE").arg(key).arg("+").arg("-").arg("COUNT").arg(n).query_async(conn).await?;
    let mut entries = entries_from_value(key, &v);
    entries.reverse();
    Ok(entries)
}

/// `XLEN` and the id of the last entry (`None` for an empty or missing stream).
pub(crate) async fn stream_len(conn: &mut Conn, key: &str) -> RedisResult<(u64, Option<String>)> {
    let len: u64 = redis::cmd("XLEN").arg(key).query_async(conn).await?;
    let last = last_entries(conn, key, 1).await?.pop().map(|e| e.id);
    Ok((len, last))
}

/// Parses an `XRANGE`/`XREVRANGE` reply (`[[id, [field, value, ...]], ...]`), keeping field
/// order; anything that is not shaped like an entry is skipped.
pub(crate) fn entries_from_value(stream: &str, v: &Value) -> Vec<StreamEntry> {
    let Value::Array(items) = v else { return Vec::new() };
    items
        .iter()
        .filter_map(|item| {
            let Value::Array(parts) = item else { return None };
            let (Some(id), Some(Value::Array(kv))) = (parts.first(), parts.get(1)) else { return None };
            let fields = kv.chunks(2).filter(|c| c.len() == 2).map(|c| (lossy(&bytes(&c[0])), bytes(&c[1]))).collect();
            Some(StreamEntry { stream: stream.to_owned(), id: lossy(&bytes(id)), fields })
        })
        .collect()
}

fn bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b.clone(),
        Value::SimpleString(s) => s.as_bytes().to_vec(),
        Value::Int(i) => i.to_string().into_bytes(),
        _ => Vec::new(),
    }
}

/// UTF-8 text, with replacement characters for anything else.
pub(crate) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The plain fields of an entry, in order: everything but the msgpack payload `m`; a value that
/// is not text shows as `<N bytes>`.
pub(crate) fn plain_fields(e: &StreamEntry) -> Vec<(String, String)> {
    e.fields
        .iter()
        .filter(|(k, _)| k != "m")
        .map(|(k, v)| match std::str::from_utf8(v) {
            Ok(s) => (k.clone(), s.to_owned()),
            Err(_) => (k.clone(), format!("<{} bytes>", v.len())),
        })
        .collect()
}

/// [`plain_fields`] as a JSON object of strings (a repeated field keeps its last value).
pub(crate) fn fields_json(e: &StreamEntry) -> serde_json::Map<String, serde_json::Value> {
    plain_fields(e).into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect()
}

/// An entry id as numbers, for ordering entries of different streams (`1712-3` → (1712, 3)).
pub(crate) fn id_order(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// A Redis error as an operator's note.
pub(crate) fn describe(key: &str, e: &RedisError) -> String {
    if e.code() == Some("WRONGTYPE") {
        format!("{key} is not of the type the contract says (WRONGTYPE); left alone")
    } else {
        format!("{key}: {e}")
    }
}

/// True for failures that mean "Redis is not there" rather than "this key is odd".
pub(crate) fn is_connection_error(e: &RedisError) -> bool {
    storm_bus::is_retryable(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_ids() {
        assert_eq!(prefix_of("storm:book:sim:*"), "storm:book:sim:");
        assert_eq!(prefix_of("storm:halt"), "storm:halt");
        assert!(id_order("1700000000000-2") > id_order("1700000000000-1"));
        assert!(id_order("999-9") < id_order("1000-0"));
        assert_eq!(id_order("garbage"), (0, 0));
    }

    #[test]
    fn odd_replies_are_skipped_not_fatal() {
        let good = Value::Array(vec![
            Value::BulkString(b"1-0".to_vec()),
            Value::Array(vec![
                Value::BulkString(b"id".to_vec()),
                Value::BulkString(b"x".to_vec()),
                Value::BulkString(b"m".to_vec()),
                Value::BulkString(vec![0xc1, 0xff]),
            ]),
        ]);
        let v = Value::Array(vec![good, Value::Int(3), Value::Array(vec![])]);
        let entries = entries_from_value("s", &v);
        assert_eq!(entries.len(), 1);
        assert_eq!(plain_fields(&entries[0]), vec![("id".to_owned(), "x".to_owned())]);
        assert!(entries_from_value("s", &Value::Nil).is_empty());
    }
}
