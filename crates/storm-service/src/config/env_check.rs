//! Which `STORM_*` variables a process does not understand: a misspelled override
//! (`STORM_BOOKSYNC_TOPN=5`) used to be ignored without a word, and the engine ran with the
//! default. Every process' environment also carries variables that are no config keys at all
//! (the secrets a venue names, the scripts' own settings) and the other engines' overrides
//! (supervisord and systemd give every engine the same environment), so each unknown name is
//! judged by where it points:
//!
//! * under the process' own prefix (`STORM_BOOKSYNC_` for booksync): an error naming the closest
//!   key of its section ("did you mean STORM_BOOKSYNC_TOP_N?");
//! * under another section's prefix (`STORM_EXECUTOR_`): left to that engine, which knows its keys;
//! * close to a common key (`STORM_REDIS_ULR`): an error, as it can only be that key misspelled;
//! * anything else: a warning naming it (it may belong to a tool storm does not know).
//!
//! Never unknown: every key's own name, the variables the file names for secrets (any
//! `*_env = "VAR"`, e.g. a venue's `api_key_env`) and [`OTHER_VARS`].

use std::collections::{BTreeMap, BTreeSet};

use toml::{Table, Value};

use super::SECTIONS;

/// `STORM_*` variables that are no config keys: read by the scripts, supervisord.conf, clap
/// (`STORM_CONFIG`), stormctl or the tests and benchmarks.
pub const OTHER_VARS: &[&str] = &[
    "STORM_CONFIG",          // --config (every binary)
    "STORM_BIN_DIR",         // supervisord.conf, scripts/run
    "STORM_REDIS_DIR",       // supervisord.conf, scripts/run: the project Redis' data folder
    "STORM_REDIS_AUTOSTART", // supervisord.conf, scripts/run
    "STORM_RUN_TIMEOUT",     // scripts/run
    "STORM_WEBHOOK_URL",     // stormctl notify
    "STORM_FUZZ_CASES",      // the fuzz tests
];

/// Unknown names at most this far (edits, a swap of two neighbours counting one) from a common key
/// are taken for that key misspelled.
const COMMON_TYPO_DISTANCE: usize = 2;

/// What [`check`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EnvReport {
    /// Unknown names this process must refuse, each with what it may have meant.
    pub errors: Vec<String>,
    /// Unknown names it can only mention.
    pub warnings: Vec<String>,
}

/// Every env name of the leaves of `table` (`<prefix>_<KEY>`, nested tables `_`-joined), as
/// `apply_env` reads them.
pub fn leaf_names(table: &Table, prefix: &str, out: &mut BTreeSet<String>) {
    for (key, value) in table {
        let name = format!("{prefix}_{}", key.to_ascii_uppercase());
        match value {
            Value::Table(t) => leaf_names(t, &name, out),
            _ => {
                out.insert(name);
            }
        }
    }
}

/// The variables the file names for secrets: the value of every `*_env` key, at any depth.
pub fn named_vars(file: &Table) -> BTreeSet<String> {
    fn walk(t: &Table, out: &mut BTreeSet<String>) {
        for (k, v) in t {
            match v {
                Value::String(s) if k.ends_with("_env") => {
                    out.insert(s.clone());
                }
                Value::Table(t) => walk(t, out),
                Value::Array(items) => items.iter().filter_map(Value::as_table).for_each(|t| walk(t, out)),
                _ => {}
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(file, &mut out);
    out
}

/// Judges every `STORM_*` name of `env` for a process whose section is `section`: `common` and
/// `own` are the env names of the common keys and of the section's keys, `named` the variables
/// the file names.
pub fn check(
    env: &BTreeMap<String, String>,
    section: &str,
    common: &BTreeSet<String>,
    own: &BTreeSet<String>,
    named: &BTreeSet<String>,
) -> EnvReport {
    let own_prefix = format!("STORM_{}_", section.to_ascii_uppercase());
    let other_prefixes: Vec<String> =
        SECTIONS.iter().filter(|s| **s != section).map(|s| format!("STORM_{}_", s.to_ascii_uppercase())).collect();
    let mut report = EnvReport::default();
    for var in env.keys().filter(|k| k.starts_with("STORM_")) {
        let v = var.as_str();
        if common.contains(v) || own.contains(v) || named.contains(v) || OTHER_VARS.contains(&v) {
            continue;
        }
        if v.starts_with(&own_prefix) {
            let hint = closest(v, own).map_or_else(String::new, |k| format!(" (did you mean {k}?)"));
            report.errors.push(format!("{v} is not a key of [{section}]{hint}"));
        } else if other_prefixes.iter().any(|p| v.starts_with(p.as_str())) {
            // Another engine's key: that engine checks it.
        } else if let Some(k) = closest(v, common).filter(|k| distance(v, k) <= COMMON_TYPO_DISTANCE) {
            report.errors.push(format!("{v} is not a common key (did you mean {k}?)"));
        } else {
            let hint = closest(v, &common.union(own).cloned().collect())
                .filter(|k| distance(v, k) <= v.len() / 3)
                .map_or_else(String::new, |k| format!("; did you mean {k}?"));
            report.warnings.push(format!("{v} is set but is no setting storm knows (ignored{hint})"));
        }
    }
    report
}

/// The name of `known` nearest to `name`.
pub fn closest<'a>(name: &str, known: &'a BTreeSet<String>) -> Option<&'a str> {
    known.iter().min_by_key(|k| distance(name, k)).map(String::as_str)
}

/// Edit distance where a swap of two neighbouring characters counts one (`ULR` → `URL`).
pub fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}
