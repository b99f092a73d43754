//! Live control messages on a market-data connection: parsing the client's request and writing
//! Binance's replies.
//!
//! Binance's own error texts are serde's (`unknown variant `FOO`, expected one of ...`), so the
//! request is read with serde the same way and its message is passed on. Error codes: 0 unknown
//! property, 1 bad value type, 2 invalid request, 3 invalid JSON. Nothing a client sends can make
//! this panic: every failure is an error reply.

use serde::Deserialize;
use serde_json::Value;
use storm_venues::binance::wire::{ApiError, WsErrorReply, WsReply};

/// The only property a connection has (`SET_PROPERTY ["combined", true]`): whether frames are
/// wrapped as `{"stream":..,"data":..}`.
const COMBINED: &str = "combined";

/// Longest string id Binance accepts.
const MAX_ID_CHARS: usize = 36;

/// What the client asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Add streams.
    Subscribe(Vec<String>),
    /// Remove streams.
    Unsubscribe(Vec<String>),
    /// List the streams held.
    List,
    /// Switch combined framing on or off.
    SetCombined(bool),
    /// Is combined framing on?
    GetCombined,
}

/// A control request that parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// Echoed in the reply.
    pub id: Value,
    /// What to do.
    pub command: Command,
}

/// A failed request: the reply's code, message and id.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// 0 unknown property, 1 bad value type, 2 invalid request, 3 invalid JSON.
    pub code: i64,
    /// Binance-style message.
    pub msg: String,
    /// The request's id, or null when it could not be read.
    pub id: Value,
}

impl Failure {
    /// Code 2, `Invalid request: <detail>`.
    pub fn invalid(detail: impl std::fmt::Display, id: Value) -> Self {
        Self { code: 2, msg: format!("Invalid request: {detail}"), id }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Method {
    Subscribe,
    Unsubscribe,
    ListSubscriptions,
    SetProperty,
    GetProperty,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    method: Method,
    #[serde(default)]
    params: Option<Vec<Value>>,
    #[serde(default)]
    #[allow(dead_code)] // read from the untyped value, where a bad id is still visible
    id: serde::de::IgnoredAny,
}

fn valid_id(id: &Value) -> bool {
    match id {
        Value::Null => true,
        Value::Number(n) => n.is_i64() || n.is_u64(),
        Value::String(s) => s.chars().count() <= MAX_ID_CHARS,
        _ => false,
    }
}

/// Parses one text frame.
pub fn parse(text: &str) -> Result<Request, Failure> {
    let value: Value = serde_json::from_str(text).map_err(|e| Failure {
        code: 3,
        msg: format!("Invalid JSON: {e}"),
        id: Value::Null,
    })?;
    let Value::Object(object) = &value else {
        return Err(Failure::invalid("expected a JSON object", Value::Null));
    };
    let id = object.get("id").cloned().unwrap_or(Value::Null);
    if !valid_id(&id) {
        return Err(Failure::invalid(
            "request ID must be an integer, a string of at most 36 characters, or null",
            Value::Null,
        ));
    }
    let raw: RawRequest = serde_json::from_str(text).map_err(|e| Failure::invalid(e, id.clone()))?;
    let params = raw.params.unwrap_or_default();
    let command = match raw.method {
        Method::Subscribe => Command::Subscribe(stream_names(params, &id)?),
        Method::Unsubscribe => Command::Unsubscribe(stream_names(params, &id)?),
        Method::ListSubscriptions => Command::List,
        Method::SetProperty => match property(&params, 2, &id)? {
            Some(Value::Bool(on)) => Command::SetCombined(*on),
            _ => return Err(Failure { code: 1, msg: "Invalid value type: expected Boolean".into(), id }),
        },
        Method::GetProperty => {
            property(&params, 1, &id)?;
            Command::GetCombined
        }
    };
    Ok(Request { id, command })
}

fn stream_names(params: Vec<Value>, id: &Value) -> Result<Vec<String>, Failure> {
    params
        .into_iter()
        .map(|p| match p {
            Value::String(s) => Ok(s),
            other => Err(Failure::invalid(format!("invalid type: {other}, expected a stream name"), id.clone())),
        })
        .collect()
}

/// Checks `[name, value?]` of SET/GET_PROPERTY; returns the value when `len` is 2.
fn property<'a>(params: &'a [Value], len: usize, id: &Value) -> Result<Option<&'a Value>, Failure> {
    if params.len() > len {
        return Err(Failure::invalid("too many parameters", id.clone()));
    }
    match params.first() {
        Some(Value::String(name)) if name == COMBINED => {}
        Some(Value::String(_)) => return Err(Failure { code: 0, msg: "Unknown property".into(), id: id.clone() }),
        _ => return Err(Failure::invalid("property name must be a string", id.clone())),
    }
    if params.len() < len {
        return Err(Failure::invalid("missing parameters", id.clone()));
    }
    Ok(params.get(1))
}

