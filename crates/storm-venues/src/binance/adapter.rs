//! Binance Spot behind [`VenueAdapter`]: stream names, control messages, limits, frames, listing.
//!
//! - Streams: `depth:BTCUSDT` ↔ `btcusdt@depth@100ms` (every diff; the 1000 ms variant is not
//!   used), `ticker:` ↔ `@bookTicker`, `trade:` ↔ `@trade`, `kline:BTCUSDT:1m` ↔ `@kline_1m`.
//!   The reverse mapping accepts exactly the names the forward one produces, so a stream the
//!   venue reports that storm would not have asked for is visible as [`AdapterError::UnknownStream`].
//! - Connections open the combined endpoint `/stream` with no streams and subscribe live, so
//!   every frame names its stream and every subscription is acknowledged by request id.
//! - Limits follow BINANCE.md: 1024 streams and 5 client messages per second per connection,
//!   300 new connections per 5 minutes per IP, 24 h connection life, server pings every 20 s.

use serde_json::Value;
use storm_core::{Asset, Channel, Instrument, Symbol};

use super::rest_wire::{self, ExchangeInfo};
use super::sequencer::BinanceSequencer;
use super::wire::{parse_frame, Frame, WsRequest};
use crate::adapter::{
    AdapterError, ControlAction, DepthSequencer, DepthSnapshot, FrameError, ListedMarket, RateLimit, StreamName,
    Subscription, VenueAdapter, VenueFrame, VenueLimits, KLINE_INTERVALS,
};

/// The config `kind` and the venue named in errors.
const KIND: &str = "binance";

/// Streams per control message. Binance documents no cap; 200 keeps a message near 5 KB, and
/// at the ingester's default of 200 streams per connection, one message fills a connection.
pub const MAX_STREAMS_PER_MESSAGE: usize = 200;

/// Binance Spot market-data WebSocket limits (BINANCE.md, "Market-data WebSocket").
pub const LIMITS: VenueLimits = VenueLimits {
    max_streams_per_connection: 1024,
    max_streams_per_message: MAX_STREAMS_PER_MESSAGE,
    client_messages: RateLimit { max: 5, per: std::time::Duration::from_secs(1) },
    new_connections: RateLimit { max: 300, per: std::time::Duration::from_secs(5 * 60) },
    max_connection_age: std::time::Duration::from_secs(24 * 60 * 60),
    server_ping_interval: Some(std::time::Duration::from_secs(20)),
    pong_timeout: std::time::Duration::from_secs(60),
};

/// Binance Spot market data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BinanceAdapter;

impl BinanceAdapter {
    fn unsupported(subscription: &Subscription, reason: &'static str) -> AdapterError {
        AdapterError::Unsupported { venue: KIND, subscription: subscription.to_string(), reason }
    }

    fn unknown_stream(stream: &str) -> AdapterError {
        AdapterError::UnknownStream { venue: KIND, stream: stream.to_owned() }
    }
}

impl VenueAdapter for BinanceAdapter {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn limits(&self) -> VenueLimits {
        LIMITS
    }

    fn connection_url(&self, ws_base_url: &str) -> String {
        format!("{}/stream", ws_base_url.trim_end_matches('/'))
    }

