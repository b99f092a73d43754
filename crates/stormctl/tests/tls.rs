//! stormctl over TLS: the real binary against a TLS-only `redis-server` that requires client
//! certificates, with a CA made for the test. The `redis_tls_*` settings come from the
//! environment as for the engines; a wrong CA is a quick error naming the cause.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{ctl, Out};
use storm_bus::{Bus, BusConfig, RedisTls};
use storm_testkit::{RedisServer, TlsFiles};
use tokio_util::sync::CancellationToken;

fn run(server: &RedisServer, files: &TlsFiles, ca: &Path, args: &[&str]) -> Out {
    let mut cmd = ctl(&server.url(), args);
    cmd.env("STORM_REDIS_TLS_CA_FILE", ca)
        .env("STORM_REDIS_TLS_CERT_FILE", &files.client_cert)
        .env("STORM_REDIS_TLS_KEY_FILE", &files.client_key);
    Out::from(cmd.output().expect("run stormctl"))
}

#[tokio::test]
async fn stormctl_speaks_tls_with_client_certificates_and_names_a_wrong_ca() {
    let files = TlsFiles::generate().unwrap();
    let server = RedisServer::start_tls(&files).unwrap();
    let halted = run(&server, &files, &files.ca_cert, &["halt", "on", "--reason", "tls drill"]);
    assert_eq!(halted.code, 0, "{halted:?}");

    let mut cfg = BusConfig::new(server.url());
    cfg.tls = RedisTls {
        ca_file: Some(files.ca_cert.clone()),
        cert_file: Some(files.client_cert.clone()),
        key_file: Some(files.client_key.clone()),
    };
    let bus = Bus::connect(cfg, CancellationToken::new()).await.unwrap();
    let key = bus.keys().halt();
    let reason: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut bus.conn()).await.unwrap();
    assert_eq!(reason.as_deref(), Some("tls drill"));

    let started = Instant::now();
    let wrong = run(&server, &files, &files.other_ca_cert, &["halt", "status"]);
    assert_ne!(wrong.code, 0, "{wrong:?}");
    assert!(wrong.stderr.contains("UnknownIssuer"), "the cause is named: {}", wrong.stderr);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}
