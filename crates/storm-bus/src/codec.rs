//! Stream entries: a few plain fields for `redis-cli` readers plus one msgpack payload.
//!
//! Every typed entry carries `v` (the schema version, as text) and `m` (msgpack with **named**
//! fields, so Python or Go can read it with any msgpack library). Entries on `storm:md:*` and
//! `storm:tops:*` also carry `sym`. A reader that meets another `v` gets
//! [`CodecError::VersionMismatch`], never a panic or a silently wrong value.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::CodecError;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// [`SCHEMA_VERSION`] as it appears in `v` (compared for every entry read, so not formatted each time).
const SCHEMA_VERSION_TEXT: &[u8] = b"1";

/// Encodes a value as msgpack with named fields.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    Ok(rmp_serde::to_vec_named(value)?)
}

/// Decodes an `m` payload after checking the entry's `v`.
pub fn decode<T: DeserializeOwned>(version: Option<&[u8]>, payload: Option<&[u8]>) -> Result<T, CodecError> {
    check_version(version)?;
    let payload = payload.ok_or(CodecError::MissingField("m"))?;
    Ok(rmp_serde::from_slice(payload)?)
}

/// Checks an entry's `v` against [`SCHEMA_VERSION`].
pub(crate) fn check_version(version: Option<&[u8]>) -> Result<(), CodecError> {
    let version = version.ok_or(CodecError::MissingField("v"))?;
    if version != SCHEMA_VERSION_TEXT {
        return Err(CodecError::VersionMismatch {
            found: String::from_utf8_lossy(version).into_owned(),
            expected: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// One entry to append to a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Stream key.
    pub key: String,
    /// Approximate maximum length (`MAXLEN ~`); 0 means no trimming (avoid for unbounded writers).
    pub maxlen: usize,
    /// Field/value pairs in order.
    pub fields: Vec<(&'static str, Vec<u8>)>,
}

impl Entry {
    /// An empty entry for `key`, trimmed to about `maxlen`.
    pub fn new(key: impl Into<String>, maxlen: usize) -> Self {
        Self { key: key.into(), maxlen, fields: Vec::with_capacity(4) }
    }

    /// A typed entry: `sym` (when given), `v`, and `m` = msgpack of `value`.
    pub fn record<T: Serialize>(
        key: impl Into<String>,
        maxlen: usize,
        sym: Option<&str>,
        value: &T,
    ) -> Result<Self, CodecError> {
        let mut e = Self::new(key, maxlen);
        if let Some(sym) = sym {
            e = e.field("sym", sym);
        }
        e.payload(value)
    }

    /// Appends `v` and `m` = msgpack of `value` after the plain fields added so far. Entries
    /// people read with `redis-cli XRANGE` (`storm:opps`, `storm:arb:log`) are built this way, so
    /// the readable fields come first and the binary blob last (a reader finds fields by name,
    /// so the order is for people, and for line-based scripts that stop at the blob).
    pub fn payload<T: Serialize>(self, value: &T) -> Result<Self, CodecError> {
        Ok(self.field("v", SCHEMA_VERSION.to_string()).field("m", encode(value)?))
    }

    /// Adds a plain field.
    pub fn field(mut self, name: &'static str, value: impl Into<Vec<u8>>) -> Self {
        self.fields.push((name, value.into()));
        self
    }
}

/// One entry read back from a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEntry {
    /// Stream key it came from.
    pub stream: String,
    /// Entry id (`<ms>-<seq>`).
    pub id: String,
    /// Field/value pairs.
    pub fields: Vec<(String, Vec<u8>)>,
}

impl StreamEntry {
    /// Raw value of a field.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_slice())
    }

    /// A field as UTF-8 text, when it is.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Decodes the typed payload, checking the schema version.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, CodecError> {
        decode(self.get("v"), self.get("m"))
    }

    /// Milliseconds part of the entry id (Redis' clock when the entry was added).
    pub fn id_millis(&self) -> Option<u64> {
        self.id.split('-').next()?.parse().ok()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use storm_core::{DepthDiff, Level, Symbol};

    #[test]
    fn the_version_text_is_the_version() {
        assert_eq!(SCHEMA_VERSION_TEXT, SCHEMA_VERSION.to_string().as_bytes());
    }

    fn diff() -> DepthDiff {
        DepthDiff {
            symbol: Symbol::new("BTCUSDT"),
            first_update_id: 50_093_239_208,
            last_update_id: 50_093_239_224,
            bids: vec![Level::parse("61837.63000000", "3.78826000").expect("level")],
            asks: vec![Level::parse("61838.04000000", "0.00000000").expect("level")],
            time_exchange: 1_723_161_255_408_000,
            time_received: 1_723_161_254_137_307,
        }
    }

    /// An entry as a reader would get it back from Redis (id `1-0`); shared by the bus's tests.
    pub(crate) fn as_read(e: &Entry) -> StreamEntry {
        StreamEntry {
            stream: e.key.clone(),
            id: "1-0".into(),
            fields: e.fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        }
    }

    #[test]
    fn codec_round_trips_a_depth_diff() {
        let e = Entry::record("storm:md:binance:depth", 1000, Some("BTCUSDT"), &diff()).expect("encode");
        let read = as_read(&e);
        assert_eq!(read.get_str("sym"), Some("BTCUSDT"));
        assert_eq!(read.get_str("v"), Some("1"));
        assert_eq!(read.decode::<DepthDiff>().expect("decode"), diff());
    }

    #[test]
    fn payload_uses_named_fields() {
        let m = encode(&diff()).expect("encode");
        let text = String::from_utf8_lossy(&m);
        assert!(text.contains("first_update_id") && text.contains("time_received"), "{text}");
    }

    #[test]
    fn version_mismatch_is_a_clear_error() {
        let mut read = as_read(&Entry::record("k", 10, None, &diff()).expect("encode"));
        for (k, v) in read.fields.iter_mut() {
            if k == "v" {
                *v = b"2".to_vec();
            }
        }
        let err = read.decode::<DepthDiff>().expect_err("must refuse version 2");
        assert!(matches!(err, CodecError::VersionMismatch { ref found, expected: 1 } if found == "2"));
        assert_eq!(err.to_string(), "entry schema version \"2\", this build reads version 1");
    }

    #[test]
    fn missing_or_garbage_payload_is_an_error_not_a_panic() {
        assert!(matches!(decode::<DepthDiff>(None, Some(b"x")), Err(CodecError::MissingField("v"))));
        assert!(matches!(decode::<DepthDiff>(Some(b"1"), None), Err(CodecError::MissingField("m"))));
        assert!(matches!(decode::<DepthDiff>(Some(b"1"), Some(&[0xc1, 0xff])), Err(CodecError::Decode(_))));
    }
}
