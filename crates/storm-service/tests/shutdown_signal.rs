//! SIGTERM (what supervisord sends) fires the process' shutdown token. Own test binary, since it
//! signals its own process.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

#[tokio::test]
async fn sigterm_fires_the_shutdown_token() {
    let token = storm_service::shutdown::install();
    tokio::time::sleep(Duration::from_millis(100)).await; // handlers registered
    assert!(!token.is_cancelled());
    let status = std::process::Command::new("kill").arg("-TERM").arg(std::process::id().to_string()).status().unwrap();
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(5), token.cancelled()).await.expect("token fired by SIGTERM");
}
