//! Fuzzing of configuration loading: the TOML file text (`config/*.toml`, what `Config::load`
//! reads), env overrides (`STORM_<SECTION>_<KEY>`) and `--set path=value` flags, through
//! `Config::from_parts`, the pure part of `Config::load`.
//!
//! Inputs: arbitrary text as the file; the project's real config files edited by
//! `storm_testkit::fuzz::mutate`; override values written for each key's type, followed by
//! anything. Properties: never a panic; a config that loads has no key the suite does not know;
//! what it read writes back and reads again identical; an override is accepted only when it is
//! exactly one value of the key's type (`"5"`, `"5 # c"`; not `"5\nother = 1"`), and then it is
//! that value. Bounded by `STORM_FUZZ_CASES`; a long run:
//! `STORM_FUZZ_CASES=1000000 cargo test --release -p storm-service --test fuzz_config`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use storm_service::config::SECTIONS;
use storm_service::{Config, ConfigError, EngineSection};
use storm_testkit::fuzz::{cases, mutate_str};
use toml::Table;

fn config(default: u32) -> ProptestConfig {
    ProptestConfig::with_cases(cases(default))
}

/// An engine section with every kind of leaf the real sections use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Bench {
    top_n: u32,
    book_ttl_ms: u64,
    enabled: bool,
    label: String,
    symbols: Vec<String>,
    fee: Decimal,
    limits: BTreeMap<String, Decimal>,
    nested: Nested,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Nested {
    ratio: f64,
    count: i64,
}

impl Default for Bench {
    fn default() -> Self {
        Self {
            top_n: 20,
            book_ttl_ms: 30_000,
            enabled: false,
            label: "x".into(),
            symbols: vec!["BTCUSDT".into()],
            fee: Decimal::new(1, 3),
            limits: BTreeMap::from([("USDT".to_owned(), Decimal::from(100))]),
            nested: Nested::default(),
        }
    }
}

impl Default for Nested {
    fn default() -> Self {
        Self { ratio: 0.5, count: 3 }
    }
}

impl EngineSection for Bench {
    const SECTION: &'static str = "bench";
}

/// The project's config files (the demo, the real-Binance and the docker one).
fn real_files() -> &'static [String] {
    static FILES: OnceLock<Vec<String>> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config");
        ["storm.toml", "binance.toml", "docker.toml"]
            .iter()
            .map(|f| std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("config/{f}: {e}")))
            .collect()
    })
}

const COMMON_KEYS: &[&str] =
    &["redis_url", "namespace", "instance", "metrics_addr", "log_level", "log_format", "heartbeat_ms"];

/// Loads `text` as the file with `env` and `sets`; checks what a loaded config must satisfy.
fn check_load(
    text: &str,
    env: &BTreeMap<String, String>,
    sets: &[String],
) -> Result<Option<Config<Bench>>, TestCaseError> {
    let Ok(file) = text.parse::<Table>() else { return Ok(None) };
    let loaded = Config::<Bench>::from_parts(file.clone(), env, sets);
    let Ok(cfg) = loaded else {
        prop_assert!(matches!(loaded, Err(ConfigError::Invalid { .. })), "not a config error: {:?}", loaded.err());
        return Ok(None);
    };
    // Nothing unknown got through: every top-level key is a common key, a venue list or a section.
    for key in file.keys() {
        let known = COMMON_KEYS.contains(&key.as_str()) || key == "venue" || SECTIONS.contains(&key.as_str());
        prop_assert!(known, "unknown key {:?} accepted", key);
    }
    // What was read writes back as a file that reads to the same config.
    let mut back = toml::Table::try_from(&cfg.common).unwrap();
    let venues = toml::Value::try_from(&cfg.venues).unwrap();
    if venues.as_array().is_some_and(|a| !a.is_empty()) {
        back.insert("venue".into(), venues);
    }
    back.insert("bench".into(), toml::Value::try_from(&cfg.engine).unwrap());
    let again = Config::<Bench>::from_parts(back, &BTreeMap::new(), &[]);
    // (Debug text: a NaN read from the file equals itself there.)
    let same = again.as_ref().is_ok_and(|a| format!("{a:?}") == format!("{cfg:?}"));
    prop_assert!(same, "{:?} read back as {:?}", cfg, again);
    Ok(Some(cfg))
}

/// A key of `Bench`, how to write a valid value for it, and how to read the loaded value back.
#[derive(Clone, Copy, Debug)]
enum Leaf {
    TopN,
    Enabled,
    Symbols,
    Count,
}

