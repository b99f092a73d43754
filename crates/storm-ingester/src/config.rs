//! The `[ingester]` section of `storm.toml` (also settable by `STORM_INGESTER_*` env vars and
//! `--set ingester.<key>=` flags).
//!
//! ```toml
//! [ingester]
//! venue = "binance"                          # a [[venue]] name; its `kind` picks the adapter
//! subscriptions = ["depth:BTCUSDT", "kline:ETHUSDT:1m"]
//! all_markets_quotes = ["USDT", "BTC", "BNB"] # every TRADING symbol whose quote or base is listed
//! all_markets_channels = ["depth", "ticker"] # ... subscribed on these channels ("kline:1m" too)
//! max_streams_per_connection = 200           # clamped to the venue's maximum (Binance 1024)
//! silence_timeout_ms = 30000                 # no frame at all for this long: reconnect
//! ping_interval_ms = 10000                   # our own pings, for ping lag
//! liveness_ms = 1000                         # each connection vouches for its depth books this often
//! max_connection_age_ms = 85800000           # 23 h 50 m: rotate before Binance's 24 h
//! rotation_overlap_ms = 10000                # old and new connection overlap at most this long
//! reconnect_base_ms = 250                    # first reconnect delay (doubles, with jitter)
//! reconnect_max_ms = 30000                   # longest reconnect delay
//! connect_timeout_ms = 10000                 # TCP + TLS + WebSocket handshake
//! resubscribe_delay_ms = 5000                # a rejected SUBSCRIBE is retried after this (doubling)
//! all_markets_refresh_ms = 3600000           # re-read the listing for new or delisted symbols
//! stream_maxlen = 100000                     # XADD MAXLEN ~ per storm:md stream
//! redis_buffer_max = 100000                  # entries held while Redis is down, then oldest dropped
//! subs_poll_ms = 1000                        # storm:subs:<venue> re-read period (at most 2000)
//! ```
//! Subscriptions and channels are validated when the file is read, so a typo fails start-up;
//! [`IngesterConfig::validate`] checks the numbers against the venue's limits.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use storm_core::Asset;
use storm_service::EngineSection;
use storm_venues::adapter::{Subscription, VenueLimits};

use crate::markets::MarketChannel;

/// Longest allowed `subs_poll_ms`: `SADD`/`SREM` must take effect within 2 s (DESIGN.md).
pub const MAX_SUBS_POLL_MS: u64 = 2_000;

/// The ingester's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngesterConfig {
    /// Name of the `[[venue]]` to ingest; appears in every Redis key (`storm:md:<venue>:depth`).
    pub venue: String,
    /// Static subscriptions, as `storm:subs:<venue>` members (`depth:BTCUSDT`).
    pub subscriptions: Vec<Subscription>,
    /// Subscribe every TRADING symbol whose quote or base asset is in this list (empty: off).
    pub all_markets_quotes: Vec<String>,
    /// The channels subscribed for each of those symbols (`depth`, `ticker`, `trade`, `kline:1m`).
    pub all_markets_channels: Vec<MarketChannel>,
    /// Streams per connection; clamped to the venue's maximum.
    pub max_streams_per_connection: usize,
    /// A connection that receives no frame at all (data, reply, ping or pong) for this long is
    /// reconnected; must exceed `ping_interval_ms`, whose pongs keep a quiet connection alive.
    pub silence_timeout_ms: u64,
    /// How often we ping each connection to measure the round trip ("ping lag").
    pub ping_interval_ms: u64,
    /// Every this often, each connection that heard from the venue within the last two
    /// intervals (it pings when quiet) writes an `alive` entry on the depth stream listing its
    /// acknowledged depth symbols; booksync's `stale_after_ms` must exceed twice this.
    pub liveness_ms: u64,
    /// Connections are rotated (replacement first) at this age; below the venue's maximum.
    pub max_connection_age_ms: u64,
    /// During a rotation, the old connection is closed once the replacement carries every
    /// stream, or after this long at most.
    pub rotation_overlap_ms: u64,
    /// First reconnect delay, ms; each failed attempt doubles it (with jitter).
    pub reconnect_base_ms: u64,
    /// Longest reconnect delay, ms.
    pub reconnect_max_ms: u64,
    /// Longest wait for a TCP + TLS + WebSocket handshake, ms.
    pub connect_timeout_ms: u64,
    /// A SUBSCRIBE the venue rejected is sent again after this long, doubling up to 16×.
    pub resubscribe_delay_ms: u64,
    /// How often the venue listing is re-read for `all_markets_quotes`, ms.
    pub all_markets_refresh_ms: u64,
    /// Approximate length kept per `storm:md:<venue>:<channel>` stream (`MAXLEN ~`).
    pub stream_maxlen: usize,
    /// Entries buffered in memory while Redis is unreachable; beyond it the oldest are dropped.
    pub redis_buffer_max: usize,
    /// How often `storm:subs:<venue>` is re-read, ms (100..=2000).
    pub subs_poll_ms: u64,
}

