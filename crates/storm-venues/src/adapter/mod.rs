//! The venue adapter: everything venue-specific the ingester needs, behind one trait.
//!
//! The ingester works in venue-neutral terms — a [`Subscription`] (`depth:BTCUSDT`), a
//! [`StreamName`] it subscribes on a connection, the [`VenueLimits`] it must never exceed, and
//! the [`VenueFrame`]s it reads back. A [`VenueAdapter`] translates between those terms and one
//! venue's wire: stream naming, control messages, limits, connection URL, frame classification
//! and the instrument listing. Adding KuCoin is one new folder (`kucoin/`) implementing this trait
//! plus one line in [`adapter_for_kind`].
//!
//! **Object-safe, on purpose.** The venue is chosen at run time from the config's `kind`, so the
//! ingester holds an `Arc<dyn VenueAdapter>`; one virtual call per frame is noise next to the
//! JSON parse it dispatches to (~1 µs). A generic `Ingester<A: VenueAdapter>` would save that call
//! but monomorphise the whole engine per venue and still need a `match kind` at start-up.
//!
//! Parsing a subscription member is venue-independent (the Redis contract fixes the member
//! format), so it lives here beside the trait: `channel:SYMBOL[:interval]`, the channel one of
//! `depth`, `ticker`, `trade`, `kline`, the interval (klines only) one of [`KLINE_INTERVALS`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use storm_core::{Asset, Channel, DepthDiff, Instrument, Kline, Level, Symbol, SymbolStatus, Ticker, Trade, VenueKind};

mod sequencer;
mod subscription;

pub use sequencer::{DepthSequencer, SeqOutcome};

pub use subscription::{
    parse_channel, Subscription, SubscriptionError, SubscriptionProblem, KLINE_INTERVALS, MAX_SYMBOL_LEN,
};

/// A stream as the venue names it (`btcusdt@depth@100ms`); built by [`VenueAdapter::stream_name`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamName(String);

impl StreamName {
    /// Wraps a venue stream name (adapters build these; tests may too).
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a control message asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControlAction {
    /// Start receiving the streams.
    Subscribe,
    /// Stop receiving the streams.
    Unsubscribe,
}

/// One control message ready to send, with what it asked for, so its reply can be matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlRequest {
    /// Request id, echoed by the venue's reply.
    pub id: u64,
    /// Subscribe or unsubscribe.
    pub action: ControlAction,
    /// The streams in this message.
    pub streams: Vec<StreamName>,
    /// The text frame to send.
    pub text: String,
}

/// "At most `max` events in any window of `per`".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Events allowed per window.
    pub max: u32,
    /// Window length.
    pub per: Duration,
}

/// A venue's market-data WebSocket limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VenueLimits {
    /// Most streams one connection may hold.
    pub max_streams_per_connection: usize,
    /// Most streams storm puts in one control message.
    pub max_streams_per_message: usize,
    /// Client messages per connection (control messages, pings and pongs).
    pub client_messages: RateLimit,
    /// New connections per IP.
    pub new_connections: RateLimit,
    /// The venue closes a connection at this age.
    pub max_connection_age: Duration,
    /// The server pings this often (`None`: the client must ping).
    pub server_ping_interval: Option<Duration>,
    /// A ping unanswered for this long gets the connection closed.
    pub pong_timeout: Duration,
}

/// One incoming text frame, classified, venue-neutral.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum VenueFrame {
    /// An order-book diff.
    Depth(DepthDiff),
    /// A best bid/offer.
    Ticker(Ticker),
    /// A public trade.
    Trade(Trade),
    /// A candle.
    Kline(Kline),
    /// A control request succeeded.
    Ack {
        /// The request's id (`None` when the venue sent none or a foreign one).
        id: Option<u64>,
    },
    /// Reply to a subscription listing request: the streams this connection holds.
    Subscriptions {
        /// The request's id.
        id: Option<u64>,
        /// The streams.
        streams: Vec<StreamName>,
    },
    /// A control request failed.
    Rejected {
        /// The request's id (`None` when the venue could not read it).
        id: Option<u64>,
        /// Venue error code.
        code: i64,
        /// Venue message, verbatim.
        msg: String,
    },
    /// The venue will close this connection soon: reconnect early.
    ServerShutdown,
    /// Well-formed but not something the ingester handles (other streams, new event types).
    Unknown,
}

