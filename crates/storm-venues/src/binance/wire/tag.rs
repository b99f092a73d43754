//! Event-type markers: the `"e"` field of Binance events as zero-sized types.
//!
//! A marker serializes as its fixed string (so an emitted frame carries `"e":"depthUpdate"`
//! without storing a `String` per event) and refuses any other string when parsing, so a
//! `trade` payload can never be read as a `depthUpdate`.

use std::fmt;

use serde::de::{self, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Accepts exactly one string.
struct ExactStr(&'static str);

impl Visitor<'_> for ExactStr {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the string {:?}", self.0)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if v == self.0 {
            Ok(())
        } else {
            Err(E::invalid_value(Unexpected::Str(v), &self))
        }
    }
}

macro_rules! event_tag {
    ($(#[$doc:meta])* $name:ident = $wire:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub struct $name;

        impl $name {
            /// The value of `"e"` on the wire.
            pub const NAME: &'static str = $wire;
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str($wire)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(ExactStr($wire)).map(|()| $name)
            }
        }
    };
}

event_tag!(
    /// `"e":"depthUpdate"`.
    DepthUpdateTag = "depthUpdate"
);
event_tag!(
    /// `"e":"trade"`.
    TradeTag = "trade"
);
event_tag!(
    /// `"e":"kline"`.
    KlineTag = "kline"
);
event_tag!(
    /// `"e":"serverShutdown"`.
    ServerShutdownTag = "serverShutdown"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_round_trips_and_rejects_other_events() {
        assert_eq!(serde_json::to_string(&TradeTag).ok().as_deref(), Some(r#""trade""#));
        assert!(serde_json::from_str::<TradeTag>(r#""trade""#).is_ok());
        assert!(serde_json::from_str::<TradeTag>(r#""aggTrade""#).is_err());
        assert!(serde_json::from_str::<TradeTag>("1").is_err());
    }
}
