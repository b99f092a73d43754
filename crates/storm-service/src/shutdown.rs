//! One shutdown token per process, fired by SIGTERM (supervisord's stop signal) or SIGINT.
//!
//! Every loop `select!`s on the token, finishes the message in hand, acknowledges, flushes and
//! returns; `main` then exits 0. A second signal while shutting down exits at once with status
//! 130, for an operator who really means it. supervisord.conf's `stopwaitsecs` is the grace period.

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Installs the signal handlers and returns the token they fire. Needs a Tokio runtime.
pub fn install() -> CancellationToken {
    let token = CancellationToken::new();
    let fire = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("shutdown requested; finishing work in hand");
        fire.cancel();
        wait_for_signal().await;
        warn!("second signal: exiting immediately");
        std::process::exit(130);
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