impl VenueFrame {
    /// Channel, symbol and interval of a market-data frame, borrowed (`None` for control
    /// frames): what the hot path checks against the wanted set without allocating.
    pub fn stream_key(&self) -> Option<(Channel, &Symbol, Option<&str>)> {
        match self {
            VenueFrame::Depth(d) => Some((Channel::Depth, &d.symbol, None)),
            VenueFrame::Ticker(t) => Some((Channel::Ticker, &t.symbol, None)),
            VenueFrame::Trade(t) => Some((Channel::Trade, &t.symbol, None)),
            VenueFrame::Kline(k) => Some((Channel::Kline, &k.symbol, Some(k.interval.as_str()))),
            _ => None,
        }
    }

    /// The subscription a market-data frame belongs to (`None` for control frames).
    pub fn subscription(&self) -> Option<Subscription> {
        let (channel, symbol, interval) = self.stream_key()?;
        Some(Subscription { channel, symbol: symbol.clone(), interval: interval.map(str::to_owned) })
    }
}

/// A frame that is not valid for the venue (not JSON, wrong types, missing fields).
#[derive(Debug, thiserror::Error)]
#[error("malformed {venue} frame: {source}")]
pub struct FrameError {
    /// The venue kind.
    pub venue: &'static str,
    /// The parser's error.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// One symbol of the venue's instrument listing (Binance `exchangeInfo.symbols[]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedMarket {
    /// The venue's symbol.
    pub symbol: Symbol,
    /// Base asset.
    pub base: Asset,
    /// Quote asset.
    pub quote: Asset,
    /// Trading status.
    pub status: SymbolStatus,
}

/// A venue's order-book snapshot (Binance `GET /api/v3/depth`), venue-neutral: the book as of
/// `last_update_id`, each side best first, every price positive and every quantity non-negative
/// (checked by [`VenueAdapter::parse_snapshot`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepthSnapshot {
    /// The update id the snapshot is consistent with (Binance `lastUpdateId`, KuCoin `sequence`).
    pub last_update_id: u64,
    /// Bids, best (highest) first.
    pub bids: Vec<Level>,
    /// Asks, best (lowest) first.
    pub asks: Vec<Level>,
}

