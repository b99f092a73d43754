//! Control traffic: live subscription requests and their replies on the market-data WebSocket,
//! the `serverShutdown` notice, and the REST error body.

use serde::{Deserialize, Serialize};

use super::tag::ServerShutdownTag;

/// A live control message sent by the client on a market-data connection.
///
/// `{"method":"SUBSCRIBE","params":["btcusdt@depth@100ms"],"id":1}`; `LIST_SUBSCRIPTIONS`
/// carries no `params` (`{"method":"LIST_SUBSCRIPTIONS","id":3}`). `id` is an int64, a string of
/// up to 36 characters, or `null`, and is echoed in the reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WsRequest {
    /// `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, ...
    pub method: String,
    /// Stream names, lowercase (`btcusdt@trade`); absent for `LIST_SUBSCRIPTIONS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Vec<String>>,
    /// Request id, echoed in the reply.
    pub id: serde_json::Value,
}

/// A successful reply to a [`WsRequest`].
///
/// `{"result":null,"id":1}`, or for `LIST_SUBSCRIPTIONS` `{"result":["btcusdt@depth@100ms"],"id":3}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WsReply {
    /// `null` for (un)subscribe, the stream list for `LIST_SUBSCRIPTIONS`.
    pub result: serde_json::Value,
    /// The request's id.
    pub id: serde_json::Value,
}

/// A failed [`WsRequest`].
///
/// `{"error":{"code":2,"msg":"Invalid request: unknown variant"},"id":null}`; codes: 0 unknown
/// property, 1 bad value type, 2 invalid request, 3 invalid JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WsErrorReply {
    /// Code and message.
    pub error: ApiError,
    /// The request's id (`null` when it could not be read).
    pub id: serde_json::Value,
}

/// Binance's error body, on REST and inside WebSocket error replies.
///
/// `{"code":-1022,"msg":"Signature for this request is not valid."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Error code (negative on REST, small positive on the stream control channel).
    pub code: i64,
    /// Human-readable message.
    pub msg: String,
}

/// Notice that the server will close this connection soon: reconnect early.
///
/// `{"e":"serverShutdown","E":1723161255208}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerShutdown {
    /// Always `serverShutdown`.
    #[serde(rename = "e")]
    pub event: ServerShutdownTag,
    /// Event time, ms since epoch.
    #[serde(rename = "E")]
    pub time_ms: u64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::binance::wire::samples::round_trip;

    #[test]
    fn documented_control_messages_round_trip_byte_for_byte() {
        let sub: WsRequest = round_trip(r#"{"method":"SUBSCRIBE","params":["btcusdt@depth@100ms"],"id":1}"#);
        assert_eq!(sub.params.as_deref(), Some(&["btcusdt@depth@100ms".to_owned()][..]));
        let list: WsRequest = round_trip(r#"{"method":"LIST_SUBSCRIPTIONS","id":3}"#);
        assert_eq!(list.params, None);
        let string_id: WsRequest = round_trip(r#"{"method":"UNSUBSCRIBE","params":[],"id":"a-b"}"#);
        assert_eq!(string_id.id, "a-b");
        round_trip::<WsReply>(r#"{"result":null,"id":1}"#);
        round_trip::<WsReply>(r#"{"result":["btcusdt@depth@100ms"],"id":3}"#);
        let err: WsErrorReply = round_trip(r#"{"error":{"code":2,"msg":"Invalid request: ..."},"id":null}"#);
        assert_eq!(err.error.code, 2);
        let api: ApiError = round_trip(r#"{"code":-1022,"msg":"Signature for this request is not valid."}"#);
        assert_eq!(api.code, -1022);
        let bye: ServerShutdown = round_trip(r#"{"e":"serverShutdown","E":1723161255208}"#);
        assert_eq!(bye.time_ms, 1_723_161_255_208);
    }
}