/// `{"result":<result>,"id":<id>}`.
pub fn reply(result: Value, id: Value) -> String {
    serde_json::to_string(&WsReply { result, id }).unwrap_or_default()
}

/// `{"error":{"code":..,"msg":".."},"id":..}`.
pub fn error(f: Failure) -> String {
    serde_json::to_string(&WsErrorReply { error: ApiError { code: f.code, msg: f.msg }, id: f.id }).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn code(text: &str) -> Option<i64> {
        parse(text).err().map(|f| f.code)
    }

    #[test]
    fn documented_requests_parse() {
        let sub = parse(r#"{"method":"SUBSCRIBE","params":["btcusdt@depth@100ms"],"id":1}"#);
        assert_eq!(sub, Ok(Request { id: json!(1), command: Command::Subscribe(vec!["btcusdt@depth@100ms".into()]) }));
        let list = parse(r#"{"method":"LIST_SUBSCRIPTIONS","id":"abc"}"#);
        assert_eq!(list, Ok(Request { id: json!("abc"), command: Command::List }));
        let unsub = parse(r#"{"method":"UNSUBSCRIBE","params":[],"id":null}"#);
        assert_eq!(unsub, Ok(Request { id: Value::Null, command: Command::Unsubscribe(vec![]) }));
        let set = parse(r#"{"method":"SET_PROPERTY","params":["combined",true],"id":5}"#);
        assert_eq!(set.map(|r| r.command), Ok(Command::SetCombined(true)));
        let get = parse(r#"{"method":"GET_PROPERTY","params":["combined"],"id":2}"#);
        assert_eq!(get.map(|r| r.command), Ok(Command::GetCombined));
    }

    #[test]
    fn each_kind_of_mistake_gets_binance_code() {
        assert_eq!(code(r#"{"method":"SUBSCRIBE""#), Some(3));
        assert_eq!(code("garbage"), Some(3));
        assert_eq!(code(""), Some(3));
        assert_eq!(code("[1]"), Some(2));
        assert_eq!(code(r#"{"method":"FOO","id":1}"#), Some(2));
        assert_eq!(code(r#"{"params":[],"id":1}"#), Some(2));
        assert_eq!(code(r#"{"method":"SUBSCRIBE","params":[1],"id":1}"#), Some(2));
        assert_eq!(code(r#"{"method":"SUBSCRIBE","params":"x","id":1}"#), Some(2));
        assert_eq!(code(r#"{"method":"SUBSCRIBE","params":[],"id":1,"x":0}"#), Some(2));
        assert_eq!(code(r#"{"method":"SUBSCRIBE","params":[],"id":1.5}"#), Some(2));
        assert_eq!(code(r#"{"method":"SUBSCRIBE","params":[],"id":{"a":1}}"#), Some(2));
        let long = format!(r#"{{"method":"LIST_SUBSCRIPTIONS","id":"{}"}}"#, "x".repeat(37));
        assert_eq!(code(&long), Some(2));
        assert_eq!(code(r#"{"method":"SET_PROPERTY","params":["speed",true],"id":1}"#), Some(0));
        assert_eq!(code(r#"{"method":"SET_PROPERTY","params":["combined","yes"],"id":1}"#), Some(1));
        assert_eq!(code(r#"{"method":"SET_PROPERTY","params":[true,true],"id":1}"#), Some(2));
        assert_eq!(code(r#"{"method":"GET_PROPERTY","params":["combined",1],"id":1}"#), Some(2));
    }

    #[test]
    fn replies_are_binance_bytes() {
        assert_eq!(reply(Value::Null, json!(1)), r#"{"result":null,"id":1}"#);
        assert_eq!(reply(json!(["btcusdt@trade"]), json!(3)), r#"{"result":["btcusdt@trade"],"id":3}"#);
        let f = parse(r#"{"method":"FOO","id":7}"#).err().unwrap_or_else(|| panic!("must fail"));
        let text = error(f);
        assert!(
            text.starts_with(r#"{"error":{"code":2,"msg":"Invalid request: unknown variant `FOO`, expected one of"#),
            "{text}"
        );
        assert!(text.ends_with(r#""id":7}"#), "{text}");
    }
}
