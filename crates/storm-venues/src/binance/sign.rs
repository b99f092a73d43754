//! HMAC-SHA256 request signing, as Binance specifies it for REST and the WebSocket API.
//!
//! - REST: `signature` is the lowercase hex HMAC-SHA256 of the query string (plus the body, if
//!   any) keyed with the secret; the API key travels in the `X-MBX-APIKEY` header.
//! - WebSocket API: the payload is every parameter except `signature`, **including `apiKey`**,
//!   sorted alphabetically by name and joined as `k=v` with `&` ([`ws_api_payload`]).
//!
//! The simulator verifies with [`verify`], which compares in constant time.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Builds the MAC keyed with `secret`.
fn mac(secret: &str) -> HmacSha256 {
    match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length (long keys are hashed, short ones padded), so
        // `new_from_slice` cannot fail for `Hmac<Sha256>`.
        Err(_) => unreachable!("HMAC-SHA256 accepts keys of any length"),
    }
}

/// Signs `payload` with `secret`: lowercase hex HMAC-SHA256, the value of Binance's `signature`.
pub fn sign(secret: &str, payload: &str) -> String {
    let mut mac = mac(secret);
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// True when `signature` (hex, either case) is the HMAC-SHA256 of `payload` under `secret`.
///
/// The comparison is constant-time (`hmac`'s `verify_slice`); a signature that is not valid hex
/// or has the wrong length is simply rejected.
pub fn verify(secret: &str, payload: &str, signature: &str) -> bool {
    let Ok(expected) = hex::decode(signature) else {
        return false;
    };
    let mut mac = mac(secret);
    mac.update(payload.as_bytes());
    mac.verify_slice(&expected).is_ok()
}

/// The WebSocket-API signature payload: every parameter except `signature` (including `apiKey`),
/// sorted alphabetically by name, formatted `name=value` and joined with `&`.
///
/// Values are used verbatim, as Binance's documented example does.
pub fn ws_api_payload(params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<&(&str, &str)> = params.iter().filter(|(k, _)| *k != "signature").collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::with_capacity(params.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (i, (k, v)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// A short, stable, non-secret id for an API key: the first 8 lowercase hex characters of the
/// key's SHA-256. Redis keys carry it as `<acct>` so the key itself never appears there.
pub fn account_id(api_key: &str) -> String {
    let digest = Sha256::digest(api_key.as_bytes());
    let mut id = hex::encode(&digest[..4]);
    id.truncate(8);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binance's documented REST example (BINANCE.md, "Signed endpoints").
    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
    const API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
    const REST_PAYLOAD: &str =
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    const REST_SIGNATURE: &str = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
    const WS_PAYLOAD: &str = "apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT";
    const WS_SIGNATURE: &str = "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24";

    #[test]
    fn rest_test_vector_matches_binance_docs() {
        assert_eq!(sign(SECRET, REST_PAYLOAD), REST_SIGNATURE);
        assert!(verify(SECRET, REST_PAYLOAD, REST_SIGNATURE));
    }

    #[test]
    fn ws_api_params_are_sorted_with_api_key_and_without_signature() {
        // Given in order.place's documented order, with a stale signature that must be left out.
        let params = [
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.01000000"),
            ("price", "52000.00"),
            ("recvWindow", "100"),
            ("timestamp", "1645423376532"),
            ("apiKey", API_KEY),
            ("signature", "deadbeef"),
        ];
        let payload = ws_api_payload(&params);
        assert_eq!(payload, WS_PAYLOAD);
        assert_eq!(sign(SECRET, &payload), WS_SIGNATURE);
        assert!(verify(SECRET, &payload, WS_SIGNATURE));
    }

    #[test]
    fn wrong_signature_is_rejected() {
        let mut tampered = REST_SIGNATURE.to_owned();
        tampered.replace_range(0..1, "d");
        assert!(!verify(SECRET, REST_PAYLOAD, &tampered));
        assert!(!verify(SECRET, &REST_PAYLOAD.replace("BUY", "SELL"), REST_SIGNATURE));
        assert!(!verify("another-secret", REST_PAYLOAD, REST_SIGNATURE));
        assert!(!verify(SECRET, REST_PAYLOAD, "not hex"));
        assert!(!verify(SECRET, REST_PAYLOAD, &REST_SIGNATURE[..62]));
        assert!(!verify(SECRET, REST_PAYLOAD, ""));
        // Upper-case hex is the same signature.
        assert!(verify(SECRET, REST_PAYLOAD, &REST_SIGNATURE.to_ascii_uppercase()));
    }

    #[test]
    fn account_id_is_eight_lowercase_hex_chars_and_stable() {
        let id = account_id(API_KEY);
        assert_eq!(id.len(), 8);
        assert!(id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')), "{id}");
        assert_eq!(id, account_id(API_KEY));
        assert_ne!(id, account_id("another-key"));
        assert_eq!(id, hex::encode(Sha256::digest(API_KEY.as_bytes()))[..8]);
    }
}
