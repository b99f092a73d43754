//! Exact fixed-point integers for the book's hot path.
//!
//! A decimal string such as `"61837.63000000"` becomes the integer `6183763000000` at scale 8.
//! Parsing is a single pass over the bytes with no allocation, which is most of what makes the
//! book fast; it is exact (a digit that does not fit the scale is an error, never a rounding).

use rust_decimal::Decimal;

/// Quantities above this cannot be represented by `Decimal` (96-bit mantissa).
const MAX_MANTISSA: u128 = (1u128 << 96) - 1;

/// Why a digit run could not be accumulated.
enum Stop {
    /// Not a decimal number we can hold exactly.
    Invalid,
    /// Too many digits for this accumulator; a wider one may do.
    Overflow,
}

/// An integer that digits are accumulated into.
trait Acc: Copy + Into<u128> {
    const ZERO: Self;
    fn push(self, digit: u8) -> Option<Self>;
}

impl Acc for u64 {
    const ZERO: Self = 0;
    #[inline]
    fn push(self, digit: u8) -> Option<Self> {
        self.checked_mul(10)?.checked_add(u64::from(digit))
    }
}

impl Acc for u128 {
    const ZERO: Self = 0;
    #[inline]
    fn push(self, digit: u8) -> Option<Self> {
        self.checked_mul(10)?.checked_add(u128::from(digit))
    }
}

/// One pass over the bytes: the digits (up to `scale` fractional ones) and how many fractional
/// digits were taken.
#[inline]
fn accumulate<A: Acc>(bytes: &[u8], scale: u32) -> Result<(A, u32), Stop> {
    let mut value = A::ZERO;
    let mut frac_digits = 0u32;
    let mut seen_dot = false;
    let mut seen_digit = false;
    for &b in bytes {
        match b {
            b'0'..=b'9' => {
                seen_digit = true;
                if seen_dot {
                    if frac_digits == scale {
                        // Beyond our scale only zeros are acceptable.
                        if b != b'0' {
                            return Err(Stop::Invalid);
                        }
                        continue;
                    }
                    frac_digits += 1;
                }
                value = value.push(b - b'0').ok_or(Stop::Overflow)?;
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => return Err(Stop::Invalid),
        }
    }
    if seen_digit {
        Ok((value, frac_digits))
    } else {
        Err(Stop::Invalid)
    }
}

/// Parses a non-negative decimal string into an integer with `scale` fractional digits.
///
/// Returns `None` for an empty string, a sign, a non-digit, more significant fractional digits
/// than `scale` (trailing zeros beyond it are fine) or a value too large for a `Decimal`.
/// Digits accumulate in a `u64` (every Binance price and quantity fits); longer inputs are parsed
/// again in a `u128`.
pub fn parse_fixed(s: &str, scale: u32) -> Option<u128> {
    let bytes = s.as_bytes();
    let (value, frac_digits): (u128, u32) = match accumulate::<u64>(bytes, scale) {
        Ok((v, f)) => (v.into(), f),
        Err(Stop::Overflow) => accumulate::<u128>(bytes, scale).ok()?,
        Err(Stop::Invalid) => return None,
    };
    let value = value.checked_mul(10u128.checked_pow(scale - frac_digits)?)?;
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
