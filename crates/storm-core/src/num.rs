//! Exact money: [`Price`] and [`Qty`] are `rust_decimal::Decimal` newtypes, never floats.
//!
//! They serialize as decimal strings (`"61837.63000000"`), exactly as venues send them, so a
//! value read back from Redis or JSON is bit-for-bit the value that was written. A [`Level`] is
//! a `[price, qty]` pair and serializes as a two-element array, the shape every venue uses.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

macro_rules! decimal_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Decimal);

        impl $name {
            /// Zero.
            pub const ZERO: Self = Self(Decimal::ZERO);

            /// The inner decimal.
            pub fn get(self) -> Decimal {
                self.0
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
    fn garbage_is_an_error_not_a_panic() {
        assert!(Level::parse("abc", "1").is_err());
        assert!("1e".parse::<Price>().is_err());
    }
}
