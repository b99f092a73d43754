//! Exact money: [`Price`] and [`Qty`] are `rust_decimal::Decimal` newtypes, never floats.
//!
//! They serialize as decimal strings (`"61837.63000000"`), exactly as venues send them, so a
//! value read back from Redis or JSON is bit-for-bit the value that was written. A [`Level`] is
//! a `[price, qty]` pair and serializes as a two-element array, the shape every venue uses.
//!
//! Reading one back ([`FromStr`], serde) accepts exactly that spelling, `-?<digits>[.<digits>]`,
//! and only when the value fits a `Decimal` without rounding (see [`parse_exact`]).

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Parses a decimal string as venues and storm write them, `-?<digits>[.<digits>]`, keeping its
/// scale. Anything else is an error rather than a guess: `Decimal::from_str` alone would round
/// digits beyond its 28th fractional place (`"0.00000000000000000000000000001"` read as zero) and
/// accept `"1_000"`, `"+1"`, `".5"`, `"1."` and `"1e5"`, none of which a venue sends.
pub fn parse_exact(s: &str) -> Result<Decimal, rust_decimal::Error> {
    parse_exact_ascii(s.as_bytes())
}

/// [`parse_exact`] over raw bytes, for readers that take a string straight off a binary payload
/// (msgpack) and would otherwise check it as UTF-8 first: the digit check here is stricter.
pub fn parse_exact_ascii(s: &[u8]) -> Result<Decimal, rust_decimal::Error> {
    let (neg, digits) = match s.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = match digits.iter().position(|&b| b == b'.') {
        Some(dot) => (&digits[..dot], Some(&digits[dot + 1..])),
        None => (digits, None),
    };
    let all_digits = |part: &[u8]| !part.is_empty() && part.iter().all(u8::is_ascii_digit);
    if !all_digits(int) || !frac.is_none_or(all_digits) {
        return Err(rust_decimal::Error::from("not a plain decimal (-?<digits>[.<digits>])"));
    }
    let frac = frac.unwrap_or(b"");
    // Every level of every diff comes through here: up to 19 digits fit a u64 exactly, which is
    // every price and quantity a venue sends; longer ones take `Decimal`'s own exact parser.
    if int.len() + frac.len() <= 19 {
        let mantissa = int.iter().chain(frac).fold(0u64, |m, &b| m * 10 + u64::from(b - b'0'));
        // ≤ 19 fractional digits: within Decimal's maximum scale of 28.
        let scale = frac.len() as u32;
        return Ok(Decimal::from_parts(mantissa as u32, (mantissa >> 32) as u32, 0, neg, scale));
    }
    // Only ASCII digits, '-' and '.' are left, so this is valid UTF-8.
    let text = std::str::from_utf8(s).map_err(|_| rust_decimal::Error::from("not ASCII"))?;
    Decimal::from_str_exact(text)
}

/// Serde visitor of [`parse_exact`] strings.
struct ExactVisitor;

impl serde::de::Visitor<'_> for ExactVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal string such as \"61837.63000000\"")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Decimal, E> {
        parse_exact(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Str(v), &self))
    }
}

/// Room for any `Decimal`: 29 digits, a sign, a point and up to 28 leading zeros.
const DECIMAL_BUF: usize = 64;

/// `d` as `Decimal`'s `Display` writes it (`"61837.63000000"`: every digit of the scale kept),
/// formatted from the mantissa directly: this runs for every level of every tops entry, and
/// `Decimal`'s own formatting was the largest single cost of publishing them.
fn format_decimal(d: Decimal, buf: &mut [u8; DECIMAL_BUF]) -> &str {
    let mantissa = d.mantissa();
    let mut out = Digits { buf, end: DECIMAL_BUF, written: 0, scale: d.scale() as usize };
    // Digits off the u128 while it is wider than a u64 (rare: > 19 digits), then the cheap u64
    // division (a multiply) for the rest.
    let mut wide = mantissa.unsigned_abs();
    while wide > u128::from(u64::MAX) {
        out.put((wide % 10) as u8);
        wide /= 10;
    }
    let mut digits = wide as u64;
    loop {
        out.put((digits % 10) as u8);
        digits /= 10;
        if digits == 0 && out.written > out.scale {
            break;
        }
    }
    if mantissa < 0 {
        out.end -= 1;
        out.buf[out.end] = b'-';
    }
    let Digits { buf, end, .. } = out;
    // Only ASCII digits, '.' and '-' were written.
    std::str::from_utf8(&buf[end..]).unwrap_or("0")
}

/// A decimal string written backwards from the end of a buffer, the point after `scale` digits.
struct Digits<'a> {
    buf: &'a mut [u8; DECIMAL_BUF],
    end: usize,
    written: usize,
    scale: usize,
}

impl Digits<'_> {
    fn put(&mut self, digit: u8) {
        self.end -= 1;
        self.buf[self.end] = b'0' + digit;
        self.written += 1;
        if self.written == self.scale {
            self.end -= 1;
            self.buf[self.end] = b'.';
        }
    }
}

macro_rules! decimal_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Decimal);

        impl<'de> Deserialize<'de> for $name {
            /// A decimal string read by [`parse_exact`].
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(ExactVisitor).map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut buf = [0u8; DECIMAL_BUF];
                serializer.serialize_str(format_decimal(self.0, &mut buf))
            }
        }

        impl $name {
            /// Zero.
            pub const ZERO: Self = Self(Decimal::ZERO);

            /// The inner decimal.
            pub fn get(self) -> Decimal {
                self.0
            }

            /// Appends the decimal string (as `Display` writes it, but without its overhead).
            pub fn push_to(self, out: &mut String) {
                let mut buf = [0u8; DECIMAL_BUF];
                out.push_str(format_decimal(self.0, &mut buf));
            }

            /// True when the value is zero (a quantity of zero removes a book level).
            pub fn is_zero(self) -> bool {
                self.0.is_zero()
            }
        }

        impl FromStr for $name {
            type Err = rust_decimal::Error;
            /// [`parse_exact`]: the exact value of a plain decimal string, or an error.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_exact(s).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<Decimal> for $name {
            fn from(d: Decimal) -> Self {
                Self(d)
            }
        }
    };
}

