//! The `storm:book:<venue>:<SYM>` hash: the one place that writes and reads its fields, so that
//! booksync, stormctl and the executor's paper mode agree with the README.
//!
//! Fields: `bids`, `asks` — JSON `[["price","qty"],...]`, best first, decimal strings with the
//! venue's decimals (Binance: 8, exactly as it sends them); `update_id`; `time_exchange` and
//! `time_local` in **milliseconds**; `status` (`syncing` | `live` | `stale`); `depth` — the
//! snapshot depth the book was synced with (levels per side the book is exact to, at the start).
//! The hash carries a TTL that booksync refreshes while it runs, so a dead engine leaves no
//! fresh-looking book behind.

use std::collections::HashMap;

use storm_core::{BookStatus, BookTop, Level, Price, Qty, Symbol};

use crate::error::CodecError;

/// The hash fields for `top` (its levels are the top N to show) synced at snapshot `depth`.
pub fn fields(top: &BookTop, depth: u32) -> Vec<(&'static str, String)> {
    vec![
        ("bids", levels_json(&top.bids)),
        ("asks", levels_json(&top.asks)),
        ("update_id", top.update_id.to_string()),
        ("time_exchange", (top.time_exchange / 1_000).to_string()),
        ("time_local", (top.time_local / 1_000).to_string()),
        ("status", top.status.as_str().to_owned()),
        ("depth", depth.to_string()),
    ]
}

/// `[["price","qty"],...]`; decimal strings need no escaping.
pub fn levels_json(levels: &[Level]) -> String {
    let mut out = String::with_capacity(2 + levels.len() * 32);
    out.push('[');
    for (i, l) in levels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("[\"");
        l.price.push_to(&mut out);
        out.push_str("\",\"");
        l.qty.push_to(&mut out);
        out.push_str("\"]");
    }
    out.push(']');
    out
}

/// A book hash read back (`HGETALL`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookHash {
    /// The book's top, as published (times in µs, from the ms fields).
    pub top: BookTop,
    /// The snapshot depth.
    pub depth: u32,
}

/// Parses an `HGETALL` reply of `storm:book:<venue>:<symbol>`.
pub fn parse(symbol: &Symbol, hash: &HashMap<String, String>) -> Result<BookHash, CodecError> {
    let get = |name: &'static str| hash.get(name).map(String::as_str).ok_or(CodecError::MissingField(name));
    let number = |name: &'static str| -> Result<u64, CodecError> {
        get(name)?.parse().map_err(|_| CodecError::BadField { field: name, value: get(name).unwrap_or("").to_owned() })
    };
    // Times are stored in ms and held in µs: a value too large for µs is an error, not a
    // saturated time that would not write back the same (found by fuzzing).
    let millis = |name: &'static str| -> Result<u64, CodecError> {
        number(name)?
            .checked_mul(1_000)
            .ok_or_else(|| CodecError::BadField { field: name, value: get(name).unwrap_or("").to_owned() })
    };
    let status: BookStatus = get("status")?
        .parse()
        .map_err(|_| CodecError::BadField { field: "status", value: get("status").unwrap_or("").to_owned() })?;
    Ok(BookHash {
        top: BookTop {
            symbol: symbol.clone(),
            bids: parse_levels("bids", get("bids")?)?,
            asks: parse_levels("asks", get("asks")?)?,
            update_id: number("update_id")?,
            time_exchange: millis("time_exchange")?,
            time_received: 0,
            time_local: millis("time_local")?,
            status,
        },
        depth: u32::try_from(number("depth")?).unwrap_or(u32::MAX),
    })
}

fn parse_levels(field: &'static str, text: &str) -> Result<Vec<Level>, CodecError> {
    let bad = || CodecError::BadField { field, value: text.chars().take(80).collect() };
    let pairs: Vec<(String, String)> = serde_json::from_str(text).map_err(|_| bad())?;
    let levels = pairs
        .into_iter()
        .map(|(p, q)| {
            let price: Price = p.parse().map_err(|_| bad())?;
            let qty: Qty = q.parse().map_err(|_| bad())?;
            Ok(Level::new(price, qty))
        })
        .collect::<Result<Vec<_>, CodecError>>()?;
    check_levels(field, &levels)?;
    Ok(levels)
}

/// A published level has a positive price and a positive quantity (a book holds no empty
/// levels); anything else read back from Redis is an error, never a level to trade on.
pub(crate) fn check_levels(field: &'static str, levels: &[Level]) -> Result<(), CodecError> {
    match levels.iter().find(|l| l.price <= Price::ZERO || l.qty <= Qty::ZERO) {
        Some(l) => Err(CodecError::BadField { field, value: format!("[\"{}\",\"{}\"]", l.price, l.qty) }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn top() -> BookTop {
        BookTop {
            symbol: Symbol::new("BTCUSDT"),
            bids: vec![
                Level::parse("61837.63000000", "3.78826000").expect("level"),
                Level::parse("61837.62000000", "0.00100000").expect("level"),
            ],
            asks: vec![Level::parse("61838.04000000", "0.50000000").expect("level")],
            update_id: 50_093_239_224,
            time_exchange: 1_723_161_255_408_000,
            time_received: 7,
            time_local: 1_723_161_255_409_123,
            status: BookStatus::Live,
        }
    }

    #[test]
    fn fields_are_the_documented_plain_text() {
        let f: HashMap<&str, String> = fields(&top(), 1000).into_iter().collect();
        assert_eq!(f["bids"], r#"[["61837.63000000","3.78826000"],["61837.62000000","0.00100000"]]"#);
        assert_eq!(f["asks"], r#"[["61838.04000000","0.50000000"]]"#);
        assert_eq!(f["update_id"], "50093239224");
        assert_eq!(f["time_exchange"], "1723161255408");
        assert_eq!(f["time_local"], "1723161255409");
        assert_eq!((f["status"].as_str(), f["depth"].as_str()), ("live", "1000"));
        assert_eq!(levels_json(&[]), "[]");
    }

    #[test]
    fn a_hash_parses_back_and_garbage_is_an_error() {
        let hash: HashMap<String, String> = fields(&top(), 1000).into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let back = parse(&Symbol::new("BTCUSDT"), &hash).expect("parse");
        assert_eq!((back.top.bids.clone(), back.top.asks.clone(), back.depth), (top().bids, top().asks, 1000));
        assert_eq!(back.top.time_local, 1_723_161_255_409_000, "ms precision");
        for (field, value) in [("bids", "[[1,2]]"), ("asks", "nope"), ("status", "LIVE"), ("update_id", "-1")] {
            let mut bad = hash.clone();
            bad.insert(field.into(), value.into());
            assert!(parse(&Symbol::new("BTCUSDT"), &bad).is_err(), "{field}={value}");
        }
        let mut missing = hash.clone();
        missing.remove("status");
        assert!(matches!(parse(&Symbol::new("BTCUSDT"), &missing), Err(CodecError::MissingField("status"))));
    }
}
