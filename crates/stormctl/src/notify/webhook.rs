//! Posting to a Discord- or Slack-compatible incoming webhook.
//!
//! The URL carries the webhook's token, so it comes only from an environment variable and is
//! never printed: not in logs, not in errors (`reqwest::Error::without_url`), not in `Debug`.
//! The body is `{"content": text, "text": text}` — Discord reads `content`, Slack reads `text`.
//! 429 and 5xx (and network failures) are retried after `Retry-After` or a jittered backoff,
//! until the post lands or shutdown; any other 4xx means the post itself is refused and retrying
//! cannot help: it is logged and dropped.

use std::time::Duration;

use anyhow::{anyhow, bail};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use storm_core::Backoff;
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

/// Discord refuses `content` over 2000 characters.
const MAX_CHARS: usize = 1_900;
/// Longest wait a `Retry-After` may impose.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// What became of a post.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// 2xx.
    Delivered,
    /// A 4xx other than 429: dropped after a log line.
    Refused(u16),
}

/// Shutdown came while posting.
#[derive(Debug)]
pub(crate) struct Cancelled;

/// A webhook endpoint.
pub(crate) struct Webhook {
    client: reqwest::Client,
    url: Url,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Webhook(***)")
    }
}

impl Webhook {
    /// The webhook whose URL is in env var `var`.
    pub fn from_env(var: &str) -> anyhow::Result<Self> {
        let raw = match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => v,
            _ => {
                bail!("{var} is not set: export the webhook URL (Discord or Slack) in it; it is never read from a file")
            }
        };
        let url = Url::parse(raw.trim()).map_err(|e| anyhow!("{var} is not a valid URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("{var} must be an http(s) URL");
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| anyhow!("cannot build an HTTP client: {}", e.without_url()))?;
        Ok(Self { client, url })
    }

    /// Posts `text`, retrying 429/5xx/network failures until it lands or `shutdown` fires.
    pub async fn post(&self, text: &str, shutdown: &CancellationToken) -> Result<Delivery, Cancelled> {
        let text = truncate(text);
        let body = serde_json::json!({ "content": text, "text": text });
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        loop {
            let send = self.client.post(self.url.clone()).json(&body).send();
            let res = tokio::select! {
                _ = shutdown.cancelled() => return Err(Cancelled),
                r = send => r,
            };
            let wait = match res {
                Ok(resp) if resp.status().is_success() => return Ok(Delivery::Delivered),
                Ok(resp) if resp.status() == StatusCode::TOO_MANY_REQUESTS || resp.status().is_server_error() => {
                    let status = resp.status().as_u16();
                    let wait = retry_after(resp.headers()).unwrap_or_else(|| backoff.next_delay());
                    warn!(status, wait_ms = wait.as_millis() as u64, "webhook busy; retrying the post");
                    wait
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let reply: String = resp.text().await.unwrap_or_default().chars().take(200).collect();
                    error!(status, reply = %reply, "webhook refused the post; giving up on it");
                    return Ok(Delivery::Refused(status));
                }
                Err(e) => {
                    let wait = backoff.next_delay();
                    warn!(error = %e.without_url(), wait_ms = wait.as_millis() as u64, "webhook unreachable; retrying the post");
                    wait
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return Err(Cancelled),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// `Retry-After` in seconds (Discord may send a fraction), capped.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: f64 = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    // Capped before the conversion: a finite but huge value (1e20) does not fit a Duration.
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64())))
}

fn truncate(text: &str) -> String {
    if text.chars().count() <= MAX_CHARS {
        text.to_owned()
    } else {
        let mut t: String = text.chars().take(MAX_CHARS).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_is_read_and_capped() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("1.5"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("86400"));
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
        // A finite value too large for a Duration is capped, not a panic.
        h.insert(RETRY_AFTER, HeaderValue::from_static("1e20"));
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn long_messages_fit_discord() {
        assert_eq!(truncate(&"x".repeat(5000)).chars().count(), MAX_CHARS + 1);
        assert_eq!(truncate("short"), "short");
    }
}