decimal_newtype!(
    /// A price in quote-asset units per one base-asset unit.
    Price
);
decimal_newtype!(
    /// A quantity of the base asset.
    Qty
);

/// One price level of a book: the total quantity resting at a price.
///
/// On the wire and in Redis it is the pair `["61837.63000000","3.78826000"]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "(Price, Qty)", into = "(Price, Qty)")]
pub struct Level {
    /// Price of the level.
    pub price: Price,
    /// Total quantity at that price; zero means "remove this level".
    pub qty: Qty,
}

impl Level {
    /// Builds a level.
    pub fn new(price: Price, qty: Qty) -> Self {
        Self { price, qty }
    }

    /// Parses a level from the venue's two decimal strings.
    pub fn parse(price: &str, qty: &str) -> Result<Self, rust_decimal::Error> {
        Ok(Self::new(price.parse()?, qty.parse()?))
    }
}

impl From<(Price, Qty)> for Level {
    fn from((price, qty): (Price, Qty)) -> Self {
        Self { price, qty }
    }
}

impl From<Level> for (Price, Qty) {
    fn from(l: Level) -> Self {
        (l.price, l.qty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_serializes_as_pair_of_exact_strings() {
        let l = Level::parse("61837.63000000", "0.00100000").expect("valid decimals");
        let json = serde_json::to_string(&l).expect("serializable");
        assert_eq!(json, r#"["61837.63000000","0.00100000"]"#);
        let back: Level = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, l);
    }

    #[test]
    fn fast_formatting_equals_decimal_display() {
        for text in [
            "0",
            "0.00000000",
            "61837.63000000",
            "0.005",
            "-1.50",
            "123",
            "-0.00100000",
            "7922816251426433759354395033.5",
        ] {
            let d = Decimal::from_str(text).expect("decimal");
            let mut buf = [0u8; DECIMAL_BUF];
            assert_eq!(format_decimal(d, &mut buf), d.to_string(), "{text}");
        }
        let extreme = [
            Decimal::MAX,
            Decimal::MIN,
            Decimal::new(1, 28),
            Decimal::new(-1, 28),
            Decimal::from_parts(0, 0, 0, true, 2),
        ];
        for d in extreme {
            let mut buf = [0u8; DECIMAL_BUF];
            assert_eq!(format_decimal(d, &mut buf), d.to_string());
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_formatting_equals_display_for_any_decimal(lo in proptest::num::u32::ANY, mid in proptest::num::u32::ANY, hi in proptest::num::u32::ANY, neg: bool, scale in 0u32..=28) {
            let d = Decimal::from_parts(lo, mid, hi, neg, scale);
            let mut buf = [0u8; DECIMAL_BUF];
            proptest::prop_assert_eq!(format_decimal(d, &mut buf), d.to_string());
            let mut s = String::new();
            Price(d).push_to(&mut s);
            proptest::prop_assert_eq!(s, d.to_string());
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_parsing_equals_decimal_from_str_exact(int in "[0-9]{1,20}", frac in proptest::option::of("[0-9]{0,20}"), neg: bool) {
            let text = match &frac {
                Some(f) if !f.is_empty() => format!("{}{int}.{f}", if neg { "-" } else { "" }),
                _ => format!("{}{int}", if neg { "-" } else { "" }),
            };
            let ours = parse_exact(&text);
            let theirs = Decimal::from_str_exact(&text);
            proptest::prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{}", text);
            if let (Ok(a), Ok(b)) = (ours, theirs) {
                proptest::prop_assert_eq!(a, b, "{}", text);
                proptest::prop_assert_eq!(a.scale(), b.scale(), "{}", text);
                proptest::prop_assert_eq!(a.is_sign_negative(), b.is_sign_negative(), "{}", text);
                proptest::prop_assert_eq!(a.to_string(), b.to_string(), "{}", text);
            }
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Level::parse("abc", "1").is_err());
        assert!("1e".parse::<Price>().is_err());
    }

    #[test]
    fn only_plain_decimals_that_fit_exactly_are_read() {
        for good in ["0", "-0", "61837.63000000", "-1.50", "00.10", "79228162514264337593543950335"] {
            let p: Price = good.parse().expect(good);
            assert_eq!(p.0, Decimal::from_str(good).expect(good), "{good}");
            let json: Price = serde_json::from_str(&format!("\"{good}\"")).expect(good);
            assert_eq!(json, p, "{good}");
        }
        let bad = [
            "0.00000000000000000000000000001",
            "1.00000000000000000000000000005",
            "79228162514264337593543950336",
            "1_000",
            "+1",
            ".5",
            "1.",
            "1e5",
            "1E-5",
            "-",
            "--1",
            " 1",
            "1 ",
            "",
            "NaN",
        ];
        for text in bad {
            assert!(text.parse::<Qty>().is_err(), "{text:?} must be refused");
            assert!(serde_json::from_str::<Qty>(&format!("\"{text}\"")).is_err(), "{text:?} must be refused");
        }
        assert!(serde_json::from_str::<Qty>("1").is_err(), "a JSON number is not a decimal string");
    }
}
