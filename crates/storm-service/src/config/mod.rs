//! Configuration: one TOML file for the whole suite, overridable by environment and flags.
//!
//! Layout of `storm.toml`:
//! ```toml
//! redis_url = "redis://127.0.0.1:6379/"   # common keys at the top
//! namespace = "storm"
//! [[venue]]                               # the venues (see VenueConfig)
//! name = "sim"
//! kind = "binance"
//! rest_url = "http://127.0.0.1:8765"
//! ws_url = "ws://127.0.0.1:8765"
//! [booksync]                              # one section per engine, read by that engine
//! top_n = 20
//! ```
//! Precedence, lowest first: built-in defaults, the file (`--config` or `STORM_CONFIG`), env vars,
//! `--set path=value` flags. Every leaf has an env name: common keys `STORM_<KEY>`
//! (`STORM_REDIS_URL`), engine keys `STORM_<SECTION>_<KEY>` (`STORM_BOOKSYNC_TOP_N`); the value is
//! read as TOML when it parses as the leaf's type (numbers, booleans, arrays), else as a string.
//! Unknown keys and unknown sections are errors, so a typo never silently falls back to a default;
//! so is an unknown `STORM_<SECTION>_*` variable of the process' own section, and other unknown
//! `STORM_*` variables are warned about (see `env_check`). Errors are one line each (what, where,
//! and the nearest known key), as the binaries print them.
//! Secrets never live in the file: a venue names the env vars holding them (`api_key_env`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use toml::{Table, Value};

use crate::telemetry::LogFormat;

/// Sections the suite knows; each engine reads its own and leaves the others to their owners.
pub const SECTIONS: &[&str] =
    &["ingester", "booksync", "streamer", "arbitrage", "executor", "candles", "sim", "stormctl", "bench"];

/// A configuration problem, reported before the process does anything.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file, an override or the merged result is not valid.
    #[error("invalid config ({origin}): {msg}")]
    Invalid {
        /// Where the bad value came from.
        origin: String,
        /// What is wrong.
        msg: String,
    },
    /// A secret's env var is not set.
    #[error("environment variable {0} (named in the config) is not set")]
    MissingSecret(String),
}

fn invalid(origin: impl Into<String>, msg: impl fmt::Display) -> ConfigError {
    ConfigError::Invalid { origin: origin.into(), msg: msg.to_string() }
}

/// Keys every process reads from the top of the file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Common {
    /// `redis://[user:password@]host:port/db`, or `rediss://` for TLS.
    pub redis_url: String,
    /// With `rediss://`: PEM file of the CA that signed the server's certificate (a private CA);
    /// empty: the public web roots.
    pub redis_tls_ca_file: String,
    /// With `rediss://`: PEM file of this process' client certificate (for `tls-auth-clients
    /// yes`); empty: none. Set together with `redis_tls_key_file`.
    pub redis_tls_cert_file: String,
    /// PEM file of the client certificate's private key (a path, not a secret: the file's
    /// content is read when connecting and never logged).
    pub redis_tls_key_file: String,
    /// Prefix of every Redis key.
    pub namespace: String,
    /// Name of this instance in health keys (`storm:health:<engine>:<instance>`).
    pub instance: String,
    /// `host:port` for `/metrics`; empty disables the endpoint.
    pub metrics_addr: String,
    /// Default log filter (`info`, `storm_booksync=debug`, ...); `RUST_LOG` wins.
    pub log_level: String,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// Heartbeat period in milliseconds.
    pub heartbeat_ms: u64,
}

impl Default for Common {
    fn default() -> Self {
        Self {
            redis_url: "redis://127.0.0.1:6379/".into(),
            redis_tls_ca_file: String::new(),
            redis_tls_cert_file: String::new(),
            redis_tls_key_file: String::new(),
            namespace: "storm".into(),
            instance: "main".into(),
            metrics_addr: String::new(),
            log_level: "info".into(),
            log_format: LogFormat::Text,
            heartbeat_ms: 2_000,
        }
    }
}

