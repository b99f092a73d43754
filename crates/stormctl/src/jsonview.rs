//! Reading JSON written by other engines without their Rust types: the streamer's order and
//! balance hashes are looked at as `serde_json::Value`, a column is the first of several spellings
//! that is present (`executed_qty`, `executedQty`, Binance's one-letter `z`, ...), and values are
//! printed as written — strings verbatim, so a decimal amount is never turned into a float.

use rust_decimal::Decimal;
use serde_json::Value;

/// The first of `names` present (and not null) in `obj`.
pub(crate) fn pick<'a>(obj: &'a Value, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|n| obj.get(*n).filter(|v| !v.is_null()))
}

/// A value as a table cell: strings verbatim, numbers and booleans as JSON writes them.
pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// The cell for the first present spelling, `-` when none is.
pub(crate) fn cell(obj: &Value, names: &[&str]) -> String {
    pick(obj, names).map_or_else(|| "-".to_owned(), text)
}

/// A decimal amount (string or number text), exactly.
pub(crate) fn decimal(v: &Value) -> Option<Decimal> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

/// A timestamp in ms (µs values are scaled down), from a number or numeric string.
pub(crate) fn millis(v: &Value) -> Option<u64> {
    let n = match v {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    Some(if n > 100_000_000_000_000 { n / 1_000 } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spellings_and_exact_values() {
        let v = json!({"executedQty": "0.00100000", "z": "9", "price": 61000.5, "updateTime": 1723161255408000u64});
        assert_eq!(cell(&v, &["executed_qty", "executedQty", "z"]), "0.00100000");
        assert_eq!(cell(&v, &["price"]), "61000.5");
        assert_eq!(cell(&v, &["avg_price"]), "-");
        assert_eq!(decimal(&json!("0.10")).map(|d| d.to_string()), Some("0.10".to_owned()));
        assert_eq!(pick(&v, &["updateTime"]).and_then(millis), Some(1_723_161_255_408));
    }
}
