//! The command line: every subcommand and flag, in one place, so `stormctl --help` and this file
//! read the same. Parsing only; each subcommand group lives in its own module.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The storm operator's CLI: what the engines are doing, as seen in Redis.
///
/// Human-readable output by default; `--json` for scripts (one JSON document, or one JSON object
/// per line for tails). Exit status: 0 success, 1 failure (Redis unreachable, a doctor check
/// failed, missing data, an audit that could not run every check), 2 bad usage (including an
/// invalid subscription member, or one whose venue or symbol is unknown).
#[derive(Parser, Debug)]
#[command(name = "stormctl", version)]
pub struct Cli {
    /// Flags every subcommand accepts.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where Redis is and how to print.
#[derive(Args, Debug, Clone, Default)]
pub struct Global {
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Redis URL [default: the config's redis_url, else redis://127.0.0.1:6379/]. Its value is
    /// never shown in help or output (it may hold a password).
    #[arg(long, global = true, env = "STORM_REDIS_URL", hide_env_values = true, value_name = "URL")]
    pub redis_url: Option<String>,
    /// Key namespace prefix [default: the config's namespace, else storm].
    #[arg(long, global = true, env = "STORM_NAMESPACE", hide_env_values = true, value_name = "PREFIX")]
    pub namespace: Option<String>,
    /// The storm.toml the engines use (redis_url, namespace, venues, engine sections) [default:
    /// $STORM_CONFIG, else config/storm.toml of the checkout: the current folder's, or the
    /// nearest folder above that has one; `doctor` says which one was used].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Engines' heartbeats, books live/syncing/stale per venue, stream lengths, executor group, halt.
    Status,
    /// One order book as a ladder: asks above, bids below, spread, status and age.
    Book {
        /// Venue name (as in the config and the keys).
        venue: String,
        /// Symbol, e.g. BTCUSDT (case-insensitive).
        symbol: String,
        /// Levels per side to show.
        #[arg(long, default_value_t = 10)]
        depth: usize,
    },
    /// Wanted market data: the members of storm:subs:<venue>, and the config's subscriptions.
    Subs {
        /// ls, add or rm.
        #[command(subcommand)]
        action: SubsAction,
    },
    /// Arbitrage opportunities on storm:opps.
    Opps {
        /// tail.
        #[command(subcommand)]
        action: TailAction,
    },
    /// Outcomes (storm:arb:log) and failures (storm:exec:failed) of the executor.
    Log {
        /// tail.
        #[command(subcommand)]
        action: TailAction,
    },
    /// Own orders as the streamer keeps them (storm:order:<venue>:<acct>:<SYM>).
    Orders {
        /// Venue name.
        venue: String,
        /// Only this account (8 hex chars of the API key's SHA-256).
        #[arg(long)]
        acct: Option<String>,
        /// Only this symbol.
        #[arg(long)]
        symbol: Option<String>,
        /// Show at most this many, most recently updated first (0: all).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Balances as the streamer keeps them (storm:balance:<venue>:<acct>).
    Balances {
        /// Venue name.
        venue: String,
        /// Only this account.
        #[arg(long)]
        acct: Option<String>,
        /// Also show assets whose free and locked amounts are both zero.
        #[arg(long)]
        all: bool,
    },
    /// The halt switch (storm:halt): while on, the executor sends no new order.
    Halt {
        /// on, off or status.
        #[command(subcommand)]
        action: HaltAction,
    },
    /// A live view (status plus the latest opportunities and outcomes) until Ctrl-C.
    Watch {
        /// Refresh period.
        #[arg(long, default_value_t = 1000, value_name = "MS")]
        interval_ms: u64,
    },
    /// Checks Redis, the config (which file, and every engine section as that engine loads it),
    /// expected keys, heartbeats and venue clocks; exits 1 on a failure.
    Doctor,
    /// Posts every outcome and failure to the webhook in $STORM_WEBHOOK_URL (Discord or Slack).
    Notify(NotifyArgs),
    /// Checks Redis against the venue: live books equal its depth, one outcome per opportunity,
    /// no client order id sent twice, balances equal its account; exits 1 on any finding.
    Audit(AuditArgs),
    /// Realized PnL from the executor's outcomes (storm:arb:log): outcomes by kind, PnL per asset
    /// and per path, fees, slippage against the prediction, balances against their start.
    Pnl(PnlCli),
    /// The account's own fills (storm:fills:<venue>:<acct>), newest last.
    Fills(FillsCli),
    /// Closed candles of one series (storm:candles:<venue>:<SYM>:<tf>) and the one forming now;
    /// --png draws them.
    Candles(CandlesCli),
    /// Best bid/ask, last price and 24 h figures (storm:ticker:<venue>).
    Ticker {
        /// The venue.
        venue: String,
        /// Only this symbol.
        symbol: Option<String>,
    },
}

/// `candles` flags.
#[derive(Args, Debug, Clone)]
pub struct CandlesCli {
    /// The venue.
    pub venue: String,
    /// The symbol (case-insensitive).
    pub symbol: String,
    /// The timeframe: 1s 1m 5m 15m 30m 1h 4h 1d 1w 1M.
    pub tf: String,
    /// Candles opening from then on (as `pnl --since`).
    #[arg(long, value_name = "TIME|DURATION")]
    pub from: Option<String>,
    /// Candles opening up to then (without it the forming candle is shown last).
    #[arg(long, value_name = "TIME|DURATION")]
    pub to: Option<String>,
    /// Show the last N closed candles (0: all).
    #[arg(short = 'n', long = "lines", default_value_t = 30)]
    pub lines: usize,
    /// Also draw them as a candlestick chart with volume into this PNG file.
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
}

/// `pnl` flags.
#[derive(Args, Debug, Clone)]
pub struct PnlCli {
    /// Only outcomes from then on: a duration back from now (90s, 15m, 2h, 1d) or a UTC time
    /// (2024-08-08, 2024-08-08T23:54:15Z, Unix ms).
    #[arg(long, value_name = "TIME|DURATION")]
    pub since: Option<String>,
    /// Only this venue's outcomes.
    #[arg(long)]
    pub venue: Option<String>,
    /// Also draw the cumulative realized PnL per asset over time into this PNG file.
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
}

/// `fills` flags.
#[derive(Args, Debug, Clone)]
pub struct FillsCli {
    /// Only this venue [default: every venue with a fills stream].
    #[arg(long)]
    pub venue: Option<String>,
    /// Only this symbol (case-insensitive).
    #[arg(long)]
    pub symbol: Option<String>,
    /// Only fills from then on (as `pnl --since`).
    #[arg(long, value_name = "TIME|DURATION")]
    pub since: Option<String>,
    /// Show the last N fills (0: all).
    #[arg(short = 'n', long = "lines", default_value_t = 20)]
    pub lines: usize,
}

/// `audit` flags.
#[derive(Args, Debug, Clone)]
pub struct AuditArgs {
    /// The venue (a [[venue]] name of --config) [default: the only one configured].
    #[arg(long)]
    pub venue: Option<String>,
    /// Levels per side compared (at most the hash's top N).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub depth: usize,
    /// How long a book may take to reach the venue's update id, and the balances to match,
    /// before a difference is reported (booksync rewrites an unchanged hash every third of its
    /// TTL, 10 s by default).
    #[arg(long, default_value_t = 15_000, value_name = "MS")]
    pub settle_ms: u64,
    /// The venue's REST base URL [default: the venue's rest_url].
    #[arg(long, value_name = "URL")]
    pub rest_url: Option<String>,
}

/// `subs` actions.
#[derive(Subcommand, Debug)]
pub enum SubsAction {
    /// List the members (every venue when none is given).
    Ls {
        /// Venue name.
        venue: Option<String>,
    },
    /// Add members: depth:BTCUSDT, ticker:BTCUSDT, trade:BTCUSDT, kline:BTCUSDT:1m. The venue
    /// must be configured and each symbol listed in storm:instruments:<venue>.
    Add {
        /// Venue name.
        venue: String,
        /// Members to add; all are validated before any is written.
        #[arg(required = true)]
        members: Vec<String>,
        /// Skip the venue and instrument checks (the member's spelling is still checked).
        #[arg(long)]
        force: bool,
    },
    /// Remove members.
    Rm {
        /// Venue name.
        venue: String,
        /// Members to remove.
        #[arg(required = true)]
        members: Vec<String>,
    },
}

/// Stream reading actions.
#[derive(Subcommand, Debug)]
pub enum TailAction {
    /// The last entries, oldest first; with --follow, then every new one until Ctrl-C.
    Tail {
        /// How many past entries to show.
        #[arg(short = 'n', long = "lines", default_value_t = 20)]
        lines: usize,
        /// Keep printing new entries as they arrive.
        #[arg(short, long)]
        follow: bool,
    },
}

/// `halt` actions.
#[derive(Subcommand, Debug)]
pub enum HaltAction {
    /// Set storm:halt: the executor stops sending new orders.
    On {
        /// Why (stored as the key's value, shown by status).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Delete storm:halt: the executor resumes.
    Off,
    /// Show whether trading is halted (and why).
    Status,
}

/// `notify` flags.
#[derive(Args, Debug, Clone)]
pub struct NotifyArgs {
    /// Most posts per minute; the excess becomes one "…and K more" post [default: the config's
    /// [stormctl] notify_per_minute, else 20].
    #[arg(long, value_name = "N")]
    pub per_minute: Option<u32>,
    /// Where to start when no position is saved yet in storm:notify:last.
    #[arg(long, value_enum, default_value_t = NotifyStart::End)]
    pub start: NotifyStart,
}

/// Where `notify` starts on its first run.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyStart {
    /// Only entries added from now on.
    End,
    /// Every entry still in the streams.
    Beginning,
}