impl Common {
    /// The bus settings these keys give: URL, TLS files and key namespace (defaults for the
    /// rest).
    pub fn bus_config(&self) -> storm_bus::BusConfig {
        let file = |p: &str| (!p.is_empty()).then(|| PathBuf::from(p));
        let mut cfg = storm_bus::BusConfig::new(self.redis_url.clone());
        cfg.prefix = self.namespace.clone();
        cfg.tls = storm_bus::RedisTls {
            ca_file: file(&self.redis_tls_ca_file),
            cert_file: file(&self.redis_tls_cert_file),
            key_file: file(&self.redis_tls_key_file),
        };
        cfg
    }
}

/// One venue: where it is, which wire dialect it speaks, and which env vars hold its keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueConfig {
    /// Appears in every Redis key of this venue.
    pub name: String,
    /// Wire dialect (`binance`).
    pub kind: storm_core::VenueKind,
    /// REST base URL.
    pub rest_url: String,
    /// Market-data WebSocket base URL.
    pub ws_url: String,
    /// WebSocket-API URL (orders, user data).
    #[serde(default)]
    pub ws_api_url: Option<String>,
    /// Name of the env var holding the API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Name of the env var holding the API secret.
    #[serde(default)]
    pub api_secret_env: Option<String>,
    /// Taker fee for this venue (fraction, `0.001` = 0.1 %), overriding the engine default.
    #[serde(default)]
    pub taker_fee: Option<Decimal>,
}

impl VenueConfig {
    /// The API key, read from the env var the config names.
    pub fn api_key(&self) -> Result<Option<Secret>, ConfigError> {
        self.api_key_env.as_deref().map(Secret::from_env).transpose()
    }

    /// The API secret, read from the env var the config names.
    pub fn api_secret(&self) -> Result<Option<Secret>, ConfigError> {
        self.api_secret_env.as_deref().map(Secret::from_env).transpose()
    }
}

/// A secret value: only ever from an env var; `Debug`/`Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Reads env var `var`.
    pub fn from_env(var: &str) -> Result<Self, ConfigError> {
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Self(v)),
            _ => Err(ConfigError::MissingSecret(var.to_owned())),
        }
    }

    /// Wraps a value obtained elsewhere (tests).
    pub fn new(v: impl Into<String>) -> Self {
        Self(v.into())
    }

    /// The value, for signing. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// An engine's own section.
pub trait EngineSection: Serialize + DeserializeOwned + Default {
    /// Section name in the file (`booksync`), also the env prefix (`STORM_BOOKSYNC_`).
    const SECTION: &'static str;
}

/// Configuration of one process.
#[derive(Clone, Debug, PartialEq)]
pub struct Config<E> {
    /// Common keys.
    pub common: Common,
    /// Configured venues.
    pub venues: Vec<VenueConfig>,
    /// This engine's section.
    pub engine: E,
}

/// Flags every binary accepts (flatten into the binary's clap parser).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct CommonArgs {
    /// Path of storm.toml.
    #[arg(long, env = "STORM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Redis URL (overrides the file and STORM_REDIS_URL).
    #[arg(long)]
    pub redis_url: Option<String>,
    /// Instance name for health keys.
    #[arg(long)]
    pub instance: Option<String>,
    /// Address for /metrics (`127.0.0.1:9101`).
    #[arg(long)]
    pub metrics_addr: Option<String>,
    /// Any key: `--set booksync.top_n=50` (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
}

