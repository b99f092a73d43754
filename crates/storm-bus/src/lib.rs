//! storm-bus: everything storm does with Redis, in one crate.
//!
//! * [`keys`] — the key schema; every key of the Redis contract is built by one function there.
//! * [`codec`] — msgpack entries with named fields and a schema version `v`.
//! * [`Bus`] — the shared connection (a redis-rs `ConnectionManager`) plus the retry policy.
//! * [`tls`] — [`client`], the one place a Redis client is made (`rediss://` with a private CA
//!   and client certificates, [`RedisTls`]); a failed TLS handshake is an error, never retried.
//! * [`publish`] — pipelined, trimmed (`MAXLEN ~`) stream writes that survive a Redis restart
//!   without losing or duplicating an entry.
//! * [`read`] — the blocking `XREAD` loop on its own connection.
//! * [`BlockingConn`] — a plain blocking connection for the calls between a signal and its order.
//! * [`group`] — consumer groups: create, read, ack, reclaim.
//! * [`heartbeat`] — `storm:health:<engine>:<instance>` writer.
//! * [`book`] — the `storm:book:<venue>:<SYM>` hash fields; [`tops`] — `storm:tops:<venue>` entries;
//!   [`opps`] — `storm:opps` entries; [`outcomes`] — the outcome kinds of `storm:arb:log`.
//! * [`ratelimit`] — the per-IP REST weight budget every process on a host shares.
//!
//! # Where a retry is safe
//! redis-rs' `ConnectionManager` reconnects by itself but never repeats a failed command; the
//! caller decides. storm retries (with jittered backoff, until shutdown) only commands whose
//! repetition cannot change the outcome: reads, `HSET`/`SET`/`EXPIRE` of the same values,
//! `XACK`, `XGROUP CREATE` (BUSYGROUP tolerated). `XADD` is not idempotent, so [`publish`] wraps
//! each batch in `MULTI`/`EXEC` together with a per-producer batch marker and, after a failure,
//! reads the marker to learn whether the batch landed before sending it again.

pub mod account;
mod blocking;
pub mod book;
pub mod codec;
mod conn;
mod depth_wire;
mod error;
pub mod group;
pub mod heartbeat;
pub mod instruments;
pub mod keys;
pub mod lua;
pub mod md;
pub mod opps;
pub mod outcomes;
pub mod publish;
pub mod ratelimit;
pub mod read;
pub mod tls;
pub mod tops;

pub use blocking::BlockingConn;
pub use codec::{Entry, StreamEntry, SCHEMA_VERSION};
pub use conn::{Bus, BusConfig};
pub use error::{is_retryable, BusError, CodecError};
pub use group::{ensure_group, GroupConsumer};
pub use keys::Keys;
pub use publish::{HashWrite, Publisher};
pub use ratelimit::{RateLimitError, WeightBudget, WeightBudgetConfig};
pub use read::{StartAt, StreamReader};
pub use tls::{client, RedisTls};
