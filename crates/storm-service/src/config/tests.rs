use super::*;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Demo {
    top_n: u32,
    label: String,
    nested: Nested,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Nested {
    enabled: bool,
    symbols: Vec<String>,
}

impl Default for Demo {
    fn default() -> Self {
        Self { top_n: 20, label: "x".into(), nested: Nested::default() }
    }
}

impl Default for Nested {
    fn default() -> Self {
        Self { enabled: false, symbols: vec!["BTCUSDT".into()] }
    }
}

impl EngineSection for Demo {
    const SECTION: &'static str = "booksync";
}

const FILE: &str = r#"
redis_url = "redis://file:1/"
[[venue]]
name = "sim"
kind = "binance"
rest_url = "http://127.0.0.1:8765"
ws_url = "ws://127.0.0.1:8765"
api_key_env = "SIM_KEY"
[booksync]
top_n = 50
[ingester]
whatever = 1
"#;

fn table(s: &str) -> Table {
    s.parse().expect("toml")
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn defaults_file_env_and_flags_layer_in_order() {
    let cfg = Config::<Demo>::from_parts(table(FILE), &BTreeMap::new(), &[]).expect("valid");
    assert_eq!(cfg.common.redis_url, "redis://file:1/");
    assert_eq!(cfg.common.namespace, "storm", "default kept");
    assert_eq!(cfg.engine.top_n, 50, "file beats default");
    assert_eq!(cfg.venue("sim").map(|v| v.kind.as_str()), Some("binance"));

    let e = env(&[
        ("STORM_REDIS_URL", "redis://env:2/"),
        ("STORM_BOOKSYNC_TOP_N", "60"),
        ("STORM_BOOKSYNC_NESTED_ENABLED", "true"),
        ("STORM_BOOKSYNC_NESTED_SYMBOLS", r#"["ETHUSDT","BNBUSDT"]"#),
    ]);
    let cfg = Config::<Demo>::from_parts(table(FILE), &e, &[]).expect("valid");
    assert_eq!(cfg.common.redis_url, "redis://env:2/");
    assert_eq!(cfg.engine.top_n, 60);
    assert!(cfg.engine.nested.enabled);
    assert_eq!(cfg.engine.nested.symbols, ["ETHUSDT", "BNBUSDT"]);

    let sets = ["booksync.top_n=70".to_string(), "redis_url=redis://flag:3/".into(), "ingester.other=1".into()];
    let cfg = Config::<Demo>::from_parts(table(FILE), &e, &sets).expect("valid");
    assert_eq!(cfg.engine.top_n, 70, "flag beats env");
    assert_eq!(cfg.common.redis_url, "redis://flag:3/");
}

#[test]
fn unknown_keys_and_sections_are_rejected() {
    for bad in [
        "redis_ulr = \"x\"",
        "[booksync]\ntopn = 3",
        "[boksync]\ntop_n = 3",
        "[[venue]]\nname = \"a\"\nkind = \"binance\"\nrest_url = \"\"\nws_url = \"\"\napi_secret = \"inline!\"",
    ] {
        let err = Config::<Demo>::from_parts(table(bad), &BTreeMap::new(), &[]).expect_err(bad);
        assert!(matches!(err, ConfigError::Invalid { .. }), "{bad}: {err}");
    }
}

#[test]
fn an_unknown_venue_kind_is_a_config_error_naming_it() {
    let bad = "[[venue]]\nname = \"k\"\nkind = \"kraken\"\nrest_url = \"\"\nws_url = \"\"";
    let err = Config::<Demo>::from_parts(table(bad), &BTreeMap::new(), &[]).expect_err(bad);
    assert!(matches!(err, ConfigError::Invalid { .. }) && err.to_string().contains("kraken"), "{err}");
}

#[test]
fn bad_override_values_are_clear_errors() {
    let err = Config::<Demo>::from_parts(Table::new(), &env(&[("STORM_BOOKSYNC_TOP_N", "many")]), &[])
        .expect_err("not a number");
    assert!(err.to_string().contains("STORM_BOOKSYNC_TOP_N"), "{err}");
    // Found by fuzzing: the lines after the value used to be dropped silently.
    let two = env(&[("STORM_BOOKSYNC_TOP_N", "5\nredis_url = \"redis://elsewhere/\"")]);
    let err = Config::<Demo>::from_parts(Table::new(), &two, &[]).expect_err("two values");
    assert!(err.to_string().contains("more than one value"), "{err}");
    let err = Config::<Demo>::from_parts(Table::new(), &BTreeMap::new(), &["booksync.top_n=5\nx=1".into()])
        .expect_err("two values");
    assert!(err.to_string().contains("--set"), "{err}");
    let err = Config::<Demo>::from_parts(Table::new(), &BTreeMap::new(), &["nonsense".into()]).expect_err("no =");
    assert!(err.to_string().contains("PATH=VALUE"), "{err}");
}

#[test]
fn secrets_come_from_env_and_never_print() {
    let cfg = Config::<Demo>::from_parts(table(FILE), &BTreeMap::new(), &[]).expect("valid");
    let venue = cfg.venue("sim").expect("venue");
    // SIM_KEY is not set in the test environment.
    assert!(matches!(venue.api_key(), Err(ConfigError::MissingSecret(v)) if v == "SIM_KEY"));
    assert_eq!(venue.api_secret().expect("no secret configured"), None);
    let s = Secret::new("hunter2");
    assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
    assert_eq!(s.expose(), "hunter2");
}

#[test]
fn redis_tls_files_come_from_file_env_and_flags_into_the_bus_settings() {
    let file = "redis_url = \"rediss://10.0.0.5:6380/\"\nredis_tls_ca_file = \"/etc/storm/ca.pem\"\n";
    let e = env(&[("STORM_REDIS_TLS_CERT_FILE", "/etc/storm/client.pem")]);
    let sets = ["redis_tls_key_file=/etc/storm/client.key".to_string(), "namespace=paper".into()];
    let cfg = Config::<Demo>::from_parts(table(file), &e, &sets).expect("valid");
    let bus = cfg.common.bus_config();
    assert_eq!(bus.url, "rediss://10.0.0.5:6380/");
    assert_eq!(bus.prefix, "paper");
    assert_eq!(bus.tls.ca_file.as_deref(), Some(Path::new("/etc/storm/ca.pem")));
    assert_eq!(bus.tls.cert_file.as_deref(), Some(Path::new("/etc/storm/client.pem")));
    assert_eq!(bus.tls.key_file.as_deref(), Some(Path::new("/etc/storm/client.key")));
    let plain = Config::<Demo>::from_parts(Table::new(), &BTreeMap::new(), &[]).expect("defaults");
    assert!(plain.common.bus_config().tls.is_empty(), "no TLS files by default");
}

#[test]
fn a_misspelled_override_of_the_own_section_is_an_error_naming_the_key_meant() {
    let err = Config::<Demo>::from_parts(table(FILE), &env(&[("STORM_BOOKSYNC_TOPN", "5")]), &[])
        .expect_err("STORM_BOOKSYNC_TOPN is no key");
    let msg = err.to_string();
    assert!(matches!(err, ConfigError::Invalid { .. }), "{msg}");
    assert!(msg.contains("STORM_BOOKSYNC_TOPN") && msg.contains("did you mean STORM_BOOKSYNC_TOP_N?"), "{msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");
    // Nested keys have names too, and a misspelled one is found the same way.
    let err = Config::<Demo>::from_parts(table(FILE), &env(&[("STORM_BOOKSYNC_NESTED_ENABLD", "true")]), &[])
        .expect_err("misspelled nested key");
    assert!(err.to_string().contains("did you mean STORM_BOOKSYNC_NESTED_ENABLED?"), "{err}");
}

#[test]
fn a_misspelled_common_key_is_an_error_anything_else_unknown_a_warning() {
    let err = Config::<Demo>::from_parts(table(FILE), &env(&[("STORM_REDIS_ULR", "redis://x/")]), &[])
        .expect_err("STORM_REDIS_ULR is STORM_REDIS_URL misspelled");
    assert!(err.to_string().contains("did you mean STORM_REDIS_URL?"), "{err}");

    let (cfg, warnings) =
        Config::<Demo>::from_parts_with_warnings(table(FILE), &env(&[("STORM_TOTALLY_ELSE", "1")]), &[])
            .expect("an unknown name far from every key is no error");
    assert_eq!(cfg.engine.top_n, 50);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("STORM_TOTALLY_ELSE"), "{warnings:?}");
}

#[test]
fn variables_that_are_no_keys_of_this_process_pass_without_a_word() {
    let legit = env(&[
        // What the scripts, supervisord.conf and clap read.
        ("STORM_CONFIG", "/etc/storm/storm.toml"),
        ("STORM_BIN_DIR", "target/release"),
        ("STORM_REDIS_DIR", "var/redis"),
        ("STORM_REDIS_AUTOSTART", "true"),
        ("STORM_RUN_TIMEOUT", "180"),
        ("STORM_INGESTER_X", "another engine's key: that engine judges it"),
        ("STORM_EXECUTOR_TYPO", "also"),
        ("STORM_SIM_API_KEY", "under [sim]'s prefix, [sim]'s business"),
        // The process' own and the common keys.
        ("STORM_BOOKSYNC_TOP_N", "7"),
        ("STORM_METRICS_ADDR", "127.0.0.1:9102"),
        ("PATH", "/usr/bin"),
    ]);
    let (cfg, warnings) = Config::<Demo>::from_parts_with_warnings(table(FILE), &legit, &[]).expect("valid");
    assert_eq!(cfg.engine.top_n, 7);
    assert!(warnings.is_empty(), "{warnings:?}");

    // A secret's variable the file names is no warning, whatever its name.
    let file = format!("{FILE}\n[[venue]]\nname = \"b\"\nkind = \"binance\"\nrest_url = \"\"\nws_url = \"\"\napi_key_env = \"STORM_BINANCE_API_KEY\"\n");
    let file = file.replace("[ingester]\nwhatever = 1\n", "");
    let (_, warnings) =
        Config::<Demo>::from_parts_with_warnings(table(&file), &env(&[("STORM_BINANCE_API_KEY", "k")]), &[])
            .expect("valid");
    assert!(warnings.is_empty(), "{warnings:?}");
    let (_, warnings) =
        Config::<Demo>::from_parts_with_warnings(table(FILE), &env(&[("STORM_BINANCE_API_KEY", "k")]), &[])
            .expect("a file that names no such variable: a warning, not an error");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn a_misspelled_key_in_the_file_names_the_key_meant_on_one_line() {
    let err = Config::<Demo>::from_parts(table("[booksync]\ntop_nn = 3"), &BTreeMap::new(), &[]).expect_err("typo");
    let msg = err.to_string();
    assert!(msg.contains("unknown field `top_nn`") && msg.contains("did you mean `top_n`?"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
    let err = Config::<Demo>::from_parts(table("[boksync]\ntop_n = 3"), &BTreeMap::new(), &[]).expect_err("typo");
    assert!(err.to_string().contains("did you mean `booksync`?"), "{err}");
}

#[test]
fn a_file_that_is_no_toml_is_one_line_with_its_place() {
    let dir = std::env::temp_dir().join(format!("storm-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("bad.toml");
    std::fs::write(&path, "namespace = \"storm\"\n[booksync]\ntop_n = = 3\n").expect("write");
    let err = read_file(&path).expect_err("not TOML");
    let msg = err.to_string();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(msg.contains("bad.toml") && msg.contains("line 3, column"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
}
