//! Redis over TLS with a private CA and client certificates, against a real `redis-server`
//! serving TLS only (`--port 0 --tls-port`, `--tls-auth-clients yes`) with a CA made for the test
//! (storm-testkit's `TlsFiles`): the right files carry commands, a stream and the blocking
//! connection; a wrong CA, a missing client certificate or a plain `redis://` URL fail quickly
//! with an error that names the cause.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use storm_bus::lua::Lua;
use storm_bus::{Bus, BusConfig, BusError, Entry, Publisher, RedisTls, StartAt, StreamReader};
use storm_testkit::{RedisServer, TlsFiles};
use tokio_util::sync::CancellationToken;

/// A failure must come back within this (it used to be retried until shutdown).
const QUICK: Duration = Duration::from_secs(5);

fn config(server: &RedisServer, ca: &Path, client: Option<&TlsFiles>) -> BusConfig {
    let mut cfg = BusConfig::new(server.url());
    cfg.tls = RedisTls {
        ca_file: Some(ca.to_path_buf()),
        cert_file: client.map(|f| f.client_cert.clone()),
        key_file: client.map(|f| f.client_key.clone()),
    };
    cfg
}

/// Connects with `cfg`, bounded by a deadline far beyond [`QUICK`] so a hang fails the test.
async fn connect(cfg: BusConfig) -> (Result<Bus, BusError>, Duration) {
    let started = Instant::now();
    let res = tokio::time::timeout(Duration::from_secs(30), Bus::connect(cfg, CancellationToken::new()))
        .await
        .expect("Bus::connect hung on a TLS failure");
    (res, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_ca_and_client_certificate_carry_commands_streams_and_the_blocking_connection() {
    let files = TlsFiles::generate().unwrap();
    let server = RedisServer::start_tls(&files).unwrap();
    assert!(server.url().starts_with("rediss://"), "{}", server.url());
    let (bus, _) = connect(config(&server, &files.ca_cert, Some(&files))).await;
    let bus = bus.unwrap();

    // A command round trip.
    let got: String = bus
        .retry("set/get", |mut c| async move {
            redis::cmd("SET").arg("tls:probe").arg("over tls").query_async::<()>(&mut c).await?;
            redis::cmd("GET").arg("tls:probe").query_async(&mut c).await
        })
        .await
        .unwrap();
    assert_eq!(got, "over tls");

    // The engines' path: publish a batch, read it back on the reader's dedicated connection.
    let key = bus.keys().opps();
    let mut reader =
        StreamReader::new(&bus, &[(key.clone(), StartAt::End)], 100, Duration::from_millis(200)).await.unwrap();
    let batch: Vec<Entry> = (0..20).map(|i| Entry::new(key.clone(), 1000).field("n", i.to_string())).collect();
    assert_eq!(Publisher::new(&bus, "tls").publish(&batch).await.unwrap(), 20);
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < 20 && Instant::now() < deadline {
        seen.extend(reader.next_batch().await.unwrap().iter().map(|e| e.get_str("n").unwrap().to_owned()));
    }
    assert_eq!(seen, (0..20).map(|i| i.to_string()).collect::<Vec<_>>());

    // The executor's blocking connection takes the bus's TLS files too.
    static ECHO: Lua = Lua::new("return redis.call('GET', KEYS[1])");
    let fast = bus.blocking_conn();
    let echoed = tokio::task::spawn_blocking(move || fast.run::<String>(&ECHO, &["tls:probe"], &Vec::<String>::new()))
        .await
        .unwrap();
    assert_eq!(echoed.as_deref(), Some("over tls"));
}

#[tokio::test]
async fn a_wrong_ca_fails_quickly_naming_the_unknown_issuer() {
    let files = TlsFiles::generate().unwrap();
    let server = RedisServer::start_tls(&files).unwrap();
    let (res, took) = connect(config(&server, &files.other_ca_cert, Some(&files))).await;
    let err = res.expect_err("a server certificate from another CA must be refused");
    let text = err.to_string();
    eprintln!("{text}");
    assert!(matches!(err, BusError::Tls { .. }), "{err:?}");
    assert!(text.contains("UnknownIssuer"), "the error names the cause: {text}");
    assert!(text.contains("redis_tls_ca_file"), "the error names the setting to check: {text}");
    assert!(took < QUICK, "took {took:?}");
}

/// Without `redis_tls_ca_file` the public web roots are used: a private CA's server is refused
/// at once. (This used to panic: rustls found no crypto provider.)
#[tokio::test]
async fn a_private_ca_server_without_its_ca_fails_quickly_naming_the_unknown_issuer() {
    let files = TlsFiles::generate().unwrap();
    let server = RedisServer::start_tls(&files).unwrap();
    let (res, took) = connect(BusConfig::new(server.url())).await;
    let text = res.expect_err("unknown issuer").to_string();
    assert!(text.contains("UnknownIssuer"), "{text}");
    assert!(took < QUICK, "took {took:?}");
}

#[tokio::test]
async fn no_client_certificate_fails_quickly_when_the_server_requires_one() {
    let files = TlsFiles::generate().unwrap();
    let server = RedisServer::start_tls(&files).unwrap();
    let (res, took) = connect(config(&server, &files.ca_cert, None)).await;
    let err = res.expect_err("the server requires a client certificate");
    let text = err.to_string();
    eprintln!("{text}");
    assert!(matches!(err, BusError::Tls { .. }), "{err:?}");
    assert!(text.contains("Certificate"), "the error names the cause: {text}");
    assert!(took < QUICK, "took {took:?}");
}

#[tokio::test]
async fn unusable_tls_settings_are_configuration_errors_naming_the_file() {
    let files = TlsFiles::generate().unwrap();
    let server = RedisServer::start_tls(&files).unwrap();
    let missing = files.dir().join("nowhere.pem");
    let (res, _) = connect(config(&server, &missing, Some(&files))).await;
    let text = res.expect_err("missing CA file").to_string();
    assert!(text.contains("redis_tls_ca_file") && text.contains("nowhere.pem"), "{text}");

    let mut half = config(&server, &files.ca_cert, Some(&files));
    half.tls.key_file = None;
    let (res, _) = connect(half).await;
    assert!(res.expect_err("cert without key").to_string().contains("go together"));

    let mut plain = config(&server, &files.ca_cert, Some(&files));
    plain.url = format!("redis://127.0.0.1:{}/", server.port());
    let (res, _) = connect(plain).await;
    assert!(res.expect_err("TLS files with redis://").to_string().contains("not rediss://"));

    // The key's content never appears in an error, even when the key file is given as the CA.
    let key_text = std::fs::read_to_string(&files.client_key).unwrap();
    let body = key_text.lines().nth(1).unwrap();
    let (res, _) = connect(config(&server, &files.client_key, Some(&files))).await;
    let text = format!("{:?} {}", res.as_ref().err(), res.as_ref().err().map(ToString::to_string).unwrap_or_default());
    assert!(!text.contains(body), "{text}");
}
