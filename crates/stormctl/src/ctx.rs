//! What every subcommand needs, resolved once: the Redis URL and key namespace (flags over env over
//! the engines' own `storm.toml`, read with `storm_service::config` so stormctl can never disagree
//! with the engines about where the keys are; which file, see [`crate::locate`]), the configured
//! venues and the ingester's configured subscriptions, and a connection that fails fast. An operator's command should say "redis unreachable" in two seconds, not hang; only the
//! long-running subcommands (`watch`, `notify`, `--follow`) retry.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use serde::{Deserialize, Serialize};
use storm_bus::{BusConfig, BusError, Keys, RedisTls};
use storm_ingester::IngesterConfig;
use storm_service::config::{CommonArgs, Config, ConfigError, EngineSection, VenueConfig};
use storm_venues::adapter::Subscription;

use crate::cli::Global;
use crate::locate::ConfigChoice;

/// The connection one-shot subcommands use.
pub(crate) type Conn = MultiplexedConnection;

/// How long a connection attempt may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one command may take.
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The `[stormctl]` section of storm.toml.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StormctlConfig {
    /// `notify`: most webhook posts per minute; the excess is summarized in one post.
    pub notify_per_minute: u32,
}

impl Default for StormctlConfig {
    fn default() -> Self {
        Self { notify_per_minute: 20 }
    }
}

impl EngineSection for StormctlConfig {
    const SECTION: &'static str = "stormctl";
}

/// Resolved settings of one run.
#[derive(Clone, Debug)]
pub(crate) struct Ctx {
    /// Redis URL (may hold a password: print [`Ctx::redacted_url`] only).
    pub url: String,
    /// CA, client certificate and key for a `rediss://` URL (the `redis_tls_*` settings).
    pub tls: RedisTls,
    /// Key schema under the namespace.
    pub keys: Keys,
    /// Venues of the config file (empty without one).
    pub venues: Vec<VenueConfig>,
    /// The `[stormctl]` section.
    pub section: StormctlConfig,
    /// The engines' heartbeat period, for freshness checks.
    pub heartbeat_ms: u64,
    /// `--json`.
    pub json: bool,
    /// The config file used, and how it was chosen.
    pub config: ConfigChoice,
    /// The file's `[ingester]` section (`None` without a file, or when that section does not
    /// load: `doctor` says why).
    pub ingester: Option<IngesterConfig>,
}

impl Ctx {
    /// Loads the configuration; an unreadable or invalid file is an error.
    pub fn load(g: &Global) -> Result<Self, ConfigError> {
        let choice = ConfigChoice::resolve(g.config.as_deref());
        let args = common_args(g, choice.path.clone());
        let cfg = Config::<StormctlConfig>::load(&args)?;
        let mut ctx = Self::from_config(g, cfg, choice);
        if ctx.config.path.is_some() {
            ctx.ingester = Config::<IngesterConfig>::load(&args).ok().map(|c| c.engine);
        }
        Ok(ctx)
    }

    /// Like [`Ctx::load`], but a bad config file is returned beside settings from flags and env
    /// alone, so `doctor` can report it and still check everything else.
    pub fn load_lenient(g: &Global) -> (Self, Option<ConfigError>) {
        match Self::load(g) {
            Ok(ctx) => (ctx, None),
            Err(err) => {
                let cfg = Config::<StormctlConfig>::load(&common_args(g, None)).unwrap_or_else(|_| Config {
                    common: Default::default(),
                    venues: Vec::new(),
                    engine: StormctlConfig::default(),
                });
                let mut ctx = Self::from_config(g, cfg, ConfigChoice::resolve(g.config.as_deref()));
                // The file's own redis_url, when the rest of it does not load: doctor must check
                // the suite's Redis, never fall back to whatever answers on the default port.
                if let Some(url) = ctx.config.path.as_deref().and_then(file_redis_url) {
                    ctx.url = url;
                }
                if let Some(url) = &g.redis_url {
                    ctx.url.clone_from(url);
                }
                if let Some(ns) = &g.namespace {
                    ctx.keys = Keys::new(ns.clone());
                }
                (ctx, Some(err))
            }
        }
    }

    fn from_config(g: &Global, cfg: Config<StormctlConfig>, config: ConfigChoice) -> Self {
        Self {
            tls: cfg.common.bus_config().tls,
            url: cfg.common.redis_url,
            keys: Keys::new(cfg.common.namespace),
            venues: cfg.venues,
            section: cfg.engine,
            heartbeat_ms: cfg.common.heartbeat_ms,
            json: g.json,
            config,
            ingester: None,
        }
    }

    /// Where this run reads: `redis <url>, config <file (origin)>`, for error messages.
    pub fn whereabouts(&self) -> String {
        format!("redis {}, config {}", self.redacted_url(), self.config.describe())
    }

