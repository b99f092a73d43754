//! What every engine does first, in one place: [`launch`] (config, tracing, shutdown token) for the
//! binaries' `main`, then [`connect`]: connect to Redis with the configured URL, TLS files and
//! key prefix, and serve `/metrics` when an address is configured. Engines keep their own order for
//! the rest (booksync marks leftovers before its first heartbeat, for instance).

use storm_bus::{Bus, BusError};
use tokio_util::sync::CancellationToken;

use crate::config::{Common, CommonArgs, Config, ConfigError, EngineSection};
use crate::metrics::Metrics;

/// What every binary's `main` does before running its engine: load the configuration (file,
/// env, flags), start tracing with its log settings, and install the SIGTERM/SIGINT token.
/// Call it from inside the tokio runtime.
pub fn launch<E: EngineSection>(args: &CommonArgs) -> Result<(Config<E>, CancellationToken), ConfigError> {
    let cfg = Config::<E>::load(args)?;
    let shutdown = start(&cfg.common);
    Ok((cfg, shutdown))
}

/// [`launch`]'s second half, for a `main` that loads the configuration before it builds its
/// runtime (to size it): tracing and the shutdown token. Call it from inside the runtime.
pub fn start(common: &Common) -> CancellationToken {
    crate::telemetry::init(&common.log_level, common.log_format);
    crate::shutdown::install()
}

/// The tokio runtime for `threads` workers: 1 runs every task on the calling thread
/// (`current_thread`), 0 one worker per core, any other number that many workers.
pub fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if n > 1 {
                b.worker_threads(n);
            }
            b
        }
    };
    builder.enable_all().build()
}