    fn stream_name(&self, subscription: &Subscription) -> Result<StreamName, AdapterError> {
        let symbol = subscription.symbol.as_str();
        if symbol.is_empty() || !symbol.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Self::unsupported(subscription, "Binance symbols are letters and digits only"));
        }
        let lower = symbol.to_ascii_lowercase();
        let name = match (subscription.channel, subscription.interval.as_deref()) {
            (Channel::Depth, None) => format!("{lower}@depth@100ms"),
            (Channel::Ticker, None) => format!("{lower}@bookTicker"),
            (Channel::Trade, None) => format!("{lower}@trade"),
            (Channel::Kline, Some(interval)) if KLINE_INTERVALS.contains(&interval) => {
                format!("{lower}@kline_{interval}")
            }
            (Channel::Kline, _) => return Err(Self::unsupported(subscription, "kline needs a known interval")),
            _ => return Err(Self::unsupported(subscription, "only klines take an interval")),
        };
        Ok(StreamName::new(name))
    }

    fn subscription_of(&self, stream: &str) -> Result<Subscription, AdapterError> {
        let (symbol, suffix) = stream.split_once('@').ok_or_else(|| Self::unknown_stream(stream))?;
        if symbol.is_empty() || !symbol.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
            return Err(Self::unknown_stream(stream));
        }
        let (channel, interval) = match suffix {
            "depth@100ms" => (Channel::Depth, None),
            "bookTicker" => (Channel::Ticker, None),
            "trade" => (Channel::Trade, None),
            _ => match suffix.strip_prefix("kline_") {
                Some(interval) => (Channel::Kline, Some(interval)),
                None => return Err(Self::unknown_stream(stream)),
            },
        };
        Subscription::new(channel, symbol, interval).map_err(|_| Self::unknown_stream(stream))
    }

    /// `{"method":"SUBSCRIBE","params":["btcusdt@depth@100ms"],"id":1}` via [`WsRequest`].
    fn control_message(&self, action: ControlAction, streams: &[StreamName], id: u64) -> Result<String, AdapterError> {
        if streams.is_empty() || streams.len() > MAX_STREAMS_PER_MESSAGE {
            return Err(AdapterError::BatchSize { venue: KIND, count: streams.len(), max: MAX_STREAMS_PER_MESSAGE });
        }
        let method = match action {
            ControlAction::Subscribe => "SUBSCRIBE",
            ControlAction::Unsubscribe => "UNSUBSCRIBE",
        };
        let request = WsRequest {
            method: method.to_owned(),
            params: Some(streams.iter().map(|s| s.as_str().to_owned()).collect()),
            id: Value::from(id),
        };
        serde_json::to_string(&request).map_err(AdapterError::Encode)
    }

    fn classify(&self, text: &str, time_received_us: u64) -> Result<VenueFrame, FrameError> {
        let frame = parse_frame(text, time_received_us).map_err(|e| FrameError { venue: KIND, source: Box::new(e) })?;
        Ok(match frame {
            Frame::Depth(diff) => VenueFrame::Depth(diff),
            Frame::Ticker(ticker) => VenueFrame::Ticker(ticker),
            Frame::Trade(trade) => VenueFrame::Trade(trade),
            Frame::Kline(kline) => VenueFrame::Kline(kline),
            Frame::Reply { id, result } => match stream_list(&result) {
                Some(streams) => VenueFrame::Subscriptions { id: request_id(&id), streams },
                None => VenueFrame::Ack { id: request_id(&id) },
            },
            Frame::Error { id, code, msg } => VenueFrame::Rejected { id: request_id(&id), code, msg },
            Frame::ServerShutdown { .. } => VenueFrame::ServerShutdown,
            Frame::Unknown => VenueFrame::Unknown,
        })
    }

    fn listing_url(&self, rest_base_url: &str) -> String {
        format!("{}/api/v3/exchangeInfo", rest_base_url.trim_end_matches('/'))
    }

    fn listing_weight(&self) -> u32 {
        crate::binance::rest_wire::EXCHANGE_INFO_WEIGHT
    }

    fn listed_markets(&self, body: &str) -> Result<Vec<ListedMarket>, AdapterError> {
        let info: ExchangeInfo =
            serde_json::from_str(body).map_err(|source| AdapterError::Listing { venue: KIND, source })?;
        Ok(info
            .symbols
            .into_iter()
            .map(|s| ListedMarket {
                symbol: Symbol::new(&s.symbol),
                base: Asset::new(&s.base_asset),
                quote: Asset::new(&s.quote_asset),
                status: s.status,
            })
            .collect())
    }

    fn parse_instruments(&self, body: &str) -> Result<Vec<Instrument>, AdapterError> {
        rest_wire::parse_exchange_info(body).map(|info| info.instruments).map_err(|e| AdapterError::Reply {
            venue: KIND,
            what: "instrument listing",
            source: Box::new(e),
        })
    }

    fn request_weight_limit(&self, listing_body: &str) -> Result<Option<RateLimit>, AdapterError> {
        let rules = rest_wire::parse_rate_limits(listing_body).map_err(|e| AdapterError::Reply {
            venue: KIND,
            what: "instrument listing",
            source: Box::new(e),
        })?;
        Ok(rest_wire::request_weight_per_minute(&rules)
            .map(|max| RateLimit { max, per: std::time::Duration::from_secs(60) }))
    }

    fn snapshot_url(&self, rest_base_url: &str, symbol: &Symbol, limit: u32) -> String {
        rest_wire::depth_url(rest_base_url, symbol, limit)
    }

    fn snapshot_weight(&self, limit: u32) -> u32 {
        rest_wire::depth_weight(limit)
    }

    fn parse_snapshot(&self, body: &str) -> Result<DepthSnapshot, AdapterError> {
        rest_wire::parse_depth_snapshot(body).map_err(|e| AdapterError::Reply {
            venue: KIND,
            what: "depth snapshot",
            source: Box::new(e),
        })
    }

    fn depth_sequencer(&self) -> Box<dyn DepthSequencer> {
        Box::new(BinanceSequencer::new())
    }
}

