//! Signed-request checks, as Binance does them: `X-MBX-APIKEY` names the account, `signature`
//! is the hex HMAC-SHA256 of the query string followed by the body (without the signature
//! itself), and `timestamp`/`recvWindow` must bracket the server time.

use std::collections::BTreeMap;

use storm_venues::binance::sign;

use crate::orders::SimError;

/// Request parameters (query and form body merged; later wins) and the exact signed payload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    /// Parameters by name, URL-decoded.
    pub map: BTreeMap<String, String>,
    /// `totalParams` without `signature`: query then body, concatenated.
    pub payload: String,
    /// The `signature` parameter, if sent.
    pub signature: Option<String>,
}

fn strip_signature(raw: &str, sig: &mut Option<String>) -> String {
    raw.split('&')
        .filter(|kv| {
            if let Some(v) = kv.strip_prefix("signature=") {
                *sig = Some(v.to_owned());
                false
            } else {
                !kv.is_empty()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Form/URL decoding (`%2B` → `+`, `+` → space); malformed escapes are kept verbatim.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Params {
    /// Parses a raw query string and a form body.
    pub fn parse(query: Option<&str>, body: &str) -> Self {
        let mut signature = None;
        let q = strip_signature(query.unwrap_or(""), &mut signature);
        let b = strip_signature(body.trim(), &mut signature);
        let mut map = BTreeMap::new();
        for kv in q.split('&').chain(b.split('&')).filter(|kv| !kv.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            map.insert(decode(k), decode(v));
        }
        Self { map, payload: format!("{q}{b}"), signature }
    }

    /// A parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }
}

/// Checks the signature and the timestamp window for `api_key` whose secret is `secret`.
pub fn verify(params: &Params, secret: &str, server_ms: u64) -> Result<(), SimError> {
    let sig = params.signature.as_deref().ok_or_else(|| {
        SimError::new(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
    })?;
    let ts: u64 = params.get("timestamp").and_then(|t| t.parse().ok()).ok_or_else(|| {
        SimError::new(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
    })?;
    let window: u64 = match params.get("recvWindow") {
        None => 5_000,
        Some(w) => w
            .parse()
            .ok()
            .filter(|w| *w <= 60_000)
            .ok_or_else(|| SimError::new(-1131, "recvWindow must be less than 60000"))?,
    };
    if !sign::verify(secret, &params.payload, sig) {
        return Err(SimError::new(-1022, "Signature for this request is not valid."));
    }
    if ts >= server_ms + 1_000 || server_ms.saturating_sub(ts) > window {
        return Err(SimError::new(-1021, "Timestamp for this request is outside of the recvWindow."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    /// Binance's documented example: the same signature whether the parameters travel in the
    /// query, in the body, or split between them.
    #[test]
    fn documented_vector_verifies_in_query_body_and_mixed() {
        let sig = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
        let all = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        let server = 1_499_827_319_600;
        let q = Params::parse(Some(&format!("{all}&signature={sig}")), "");
        assert_eq!(verify(&q, SECRET, server), Ok(()));
        let b = Params::parse(None, &format!("{all}&signature={sig}"));
        assert_eq!(verify(&b, SECRET, server), Ok(()));
        let mixed_sig = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77";
        let m = Params::parse(
            Some("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"),
            &format!("quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature={mixed_sig}"),
        );
        assert_eq!(verify(&m, SECRET, server), Ok(()));
        assert_eq!(q.get("price"), Some("0.1"));
    }

    #[test]
    fn bad_signature_and_stale_timestamp_are_rejected() {
        let all = "symbol=LTCBTC&recvWindow=5000&timestamp=1499827319559";
        let p = Params::parse(Some(&format!("{all}&signature=00")), "");
        assert_eq!(verify(&p, SECRET, 1_499_827_319_600).map_err(|e| e.code), Err(-1022));
        let good = sign::sign(SECRET, all);
        let p = Params::parse(Some(&format!("{all}&signature={good}")), "");
        assert_eq!(verify(&p, SECRET, 1_499_827_319_559 + 5_001).map_err(|e| e.code), Err(-1021));
        assert_eq!(verify(&p, SECRET, 1_499_827_319_559 - 1_000).map_err(|e| e.code), Err(-1021));
        assert_eq!(verify(&p, SECRET, 1_499_827_319_559 + 5_000), Ok(()));
    }

    #[test]
    fn url_decoding() {
        let p = Params::parse(Some("a=1%2B2&b=x+y"), "");
        assert_eq!((p.get("a"), p.get("b")), (Some("1+2"), Some("x y")));
    }
}
