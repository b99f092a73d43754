//! Real frames shared by the wire tests: from BINANCE.md and the recordings in `testdata/`
//! (BTCUSDT 2024-08-08 from `binance-spot-replay`, the NKNUSDT kline from `binance-spot-multi`).

/// A recorded BTCUSDT `depthUpdate` (asks shortened to two levels).
pub(super) const DEPTH: &str = r#"{"e":"depthUpdate","E":1723161255308,"s":"BTCUSDT","U":50093239203,"u":50093239207,"b":[["55653.87000000","0.00000000"]],"a":[["61838.04000000","0.32332000"],["61844.30000000","0.40163000"]]}"#;
/// BINANCE.md's `bookTicker` example.
pub(super) const TICKER: &str =
    r#"{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}"#;
/// A recorded BTCUSDT `trade`.
pub(super) const TRADE: &str = r#"{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}"#;
/// A recorded NKNUSDT `kline_1m`.
pub(super) const KLINE: &str = r#"{"e":"kline","E":1633998523963,"s":"NKNUSDT","k":{"t":1633998480000,"T":1633998539999,"s":"NKNUSDT","i":"1m","f":19862761,"L":19862790,"o":"0.35270000","c":"0.35280000","h":"0.35280000","l":"0.35220000","v":"25877.00000000","n":30,"x":false,"q":"9116.04600000","V":"58.00000000","Q":"20.46240000","B":"0"}}"#;

/// Parses `json` as `T` and checks that serializing gives the same bytes back.
#[allow(clippy::unwrap_used)]
pub(super) fn round_trip<T: serde::Serialize + for<'de> serde::Deserialize<'de>>(json: &str) -> T {
    let v: T = serde_json::from_str(json).unwrap();
    assert_eq!(serde_json::to_string(&v).unwrap(), json);
    v
}
