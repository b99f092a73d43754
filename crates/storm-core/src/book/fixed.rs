//! Exact fixed-point integers for the book's hot path.
//!
//! A decimal string such as `"61837.63000000"` becomes the integer `6183763000000` at scale 8.
//! Parsing is a single pass over the bytes with no allocation, which is most of what makes the
//! book fast; it is exact (a digit that does not fit the scale is an error, never a rounding).

use rust_decimal::Decimal;

/// Quantities above this cannot be represented by `Decimal` (96-bit mantissa).
const MAX_MANTISSA: u128 = (1u128 << 96) - 1;

/// Parses a non-negative decimal string into an integer with `scale` fractional digits.
///
/// Returns `None` for an empty string, a sign, a non-digit, more significant fractional digits
/// than `scale` (trailing zeros beyond it are fine) or a value too large for a `Decimal`.
pub fn parse_fixed(s: &str, scale: u32) -> Option<u128> {
    let bytes = s.as_bytes();
    // Fast path: up to 19 significant digits accumulate in a u64 (every Binance price and
    // quantity at scale 8); longer inputs take the u128 path.
    let mut value: u64 = 0;
    let mut frac_digits: u32 = 0;
    let mut seen_dot = false;
    let mut seen_digit = false;
    let mut digits = 0u32;
    for &b in bytes {
        match b {
            b'0'..=b'9' => {
                seen_digit = true;
                let digit = u64::from(b - b'0');
                if seen_dot {
                    if frac_digits == scale {
                        // Beyond our scale only zeros are acceptable.
                        if digit != 0 {
                            return None;
                        }
                        continue;
                    }
                    frac_digits += 1;
                }
                if digits >= 19 {
                    return parse_fixed_wide(bytes, scale);
                }
                value = value * 10 + digit;
                if value != 0 {
                    digits += 1;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => return None,
        }
    }
    if !seen_digit {
        return None;
    }
    let value = u128::from(value).checked_mul(10u128.checked_pow(scale - frac_digits)?)?;
    (value <= MAX_MANTISSA).then_some(value)
}

/// The general case of [`parse_fixed`], accumulating in a u128.
fn parse_fixed_wide(bytes: &[u8], scale: u32) -> Option<u128> {
    let mut value: u128 = 0;
    let mut frac_digits: u32 = 0;
    let mut seen_dot = false;
    for &b in bytes {
        match b {
            b'0'..=b'9' => {
                let digit = u128::from(b - b'0');
                if seen_dot {
                    if frac_digits == scale {
                        if digit != 0 {
                            return None;
                        }
                        continue;
                    }
                    frac_digits += 1;
                }
                value = value.checked_mul(10)?.checked_add(digit)?;
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => return None,
        }
    }
    value = value.checked_mul(10u128.checked_pow(scale - frac_digits)?)?;
    (value <= MAX_MANTISSA).then_some(value)
}

/// Converts a non-negative `Decimal` into an integer with `scale` fractional digits, exactly.
pub fn decimal_to_fixed(d: Decimal, scale: u32) -> Option<u128> {
    if d.is_sign_negative() && !d.is_zero() {
        return None;
    }
    let mantissa = u128::try_from(d.mantissa()).ok()?;
    let own = d.scale();
    if own <= scale {
        mantissa.checked_mul(10u128.checked_pow(scale - own)?)
    } else {
        let div = 10u128.checked_pow(own - scale)?;
        (mantissa % div == 0).then_some(mantissa / div)
    }
}

/// Converts a fixed-point integer back into a `Decimal` carrying exactly `scale` digits, so that
/// `61837.63` at scale 8 prints as Binance sends it: `61837.63000000`.
pub fn fixed_to_decimal(v: u128, scale: u32) -> Decimal {
    // parse_fixed and decimal_to_fixed never produce values above MAX_MANTISSA.
    Decimal::try_from_i128_with_scale(v.min(MAX_MANTISSA) as i128, scale).unwrap_or(Decimal::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn parses_exactly_at_scale() {
        assert_eq!(parse_fixed("61837.63000000", 8), Some(6_183_763_000_000));
        assert_eq!(parse_fixed("0.00000001", 8), Some(1));
        assert_eq!(parse_fixed("12", 2), Some(1200));
        assert_eq!(parse_fixed("12.", 2), Some(1200));
        assert_eq!(parse_fixed(".5", 1), Some(5));
        assert_eq!(parse_fixed("1.2300", 2), Some(123)); // trailing zeros past the scale
        assert_eq!(parse_fixed("00000000000000000000000012.5", 1), Some(125)); // leading zeros
                                                                               // 25 significant digits: the wide path.
        assert_eq!(parse_fixed("1234567890123456789012345", 0), Some(1_234_567_890_123_456_789_012_345));
    }

    #[test]
    fn rejects_what_it_cannot_hold_exactly() {
        for bad in ["", ".", "-1", "1e5", "1.2.3", " 1", "0.001", "99999999999999999999999999999999"] {
            assert_eq!(parse_fixed(bad, 2), None, "{bad:?}");
        }
    }

    #[test]
    fn decimal_conversions_round_trip() {
        let d = Decimal::from_str("61837.63").expect("decimal");
        let v = decimal_to_fixed(d, 8).expect("fits");
        assert_eq!(v, 6_183_763_000_000);
        assert_eq!(fixed_to_decimal(v, 8).to_string(), "61837.63000000");
        assert_eq!(decimal_to_fixed(Decimal::from_str("0.123").expect("decimal"), 2), None);
        assert_eq!(decimal_to_fixed(Decimal::from_str("-1").expect("decimal"), 2), None);
    }
}
