//! The ingester's frame classifier: one text frame in, one storm-core event (or control
//! message) out, for raw (`/ws/<stream>`) and combined (`/stream?streams=`) connections alike.
//!
//! The depth, bookTicker and trade frames Binance sends are read by the `direct` module, a
//! hand-written single pass over the bytes in Binance's exact spelling: the ingester's hot path,
//! ~1.4 M depth frames/s per core against ~0.25 M through serde (`benches/parse_frames.rs`).
//! Anything else goes to serde, which stays the reference decoder. There, combined frames are
//! decoded in a single pass: Binance writes `"stream"` before `"data"`, so the stream name picks
//! the payload type before the payload is read. Raw frames are scanned
//! once for their `"e"` (or the bookTicker shape) and then decoded; control replies
//! (`{"result":..,"id":..}`, `{"error":{..},"id":..}`) are recognised by their keys. Anything
//! well-formed but unknown (an `aggTrade`, a new event type) is [`Frame::Unknown`]; anything
//! malformed is a [`ParseError`], never a panic.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use storm_core::{DepthDiff, Kline, Ticker, Trade};

use super::{direct, ApiError, BookTicker, DepthUpdate, KlineEvent, ServerShutdown, TradeEvent};

/// One market-data WebSocket frame, classified.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// A `depthUpdate` (diff depth).
    Depth(DepthDiff),
    /// A `bookTicker`.
    Ticker(Ticker),
    /// A `trade`.
    Trade(Trade),
    /// A `kline`.
    Kline(Kline),
    /// Reply to a control request: `{"result":null,"id":1}`.
    Reply {
        /// The request's id (`null` when absent).
        id: Value,
        /// The result (`null` for SUBSCRIBE/UNSUBSCRIBE).
        result: Value,
    },
    /// Error reply: `{"error":{"code":2,"msg":"Invalid request: ..."},"id":1}`.
    Error {
        /// The request's id (`null` when absent).
        id: Value,
        /// Error code.
        code: i64,
        /// Error message.
        msg: String,
    },
    /// `{"e":"serverShutdown","E":..}`: reconnect early.
    ServerShutdown {
        /// Event time, ms.
        time_ms: u64,
    },
    /// Well-formed JSON this classifier does not handle (other streams or events).
    Unknown,
}

/// A frame that is not valid JSON or does not have the types its stream promises.
#[derive(Debug, thiserror::Error)]
#[error("malformed Binance frame: {0}")]
pub struct ParseError(#[from] pub serde_json::Error);

/// Classifies one text frame; `time_received_us` becomes the event's `time_received`.
///
/// ```
/// use storm_venues::binance::wire::{parse_frame, Frame};
/// let text = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}"#;
/// let Ok(Frame::Trade(trade)) = parse_frame(text, 1) else { panic!("a trade") };
/// assert_eq!(trade.price.to_string(), "61837.63000000");
/// ```
pub fn parse_frame(text: &str, time_received_us: u64) -> Result<Frame, ParseError> {
    match direct::parse(text, time_received_us) {
        Some(frame) => Ok(frame),
        None => parse_with_serde(text, time_received_us),
    }
}

/// The reference decoder: any frame, any valid JSON spelling, through serde.
pub(super) fn parse_with_serde(text: &str, time_received_us: u64) -> Result<Frame, ParseError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let scan = de.deserialize_map(ScanVisitor { received: time_received_us })?;
    de.end()?;
    Ok(scan.finish(text, time_received_us)?)
}

/// The payload type a stream name or an `"e"` value announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Depth,
    Ticker,
    Trade,
    Kline,
    Shutdown,
    Other,
}

impl Kind {
    /// From a stream name: `btcusdt@depth@100ms`, `btcusdt@bookTicker`, `btcusdt@kline_1m`, ...
    pub(super) fn of_stream(name: &str) -> Kind {
        let Some((_, rest)) = name.split_once('@') else { return Kind::Other };
        match rest {
            "depth" | "depth@100ms" | "depth@1000ms" => Kind::Depth,
            "bookTicker" => Kind::Ticker,
            "trade" => Kind::Trade,
            _ if rest.starts_with("kline_") => Kind::Kline,
            _ => Kind::Other,
        }
    }