impl Default for IngesterConfig {
    fn default() -> Self {
        Self {
            venue: "binance".into(),
            subscriptions: Vec::new(),
            all_markets_quotes: Vec::new(),
            all_markets_channels: vec![MarketChannel::DEPTH],
            max_streams_per_connection: 200,
            silence_timeout_ms: 30_000,
            ping_interval_ms: 10_000,
            liveness_ms: 1_000,
            max_connection_age_ms: (23 * 60 + 50) * 60 * 1_000,
            rotation_overlap_ms: 10_000,
            reconnect_base_ms: 250,
            reconnect_max_ms: 30_000,
            connect_timeout_ms: 10_000,
            resubscribe_delay_ms: 5_000,
            all_markets_refresh_ms: 3_600_000,
            stream_maxlen: 100_000,
            redis_buffer_max: 100_000,
            subs_poll_ms: 1_000,
        }
    }
}

impl EngineSection for IngesterConfig {
    const SECTION: &'static str = "ingester";
}

/// A setting the ingester cannot run with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IngesterConfigError {
    /// `venue` is empty.
    #[error("ingester.venue is empty")]
    NoVenue,
    /// A number outside its allowed range.
    #[error("ingester.{field} = {value} is outside {min}..={max}")]
    OutOfRange {
        /// The key.
        field: &'static str,
        /// The configured value.
        value: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// Silence would be declared between two healthy pongs.
    #[error("ingester.silence_timeout_ms ({silence_ms}) must exceed ping_interval_ms ({ping_ms})")]
    SilenceNotAbovePing {
        /// `silence_timeout_ms`.
        silence_ms: u64,
        /// `ping_interval_ms`.
        ping_ms: u64,
    },
    /// An entry of `all_markets_quotes` that is not an asset code.
    #[error("ingester.all_markets_quotes: {0:?} is not an asset code")]
    BadAsset(String),
    /// `all_markets_quotes` is set but no channel is.
    #[error("ingester.all_markets_channels is empty while all_markets_quotes is set")]
    NoMarketChannels,
}