impl<E: EngineSection> Config<E> {
    /// Loads defaults ← file ← env ← flags. Unknown `STORM_*` variables that are only warned
    /// about are printed to stderr, one line each (tracing is not started yet).
    pub fn load(args: &CommonArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => Table::new(),
        };
        let env: BTreeMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with("STORM_")).collect();
        let mut sets = args.set.clone();
        for (key, val) in
            [("redis_url", &args.redis_url), ("instance", &args.instance), ("metrics_addr", &args.metrics_addr)]
        {
            if let Some(v) = val {
                sets.push(format!("{key}={v}"));
            }
        }
        let (cfg, warnings) = Self::from_parts_with_warnings(file, &env, &sets)?;
        let program = std::env::args_os()
            .next()
            .and_then(|a| Path::new(&a).file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "storm".into());
        for w in warnings {
            eprintln!("{program}: warning: {w}");
        }
        Ok(cfg)
    }

    /// The pure part of [`load`](Self::load): merges a parsed file, env vars and `--set` items.
    pub fn from_parts(file: Table, env: &BTreeMap<String, String>, sets: &[String]) -> Result<Self, ConfigError> {
        Self::from_parts_with_warnings(file, env, sets).map(|(cfg, _)| cfg)
    }

    /// [`from_parts`](Self::from_parts), also returning the unknown `STORM_*` variables that are
    /// not errors (see `env_check`), one sentence each.
    pub fn from_parts_with_warnings(
        mut file: Table,
        env: &BTreeMap<String, String>,
        sets: &[String],
    ) -> Result<(Self, Vec<String>), ConfigError> {
        let named = env_check::named_vars(&file);
        let venues = match file.remove("venue") {
            None => Vec::new(),
            Some(v) => v.try_into().map_err(|e| invalid_keys("[[venue]]", e, &[]))?,
        };
        let mut engine_tbl = match file.remove(E::SECTION) {
            None => Table::new(),
            Some(Value::Table(t)) => t,
            Some(_) => return Err(invalid(E::SECTION, "must be a table")),
        };
        for other in SECTIONS {
            if let Some(v) = file.remove(*other) {
                if !v.is_table() {
                    return Err(invalid(*other, "must be a table"));
                }
            }
        }
        let mut common_tbl = merged(defaults::<Common>()?, file);
        engine_tbl = merged(defaults::<E>()?, engine_tbl);
        let own_prefix = format!("STORM_{}", E::SECTION.to_ascii_uppercase());
        let (mut common_names, mut own_names) = (BTreeSet::new(), BTreeSet::new());
        env_check::leaf_names(&common_tbl, "STORM", &mut common_names);
        env_check::leaf_names(&engine_tbl, &own_prefix, &mut own_names);
        let report = env_check::check(env, E::SECTION, &common_names, &own_names, &named);
        if !report.errors.is_empty() {
            return Err(invalid("environment", report.errors.join("; ")));
        }
        apply_env(&mut common_tbl, "STORM", env)?;
        apply_env(&mut engine_tbl, &own_prefix, env)?;
        for item in sets {
            let (path, raw) =
                item.split_once('=').ok_or_else(|| invalid("--set", format!("{item:?} is not PATH=VALUE")))?;
            let (table, path) = match path.split_once('.') {
                Some((section, rest)) if section == E::SECTION => (&mut engine_tbl, rest),
                Some((section, _)) if SECTIONS.contains(&section) => continue, // another engine's key
                _ => (&mut common_tbl, path),
            };
            set_path(table, path, raw, "--set")?;
        }
        let common = Value::Table(common_tbl).try_into().map_err(|e| invalid_keys("top level", e, SECTIONS))?;
        let engine =
            Value::Table(engine_tbl).try_into().map_err(|e| invalid_keys(format!("[{}]", E::SECTION), e, &[]))?;
        Ok((Self { common, venues, engine }, report.warnings))
    }

    /// The venue called `name`.
    pub fn venue(&self, name: &str) -> Option<&VenueConfig> {
        self.venues.iter().find(|v| v.name == name)
    }
}

/// `serde`'s "unknown field `top_nn`, expected one of `a`, `b`" with the nearest known key named
/// (among the expected ones and `also`: the sections, at the top level).
fn invalid_keys(origin: impl Into<String>, err: toml::de::Error, also: &[&str]) -> ConfigError {
    let msg = one_line(err.message());
    let hint = unknown_field_hint(&msg, also).map_or_else(String::new, |k| format!(" (did you mean `{k}`?)"));
    invalid(origin, format!("{msg}{hint}"))
}