fn leaf_value(leaf: Leaf, n: u32) -> String {
    match leaf {
        Leaf::TopN => n.to_string(),
        Leaf::Enabled => (n % 2 == 0).to_string(),
        Leaf::Symbols => format!(r#"["S{n}","T"]"#),
        Leaf::Count => format!("-{n}"),
    }
}

fn loaded_value(leaf: Leaf, cfg: &Bench) -> String {
    match leaf {
        Leaf::TopN => cfg.top_n.to_string(),
        Leaf::Enabled => cfg.enabled.to_string(),
        Leaf::Symbols => format!(r#"["{}"]"#, cfg.symbols.join(r#"",""#)),
        Leaf::Count => cfg.nested.count.to_string(),
    }
}

fn leaf_path(leaf: Leaf) -> (&'static str, &'static str) {
    match leaf {
        Leaf::TopN => ("bench.top_n", "STORM_BENCH_TOP_N"),
        Leaf::Enabled => ("bench.enabled", "STORM_BENCH_ENABLED"),
        Leaf::Symbols => ("bench.symbols", "STORM_BENCH_SYMBOLS"),
        Leaf::Count => ("bench.nested.count", "STORM_BENCH_NESTED_COUNT"),
    }
}

/// What may follow a value and leave it one value: nothing, blanks, a comment, a line end.
const HARMLESS: &[&str] = &["", " ", "\t", " # the default", "\n", "\r\n", " \n"];
/// What must make the override an error.
const HARMFUL: &[&str] =
    &["\nextra = 1", "\r\nredis_url = \"redis://evil/\"", "\n[other]", "x", ",", "]", ".5", " 1", "\n\"k\" = 2"];

proptest! {
    #![proptest_config(config(1_500))]

    /// Any text as the file.
    #[test]
    fn any_text_as_the_file_loads_or_is_an_error(text in prop_oneof![any::<String>(), "[a-z_\\[\\]=\"\n .0-9#]{0,80}"]) {
        check_load(&text, &BTreeMap::new(), &[])?;
    }

    /// The real config files, edited: values of other types, hostile numbers, keys dropped or
    /// doubled, bytes flipped, text cut.
    #[test]
    fn mutated_real_config_files(
        file in prop::sample::select(real_files()),
        edits in prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 1..5),
    ) {
        check_load(&mutate_str(&file, &edits), &BTreeMap::new(), &[])?;
    }

    /// `--set` and env overrides: exactly one value of the key's type is accepted, as that value.
    #[test]
    fn overrides_are_one_value_or_an_error(
        leaf in prop::sample::select(&[Leaf::TopN, Leaf::Enabled, Leaf::Symbols, Leaf::Count][..]),
        n in any::<u32>(),
        tail in prop_oneof![prop::sample::select(HARMLESS), prop::sample::select(HARMFUL)],
        via_env in any::<bool>(),
    ) {
        let value = leaf_value(leaf, n);
        let raw = format!("{value}{tail}");
        let (path, env_name) = leaf_path(leaf);
        let (env, sets) = if via_env {
            (BTreeMap::from([(env_name.to_owned(), raw.clone())]), vec![])
        } else {
            (BTreeMap::new(), vec![format!("{path}={raw}")])
        };
        let loaded = check_load(&real_files()[0], &env, &sets)?;
        if HARMLESS.contains(&tail) {
            let cfg = loaded.ok_or_else(|| TestCaseError::fail(format!("{raw:?} refused")))?;
            prop_assert_eq!(loaded_value(leaf, &cfg.engine), value);
        } else {
            prop_assert!(loaded.is_none(), "{:?} accepted for {}", raw, path);
        }
    }

    /// Any `--set` item and any env var: never a panic; a loaded config passes the checks.
    #[test]
    fn any_override_loads_or_is_an_error(
        sets in prop::collection::vec("[a-z_.=\\[\\]\" 0-9\n]{0,30}", 0..3),
        env_value in ".{0,20}",
        env_key in prop::sample::select(&["STORM_REDIS_URL", "STORM_HEARTBEAT_MS", "STORM_LOG_FORMAT", "STORM_BENCH_FEE", "STORM_BENCH_LIMITS_USDT", "STORM_BENCH_NESTED_RATIO"][..]),
    ) {
        let env = BTreeMap::from([(env_key.to_owned(), env_value)]);
        check_load(&real_files()[0], &env, &sets)?;
    }
}

#[test]
fn the_real_files_load() {
    for text in real_files() {
        let cfg = check_load(text, &BTreeMap::new(), &[]).unwrap().expect("a real config file loads");
        assert!(!cfg.venues.is_empty());
        let names: HashSet<_> = cfg.venues.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names.len(), cfg.venues.len());
    }
}
