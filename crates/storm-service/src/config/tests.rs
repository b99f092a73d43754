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