fn within(field: &'static str, value: u64, min: u64, max: u64) -> Result<(), IngesterConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(IngesterConfigError::OutOfRange { field, value, min, max })
    }
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl IngesterConfig {
    /// Checks every setting against itself and the venue's limits; the first problem wins.
    /// `max_streams_per_connection` above the venue's maximum is not an error: it is clamped
    /// (see [`IngesterConfig::exceeds_venue_stream_cap`] to warn about it).
    pub fn validate(&self, limits: &VenueLimits) -> Result<(), IngesterConfigError> {
        if self.venue.trim().is_empty() {
            return Err(IngesterConfigError::NoVenue);
        }
        within("max_streams_per_connection", as_u64(self.max_streams_per_connection), 1, u64::MAX)?;
        within("ping_interval_ms", self.ping_interval_ms, 1_000, 60_000)?;
        within("silence_timeout_ms", self.silence_timeout_ms, 1_000, 600_000)?;
        within("liveness_ms", self.liveness_ms, 100, 10_000)?;
        if self.silence_timeout_ms <= self.ping_interval_ms {
            return Err(IngesterConfigError::SilenceNotAbovePing {
                silence_ms: self.silence_timeout_ms,
                ping_ms: self.ping_interval_ms,
            });
        }
        let venue_age_ms = u64::try_from(limits.max_connection_age.as_millis()).unwrap_or(u64::MAX);
        within("max_connection_age_ms", self.max_connection_age_ms, 2_000, venue_age_ms.saturating_sub(60_000))?;
        within("rotation_overlap_ms", self.rotation_overlap_ms, 100, self.max_connection_age_ms / 2)?;
        within("reconnect_base_ms", self.reconnect_base_ms, 10, 60_000)?;
        within("reconnect_max_ms", self.reconnect_max_ms, self.reconnect_base_ms, 600_000)?;
        within("connect_timeout_ms", self.connect_timeout_ms, 100, 120_000)?;
        within("resubscribe_delay_ms", self.resubscribe_delay_ms, 100, 600_000)?;
        within("all_markets_refresh_ms", self.all_markets_refresh_ms, 1_000, 7 * 24 * 3_600_000)?;
        within("stream_maxlen", as_u64(self.stream_maxlen), 1, u64::MAX)?;
        within("redis_buffer_max", as_u64(self.redis_buffer_max), 1, u64::MAX)?;
        within("subs_poll_ms", self.subs_poll_ms, 100, MAX_SUBS_POLL_MS)?;
        for quote in &self.all_markets_quotes {
            let code = quote.trim();
            if code.is_empty() || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(IngesterConfigError::BadAsset(quote.clone()));
            }
        }
        if !self.all_markets_quotes.is_empty() && self.all_markets_channels.is_empty() {
            return Err(IngesterConfigError::NoMarketChannels);
        }
        Ok(())
    }

    /// Streams per connection actually used: the setting clamped to `1..=` the venue's maximum.
    pub fn streams_per_connection(&self, limits: &VenueLimits) -> usize {
        self.max_streams_per_connection.clamp(1, limits.max_streams_per_connection.max(1))
    }

    /// True when the setting asks for more streams per connection than the venue allows.
    pub fn exceeds_venue_stream_cap(&self, limits: &VenueLimits) -> bool {
        self.max_streams_per_connection > limits.max_streams_per_connection
    }

    /// The "all markets" assets, normalised (`usdt` → `USDT`), deduplicated, in config order.
    pub fn all_markets_assets(&self) -> Vec<Asset> {
        let mut assets: Vec<Asset> = Vec::with_capacity(self.all_markets_quotes.len());
        for asset in self.all_markets_quotes.iter().map(Asset::new) {
            if !assets.contains(&asset) {
                assets.push(asset);
            }
        }
        assets
    }

    /// `silence_timeout_ms` as a duration.
    pub fn silence_timeout(&self) -> Duration {
        Duration::from_millis(self.silence_timeout_ms)
    }

    /// `ping_interval_ms` as a duration.
    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms)
    }

    /// `liveness_ms` as a duration.
    pub fn liveness(&self) -> Duration {
        Duration::from_millis(self.liveness_ms)
    }

    /// `max_connection_age_ms` as a duration.
    pub fn max_connection_age(&self) -> Duration {
        Duration::from_millis(self.max_connection_age_ms)
    }

    /// `rotation_overlap_ms` as a duration.
    pub fn rotation_overlap(&self) -> Duration {
        Duration::from_millis(self.rotation_overlap_ms)
    }

    /// `all_markets_refresh_ms` as a duration.
    pub fn all_markets_refresh(&self) -> Duration {
        Duration::from_millis(self.all_markets_refresh_ms)
    }

    /// `subs_poll_ms` as a duration.
    pub fn subs_poll(&self) -> Duration {
        Duration::from_millis(self.subs_poll_ms)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::collections::BTreeMap;

    use storm_service::Config;
    use storm_venues::binance::adapter::LIMITS;

    use super::*;

    fn load(file: &str, env: &[(&str, &str)]) -> Result<IngesterConfig, storm_service::ConfigError> {
        let table: toml::Table = file.parse().expect("toml");
        let env: BTreeMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::<IngesterConfig>::from_parts(table, &env, &[]).map(|c| c.engine)
    }

    #[test]
    fn defaults_are_valid_for_binance_and_rotate_before_24_hours() {
        let cfg = IngesterConfig::default();
        assert_eq!(cfg.validate(&LIMITS), Ok(()));
        assert_eq!(cfg.streams_per_connection(&LIMITS), 200);
        assert_eq!(cfg.max_connection_age(), Duration::from_secs(23 * 3600 + 50 * 60));
        assert!(cfg.max_connection_age() < LIMITS.max_connection_age);
        assert!(cfg.subs_poll() <= Duration::from_millis(MAX_SUBS_POLL_MS));
        assert_eq!(load("", &[]).unwrap(), cfg, "an absent section is the defaults");
    }

    #[test]
    fn a_full_section_loads_with_subscriptions_normalised() {
        let cfg = load(
            r#"
            [ingester]
            venue = "sim"
            subscriptions = ["depth:btcusdt", "kline:ETHUSDT:1m"]
            all_markets_quotes = ["usdt", "BTC", "USDT"]
            all_markets_channels = ["depth", "kline:1h"]
            max_streams_per_connection = 300
            subs_poll_ms = 500
            "#,
            &[],
        )
        .unwrap();
        let members: Vec<String> = cfg.subscriptions.iter().map(Subscription::member).collect();
        assert_eq!(members, ["depth:BTCUSDT", "kline:ETHUSDT:1m"]);
        assert_eq!(cfg.all_markets_assets(), [Asset::new("USDT"), Asset::new("BTC")]);
        assert_eq!(cfg.all_markets_channels[1].to_string(), "kline:1h");
        assert_eq!((cfg.venue.as_str(), cfg.max_streams_per_connection, cfg.subs_poll_ms), ("sim", 300, 500));
        assert_eq!(cfg.validate(&LIMITS), Ok(()));
    }

    #[test]
    fn env_overrides_the_file() {
        let env = [
            ("STORM_INGESTER_SUBSCRIPTIONS", r#"["trade:BNBUSDT"]"#),
            ("STORM_INGESTER_MAX_STREAMS_PER_CONNECTION", "50"),
        ];
        let cfg = load("[ingester]\nsubscriptions = [\"depth:BTCUSDT\"]\n", &env).unwrap();
        assert_eq!(cfg.subscriptions, ["trade:BNBUSDT".parse::<Subscription>().unwrap()]);
        assert_eq!(cfg.max_streams_per_connection, 50);
    }

    #[test]
    fn typos_and_bad_members_fail_at_load() {
        for (file, needle) in [
            ("[ingester]\nmax_streams = 5\n", "max_streams"),
            ("[ingester]\nsubscriptions = [\"kline:BTCUSDT:7x\"]\n", "7x"),
            ("[ingester]\nsubscriptions = [\"foo:BTCUSDT\"]\n", "foo"),
            ("[ingester]\nall_markets_channels = [\"book\"]\n", "book"),
            ("[ingester]\nall_markets_channels = [\"kline\"]\n", "kline"),
        ] {
            let err = load(file, &[]).unwrap_err().to_string();
            assert!(err.contains(needle), "{file}: {err}");
        }
    }

    #[test]
    fn out_of_range_settings_are_named() {
        type Edit = fn(&mut IngesterConfig);
        let cases: [(Edit, IngesterConfigError); 9] = [
            (|c| c.venue = " ".into(), IngesterConfigError::NoVenue),
            (
                |c| c.subs_poll_ms = 2_001,
                IngesterConfigError::OutOfRange { field: "subs_poll_ms", value: 2_001, min: 100, max: 2_000 },
            ),
            (
                |c| c.subs_poll_ms = 0,
                IngesterConfigError::OutOfRange { field: "subs_poll_ms", value: 0, min: 100, max: 2_000 },
            ),
            (
                |c| c.max_connection_age_ms = 86_400_000,
                IngesterConfigError::OutOfRange {
                    field: "max_connection_age_ms",
                    value: 86_400_000,
                    min: 2_000,
                    max: 86_340_000,
                },
            ),
            (
                |c| c.max_streams_per_connection = 0,
                IngesterConfigError::OutOfRange {
                    field: "max_streams_per_connection",
                    value: 0,
                    min: 1,
                    max: u64::MAX,
                },
            ),
            (
                |c| c.stream_maxlen = 0,
                IngesterConfigError::OutOfRange { field: "stream_maxlen", value: 0, min: 1, max: u64::MAX },
            ),
            (
                |c| c.silence_timeout_ms = 10_000,
                IngesterConfigError::SilenceNotAbovePing { silence_ms: 10_000, ping_ms: 10_000 },
            ),
            (|c| c.all_markets_quotes = vec!["US DT".into()], IngesterConfigError::BadAsset("US DT".into())),
            (
                |c| {
                    c.all_markets_quotes = vec!["USDT".into()];
                    c.all_markets_channels.clear();
                },
                IngesterConfigError::NoMarketChannels,
            ),
        ];
        for (edit, expected) in cases {
            let mut cfg = IngesterConfig::default();
            edit(&mut cfg);
            assert_eq!(cfg.validate(&LIMITS), Err(expected));
        }
    }

    #[test]
    fn streams_per_connection_is_clamped_to_the_venue_maximum() {
        let cfg = IngesterConfig { max_streams_per_connection: 5_000, ..IngesterConfig::default() };
        assert_eq!(cfg.validate(&LIMITS), Ok(()));
        assert!(cfg.exceeds_venue_stream_cap(&LIMITS));
        assert_eq!(cfg.streams_per_connection(&LIMITS), 1024);
        assert!(!IngesterConfig::default().exceeds_venue_stream_cap(&LIMITS));
    }
}
