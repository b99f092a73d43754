//! Subscription members of `storm:subs:<venue>` (`depth:BTCUSDT`, `kline:BTCUSDT:1m`): parsing
//! and validation. Venue-independent — the Redis contract fixes the member format — so it sits
//! beside the adapter trait rather than in a venue folder.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use storm_core::{Channel, Symbol};

/// Kline intervals a subscription may name, in storm's (and Binance's) spelling; case matters
/// (`1m` is a minute, `1M` a month). A venue that lacks one rejects it in
/// [`VenueAdapter::stream_name`].
pub const KLINE_INTERVALS: [&str; 16] =
    ["1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"];

/// Longest symbol a subscription accepts.
pub const MAX_SYMBOL_LEN: usize = 32;

/// One wanted market-data stream, venue-neutral: a member of `storm:subs:<venue>`.
///
/// Built by [`Subscription::parse`] (or `str::parse`), which validates everything; its
/// `Display` (and serde form) is the canonical member, `depth:BTCUSDT` or `kline:BTCUSDT:1m`.
/// Ordered by symbol, then channel, then interval, so sets iterate deterministically.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subscription {
    /// Which stream of the symbol.
    pub channel: Channel,
    /// The venue's symbol, upper case.
    pub symbol: Symbol,
    /// Kline interval (`1m`); `Some` exactly when `channel` is [`Channel::Kline`].
    pub interval: Option<String>,
}

/// Why a subscription member was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionProblem {
    /// Nothing but whitespace.
    #[error("empty member")]
    Empty,
    /// The part before the first `:` is not a channel.
    #[error("unknown channel {0:?} (expected depth, ticker, trade or kline)")]
    UnknownChannel(String),
    /// No symbol after the channel.
    #[error("missing symbol")]
    MissingSymbol,
    /// The symbol has characters other than ASCII letters, digits, `-` and `_`, or is too long.
    #[error("invalid symbol {0:?}")]
    InvalidSymbol(String),
    /// `kline:<SYM>` without an interval.
    #[error("kline needs an interval (kline:<SYMBOL>:<interval>)")]
    MissingInterval,
    /// An interval that is not one of [`KLINE_INTERVALS`].
    #[error("unknown kline interval {0:?}")]
    UnknownInterval(String),
    /// An interval on a channel that has none (`depth:BTCUSDT:1m`).
    #[error("channel {0} takes no interval")]
    UnexpectedInterval(Channel),
    /// More than three `:`-separated parts.
    #[error("too many ':'-separated parts")]
    TooManyParts,
}

/// A subscription member that could not be parsed, with the member as given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid subscription {member:?}: {problem}")]
pub struct SubscriptionError {
    /// The member, verbatim.
    pub member: String,
    /// What is wrong with it.
    pub problem: SubscriptionProblem,
}

impl Subscription {
    /// A validated subscription; `symbol` is normalised to upper case.
    pub fn new(channel: Channel, symbol: &str, interval: Option<&str>) -> Result<Self, SubscriptionProblem> {
        if symbol.is_empty() {
            return Err(SubscriptionProblem::MissingSymbol);
        }
        let symbol_ok = symbol.len() <= MAX_SYMBOL_LEN
            && symbol.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !symbol_ok {
            return Err(SubscriptionProblem::InvalidSymbol(symbol.to_owned()));
        }
        let interval = match (channel, interval) {
            (Channel::Kline, None | Some("")) => return Err(SubscriptionProblem::MissingInterval),
            (Channel::Kline, Some(i)) if KLINE_INTERVALS.contains(&i) => Some(i.to_owned()),
            (Channel::Kline, Some(i)) => return Err(SubscriptionProblem::UnknownInterval(i.to_owned())),
            (_, Some(_)) => return Err(SubscriptionProblem::UnexpectedInterval(channel)),
            (_, None) => None,
        };
        Ok(Self { channel, symbol: Symbol::new(symbol), interval })
    }

    /// Parses a member of `storm:subs:<venue>`: `depth:BTCUSDT`, `ticker:ETHUSDT`,
    /// `trade:BTCUSDT`, `kline:BTCUSDT:1m`. Surrounding whitespace is ignored, the channel is
    /// case-insensitive and the symbol is upper-cased; the interval is case-sensitive.
    pub fn parse(member: &str) -> Result<Self, SubscriptionError> {
        Self::parse_parts(member.trim()).map_err(|problem| SubscriptionError { member: member.to_owned(), problem })
    }

    fn parse_parts(member: &str) -> Result<Self, SubscriptionProblem> {
        if member.is_empty() {
            return Err(SubscriptionProblem::Empty);
        }
        let mut parts = member.split(':');
        let channel_part = parts.next().unwrap_or_default();
        let channel =
            parse_channel(channel_part).ok_or_else(|| SubscriptionProblem::UnknownChannel(channel_part.to_owned()))?;
        let symbol = parts.next().unwrap_or_default();
        let interval = parts.next();
        if parts.next().is_some() {
            return Err(SubscriptionProblem::TooManyParts);
        }
        Self::new(channel, symbol, interval)
    }

    /// The canonical member string (`kline:BTCUSDT:1m`), as written to `storm:subs:<venue>`.
    pub fn member(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.channel, self.symbol)?;
        match &self.interval {
            Some(interval) => write!(f, ":{interval}"),
            None => Ok(()),
        }
    }
}

impl FromStr for Subscription {
    type Err = SubscriptionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Subscription {
    type Error = SubscriptionError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Subscription> for String {
    fn from(s: Subscription) -> String {
        s.to_string()
    }
}

/// A channel by its member spelling (`depth`, `ticker`, `trade`, `kline`), case-insensitive.
pub fn parse_channel(name: &str) -> Option<Channel> {
    Channel::ALL.into_iter().find(|c| c.as_str().eq_ignore_ascii_case(name))
}

/// Position of a channel in [`Channel::ALL`] (storm-core's `Channel` is not `Ord`).
fn channel_rank(c: Channel) -> usize {
    Channel::ALL.iter().position(|x| *x == c).unwrap_or(usize::MAX)
}

impl Ord for Subscription {
    fn cmp(&self, other: &Self) -> Ordering {
        (&self.symbol, channel_rank(self.channel), &self.interval).cmp(&(
            &other.symbol,
            channel_rank(other.channel),
            &other.interval,
        ))
    }
}

impl PartialOrd for Subscription {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
