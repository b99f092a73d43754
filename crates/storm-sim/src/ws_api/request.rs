//! WS-API request frames and response envelopes.
//!
//! A request is `{"id":..,"method":"order.place","params":{..}}`; the `id` (an integer, a string
//! of up to 36 characters, or null) is echoed in the response. Parameter values may be JSON
//! strings or JSON numbers, and Binance signs them **as written**: `"quantity":0.01000000` is
//! signed as `quantity=0.01000000`, not `0.01`. So the parameters are read as raw JSON text
//! (`serde_json::value::RawValue`) and never go through `f64`.
//!
//! Responses are `{"id":..,"status":200,"result":{..},"rateLimits":[..]}` and
//! `{"id":..,"status":400,"error":{"code":-1022,"msg":".."},"rateLimits":[..]}`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use storm_venues::binance::sign;

use crate::auth::Params;
use crate::orders::SimError;

/// One parsed WS-API request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The request id, echoed in the response (integer, string or null).
    pub id: Value,
    /// The method, e.g. `order.place`.
    pub method: String,
    /// Parameters as strings (numbers exactly as sent); `payload` is the WS-API signature
    /// payload (every parameter but `signature`, sorted by name) and `signature` is split off.
    pub params: Params,
}

/// A frame that is not a valid request: the id, if one could be read, and the error to answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRequest {
    /// The request id (null when the frame was not even JSON).
    pub id: Value,
    /// Binance error (-1135 invalid JSON, -1102 missing method, ...).
    pub error: SimError,
}

#[derive(Deserialize)]
struct RawRequest<'a> {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    method: Option<String>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

fn invalid_json() -> SimError {
    SimError::new(-1135, "Invalid JSON Request")
}

/// A parameter value as the text Binance signs: strings unquoted, numbers and booleans as
/// written; `None` for null (treated as absent).
fn param_text(name: &str, raw: &RawValue) -> Result<Option<String>, SimError> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(text).map(Some).map_err(|_| invalid_json()),
        Some(b'n') => Ok(None),
        Some(b'-' | b'0'..=b'9' | b't' | b'f') => Ok(Some(text.to_owned())),
        _ => Err(SimError::new(-1135, format!("JSON sent for parameter '{name}' is not valid"))),
    }
}

/// Builds [`Params`] from the `params` object: values as text, `signature` split off, and the
/// payload Binance signs ([`sign::ws_api_payload`]).
fn params(raw: Option<&RawValue>) -> Result<Params, SimError> {
    let Some(raw) = raw else { return Ok(Params::default()) };
    let fields: BTreeMap<String, &RawValue> = serde_json::from_str(raw.get())
        .map_err(|_| SimError::new(-1135, "Invalid 'params' in JSON request; expected an object."))?;
    let mut map = BTreeMap::new();
    for (name, value) in fields {
        if let Some(text) = param_text(&name, value)? {
            map.insert(name, text);
        }
    }
    let signature = map.remove("signature");
    let pairs: Vec<(&str, &str)> = map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let payload = sign::ws_api_payload(&pairs);
    Ok(Params { map, payload, signature })
}

impl Request {
    /// Parses one text frame.
    pub fn parse(text: &str) -> Result<Self, BadRequest> {
        let raw: RawRequest<'_> = serde_json::from_str(text).map_err(|_| {
            // Salvage the id when the frame is JSON but of the wrong shape.
            let id = serde_json::from_str::<Value>(text).ok().and_then(|v| v.get("id").cloned()).unwrap_or(Value::Null);
            BadRequest { id, error: invalid_json() }
        })?;
        let id = raw.id;
        let method = match raw.method {
            Some(m) if !m.is_empty() => m,
            _ => {
                let error =
                    SimError::new(-1102, "Mandatory parameter 'method' was not sent, was empty/null, or malformed.");
                return Err(BadRequest { id, error });
            }
        };
        match params(raw.params) {
            Ok(params) => Ok(Self { id, method, params }),
            Err(error) => Err(BadRequest { id, error }),
        }
    }
}

/// The `rateLimits` array of a response: the connection's IP's REQUEST_WEIGHT this minute.
pub fn rate_limits(used: u64, limit: u64) -> Value {
    json!([{ "rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": limit, "count": used }])
}

/// A success response.
pub fn ok(id: &Value, result: Value, rate_limits: Value) -> Value {
    json!({ "id": id, "status": 200, "result": result, "rateLimits": rate_limits })
}

/// An error response with the error's status (400, 401, 429, 500, ...).
pub fn error(id: &Value, e: &SimError, rate_limits: Option<Value>) -> Value {
    let mut v = json!({ "id": id, "status": e.http, "error": { "code": e.code, "msg": e.msg } });
    if let (Some(limits), Value::Object(m)) = (rate_limits, &mut v) {
        m.insert("rateLimits".into(), limits);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_kept_exactly_as_sent_and_signature_is_split_off() {
        let r = Request::parse(
            r#"{"id":7,"method":"order.place","params":{"quantity":0.01000000,"price":"52000.00","recvWindow":100,
               "flag":true,"none":null,"signature":"ab"}}"#,
        )
        .unwrap();
        assert_eq!(r.id, json!(7));
        assert_eq!(r.params.get("quantity"), Some("0.01000000"));
        assert_eq!(r.params.get("flag"), Some("true"));
        assert_eq!(r.params.get("none"), None);
        assert_eq!(r.params.signature.as_deref(), Some("ab"));
        assert_eq!(r.params.payload, "flag=true&price=52000.00&quantity=0.01000000&recvWindow=100");
    }

    #[test]
    fn malformed_frames_are_errors_with_the_id_when_readable() {
        let e = Request::parse("{not json").unwrap_err();
        assert_eq!((e.id, e.error.code), (Value::Null, -1135));
        let e = Request::parse(r#"{"id":"a","method":"ping","params":[1]}"#).unwrap_err();
        assert_eq!((e.id, e.error.code), (json!("a"), -1135));
        let e = Request::parse(r#"{"id":3,"params":{}}"#).unwrap_err();
        assert_eq!((e.id, e.error.code), (json!(3), -1102));
        let e = Request::parse(r#"{"id":4,"method":"x","params":{"a":{"b":1}}}"#).unwrap_err();
        assert_eq!((e.id, e.error.code), (json!(4), -1135));
        assert!(Request::parse(r#"{"id":null,"method":"ping"}"#).is_ok());
    }
}