/// A request id storm sent: a number (or a numeric string); anything else is not ours.
fn request_id(id: &Value) -> Option<u64> {
    id.as_u64().or_else(|| id.as_str().and_then(|s| s.parse().ok()))
}

/// The result of `LIST_SUBSCRIPTIONS` (`["btcusdt@depth@100ms"]`); `None` for `null` results.
fn stream_list(result: &Value) -> Option<Vec<StreamName>> {
    result.as_array()?.iter().map(|v| v.as_str().map(StreamName::new)).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use storm_core::SymbolStatus;

    const DEPTH: &str = r#"{"e":"depthUpdate","E":1723161255308,"s":"BTCUSDT","U":50093239203,"u":50093239207,"b":[["55653.87000000","0.00000000"]],"a":[["61838.04000000","0.32332000"]]}"#;
    const TICKER: &str =
        r#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#;
    const TRADE: &str = r#"{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}"#;
    const KLINE: &str = r#"{"e":"kline","E":1633998523963,"s":"NKNUSDT","k":{"t":1633998480000,"T":1633998539999,"s":"NKNUSDT","i":"1m","f":19862761,"L":19862790,"o":"0.35270000","c":"0.35280000","h":"0.35280000","l":"0.35220000","v":"25877.00000000","n":30,"x":false,"q":"9116.04600000","V":"58.00000000","Q":"20.46240000","B":"0"}}"#;

    fn sub(member: &str) -> Subscription {
        member.parse().unwrap()
    }

    fn names(list: &[&str]) -> Vec<StreamName> {
        list.iter().map(|s| StreamName::new(*s)).collect()
    }

    #[test]
    fn every_channel_maps_to_its_stream_name_and_back() {
        let cases = [
            ("depth:BTCUSDT", "btcusdt@depth@100ms"),
            ("ticker:ETHUSDT", "ethusdt@bookTicker"),
            ("trade:BTCUSDT", "btcusdt@trade"),
            ("kline:BTCUSDT:1m", "btcusdt@kline_1m"),
            ("kline:BTCUSDT:1M", "btcusdt@kline_1M"),
            ("depth:1000SATSUSDT", "1000satsusdt@depth@100ms"),
        ];
        for (member, stream) in cases {
            assert_eq!(BinanceAdapter.stream_name(&sub(member)).unwrap().as_str(), stream, "{member}");
            assert_eq!(BinanceAdapter.subscription_of(stream).unwrap(), sub(member), "{stream}");
        }
    }

    #[test]
    fn every_kline_interval_round_trips() {
        for interval in KLINE_INTERVALS {
            let subscription = sub(&format!("kline:ETHBTC:{interval}"));
            let stream = BinanceAdapter.stream_name(&subscription).unwrap();
            assert_eq!(stream.as_str(), format!("ethbtc@kline_{interval}"));
            assert_eq!(BinanceAdapter.subscription_of(stream.as_str()).unwrap(), subscription);
        }
    }

    #[test]
    fn stream_names_storm_would_not_produce_are_unknown() {
        let foreign = [
            "btcusdt@depth",
            "btcusdt@depth@1000ms",
            "btcusdt@aggTrade",
            "btcusdt@ticker",
            "BTCUSDT@trade",
            "btcusdt@kline_7x",
            "btcusdt@kline_",
            "@trade",
            "btcusdt",
            "",
            "btc-usdt@trade",
            "btcusdt@trade@100ms",
        ];
        for stream in foreign {
            let err = BinanceAdapter.subscription_of(stream).unwrap_err();
            assert!(matches!(&err, AdapterError::UnknownStream { stream: s, .. } if s == stream), "{stream:?}: {err}");
        }
    }

    #[test]
    fn subscriptions_binance_cannot_serve_are_unsupported() {
        let invalid = [
            sub("depth:BTC-USDT"),
            Subscription { channel: Channel::Depth, symbol: Symbol::new("BTCUSDT"), interval: Some("1m".into()) },
            Subscription { channel: Channel::Kline, symbol: Symbol::new("BTCUSDT"), interval: None },
            Subscription { channel: Channel::Kline, symbol: Symbol::new("BTCUSDT"), interval: Some("7x".into()) },
            Subscription { channel: Channel::Trade, symbol: Symbol::new(""), interval: None },
        ];
        for subscription in invalid {
            let err = BinanceAdapter.stream_name(&subscription).unwrap_err();
            assert!(matches!(err, AdapterError::Unsupported { venue: "binance", .. }), "{subscription:?}: {err}");
        }
    }

    #[test]
    fn control_messages_are_binance_ws_requests() {
        let streams = names(&["btcusdt@depth@100ms", "ethusdt@bookTicker"]);
        let text = BinanceAdapter.control_message(ControlAction::Subscribe, &streams, 7).unwrap();
        assert_eq!(text, r#"{"method":"SUBSCRIBE","params":["btcusdt@depth@100ms","ethusdt@bookTicker"],"id":7}"#);
        let text = BinanceAdapter.control_message(ControlAction::Unsubscribe, &streams[..1], 8).unwrap();
        assert_eq!(text, r#"{"method":"UNSUBSCRIBE","params":["btcusdt@depth@100ms"],"id":8}"#);
        let parsed: WsRequest = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed.params.unwrap(), ["btcusdt@depth@100ms"]);
    }

    #[test]
    fn control_messages_refuse_empty_and_oversized_batches() {
        let too_many: Vec<StreamName> =
            (0..=MAX_STREAMS_PER_MESSAGE).map(|i| StreamName::new(format!("s{i}@trade"))).collect();
        for batch in [&[][..], &too_many[..]] {
            let err = BinanceAdapter.control_message(ControlAction::Subscribe, batch, 1).unwrap_err();
            assert!(matches!(err, AdapterError::BatchSize { count, max: 200, .. } if count == batch.len()), "{err}");
        }
    }

    #[test]
    fn control_requests_chunk_by_message_size_with_consecutive_ids() {
        let streams: Vec<StreamName> = (0..450).map(|i| StreamName::new(format!("s{i}@trade"))).collect();
        let mut next_id = 10;
        let requests = BinanceAdapter.control_requests(ControlAction::Subscribe, &streams, &mut next_id).unwrap();
        let shape: Vec<(u64, usize)> = requests.iter().map(|r| (r.id, r.streams.len())).collect();
        assert_eq!(shape, [(10, 200), (11, 200), (12, 50)]);
        assert_eq!(next_id, 13);
        let sent: Vec<StreamName> = requests.iter().flat_map(|r| r.streams.clone()).collect();
        assert_eq!(sent, streams, "every stream once, in order");
        assert!(requests[2].text.ends_with(r#"],"id":12}"#), "{}", requests[2].text);
        assert!(BinanceAdapter.control_requests(ControlAction::Unsubscribe, &[], &mut next_id).unwrap().is_empty());
    }

    #[test]
    fn limits_and_connection_url_follow_binance_md() {
        let limits = BinanceAdapter.limits();
        assert_eq!(limits.max_streams_per_connection, 1024);
        assert_eq!(limits.client_messages, RateLimit { max: 5, per: std::time::Duration::from_secs(1) });
        assert_eq!(limits.new_connections, RateLimit { max: 300, per: std::time::Duration::from_secs(300) });
        assert_eq!(limits.max_connection_age, std::time::Duration::from_secs(86_400));
        assert!(limits.max_streams_per_message <= limits.max_streams_per_connection);
        for base in ["wss://stream.binance.com:9443", "wss://stream.binance.com:9443/"] {
            assert_eq!(BinanceAdapter.connection_url(base), "wss://stream.binance.com:9443/stream");
        }
    }

    #[test]
    fn market_frames_classify_to_events_of_their_subscription() {
        let cases = [
            ("btcusdt@depth@100ms", DEPTH, "depth:BTCUSDT"),
            ("bnbusdt@bookTicker", TICKER, "ticker:BNBUSDT"),
            ("btcusdt@trade", TRADE, "trade:BTCUSDT"),
            ("nknusdt@kline_1m", KLINE, "kline:NKNUSDT:1m"),
        ];
        for (stream, data, member) in cases {
            let text = format!(r#"{{"stream":"{stream}","data":{data}}}"#);
            let frame = BinanceAdapter.classify(&text, 42).unwrap();
            assert_eq!(frame.subscription(), Some(sub(member)), "{stream}");
            let expected = sub(member);
            let key = (expected.channel, &expected.symbol, expected.interval.as_deref());
            assert_eq!(frame.stream_key(), Some(key), "{stream}");
            assert_eq!(BinanceAdapter.subscription_of(stream).unwrap(), sub(member));
        }
        let VenueFrame::Depth(diff) = BinanceAdapter.classify(DEPTH, 42).unwrap() else { panic!("depth") };
        assert_eq!((diff.last_update_id, diff.time_received), (50_093_239_207, 42));
    }

    #[test]
    fn control_frames_classify_with_their_request_id() {
        let cases = [
            (r#"{"result":null,"id":7}"#, VenueFrame::Ack { id: Some(7) }),
            (r#"{"result":null,"id":"8"}"#, VenueFrame::Ack { id: Some(8) }),
            (r#"{"result":null,"id":"not-ours"}"#, VenueFrame::Ack { id: None }),
            (
                r#"{"result":["btcusdt@trade"],"id":3}"#,
                VenueFrame::Subscriptions { id: Some(3), streams: names(&["btcusdt@trade"]) },
            ),
            (r#"{"result":[],"id":4}"#, VenueFrame::Subscriptions { id: Some(4), streams: vec![] }),
            (
                r#"{"error":{"code":2,"msg":"Invalid request: unknown stream"},"id":9}"#,
                VenueFrame::Rejected { id: Some(9), code: 2, msg: "Invalid request: unknown stream".into() },
            ),
            (
                r#"{"error":{"code":3,"msg":"Invalid JSON"},"id":null}"#,
                VenueFrame::Rejected { id: None, code: 3, msg: "Invalid JSON".into() },
            ),
            (r#"{"e":"serverShutdown","E":1723161255208}"#, VenueFrame::ServerShutdown),
            (r#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade"}}"#, VenueFrame::Unknown),
        ];
        for (text, expected) in cases {
            let frame = BinanceAdapter.classify(text, 0).unwrap();
            assert_eq!(frame, expected, "{text}");
            assert_eq!((frame.subscription(), frame.stream_key()), (None, None));
        }
    }

    #[test]
    fn malformed_frames_are_errors_naming_the_venue() {
        for text in ["", "not json", r#"{"stream":"btcusdt@trade","data":{"e":"trade"}}"#, "[1]"] {
            let err = BinanceAdapter.classify(text, 0).unwrap_err();
            assert!(err.to_string().starts_with("malformed binance frame"), "{err}");
        }
    }

    #[test]
    fn exchange_info_lists_every_symbol_with_its_status() {
        let body = r#"{"timezone":"UTC","symbols":[
            {"symbol":"ETHBTC","status":"TRADING","baseAsset":"ETH","quoteAsset":"BTC","filters":[]},
            {"symbol":"BCCBTC","status":"BREAK","baseAsset":"BCC","quoteAsset":"BTC","orderTypes":["LIMIT"]}]}"#;
        let markets = BinanceAdapter.listed_markets(body).unwrap();
        let expected = [
            ListedMarket {
                symbol: "ETHBTC".into(),
                base: "ETH".into(),
                quote: "BTC".into(),
                status: SymbolStatus::Trading,
            },
            ListedMarket {
                symbol: "BCCBTC".into(),
                base: "BCC".into(),
                quote: "BTC".into(),
                status: SymbolStatus::Other,
            },
        ];
        assert_eq!(markets, expected);
        for bad in ["", "{}", r#"{"symbols":[{"symbol":"X"}]}"#] {
            let err = BinanceAdapter.listed_markets(bad).unwrap_err();
            assert!(matches!(err, AdapterError::Listing { venue: "binance", .. }), "{bad:?}: {err}");
        }
    }
}