    /// From the `"e"` field of a raw event.
    fn of_event(e: &str) -> Kind {
        match e {
            "depthUpdate" => Kind::Depth,
            "trade" => Kind::Trade,
            "kline" => Kind::Kline,
            "serverShutdown" => Kind::Shutdown,
            _ => Kind::Other,
        }
    }
}

/// Reads a string and maps it to a [`Kind`] without allocating.
struct Classify(fn(&str) -> Kind);

impl<'de> DeserializeSeed<'de> for Classify {
    type Value = Kind;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Kind, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for Classify {
    type Value = Kind;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a stream name or event type")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Kind, E> {
        Ok((self.0)(v))
    }
}

/// Decodes a payload of a known [`Kind`] straight into a [`Frame`].
struct DataSeed {
    kind: Kind,
    received: u64,
}

impl<'de> DeserializeSeed<'de> for DataSeed {
    type Value = Frame;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Frame, D::Error> {
        let r = self.received;
        Ok(match self.kind {
            Kind::Depth => Frame::Depth(DepthUpdate::deserialize(d)?.into_diff(r)),
            Kind::Ticker => Frame::Ticker(BookTicker::deserialize(d)?.into_ticker(r)),
            Kind::Trade => Frame::Trade(TradeEvent::deserialize(d)?.into_trade(r)),
            Kind::Kline => Frame::Kline(KlineEvent::deserialize(d)?.into_kline(r)),
            Kind::Shutdown => Frame::ServerShutdown { time_ms: ServerShutdown::deserialize(d)?.time_ms },
            Kind::Other => {
                IgnoredAny::deserialize(d)?;
                Frame::Unknown
            }
        })
    }
}

/// The top-level keys that matter for classification.
#[derive(Deserialize)]
#[serde(field_identifier)]
enum Key {
    #[serde(rename = "stream")]
    Stream,
    #[serde(rename = "data")]
    Data,
    #[serde(rename = "e")]
    Event,
    #[serde(rename = "result")]
    Result,
    #[serde(rename = "error")]
    Error,
    #[serde(rename = "id")]
    Id,
    #[serde(rename = "u")]
    UpdateId,
    #[serde(rename = "B")]
    BidQty,
    #[serde(other)]
    Other,
}

/// What one pass over the top-level object found.
#[derive(Default)]
struct Scan {
    /// The decoded `data` of a combined frame.
    frame: Option<Frame>,
    stream: Option<Kind>,
    /// `data` that came before `stream` (Binance does not do this; other writers might).
    early_data: Option<Value>,
    event: Option<Kind>,
    result: Option<Value>,
    error: Option<ApiError>,
    id: Option<Value>,
    has_update_id: bool,
    has_bid_qty: bool,
}

struct ScanVisitor {
    received: u64,
}

