//! Identifier newtypes: a venue, a symbol and an asset are never confused for one another.
//!
//! Symbols and assets are kept in the venue's upper-case spelling (`BTCUSDT`, `BTC`); the
//! lower-case stream names Binance wants are derived where the wire format is built.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, upper = $upper:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Builds the id, normalising the spelling the way the venue keys use it.
            pub fn new(s: impl AsRef<str>) -> Self {
                let s = s.as_ref().trim();
                if $upper {
                    Self(s.to_ascii_uppercase())
                } else {
                    Self(s.to_owned())
                }
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// The configured name of a venue (`binance`, `sim`): it appears in every Redis key of that venue.
    VenueId,
    upper = false
);
string_id!(
    /// A venue's market symbol in upper case, e.g. `BTCUSDT`.
    Symbol,
    upper = true
);
string_id!(
    /// An asset (coin) code in upper case, e.g. `USDT`.
    Asset,
    upper = true
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_and_assets_are_upper_case_venues_are_verbatim() {
        assert_eq!(Symbol::new("btcusdt").as_str(), "BTCUSDT");
        assert_eq!(Asset::from(" eth ").to_string(), "ETH");
        assert_eq!(VenueId::new("Binance").as_str(), "Binance");
    }
}

/// The wire dialect a venue speaks: which folder of `storm-venues` talks to it. Configuration
/// names it (`kind = "binance"`); an unknown kind is a configuration error, not a string that
/// engines compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VenueKind {
    /// Binance Spot (and `storm-sim`, which speaks it).
    Binance,
}

impl VenueKind {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            VenueKind::Binance => "binance",
        }
    }
}

impl fmt::Display for VenueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
