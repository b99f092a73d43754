//! Heartbeats (`storm:health:<engine>:<instance>`), as `storm_bus::heartbeat` writes them: `pid`,
//! `version`, `started` and `last_beat` (ms), then every metric of the engine as
//! `name{labels}` → value. Reading them generically means a new engine or a new metric shows up
//! here without a stormctl release.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// Fields every heartbeat carries; everything else is a metric.
const IDENTITY: [&str; 4] = ["pid", "version", "started", "last_beat"];

/// One engine instance's heartbeat.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub(crate) struct Engine {
    /// The hash key.
    pub key: String,
    /// `booksync`, `ingester`, ...
    pub engine: String,
    /// Instance name from the config.
    pub instance: String,
    /// Process id (as written).
    pub pid: Option<String>,
    /// Crate version of the engine.
    pub version: Option<String>,
    /// Start time, ms.
    pub started_ms: Option<u64>,
    /// Now − started.
    pub uptime_ms: Option<u64>,
    /// Last beat, ms.
    pub last_beat_ms: Option<u64>,
    /// Now − last beat.
    pub beat_age_ms: Option<u64>,
    /// Lag gauges (name contains `lag`), largest value per metric name, labels dropped.
    pub lag: BTreeMap<String, String>,
    /// Counters (`*_total`), summed over labels per metric name.
    pub counters: BTreeMap<String, u64>,
    /// Every metric field as written.
    pub metrics: BTreeMap<String, String>,
    /// What could not be read.
    pub notes: Vec<String>,
}

/// Builds an [`Engine`] from a health hash `key` (after `prefix`) and its fields, at `now` (ms).
pub(crate) fn parse(prefix: &str, key: &str, fields: &HashMap<String, String>, now: u64) -> Engine {
    let rest = key.strip_prefix(prefix).unwrap_or(key);
    let (engine, instance) = rest.split_once(':').unwrap_or((rest, ""));
    let mut e = Engine {
        key: key.to_owned(),
        engine: engine.to_owned(),
        instance: instance.to_owned(),
        pid: fields.get("pid").cloned(),
        version: fields.get("version").cloned(),
        ..Engine::default()
    };
    let mut number = |name: &str| -> Option<u64> {
        let raw = fields.get(name)?;
        let n = raw.parse().ok();
        if n.is_none() {
            e.notes.push(format!("{name} is not a number: {raw:?}"));
        }
        n
    };
    let started = number("started");
    let last_beat = number("last_beat");
    if last_beat.is_none() && !fields.contains_key("last_beat") {
        e.notes.push("no last_beat field".to_owned());
    }
    e.started_ms = started;
    e.last_beat_ms = last_beat;
    e.uptime_ms = started.map(|s| now.saturating_sub(s));
    e.beat_age_ms = last_beat.map(|b| now.saturating_sub(b));
    let mut lag_max: BTreeMap<String, f64> = BTreeMap::new();
    for (name, value) in fields {
        if IDENTITY.contains(&name.as_str()) {
            continue;
        }
        e.metrics.insert(name.clone(), value.clone());
        let short = short_name(engine, name);
        if name.contains("lag") {
            // Gauges are f64 in the registry; fine for a latency, never used for money.
            if let Ok(v) = value.parse::<f64>() {
                let slot = lag_max.entry(short).or_insert(v);
                if v > *slot {
                    *slot = v;
                }
            }
        } else if base_name(name).ends_with("_total") {
            if let Ok(v) = value.parse::<u64>() {
                let slot = e.counters.entry(short).or_insert(0);
                *slot = slot.saturating_add(v);
            }
        }
    }
    e.lag = lag_max.into_iter().map(|(k, v)| (k, format!("{v}"))).collect();
    e
}

/// The metric name without labels.
fn base_name(field: &str) -> &str {
    field.split('{').next().unwrap_or(field)
}

/// `storm_booksync_diffs_applied_total{venue="sim"}` → `diffs_applied`.
fn short_name(engine: &str, field: &str) -> String {
    let base = base_name(field);
    let base = base.strip_prefix(&format!("storm_{engine}_")).or_else(|| base.strip_prefix("storm_")).unwrap_or(base);
    base.strip_suffix("_total").unwrap_or(base).to_owned()
}

/// Counters for a table cell: the non-zero ones, largest first, at most `max`.
pub(crate) fn counters_cell(e: &Engine, max: usize) -> String {
    let mut nz: Vec<(&String, &u64)> = e.counters.iter().filter(|(_, v)| **v > 0).collect();
    nz.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut cell: Vec<String> = nz.iter().take(max).map(|(k, v)| format!("{k}={v}")).collect();
    if nz.len() > max {
        cell.push(format!("+{} more", nz.len() - max));
    }
    cell.join(" ")
}

/// Lag gauges for a table cell.
pub(crate) fn lag_cell(e: &Engine) -> String {
    e.lag.iter().map(|(k, v)| format!("{k}={}", crate::numbers::metric(k, v))).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_reads_back_generically() {
        let fields: HashMap<String, String> = [
            ("pid", "4242"),
            ("version", "0.1.0"),
            ("started", "1000"),
            ("last_beat", "9000"),
            ("storm_booksync_diffs_applied_total{venue=\"sim\"}", "70"),
            ("storm_booksync_diffs_applied_total{venue=\"b\"}", "30"),
            ("storm_booksync_lag_ms{venue=\"sim\"}", "12.5"),
            ("storm_booksync_lag_ms{venue=\"b\"}", "3"),
            ("storm_booksync_resyncs_total{venue=\"sim\"}", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let e = parse("storm:health:", "storm:health:booksync:main", &fields, 10_000);
        assert_eq!((e.engine.as_str(), e.instance.as_str()), ("booksync", "main"));
        assert_eq!((e.uptime_ms, e.beat_age_ms), (Some(9_000), Some(1_000)));
        assert_eq!(e.counters["diffs_applied"], 100);
        assert_eq!(e.lag["lag_ms"], "12.5");
        assert_eq!(counters_cell(&e, 5), "diffs_applied=100");
        assert!(e.notes.is_empty());
    }

    #[test]
    fn counters_that_overflow_when_added_saturate() {
        let fields: HashMap<String, String> = [
            ("last_beat", "9000"),
            ("storm_x_events_total{venue=\"a\"}", "18446744073709551615"),
            ("storm_x_events_total{venue=\"b\"}", "5"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let e = parse("storm:health:", "storm:health:x:main", &fields, 10_000);
        assert_eq!(e.counters["events"], u64::MAX);
    }

    #[test]
    fn garbage_is_a_note() {
        let fields: HashMap<String, String> = [("last_beat".to_owned(), "yesterday".to_owned())].into_iter().collect();
        let e = parse("storm:health:", "storm:health:x", &fields, 10);
        assert_eq!(e.beat_age_ms, None);
        assert_eq!(e.notes.len(), 1);
    }
}