impl<'de> Visitor<'de> for ScanVisitor {
    type Value = Scan;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Binance JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scan, A::Error> {
        let mut scan = Scan::default();
        while let Some(key) = map.next_key::<Key>()? {
            // A key twice would make the frame mean whichever copy a reader keeps: refuse it,
            // as serde's derived decoders (the reference) do.
            let seen = match key {
                Key::Stream => scan.stream.is_some().then_some("stream"),
                Key::Data => (scan.frame.is_some() || scan.early_data.is_some()).then_some("data"),
                Key::Event => scan.event.is_some().then_some("e"),
                Key::Result => scan.result.is_some().then_some("result"),
                Key::Error => scan.error.is_some().then_some("error"),
                Key::Id => scan.id.is_some().then_some("id"),
                Key::UpdateId | Key::BidQty | Key::Other => None,
            };
            if let Some(field) = seen {
                return Err(de::Error::duplicate_field(field));
            }
            match key {
                Key::Stream => scan.stream = Some(map.next_value_seed(Classify(Kind::of_stream))?),
                Key::Data => match scan.stream {
                    Some(kind) => scan.frame = Some(map.next_value_seed(DataSeed { kind, received: self.received })?),
                    None => scan.early_data = Some(map.next_value()?),
                },
                Key::Event => scan.event = Some(map.next_value_seed(Classify(Kind::of_event))?),
                Key::Result => scan.result = Some(map.next_value()?),
                Key::Error => scan.error = Some(map.next_value()?),
                Key::Id => scan.id = Some(map.next_value()?),
                Key::UpdateId | Key::BidQty | Key::Other => {
                    scan.has_update_id |= matches!(key, Key::UpdateId);
                    scan.has_bid_qty |= matches!(key, Key::BidQty);
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(scan)
    }
}

impl Scan {
    /// Turns the scan into a frame, decoding `text` again for raw events.
    fn finish(self, text: &str, received: u64) -> Result<Frame, serde_json::Error> {
        if let Some(frame) = self.frame {
            return Ok(frame);
        }
        if let Some(kind) = self.stream {
            let data = self.early_data.ok_or_else(|| de::Error::missing_field("data"))?;
            return DataSeed { kind, received }.deserialize(data);
        }
        if let Some(ApiError { code, msg }) = self.error {
            return Ok(Frame::Error { id: self.id.unwrap_or(Value::Null), code, msg });
        }
        if let Some(result) = self.result {
            return Ok(Frame::Reply { id: self.id.unwrap_or(Value::Null), result });
        }
        let kind = match self.event {
            Some(kind) => kind,
            // A raw bookTicker has no "e"; it is the only frame with top-level "u" and "B".
            None if self.has_update_id && self.has_bid_qty => Kind::Ticker,
            None => Kind::Other,
        };
        if kind == Kind::Other {
            return Ok(Frame::Unknown);
        }
        DataSeed { kind, received }.deserialize(&mut serde_json::Deserializer::from_str(text))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::binance::wire::samples::{DEPTH, KLINE, TICKER, TRADE};

    fn combined(stream: &str, data: &str) -> String {
        format!(r#"{{"stream":"{stream}","data":{data}}}"#)
    }

    #[test]
    fn raw_and_combined_frames_give_the_same_event() {
        let cases = [
            ("btcusdt@depth@100ms", DEPTH),
            ("btcusdt@depth", DEPTH),
            ("bnbusdt@bookTicker", TICKER),
            ("btcusdt@trade", TRADE),
            ("nknusdt@kline_1m", KLINE),
        ];
        for (stream, data) in cases {
            let raw = parse_frame(data, 42).unwrap();
            let wrapped = parse_frame(&combined(stream, data), 42).unwrap();
            assert_eq!(raw, wrapped, "{stream}");
            assert!(!matches!(raw, Frame::Unknown), "{stream} must be recognised");
        }
    }

    #[test]
    fn events_carry_both_clocks() {
        let Frame::Depth(d) = parse_frame(DEPTH, 42).unwrap() else { panic!("depth") };
        assert_eq!((d.first_update_id, d.last_update_id, d.level_count()), (50_093_239_203, 50_093_239_207, 3));
        assert_eq!((d.time_exchange, d.time_received), (1_723_161_255_308_000, 42));
        let Frame::Ticker(t) = parse_frame(TICKER, 42).unwrap() else { panic!("ticker") };
        assert_eq!((t.update_id, t.ask_qty.to_string().as_str()), (400_900_217, "40.66000000"));
        let Frame::Kline(k) = parse_frame(KLINE, 42).unwrap() else { panic!("kline") };
        assert_eq!((k.time_exchange, k.time_received), (1_633_998_523_963_000, 42));
    }

    #[test]
    fn data_before_stream_is_still_decoded() {
        let text = format!(r#"{{"data":{TRADE},"stream":"btcusdt@trade"}}"#);
        assert!(matches!(parse_frame(&text, 0).unwrap(), Frame::Trade(t) if t.trade_id == 3_735_683_259));
    }

    #[test]
    fn control_messages_are_classified() {
        let cases: [(&str, Frame); 6] = [
            (r#"{"result":null,"id":1}"#, Frame::Reply { id: 1.into(), result: Value::Null }),
            (
                r#"{"result":["btcusdt@depth@100ms"],"id":"x"}"#,
                Frame::Reply { id: "x".into(), result: serde_json::json!(["btcusdt@depth@100ms"]) },
            ),
            (
                r#"{"error":{"code":2,"msg":"Invalid request: ..."},"id":null}"#,
                Frame::Error { id: Value::Null, code: 2, msg: "Invalid request: ...".into() },
            ),
            (r#"{"e":"serverShutdown","E":1723161255208}"#, Frame::ServerShutdown { time_ms: 1_723_161_255_208 }),
            (&combined("btcusdt@aggTrade", r#"{"e":"aggTrade","a":1}"#), Frame::Unknown),
            (r#"{"e":"24hrTicker","E":1,"s":"BTCUSDT"}"#, Frame::Unknown),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_frame(text, 0).unwrap(), expected, "{text}");
        }
        assert_eq!(parse_frame("{}", 0).unwrap(), Frame::Unknown);
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        let bad = [
            "",
            "garbage",
            "\u{0}\u{FFFF}",
            "[1,2,3]",
            "42",
            "null",
            r#""depthUpdate""#,
            &DEPTH[..DEPTH.len() / 2],
            &combined("btcusdt@trade", TRADE)[..60],
            &format!("{DEPTH} trailing"),
            r#"{"stream":"btcusdt@trade"}"#,
            r#"{"stream":42,"data":{}}"#,
            &combined("btcusdt@trade", r#"{"e":"trade"}"#),
            &combined("btcusdt@trade", DEPTH),
            &DEPTH.replace(r#""U":50093239203"#, r#""U":"50093239203""#),
            &DEPTH.replace("55653.87000000", "1e5x"),
            &DEPTH.replace(r#"["55653.87000000","0.00000000"]"#, r#"["55653.87000000"]"#),
            &DEPTH.replace(r#""U":50093239203"#, r#""U":-1"#),
            &TICKER.replace(r#""25.35190000""#, "25.3519"),
            &TRADE.replace(r#""m":true"#, r#""m":"yes""#),
            r#"{"e":"serverShutdown"}"#,
            r#"{"error":"boom","id":1}"#,
            &format!(r#"{{"stream":"btcusdt@trade","data":{TRADE},"data":{TRADE}}}"#),
            &format!(r#"{{"stream":"btcusdt@trade","stream":"btcusdt@trade","data":{TRADE}}}"#),
            r#"{"result":null,"result":[],"id":1}"#,
            // The fast path's shape, broken in the places it reads.
            &combined("btcusdt@depth@100ms", &DEPTH.replace(r#""0.40163000"]"#, r#""0.40163000","1"]"#)),
            &combined("btcusdt@depth@100ms", &DEPTH.replace(r#""0.40163000"]]"#, r#""0.40163000"],]"#)),
            &combined("btcusdt@depth@100ms", &DEPTH.replace("61838.04000000", "61838.0400000x")),
            &combined("btcusdt@depth@100ms", &DEPTH.replace("61838.04000000", "61838.04000000.1")),
            &combined("btcusdt@depth@100ms", &DEPTH.replace(r#""E":1723161255308"#, r#""E":01723161255308"#)),
            &combined("btcusdt@depth@100ms", DEPTH)[..DEPTH.len()],
            &combined("btcusdt@depth@100ms", DEPTH).replace("}}", "}"),
            &format!("{}}}", combined("btcusdt@depth@100ms", DEPTH)),
            &combined("btcusdt@bookTicker", &TICKER.replace("31.21000000", "31.2100000\u{7f}")),
            &combined("btcusdt@trade", &TRADE.replace(r#""M":true"#, r#""M":tru"#)),
        ];
        for text in bad {
            assert!(parse_frame(text, 0).is_err(), "must be rejected: {text:?}");
        }
    }
}