/// The known field nearest to the unknown one in serde's "unknown field" message.
fn unknown_field_hint(msg: &str, also: &[&str]) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let mut expected: BTreeSet<String> = rest.split('`').skip(1).step_by(2).map(str::to_owned).collect();
    expected.extend(also.iter().map(|s| (*s).to_owned()));
    let best = env_check::closest(field, &expected)?;
    (env_check::distance(field, best) <= field.len().div_ceil(2)).then(|| best.to_owned())
}

/// Lines joined with a blank: every config error is one line.
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

fn read_file(path: &Path) -> Result<Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_owned(), source })?;
    text.parse::<Table>().map_err(|e| {
        // "line 3, column 7: <what>" instead of toml's multi-line drawing of the spot.
        let at = e.span().map(|s| {
            let before = text.get(..s.start).unwrap_or(&text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: ")
        });
        invalid(path.display().to_string(), format!("{}{}", at.unwrap_or_default(), one_line(e.message())))
    })
}

fn defaults<T: Serialize + Default>() -> Result<Table, ConfigError> {
    match Value::try_from(T::default()) {
        Ok(Value::Table(t)) => Ok(t),
        Ok(_) => Err(invalid("defaults", "not a table")),
        Err(e) => Err(invalid("defaults", e)),
    }
}

/// `over` on top of `base`, recursively for tables.
fn merged(mut base: Table, over: Table) -> Table {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => {
                let b = std::mem::take(b);
                base.insert(k, Value::Table(merged(b, o)));
            }
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
    base
}

/// Reads `raw` as a value of the same kind as `current` (strings stay verbatim).
fn parse_like(current: Option<&Value>, raw: &str, origin: &str) -> Result<Value, ConfigError> {
    if matches!(current, Some(Value::String(_))) {
        return Ok(Value::String(raw.to_owned()));
    }
    match format!("x = {raw}").parse::<Table>() {
        // Exactly one value: `5\nother = 1` must not be read as 5 with the rest dropped.
        Ok(mut t) if t.len() == 1 => Ok(t.remove("x").unwrap_or(Value::String(raw.to_owned()))),
        _ if current.is_none() => Ok(Value::String(raw.to_owned())),
        Ok(_) => Err(invalid(origin, format!("{raw:?} is more than one value"))),
        Err(e) => {
            let kind = current.map_or("value", Value::type_str);
            Err(invalid(origin, format!("{raw:?} is no {kind} ({})", one_line(e.message()))))
        }
    }
}

fn set_path(table: &mut Table, path: &str, raw: &str, origin: &str) -> Result<(), ConfigError> {
    match path.split_once('.') {
        None => {
            let v = parse_like(table.get(path), raw, origin)?;
            table.insert(path.to_owned(), v);
            Ok(())
        }
        Some((head, rest)) => match table.entry(head.to_owned()).or_insert_with(|| Value::Table(Table::new())) {
            Value::Table(t) => set_path(t, rest, raw, origin),
            _ => Err(invalid(origin, format!("{head} is not a table"))),
        },
    }
}

/// Overrides every leaf whose env name (`<prefix>_<PATH>`, dots as `_`) is set.
fn apply_env(table: &mut Table, prefix: &str, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    for (key, value) in table.iter_mut() {
        let name = format!("{prefix}_{}", key.to_ascii_uppercase());
        match value {
            Value::Table(t) => apply_env(t, &name, env)?,
            v => {
                if let Some(raw) = env.get(&name) {
                    *v = parse_like(Some(v), raw, &name)?;
                }
            }
        }
    }
    Ok(())
}

mod env_check;
pub use env_check::OTHER_VARS;

#[cfg(test)]
mod tests;
