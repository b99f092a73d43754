//! The connection to Redis and the retry loop around it.

use std::future::Future;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError, RedisResult};
use storm_core::Backoff;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::error::{is_retryable, BusError};
use crate::keys::Keys;
use crate::tls::{tls_failure, RedisTls};

/// How to reach Redis.
#[derive(Clone, Debug)]
pub struct BusConfig {
    /// `redis://[user:password@]host:port/db` or `rediss://...` for TLS.
    pub url: String,
    /// Namespace prefix of every key (`storm`).
    pub prefix: String,
    /// How long one command may take before it is treated as a connection failure.
    pub response_timeout: Duration,
    /// How long one connection attempt may take.
    pub connect_timeout: Duration,
    /// First retry delay after a failure.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// CA, client certificate and key for a `rediss://` URL (none by default).
    pub tls: RedisTls,
}

impl BusConfig {
    /// Defaults for `url`: 5 s response timeout, 2 s connect timeout, retries 50 ms → 2 s.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "storm".into(),
            response_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            retry_base: Duration::from_millis(50),
            retry_max: Duration::from_secs(2),
            tls: RedisTls::default(),
        }
    }
}

/// A handle on Redis shared by the tasks of one process. Cloning is cheap; clones share the
/// multiplexed connection (the `ConnectionManager` reconnects by itself after a failure).
#[derive(Clone)]
pub struct Bus {
    client: Client,
    conn: ConnectionManager,
    keys: Keys,
    cfg: BusConfig,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the URL: it may carry a password.
        f.debug_struct("Bus").field("prefix", &self.cfg.prefix).finish_non_exhaustive()
    }
}

/// The URL without its password, for logs.
pub(crate) fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

impl Bus {
    /// Connects, retrying with backoff until Redis answers or `shutdown` fires. A process that
    /// starts before Redis (supervisord starts everything at once) simply waits; a shutdown
    /// request ends the wait at once, even in the middle of an attempt.
    ///
    /// Each attempt is exactly one connection try (bounded by `connect_timeout`), and the delay
    /// logged before the next one is the only wait between them (see `Bus::manager`).
    ///
    /// A failed TLS handshake (wrong CA, no client certificate) is not waited out: it returns
    /// [`BusError::Tls`] at once.
    pub async fn connect(cfg: BusConfig, shutdown: CancellationToken) -> Result<Self, BusError> {
        let client = crate::tls::client(&cfg)?;
        let mut backoff = Backoff::new(cfg.retry_base, cfg.retry_max);
        loop {
            let attempt = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Err(BusError::Cancelled),
                r = Self::manager(&client, &cfg, cfg.response_timeout) => r,
            };
            match attempt {
                Ok(conn) => {
                    info!(redis = %redacted(&cfg.url), "connected to redis");
                    let keys = Keys::new(cfg.prefix.clone());
                    return Ok(Self { client, conn, keys, cfg, shutdown });
                }
                Err(e) if is_retryable(&e) => {
                    let delay = backoff.next_delay();
                    warn!(redis = %redacted(&cfg.url), error = %e, attempt = backoff.attempt(), retry_in = ?delay, "redis unreachable, retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Err(BusError::Cancelled),
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
                Err(e) => return Err(failure(&cfg, e)),
            }
        }
    }

    /// One connection attempt, with **no retry inside**: the callers' loops do the waiting
    /// (jittered, logged, cancellable by shutdown).
    ///
    /// The manager's own retry policy must stay off: redis-rs hands `ConnectionManagerConfig`'s
    /// `factor` to backon as the *growth factor* on top of backon's fixed 1 s minimum delay, so
    /// even 2 retries hid 1-2 s + 2-4 s of sleeping inside one "attempt" (attempts against a
    /// refused port came ~5.5 s apart while the log announced ~50 ms), and a shutdown had to wait
    /// for it. The same policy drives the manager's reconnection after a dropped connection:
    /// with 0, each command that finds the connection broken triggers one new try, and
    /// [`Bus::retry`] paces those.
    async fn manager(client: &Client, cfg: &BusConfig, response_timeout: Duration) -> RedisResult<ConnectionManager> {
        let mc = ConnectionManagerConfig::new()
            .set_response_timeout(response_timeout)
            .set_connection_timeout(cfg.connect_timeout)
            .set_number_of_retries(0);
        ConnectionManager::new_with_config(client.clone(), mc).await
    }

    /// A connection of its own, for blocking reads (`XREAD BLOCK` would stall every other command
    /// on the shared multiplexed connection). Its response timeout must exceed the block time.
    pub async fn dedicated(&self, response_timeout: Duration) -> Result<ConnectionManager, BusError> {
        let mut backoff = Backoff::new(self.cfg.retry_base, self.cfg.retry_max);
        loop {
            let attempt = tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return Err(BusError::Cancelled),
                r = Self::manager(&self.client, &self.cfg, response_timeout) => r,
            };
            match attempt {
                Ok(c) => return Ok(c),
                Err(e) if is_retryable(&e) => self.pause(&mut backoff, "dedicated connection", &e).await?,
                Err(e) => return Err(failure(&self.cfg, e)),
            }
        }
    }

    /// A [`BlockingConn`](crate::BlockingConn) to the same Redis, with the same TLS settings.
    pub fn blocking_conn(&self) -> crate::BlockingConn {
        crate::BlockingConn::from_client(self.client.clone())
    }

    /// The shared connection.
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The key schema.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &BusConfig {
        &self.cfg
    }

    /// The shutdown token retries give up on.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Waits out one backoff step, logging why; `Cancelled` if shutdown fires first.
    pub(crate) async fn pause(
        &self,
        backoff: &mut Backoff,
        what: &str,
        err: &(dyn std::fmt::Display + Sync),
    ) -> Result<(), BusError> {
        let delay = backoff.next_delay();
        warn!(op = what, error = %err, attempt = backoff.attempt(), retry_in = ?delay, "redis command failed, retrying");
        tokio::select! {
            _ = self.shutdown.cancelled() => Err(BusError::Cancelled),
            _ = tokio::time::sleep(delay) => Ok(()),
        }
    }

    /// Runs an **idempotent** command until it succeeds, retrying connection failures with
    /// jittered backoff until shutdown. Command errors (e.g. `WRONGTYPE`) return at once.
    pub async fn retry<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, BusError>
    where
        F: FnMut(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let mut backoff = Backoff::new(self.cfg.retry_base, self.cfg.retry_max);
        loop {
            match op(self.conn.clone()).await {
                Ok(v) => return Ok(v),
                Err(e) if is_retryable(&e) => self.pause(&mut backoff, what, &e).await?,
                Err(e) => return Err(failure(&self.cfg, e)),
            }
        }
    }
}

/// A command or connection error as a [`BusError`]: a failed TLS handshake becomes
/// [`BusError::Tls`] naming its cause.
fn failure(cfg: &BusConfig, e: RedisError) -> BusError {
    match tls_failure(&e) {
        Some(cause) => BusError::Tls { url: redacted(&cfg.url), cause },
        None => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(redacted("redis://user:s3cret@10.0.0.1:6379/0"), "redis://***@10.0.0.1:6379/0");
        assert_eq!(redacted("rediss://:pw@host:6380"), "rediss://***@host:6380");
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