/// A request the adapter cannot turn into the venue's wire format, or a venue reply it cannot
/// read. None is retryable as such: each means a wrong input (fix the subscription or the batch)
/// or a reply that will fail the same way again; only fetching a fresh reply
/// ([`AdapterError::Reply`], e.g. after a truncated body) can help.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The venue has no such stream (e.g. a symbol it cannot spell, an interval it lacks).
    #[error("{venue} cannot serve {subscription}: {reason}")]
    Unsupported {
        /// The venue kind.
        venue: &'static str,
        /// The canonical member.
        subscription: String,
        /// Why.
        reason: &'static str,
    },
    /// A stream name the adapter did not (and would not) produce.
    #[error("{venue}: unknown stream name {stream:?}")]
    UnknownStream {
        /// The venue kind.
        venue: &'static str,
        /// The name.
        stream: String,
    },
    /// A control message for no streams, or for more than [`VenueLimits::max_streams_per_message`].
    #[error("{venue}: a control message takes 1 to {max} streams, got {count}")]
    BatchSize {
        /// The venue kind.
        venue: &'static str,
        /// Streams given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The instrument listing could not be read.
    #[error("{venue}: unreadable instrument listing: {source}")]
    Listing {
        /// The venue kind.
        venue: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A REST reply (depth snapshot, instrument listing with filters) that cannot be used: not
    /// the venue's JSON, or a price or quantity that is unreadable or negative.
    #[error("{venue}: unreadable {what}: {source}")]
    Reply {
        /// The venue kind.
        venue: &'static str,
        /// Which reply (`depth snapshot`, `instrument listing`).
        what: &'static str,
        /// The parser's error, naming the field.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A control message could not be encoded.
    #[error("cannot encode a control message: {0}")]
    Encode(#[source] serde_json::Error),
}

/// Everything venue-specific the ingester needs; pure (no I/O), cheap to share (`Arc<dyn ..>`).
pub trait VenueAdapter: fmt::Debug + Send + Sync {
    /// The wire dialect, as in the config's `[[venue]] kind` (`binance`).
    fn kind(&self) -> &'static str;

    /// The market-data WebSocket limits.
    fn limits(&self) -> VenueLimits;

    /// The URL to open for one market-data connection, given the venue's configured `ws_url`.
    fn connection_url(&self, ws_base_url: &str) -> String;

    /// The venue's name for a subscription's stream.
    fn stream_name(&self, subscription: &Subscription) -> Result<StreamName, AdapterError>;

    /// The subscription behind a stream name: the inverse of [`VenueAdapter::stream_name`].
    fn subscription_of(&self, stream: &str) -> Result<Subscription, AdapterError>;

    /// One control message for `streams` (1 to `max_streams_per_message` of them) with `id`.
    fn control_message(&self, action: ControlAction, streams: &[StreamName], id: u64) -> Result<String, AdapterError>;

    /// Control messages for any number of streams, in as few messages as the venue allows, each
    /// taking the next id from `next_id`. The default chunks by `max_streams_per_message`; a
    /// venue whose messages cannot mix channels (KuCoin topics) overrides it to group first.
    fn control_requests(
        &self,
        action: ControlAction,
        streams: &[StreamName],
        next_id: &mut u64,
    ) -> Result<Vec<ControlRequest>, AdapterError> {
        let per_message = self.limits().max_streams_per_message.max(1);
        streams
            .chunks(per_message)
            .map(|chunk| {
                let id = *next_id;
                let text = self.control_message(action, chunk, id)?;
                *next_id = next_id.wrapping_add(1);
                Ok(ControlRequest { id, action, streams: chunk.to_vec(), text })
            })
            .collect()
    }

    /// An application-level keep-alive message, for venues that want one instead of (or beside)
    /// WebSocket ping frames (KuCoin's `{"id":..,"type":"ping"}`); `None` for Binance.
    fn app_ping_message(&self, _id: u64) -> Option<String> {
        None
    }

    /// Classifies one incoming text frame; `time_received_us` is stamped on events.
    fn classify(&self, text: &str, time_received_us: u64) -> Result<VenueFrame, FrameError>;

    /// The REST URL of the venue's instrument listing (Binance: `<rest_url>/api/v3/exchangeInfo`),
    /// given the venue's configured `rest_url`; [`VenueAdapter::listed_markets`] reads its body.
    fn listing_url(&self, rest_base_url: &str) -> String;

    /// The request weight of [`VenueAdapter::listing_url`] (Binance: 20).
    fn listing_weight(&self) -> u32;

    /// Reads the venue's instrument listing (Binance: the `exchangeInfo` body).
    fn listed_markets(&self, body: &str) -> Result<Vec<ListedMarket>, AdapterError>;

    /// Reads every instrument of the listing body with its order filters (tick, step, notional;
    /// 0 where the venue sets no rule). Stricter than [`VenueAdapter::listed_markets`]: an
    /// unreadable or negative filter value fails the whole listing.
    fn parse_instruments(&self, body: &str) -> Result<Vec<Instrument>, AdapterError>;

    /// The venue's REST request-weight budget as the listing body states it (Binance:
    /// `REQUEST_WEIGHT` per 1 minute from `exchangeInfo.rateLimits`); `None` when the body does
    /// not say (use the configured or documented value).
    fn request_weight_limit(&self, listing_body: &str) -> Result<Option<RateLimit>, AdapterError>;

    /// The REST URL of an order-book snapshot of `symbol` with up to `limit` levels per side,
    /// given the venue's configured `rest_url` (Binance: `<rest_url>/api/v3/depth?symbol=..&limit=..`,
    /// `limit` clamped to what the venue serves).
    fn snapshot_url(&self, rest_base_url: &str, symbol: &Symbol, limit: u32) -> String;

    /// The request weight [`VenueAdapter::snapshot_url`] costs for `limit` (Binance: 5 to 250).
    fn snapshot_weight(&self, limit: u32) -> u32;

    /// Reads an order-book snapshot body; the sides stay in the venue's order (best first).
    fn parse_snapshot(&self, body: &str) -> Result<DepthSnapshot, AdapterError>;

    /// A fresh sequencer with the venue's rule for continuing a snapshot with diffs; booksync
    /// keeps one per symbol.
    fn depth_sequencer(&self) -> Box<dyn DepthSequencer>;
}

/// The adapter for a config `kind`; a new venue adds one arm here.
pub fn adapter_for_kind(kind: VenueKind) -> Arc<dyn VenueAdapter> {
    match kind {
        VenueKind::Binance => Arc::new(crate::binance::adapter::BinanceAdapter),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use SubscriptionProblem as P;

    #[test]
    fn every_channel_parses_and_prints_back_canonically() {
        let cases = [
            ("depth:BTCUSDT", Channel::Depth, "BTCUSDT", None),
            ("ticker:ETHUSDT", Channel::Ticker, "ETHUSDT", None),
            ("trade:BTCUSDT", Channel::Trade, "BTCUSDT", None),
            ("kline:BTCUSDT:1m", Channel::Kline, "BTCUSDT", Some("1m")),
            ("kline:BTCUSDT:1M", Channel::Kline, "BTCUSDT", Some("1M")),
        ];
        for (member, channel, symbol, interval) in cases {
            let sub = Subscription::parse(member).unwrap();
            assert_eq!(sub, Subscription::new(channel, symbol, interval).unwrap(), "{member}");
            assert_eq!(sub.member(), member);
            assert_eq!(member.parse::<Subscription>().unwrap(), sub);
        }
    }

    #[test]
    fn lowercase_symbol_channel_case_and_whitespace_are_normalised() {
        for member in ["depth:btcusdt", " depth:BtcUsdt\n", "DEPTH:BTCUSDT", "Depth:btcUSDT"] {
            assert_eq!(Subscription::parse(member).unwrap().member(), "depth:BTCUSDT", "{member:?}");
        }
        assert_eq!(Subscription::parse("kline:ethbtc:15m").unwrap().member(), "kline:ETHBTC:15m");
    }

    #[test]
    fn bad_members_are_errors_naming_the_problem() {
        let cases = [
            ("", P::Empty),
            ("   ", P::Empty),
            ("depth", P::MissingSymbol),
            ("depth:", P::MissingSymbol),
            ("foo:BTCUSDT", P::UnknownChannel("foo".into())),
            (":BTCUSDT", P::UnknownChannel(String::new())),
            ("book:BTCUSDT", P::UnknownChannel("book".into())),
            ("depth:BTC USDT", P::InvalidSymbol("BTC USDT".into())),
            ("depth:btcusdt@trade", P::InvalidSymbol("btcusdt@trade".into())),
            ("depth:BTC/USDT", P::InvalidSymbol("BTC/USDT".into())),
            ("depth:ÄBC", P::InvalidSymbol("ÄBC".into())),
            ("depth:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", P::InvalidSymbol("A".repeat(33))),
            ("kline:BTCUSDT", P::MissingInterval),
            ("kline:BTCUSDT:", P::MissingInterval),
            ("kline:BTCUSDT:7x", P::UnknownInterval("7x".into())),
            ("kline:BTCUSDT:1H", P::UnknownInterval("1H".into())),
            ("depth:BTCUSDT:1m", P::UnexpectedInterval(Channel::Depth)),
            ("ticker:BTCUSDT:", P::UnexpectedInterval(Channel::Ticker)),
            ("kline:BTCUSDT:1m:x", P::TooManyParts),
        ];
        for (member, problem) in cases {
            let err = Subscription::parse(member).unwrap_err();
            assert_eq!(err, SubscriptionError { member: member.into(), problem }, "{member:?}");
            assert!(err.to_string().contains("invalid subscription"), "{err}");
        }
    }

    #[test]
    fn dashed_symbols_of_other_venues_are_valid_members() {
        assert_eq!(Subscription::parse("depth:btc-usdt").unwrap().symbol.as_str(), "BTC-USDT");
    }

    #[test]
    fn order_is_symbol_then_channel_then_interval() {
        let mut subs: Vec<Subscription> =
            ["trade:ETHBTC", "kline:BTCUSDT:1m", "depth:ETHBTC", "depth:BTCUSDT", "kline:BTCUSDT:1h"]
                .iter()
                .map(|m| m.parse().unwrap())
                .collect();
        subs.sort();
        let members: Vec<String> = subs.iter().map(Subscription::member).collect();
        assert_eq!(members, ["depth:BTCUSDT", "kline:BTCUSDT:1h", "kline:BTCUSDT:1m", "depth:ETHBTC", "trade:ETHBTC"]);
    }

    #[test]
    fn serde_form_is_the_member_string_and_is_validated() {
        let sub: Subscription = serde_json::from_str(r#""kline:bnbbtc:4h""#).unwrap();
        assert_eq!(serde_json::to_string(&sub).unwrap(), r#""kline:BNBBTC:4h""#);
        assert!(serde_json::from_str::<Subscription>(r#""kline:BNBBTC:7x""#).is_err());
    }

    #[test]
    fn each_kind_has_its_adapter() {
        // An unknown kind never gets this far: the config refuses it (storm-service's tests).
        let kind = storm_core::VenueKind::Binance;
        assert_eq!(adapter_for_kind(kind).kind(), kind.as_str());
    }
}
