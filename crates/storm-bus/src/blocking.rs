//! A plain blocking Redis connection for the one or two calls on a latency-critical path.
//!
//! The multiplexed async connection costs a driver-task hop and a thread wake per command: on
//! this project's 2-core machines a PING takes ≈ 60–75 µs through it against ≈ 6 µs on a plain
//! socket (`cargo bench -p storm-executor --bench signal_to_order` prints both). Between an
//! opportunity and its order the executor makes two Redis calls that must finish before the order
//! may leave (the gate that journals leg 1's intent, and the shared weight budget), so those go
//! through here. Every call is bounded by socket timeouts; any failure drops the connection and
//! returns `None`, and the caller repeats the call on the async path, which retries through Redis
//! outages. Only for scripts whose repetition after a lost reply is safe: the gate finds its own
//! record; of the weight budget's scripts a reservation counts at most once too often and the
//! others (venue count, penalty, status) are idempotent.

use std::sync::Mutex;
use std::time::Duration;

use redis::{FromRedisValue, ToRedisArgs};
use tracing::warn;

use crate::lua::Lua;

/// Connect, read and write timeout of the blocking connection.
const TIMEOUT: Duration = Duration::from_millis(250);

/// A blocking connection to the Redis at a URL, (re)connected on first use.
pub struct BlockingConn {
    /// `None` when the URL did not parse (every call then returns `None`, as if unreachable).
    client: Option<redis::Client>,
    conn: Mutex<Option<redis::Connection>>,
}

impl std::fmt::Debug for BlockingConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: never printed.
        f.debug_struct("BlockingConn").finish_non_exhaustive()
    }
}

impl BlockingConn {
    /// A connection to `url` without TLS files (nothing is opened until the first call). A
    /// process with settings takes [`Bus::blocking_conn`](crate::Bus::blocking_conn), which
    /// carries the bus's TLS files.
    pub fn new(url: &str) -> Self {
        let client = crate::tls::client(&crate::BusConfig::new(url))
            .inspect_err(|e| warn!(error = %e, "blocking redis connection unusable; every call takes the async path"))
            .ok();
        Self::with(client)
    }

    /// A connection made from `client` (see [`crate::tls::client`]).
    pub(crate) fn from_client(client: redis::Client) -> Self {
        Self::with(Some(client))
    }

    fn with(client: Option<redis::Client>) -> Self {
        Self { client, conn: Mutex::new(None) }
    }

    /// Runs `script`; `None` when Redis could not be reached or failed the call.
    pub fn run<T: FromRedisValue>(&self, script: &Lua, keys: &[&str], args: &impl ToRedisArgs) -> Option<T> {
        let mut slot = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            let conn = self.client.as_ref()?.get_connection_with_timeout(TIMEOUT).ok()?;
            conn.set_read_timeout(Some(TIMEOUT)).ok()?;
            conn.set_write_timeout(Some(TIMEOUT)).ok()?;
            *slot = Some(conn);
        }
        let conn = slot.as_mut()?;
        match script.run_blocking(conn, keys, args) {
            Ok(v) => Some(v),
            Err(e) => {
                warn!(error = %e, "blocking redis call failed; using the async connection");
                *slot = None;
                None
            }
        }
    }
}
