//! A forward-only reader over the bytes of one frame: exact literals, strings without escapes,
//! integers and decimal strings. Every method returns `None` (and may leave the cursor anywhere)
//! as soon as the input is not in the one canonical spelling it accepts; the caller then hands
//! the frame to serde, which decides whether it is valid.
//!
//! Digits are read eight at a time with plain integer arithmetic on a `u64` ("SWAR"): one load,
//! a mask that finds the first non-digit, and three multiplications that turn up to eight ASCII
//! digits into their value. Binance writes every price and quantity with eight fractional digits,
//! so [`Cursor::decimal`] first tries exactly that spelling: two loads, no loop.

use rust_decimal::Decimal;

/// At most this many digits per number, so that any run fits a `u64` (10^19 < 2^64) and any
/// scale is within `Decimal`'s 28. Longer numbers are left to serde.
const MAX_DIGITS: u32 = 19;

/// `0x30` (`'0'`) in every byte.
const ZEROS: u64 = 0x3030_3030_3030_3030;
/// The high nibble of every byte.
const HIGH_NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
/// Adding 6 pushes `':'..='?'` (0x3A..0x3F) out of the `0x3_` row; digits stay in it.
const SIXES: u64 = 0x0606_0606_0606_0606;

/// Powers of ten up to 10^8: what an accumulator is multiplied by before a chunk is added.
const POW10: [u64; 9] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

/// How many of the eight bytes of `chunk` (first byte in the low bits) are ASCII digits before
/// the first non-digit: 0 to 8.
#[inline]
fn leading_digits(chunk: u64) -> u32 {
    // A byte is a digit when its high nibble is 3 and stays 3 after adding 6. No carry leaves a
    // byte of valid UTF-8 (at most 0xF4 + 6), and a carry could only follow a non-digit anyway.
    let not_digit = ((chunk & HIGH_NIBBLES) ^ ZEROS) | ((chunk.wrapping_add(SIXES) & HIGH_NIBBLES) ^ ZEROS);
    not_digit.trailing_zeros() / 8
}

/// The value of the first `n` (1..=8) digits of `chunk`.
#[inline]
fn value_of_leading(chunk: u64, n: u32) -> u64 {
    // Keep the digit values, move the `n` digits to the top: the bytes shifted in are zeros,
    // that is leading zeros of an eight-digit number.
    let d = (chunk & 0x0F0F_0F0F_0F0F_0F0F) << (8 * (8 - n));
    // Pairs of bytes, then pairs of pairs, then of quads: first digit most significant.
    let d = (d.wrapping_mul(10) + (d >> 8)) & 0x00FF_00FF_00FF_00FF;
    let d = (d.wrapping_mul(100) + (d >> 16)) & 0x0000_FFFF_0000_FFFF;
    (d.wrapping_mul(10_000) + (d >> 32)) & 0xFFFF_FFFF
}

/// The spelling Binance uses for every price and quantity, `"<1 to 7 digits>.<8 digits>"`, read
/// with two loads and no loop: the mantissa (at scale 8) and the bytes it spans, quotes included.
#[inline(always)]
fn binance_decimal(rest: &[u8]) -> Option<(u64, usize)> {
    let [b'"', head @ ..] = *rest.first_chunk::<9>()? else { return None };
    let head = u64::from_le_bytes(head);
    let int_digits = leading_digits(head);
    if int_digits == 0 || int_digits == 8 || (head >> (8 * int_digits)) as u8 != b'.' {
        return None;
    }
    let [frac @ .., b'"'] = *rest.get(int_digits as usize + 2..)?.first_chunk::<9>()? else { return None };
    let frac = u64::from_le_bytes(frac);
    if leading_digits(frac) != 8 {
        return None;
    }
    // At most 15 digits: far inside a u64.
    let mantissa = value_of_leading(head, int_digits) * 100_000_000 + value_of_leading(frac, 8);
    Some((mantissa, int_digits as usize + 11))
}

