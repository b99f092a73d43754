//! stormctl: the operator's CLI for storm. It talks to nothing but Redis (and, for `doctor`, the
//! venues' time endpoint; for `notify`, a chat webhook), reading the keys of the Redis contract
//! through `storm_bus` — the same key builders and readers the engines use — so it shows exactly
//! what the engines see and cannot drift from the README's table.
//!
//! One module per subcommand group: `status` (also used by `watch` and `doctor`), `book`,
//! `subs`, `opps`, `log`, `orders`, `balances`, `halt`, `watch`, `doctor`, `notify`, `audit`,
//! `candles` (also `ticker`). Shared
//! parts: `ctx` (config and connection), `locate` (which storm.toml), `sections` (every engine's
//! section checked as that engine loads it, for `doctor`), `fetch` (tolerant Redis reads), `output`
//! (tables, ages, JSON), `numbers` (how many digits a number shows), `screen` (fitting `watch` to
//! the terminal), `jsonview` (other engines' JSON), `follow` (`--follow`).
//!
//! Every error names where it read: the Redis URL (password hidden) and the config file.
//!
//! Nothing read from Redis can panic the CLI: odd data becomes a note in the output.
//!
//! For traders: `pnl` (the executor's outcomes added up, fees, balances, a chart) and `fills`; both
//! take `--since` (`since`).

pub mod cli;

mod audit;
mod balances;
mod book;
mod candles;
mod ctx;
mod doctor;
mod fetch;
mod fills;
mod follow;
mod halt;
mod jsonview;
mod locate;
mod log;
mod notify;
mod numbers;
mod opps;
mod orders;
mod output;
mod pnl;
mod screen;
mod sections;
mod since;
mod status;
mod subs;
mod watch;

use std::process::ExitCode;

use cli::{Cli, Command, TailAction};
use ctx::Ctx;

pub use ctx::StormctlConfig;

/// Runs one command line; the exit status is 0 on success, 1 on failure, 2 on bad usage.
pub async fn run(cli: Cli) -> ExitCode {
    let quiet_level = if matches!(cli.command, Command::Notify(_)) { "info" } else { "warn" };
    storm_service::telemetry::init(quiet_level, storm_service::telemetry::LogFormat::Text);
    if let Command::Doctor = cli.command {
        return match doctor::run(&cli.global).await {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => fail(&e),
        };
    }
    let ctx = match Ctx::load(&cli.global) {
        Ok(ctx) => ctx,
        Err(e) => {
            let choice = locate::ConfigChoice::resolve(cli.global.config.as_deref());
            eprintln!("error: {e} (config {})", choice.describe());
            return ExitCode::FAILURE;
        }
    };
    match dispatch(&ctx, &cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail_at(&ctx, &e),
    }
}

/// [`fail`] with where the command read: its Redis URL (unless the message names it already)
/// and its config file, so "no book" can never hide that it asked the wrong Redis.
fn fail_at(ctx: &Ctx, e: &anyhow::Error) -> ExitCode {
    let msg = format!("{e:#}");
    let at =
        if msg.contains(&ctx.redacted_url()) { format!("config {}", ctx.config.describe()) } else { ctx.whereabouts() };
    report(e, &format!("{msg} ({at})"))
}

fn fail(e: &anyhow::Error) -> ExitCode {
    report(e, &format!("{e:#}"))
}

fn report(e: &anyhow::Error, msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    if e.downcast_ref::<subs::BadMembers>().is_some() || e.downcast_ref::<subs::Refused>().is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

async fn dispatch(ctx: &Ctx, command: &Command) -> anyhow::Result<()> {
    match command {
        Command::Status => status::run(ctx).await,
        Command::Book { venue, symbol, depth } => book::run(ctx, venue, symbol, *depth).await,
        Command::Subs { action } => subs::run(ctx, action).await,
        Command::Opps { action: TailAction::Tail { lines, follow } } => opps::tail(ctx, *lines, *follow).await,
        Command::Log { action: TailAction::Tail { lines, follow } } => log::tail(ctx, *lines, *follow).await,
        Command::Orders { venue, acct, symbol, limit } => {
            orders::run(ctx, venue, acct.as_deref(), symbol.as_deref(), *limit).await
        }
        Command::Balances { venue, acct, all } => balances::run(ctx, venue, acct.as_deref(), *all).await,
        Command::Halt { action } => halt::run(ctx, action).await,
        Command::Watch { interval_ms } => watch::run(ctx, *interval_ms).await,
        Command::Notify(args) => notify::run(ctx, args).await,
        Command::Audit(args) => audit::run(ctx, args).await,
        Command::Pnl(a) => {
            let args = pnl::PnlArgs { since: a.since.clone(), venue: a.venue.clone(), png: a.png.clone() };
            pnl::run(ctx, &args).await
        }
        Command::Fills(a) => {
            let args = fills::FillsArgs {
                venue: a.venue.clone(),
                symbol: a.symbol.clone(),
                since: a.since.clone(),
                lines: a.lines,
            };
            fills::run(ctx, &args).await
        }
        Command::Candles(a) => {
            let args = candles::CandlesArgs {
                venue: a.venue.clone(),
                symbol: a.symbol.clone(),
                tf: a.tf.clone(),
                from: a.from.clone(),
                to: a.to.clone(),
                lines: a.lines,
                png: a.png.clone(),
            };
            candles::run(ctx, &args).await
        }
        Command::Ticker { venue, symbol } => candles::ticker(ctx, venue, symbol.as_deref()).await,
        Command::Doctor => Ok(()), // handled in `run`: it must work with a broken config
    }
}