    /// The `[ingester] subscriptions` of the config for `venue` (empty when its ingester is
    /// configured for another venue).
    pub fn config_subs(&self, venue: &str) -> Vec<Subscription> {
        match &self.ingester {
            Some(i) if i.venue == venue => i.subscriptions.clone(),
            _ => Vec::new(),
        }
    }

    /// The URL without its password.
    pub fn redacted_url(&self) -> String {
        redacted(&self.url)
    }

    /// Connects once, within [`CONNECT_TIMEOUT`], with the TLS files of the configuration. A
    /// failed TLS handshake says why (`UnknownIssuer`, `CertificateRequired`).
    pub async fn connect(&self) -> anyhow::Result<Conn> {
        let client = storm_bus::client(&self.bus_config()).map_err(|e| anyhow!("{e}"))?;
        let cfg =
            AsyncConnectionConfig::new().set_connection_timeout(CONNECT_TIMEOUT).set_response_timeout(RESPONSE_TIMEOUT);
        let cause =
            match tokio::time::timeout(CONNECT_TIMEOUT * 2, client.get_multiplexed_async_connection_with_config(&cfg))
                .await
            {
                Ok(Ok(mut conn)) => {
                    name_connection(&mut conn).await;
                    return Ok(conn);
                }
                Ok(Err(e)) => match storm_bus::tls::tls_failure(&e) {
                    Some(cause) => return Err(BusError::Tls { url: self.redacted_url(), cause }.into()),
                    None => e.to_string(),
                },
                Err(_) => format!("no answer within {:?}", CONNECT_TIMEOUT * 2),
            };
        Err(Unreachable { url: self.redacted_url(), cause }.into())
    }

    /// Settings for a retrying [`storm_bus::Bus`] (follow, notify) and for [`Ctx::connect`].
    pub fn bus_config(&self) -> BusConfig {
        let mut cfg = BusConfig::new(self.url.clone());
        cfg.prefix = self.keys.prefix().to_owned();
        cfg.connect_timeout = CONNECT_TIMEOUT;
        cfg.tls = self.tls.clone();
        cfg
    }

    /// Venue names: the configured ones, else `found` (discovered in Redis), sorted and unique.
    pub fn venue_names(&self, found: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut names: Vec<String> = self.venues.iter().map(|v| v.name.clone()).collect();
        names.extend(found);
        names.sort();
        names.dedup();
        names
    }
}

/// Names the connection `stormctl` (`CLIENT LIST` shows who is connected). A Redis that refuses
/// `CLIENT` (some managed ones) is no reason to fail: the error is ignored.
pub(crate) async fn name_connection(conn: &mut (impl redis::aio::ConnectionLike + Send)) {
    let _: Result<(), _> = redis::cmd("CLIENT").arg("SETNAME").arg("stormctl").query_async(conn).await;
}

/// Redis did not answer a connection attempt.
#[derive(Debug)]
pub(crate) struct Unreachable {
    /// Redacted URL.
    pub url: String,
    /// Why.
    pub cause: String,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redis unreachable at {}: {}", self.url, self.cause)
    }
}

impl std::error::Error for Unreachable {}

fn common_args(g: &Global, config: Option<PathBuf>) -> CommonArgs {
    let mut set = Vec::new();
    if let Some(ns) = &g.namespace {
        set.push(format!("namespace={ns}"));
    }
    CommonArgs { config, redis_url: g.redis_url.clone(), set, ..CommonArgs::default() }
}

/// `redis://user:pw@host` → `redis://***@host` (storm-bus keeps its own copy private).
pub(crate) fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// The `redis_url` string of a TOML file that may not load as a whole (None when it cannot be
/// read, is not TOML, or has none).
fn file_redis_url(path: &std::path::Path) -> Option<String> {
    let table: toml::Table = std::fs::read_to_string(path).ok()?.parse().ok()?;
    table.get("redis_url")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_does_not_load_still_names_its_redis() {
        let dir = std::env::temp_dir().join(format!("stormctl-ctx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("storm.toml");
        std::fs::write(&path, "redis_url = \"redis://127.0.0.1:6390/\"\nheartbeat_ms = \"often\"\n").expect("write");
        let g = Global { config: Some(path), ..Global::default() };
        let (ctx, err) = Ctx::load_lenient(&g);
        assert!(err.is_some(), "heartbeat_ms = \"often\" must not load");
        assert_eq!(ctx.url, "redis://127.0.0.1:6390/");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn passwords_are_never_printed() {
        assert_eq!(redacted("redis://:s3cret@10.0.0.1:6379/0"), "redis://***@10.0.0.1:6379/0");
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[test]
    fn flags_win_over_defaults() {
        let g = Global {
            redis_url: Some("redis://10.1.1.1:7000/".into()),
            namespace: Some("paper".into()),
            ..Global::default()
        };
        let ctx = Ctx::load(&g).expect("load");
        assert_eq!(ctx.url, "redis://10.1.1.1:7000/");
        assert_eq!(ctx.keys.halt(), "paper:halt");
        assert_eq!(ctx.section.notify_per_minute, 20);
    }
}