/// Why an engine could not start its shared parts.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// Redis could not be reached before shutdown.
    #[error("redis: {0}")]
    Bus(#[from] BusError),
    /// The metrics endpoint could not bind.
    #[error("metrics endpoint {addr}: {source}")]
    Metrics {
        /// The configured address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Connects the bus and serves `metrics` until `shutdown`.
///
/// Until Redis answers, either token ends the wait: `shutdown` (SIGTERM while Redis is still
/// unreachable must stop the process, not leave it retrying) or `bus_stop`. Both give
/// `BootError::Bus(BusError::Cancelled)`, which [`exit_ok_on_shutdown`] turns into a clean exit.
/// Once connected, the bus retries Redis outages until `bus_stop` fires (an engine that must
/// write its final state after SIGTERM passes a token of its own here).
pub async fn connect(
    common: &Common,
    metrics: &Metrics,
    bus_stop: CancellationToken,
    shutdown: &CancellationToken,
) -> Result<Bus, BootError> {
    let bus_cfg = common.bus_config();
    let bus = tokio::select! {
        biased;
        _ = shutdown.cancelled() => return Err(BootError::Bus(BusError::Cancelled)),
        bus = Bus::connect(bus_cfg, bus_stop) => bus?,
    };
    if !common.metrics_addr.is_empty() {
        metrics
            .serve(&common.metrics_addr, shutdown.clone())
            .await
            .map_err(|source| BootError::Metrics { addr: common.metrics_addr.clone(), source })?;
    }
    Ok(bus)
}

/// True when `err`, or an error it was caused by, is [`BusError::Cancelled`]: the engine gave up
/// waiting for Redis because it was asked to stop.
pub fn cancelled_by_shutdown(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if matches!(e.downcast_ref::<BusError>(), Some(BusError::Cancelled)) {
            return true;
        }
        if let Some(BootError::Bus(BusError::Cancelled)) = e.downcast_ref::<BootError>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// What a binary's `main` does with its engine's result: a SIGTERM/SIGINT that arrives before the
/// engine is up (still waiting for Redis, typically) is a normal stop, exit status 0 with one log
/// line, not an error with a backtrace. Every other error is returned unchanged.
///
/// ```ignore
/// let result = storm_booksync::run(cfg, shutdown.clone()).await;
/// storm_service::boot::exit_ok_on_shutdown(result, &shutdown).context("booksync")?;
/// ```
pub fn exit_ok_on_shutdown<E>(result: Result<(), E>, shutdown: &CancellationToken) -> Result<(), E>
where
    E: std::error::Error + 'static,
{
    match result {
        Err(e) if shutdown.is_cancelled() && cancelled_by_shutdown(&e) => {
            tracing::info!("stopped before start-up finished (shutdown requested while waiting for redis)");
            Ok(())
        }
        other => other,
    }
}

/// What a binary's `main` returns: on an error, one line on stderr, `<program>: error: <what>:
/// <why>: ...` (the error and its causes, each named once, line breaks folded), and exit status 1.
/// Never a backtrace, whatever `RUST_BACKTRACE` says: the first line an operator sees in the
/// engine's log (and `scripts/run` prints) is the cause, e.g. ``storm-booksync: error: loading
/// configuration: invalid config ([booksync]): unknown field `top_nn`, ...``.
///
/// ```ignore
/// fn main() -> std::process::ExitCode {
///     storm_service::boot::finish(env!("CARGO_BIN_NAME"), run())
/// }
/// ```
pub fn finish<E>(program: &str, result: Result<(), E>) -> std::process::ExitCode
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let err: Box<dyn std::error::Error + Send + Sync> = e.into();
            eprintln!("{program}: error: {}", error_line(err.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}

/// `err` and its sources on one line, `: `-joined; a source whose text the line already shows
/// (`#[error("redis: {0}")]` prints its source itself) is not repeated.
pub fn error_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = fold(&err.to_string());
    let mut next = err.source();
    while let Some(e) = next {
        let text = fold(&e.to_string());
        if !text.is_empty() && !line.contains(&text) {
            line = format!("{line}: {text}");
        }
        next = e.source();
    }
    line
}

fn fold(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error(transparent)]
        Boot(#[from] BootError),
        #[error("other: {0}")]
        Other(#[from] BusError),
    }

    #[test]
    fn cancellation_is_found_through_the_source_chain() {
        let e = Outer::Boot(BootError::Bus(BusError::Cancelled));
        assert!(cancelled_by_shutdown(&e));
        let e = Outer::Other(BusError::Cancelled);
        assert!(cancelled_by_shutdown(&e));
        let e = Outer::Other(BusError::Config("bad url".into()));
        assert!(!cancelled_by_shutdown(&e));
    }

    #[test]
    fn an_error_and_its_causes_make_one_line_each_named_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file\n(os error 2)");
        let cfg = ConfigError::Io { path: "/x/storm.toml".into(), source: io };
        assert_eq!(error_line(&cfg), "cannot read config /x/storm.toml: no such file (os error 2)");
        let e = Outer::Boot(BootError::Bus(BusError::Config("bad url".into())));
        let line = error_line(&e);
        assert!(!line.contains('\n'), "{line}");
        assert_eq!(line.matches("bad url").count(), 1, "{line}");
    }

    #[test]
    fn threads_choose_the_runtime() {
        use tokio::runtime::RuntimeFlavor;
        let one = runtime(1).expect("runtime");
        assert_eq!(one.handle().runtime_flavor(), RuntimeFlavor::CurrentThread);
        assert_eq!(
            one.block_on(async {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                7
            }),
            7
        );
        let three = runtime(3).expect("runtime");
        assert_eq!(three.handle().runtime_flavor(), RuntimeFlavor::MultiThread);
        assert_eq!(three.metrics().num_workers(), 3);
        let per_core = runtime(0).expect("runtime");
        assert_eq!(per_core.metrics().num_workers(), std::thread::available_parallelism().map_or(1, |n| n.get()));
    }

    #[test]
    fn only_a_requested_shutdown_makes_cancellation_a_clean_exit() {
        let token = CancellationToken::new();
        let cancelled = || Err::<(), _>(Outer::Boot(BootError::Bus(BusError::Cancelled)));
        assert!(exit_ok_on_shutdown(cancelled(), &token).is_err(), "no shutdown requested: still an error");
        token.cancel();
        assert!(exit_ok_on_shutdown(cancelled(), &token).is_ok());
        let other = Err::<(), _>(Outer::Other(BusError::Config("bad url".into())));
        assert!(exit_ok_on_shutdown(other, &token).is_err(), "other errors stay errors");
    }
}
