//! Bus errors, and the one rule that says which Redis failures are worth a retry.

use redis::{ErrorKind, RedisError};
use thiserror::Error;

/// A failure of a bus operation.
#[derive(Debug, Error)]
pub enum BusError {
    /// Redis refused or failed the command (see [`BusError::is_retryable`]).
    #[error("redis: {0}")]
    Redis(#[from] RedisError),
    /// An entry could not be encoded or decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The process is shutting down; the operation was abandoned.
    #[error("cancelled by shutdown")]
    Cancelled,
    /// The Redis URL or another setting is unusable.
    #[error("invalid bus configuration: {0}")]
    Config(String),
    /// The TLS handshake with Redis failed in a way a retry cannot mend (see
    /// [`crate::tls::tls_failure`]): `cause` is rustls' reason, e.g. `invalid peer certificate:
    /// UnknownIssuer` or `received fatal alert: CertificateRequired`.
    #[error("redis TLS handshake with {url} failed: {cause} (check redis_url and redis_tls_ca_file, redis_tls_cert_file, redis_tls_key_file)")]
    Tls {
        /// The redacted URL.
        url: String,
        /// Why.
        cause: String,
    },
}

impl BusError {
    /// True when repeating the operation later can succeed (connection trouble, Redis loading).
    pub fn is_retryable(&self) -> bool {
        match self {
            BusError::Redis(e) => is_retryable(e),
            _ => false,
        }
    }
}

/// True for failures of the connection or a Redis that is still starting, not for command errors
/// such as `WRONGTYPE` that would fail the same way again, nor for a failed TLS handshake
/// (wrong CA, missing client certificate: see [`crate::tls::tls_failure`]).
pub fn is_retryable(e: &RedisError) -> bool {
    if crate::tls::tls_failure(e).is_some() {
        return false;
    }
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || matches!(
            e.kind(),
            ErrorKind::BusyLoadingError | ErrorKind::TryAgain | ErrorKind::ClusterDown | ErrorKind::MasterDown
        )
}

/// An entry that is not what this version of storm writes.
#[derive(Debug, Error)]
pub enum CodecError {
    /// The entry was written with another schema version.
    #[error("entry schema version {found:?}, this build reads version {expected}")]
    VersionMismatch {
        /// What the entry says (raw text).
        found: String,
        /// What we understand.
        expected: u32,
    },
    /// A field the entry must carry is absent.
    #[error("entry lacks field {0:?}")]
    MissingField(&'static str),
    /// The msgpack payload does not decode into the expected type.
    #[error("msgpack decode: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    /// The value could not be encoded.
    #[error("msgpack encode: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    /// A plain-text field (hash field, entry field) holds a value that does not parse.
    #[error("field {field:?} holds an unreadable value {value:?}")]
    BadField {
        /// The field.
        field: &'static str,
        /// Its value (the start of it).
        value: String,
    },
}
