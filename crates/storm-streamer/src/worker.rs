//! One account's task: keeps a user-data subscription alive for as long as the process runs.
//!
//! Each [`session`](crate::session) is one WebSocket connection; when it ends (close, error,
//! silence, `eventStreamTerminated`, maximum age) the task waits a jittered exponential backoff
//! ([`Backoff`]) and opens the next one, which reconciles again. A planned end (age, termination
//! by the venue) or a session that ran for a while starts the backoff from its base. Every
//! reconnect is logged and counted.

use std::fmt::Display;
use std::time::Duration;

use storm_core::Backoff;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::StreamerConfig;
use crate::recorder::Recorder;
use crate::stats::Stats;
use storm_venues::binance::trade::TradeClient;

/// A session that lasted this long resets the backoff.
const STABLE_SESSION: Duration = Duration::from_secs(30);

/// How a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Shutdown.
    Stop,
    /// Reconnect; `planned` when nothing went wrong (age, venue-side termination).
    Reconnect {
        /// Why, for the log.
        reason: String,
        /// Reconnect without growing the backoff.
        planned: bool,
    },
}

impl End {
    /// An unplanned end.
    pub fn failed(reason: impl Into<String>) -> Self {
        End::Reconnect { reason: reason.into(), planned: false }
    }
}

/// Removes the API key and secret from text that came from outside (error messages, frames)
/// before it is logged.
#[derive(Clone)]
pub struct Redact {
    key: String,
    secret: String,
}

impl std::fmt::Debug for Redact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redact(***)")
    }
}

impl Redact {
    /// Redacts `key` and `secret`.
    pub fn new(key: &str, secret: &str) -> Self {
        Self { key: key.to_owned(), secret: secret.to_owned() }
    }

    /// `text` with the key and secret replaced by `***`.
    pub fn clean(&self, text: impl Display) -> String {
        let mut s = text.to_string();
        for v in [&self.key, &self.secret] {
            if !v.is_empty() {
                s = s.replace(v.as_str(), "***");
            }
        }
        s
    }
}

/// Everything one account's task owns.
#[derive(Debug)]
pub struct Worker {
    /// Venue name.
    pub venue: String,
    /// Account id.
    pub acct: String,
    /// WS-API URL.
    pub ws_url: String,
    /// REST access.
    pub rest: TradeClient,
    /// Settings.
    pub cfg: StreamerConfig,
    /// Counters.
    pub stats: Stats,
    /// Book and writer.
    pub recorder: Recorder,
    /// Scrubs secrets from logged text.
    pub redact: Redact,
    /// Process shutdown.
    pub shutdown: CancellationToken,
}

impl Worker {
    /// Runs sessions until shutdown.
    pub async fn run(mut self) {
        let cfg = &self.cfg;
        let mut backoff =
            Backoff::new(StreamerConfig::ms(cfg.reconnect_base_ms), StreamerConfig::ms(cfg.reconnect_max_ms));
        let mut first = true;
        loop {
            if !first {
                self.stats.reconnects.inc();
                let delay = backoff.next_delay();
                info!(venue = %self.venue, account = %self.acct, ?delay, attempt = backoff.attempt(), "reconnecting the user-data stream");
                tokio::select! {
                    _ = self.shutdown.cancelled() => break,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            first = false;
            let started = Instant::now();
            match self.session().await {
                End::Stop => break,
                End::Reconnect { reason, planned } => {
                    if planned || started.elapsed() >= STABLE_SESSION {
                        backoff.reset();
                    }
                    warn!(venue = %self.venue, account = %self.acct, reason = %reason, planned, "user-data session ended");
                }
            }
        }
        self.stats.connected.set(0.0);
        info!(venue = %self.venue, account = %self.acct, "user-data stream stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_removes_key_and_secret() {
        let r = Redact::new("KEY123", "SEC456");
        assert_eq!(r.clean("bad KEY123 and SEC456!"), "bad *** and ***!");
        assert_eq!(Redact::new("", "").clean("x"), "x");
        assert_eq!(format!("{r:?}"), "Redact(***)");
    }
}