/// Reads one frame's text front to back.
#[derive(Clone, Copy)]
pub(super) struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the first byte of `text`.
    pub(super) fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    /// The bytes not read yet.
    #[inline]
    fn rest(&self) -> &'a [u8] {
        self.text.as_bytes().get(self.pos..).unwrap_or_default()
    }

    /// True once every byte has been read.
    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    /// Consumes `lit` if the input continues with exactly these bytes.
    #[inline]
    pub(super) fn skip(&mut self, lit: &[u8]) -> bool {
        let found = self.rest().starts_with(lit);
        if found {
            self.pos += lit.len();
        }
        found
    }

    /// Consumes `lit`, or gives up.
    #[inline]
    pub(super) fn lit(&mut self, lit: &[u8]) -> Option<()> {
        self.skip(lit).then_some(())
    }

    /// The next eight bytes as a little-endian `u64`, padded with zero bytes (non-digits) at the
    /// end of the input.
    #[inline]
    fn chunk(&self) -> u64 {
        let rest = self.rest();
        match rest.first_chunk::<8>() {
            Some(bytes) => u64::from_le_bytes(*bytes),
            None => {
                let mut bytes = [0u8; 8];
                bytes.iter_mut().zip(rest).for_each(|(b, r)| *b = *r);
                u64::from_le_bytes(bytes)
            }
        }
    }

    /// Appends a run of digits to `acc`, which already holds `count` digits: the new value and
    /// digit count. `None` when the run would pass [`MAX_DIGITS`].
    #[inline(always)]
    fn digits(&mut self, mut acc: u64, mut count: u32) -> Option<(u64, u32)> {
        loop {
            let chunk = self.chunk();
            let n = leading_digits(chunk);
            if n == 0 {
                return Some((acc, count));
            }
            count += n;
            if count > MAX_DIGITS {
                return None;
            }
            // acc < 10^(count - n), so the result is below 10^count <= 10^19 < 2^64.
            acc = acc * POW10[n as usize] + value_of_leading(chunk, n);
            if n < 8 {
                self.pos += n as usize;
                return Some((acc, count));
            }
            // Eight digits: a constant step, and one byte says whether more follow.
            self.pos += 8;
            if !self.rest().first().is_some_and(u8::is_ascii_digit) {
                return Some((acc, count));
            }
        }
    }

    /// A JSON unsigned integer as serde_json reads it (`0`, or no leading zero), up to
    /// [`MAX_DIGITS`] digits. The caller checks what follows (a number must end at `,` or `}`).
    #[inline]
    pub(super) fn u64(&mut self) -> Option<u64> {
        let leading_zero = self.rest().first() == Some(&b'0');
        match self.digits(0, 0)? {
            (_, 0) => None,
            (_, n) if n > 1 && leading_zero => None,
            (value, _) => Some(value),
        }
    }

    /// `true` or `false`.
    pub(super) fn bool(&mut self) -> Option<bool> {
        if self.skip(b"true") {
            Some(true)
        } else {
            self.skip(b"false").then_some(false)
        }
    }

    /// The contents of a string whose opening quote has been read, up to and including the
    /// closing quote. Escapes and control characters are left to serde.
    pub(super) fn str_body(&mut self) -> Option<&'a str> {
        let start = self.pos;
        let len = self.rest().iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        self.pos += len;
        self.lit(b"\"")?;
        self.text.get(start..start + len)
    }

    /// A quoted decimal, `"<digits>"` or `"<digits>.<digits>"`, exactly as `Decimal::from_str`
    /// reads it: the mantissa is every digit and the scale the number of fractional ones, so
    /// `"61837.63000000"` is 6183763000000 at scale 8 and prints back the same.
    #[inline(always)]
    pub(super) fn decimal(&mut self) -> Option<Decimal> {
        // Both paths meet on a (mantissa, scale) pair in registers and the `Decimal` is built
        // after the join: built on each side, it was stored piecewise and reloaded whole at the
        // join, a store-forwarding stall that cost a third of a depth frame.
        let (mantissa, scale) = match binance_decimal(self.rest()) {
            Some((mantissa, len)) => {
                self.pos += len;
                (mantissa, 8)
            }
            None => self.any_decimal()?,
        };
        Decimal::try_from_i128_with_scale(i128::from(mantissa), scale).ok()
    }

    /// [`Cursor::decimal`] for any number of digits up to [`MAX_DIGITS`]: mantissa and scale.
    #[inline(never)]
    fn any_decimal(&mut self) -> Option<(u64, u32)> {
        self.lit(b"\"")?;
        let (int, int_digits) = self.digits(0, 0)?;
        if int_digits == 0 {
            return None;
        }
        let (mantissa, scale) = if self.skip(b".") {
            match self.digits(int, int_digits)? {
                (_, digits) if digits == int_digits => return None, // "12." is for serde to judge
                (mantissa, digits) => (mantissa, digits - int_digits),
            }
        } else {
            (int, 0)
        };
        self.lit(b"\"")?;
        Some((mantissa, scale))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::str::FromStr;

    use super::*;

    fn decimal(s: &str) -> Option<Decimal> {
        let quoted = format!("\"{s}\"");
        let mut c = Cursor::new(&quoted);
        c.decimal().filter(|_| c.at_end())
    }

    #[test]
    fn chunks_count_and_convert_leading_digits() {
        for s in ["", "1", "12345678", "61837.63", "0.32332000", "9999999999", "\"]", "1:", "1/", "0\u{F4}"] {
            let mut bytes = [0u8; 8];
            bytes.iter_mut().zip(s.as_bytes()).for_each(|(b, s)| *b = *s);
            let chunk = u64::from_le_bytes(bytes);
            let n = s.bytes().take(8).take_while(u8::is_ascii_digit).count();
            assert_eq!(leading_digits(chunk) as usize, n, "{s:?}");
            if n > 0 {
                assert_eq!(value_of_leading(chunk, n as u32), s[..n].parse::<u64>().unwrap(), "{s:?}");
            }
        }
    }

    #[test]
    fn decimals_match_from_str_in_value_and_scale() {
        let cases = [
            "0",
            "7",
            "0.00000000",
            "61837.63000000",
            "0.32332000",
            "0.00000001",
            "00012.50",
            "1234567890123456789",
            "123456789012.3456789",
            "0.000000000000000001",
            "18446744073.70955161",
            "99999999.99999999",
        ];
        for s in cases {
            let ours = decimal(s).unwrap_or_else(|| panic!("{s} must be read"));
            let theirs = Decimal::from_str(s).unwrap();
            assert_eq!((ours.mantissa(), ours.scale()), (theirs.mantissa(), theirs.scale()), "{s}");
            assert_eq!(ours.to_string(), theirs.to_string(), "{s}");
        }
    }

    #[test]
    fn binance_spelling_and_general_reader_agree() {
        for int in ["0", "7", "61837", "1234567", "12345678", "00"] {
            for frac in ["", "5", "6300000", "63000000", "630000001", "00000000"] {
                let s = if frac.is_empty() { format!("\"{int}\"") } else { format!("\"{int}.{frac}\"") };
                let general = Cursor::new(&s).any_decimal();
                if let Some((mantissa, len)) = binance_decimal(s.as_bytes()) {
                    assert_eq!((Some((mantissa, 8)), len), (general, s.len()), "{s}");
                } else {
                    assert!(frac.len() != 8 || int.len() == 8, "{s} has Binance's spelling");
                }
            }
        }
    }

    #[test]
    fn anything_else_is_left_to_serde() {
        let cases = [
            "",
            ".",
            "1.",
            ".5",
            "-1",
            "+1",
            "1e5",
            "1E5",
            "1_000",
            " 1",
            "1 ",
            "1.2.3",
            "12345678901234567890",
            "0.0000000000000000001",
            "1,5",
            "0x10",
            "١",
        ];
        for s in cases {
            assert_eq!(decimal(s), None, "{s:?}");
        }
    }

    #[test]
    fn integers_follow_json_rules() {
        let read = |s: &str| Cursor::new(s).u64();
        assert_eq!(read("0"), Some(0));
        assert_eq!(read("1723161255308,"), Some(1_723_161_255_308));
        assert_eq!(read("9999999999999999999}"), Some(9_999_999_999_999_999_999));
        for bad in ["", "01", "00", "-1", "12345678901234567890", ",1"] {
            assert_eq!(read(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn strings_stop_at_the_quote_and_refuse_escapes() {
        let mut c = Cursor::new("BTCUSDT\",");
        assert_eq!(c.str_body(), Some("BTCUSDT"));
        assert!(c.skip(b","));
        assert!(c.at_end());
        assert_eq!(Cursor::new("BTC\\u0055SDT\"").str_body(), None);
        assert_eq!(Cursor::new("BTC\nUSDT\"").str_body(), None);
        assert_eq!(Cursor::new("BTCUSDT").str_body(), None);
        assert_eq!(Cursor::new("€\"").str_body(), Some("€"));
    }
}
