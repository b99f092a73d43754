//! Exact money: [`Price`] and [`Qty`] are `rust_decimal::Decimal` newtypes, never floats.
//!
//! They serialize as decimal strings (`"61837.63000000"`), exactly as venues send them, so a
//! value read back from Redis or JSON is bit-for-bit the value that was written. A [`Level`] is
//! a `[price, qty]` pair and serializes as a two-element array, the shape every venue uses.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Room for any `Decimal`: 29 digits, a sign, a point and up to 28 leading zeros.
const DECIMAL_BUF: usize = 64;

/// `d` as `Decimal`'s `Display` writes it (`"61837.63000000"`: every digit of the scale kept),
/// formatted from the mantissa directly: this runs for every level of every tops entry, and
/// `Decimal`'s own formatting was the largest single cost of publishing them.
fn format_decimal(d: Decimal, buf: &mut [u8; DECIMAL_BUF]) -> &str {
    let mantissa = d.mantissa();
    let scale = d.scale() as usize;
    let mut digits = mantissa.unsigned_abs();
    let mut end = DECIMAL_BUF;
    let mut written = 0usize;
    loop {
        end -= 1;
        buf[end] = b'0' + (digits % 10) as u8;
        digits /= 10;
        written += 1;
        if written == scale {
            end -= 1;
            buf[end] = b'.';
        }
        if digits == 0 && written > scale {
            break;
        }
    }
    if mantissa < 0 {
        end -= 1;
        buf[end] = b'-';
    }
    // Only ASCII digits, '.' and '-' were written.
    std::str::from_utf8(&buf[end..]).unwrap_or("0")
}

macro_rules! decimal_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Decimal);

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
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Decimal::from_str(s).map(Self)
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

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Level::parse("abc", "1").is_err());
        assert!("1e".parse::<Price>().is_err());
    }
}
