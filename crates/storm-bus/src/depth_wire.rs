//! A direct msgpack reader for depth diffs, the one entry kind booksync reads ~100,000 times a
//! second.
//!
//! Going through serde (`rmp_serde`'s self-describing path, a UTF-8 check of every price string,
//! then the decimal parse) was the largest single cost in booksync's profile. This reader walks
//! the exact shape [`crate::codec::encode`] writes for a [`DepthDiff`] — a map of its seven named
//! fields, unsigned integers, `[price, qty]` string pairs — and parses the decimals straight off
//! the payload bytes. It is deliberately narrow: on anything it does not expect (another field
//! order is fine, but an unknown or repeated field, another integer or string encoding, a bad
//! decimal, trailing bytes) it returns `None` and the caller decodes with serde, which gives the
//! same value or the proper error. So it never accepts what serde would refuse, and the property
//! tests hold it equal to serde on every diff.

use serde::de::IntoDeserializer;
use serde::Deserialize;
use storm_core::num::parse_exact_ascii;
use storm_core::{DepthDiff, Level, Price, Qty, Symbol};

/// The diff in `payload`, or `None` when it is not in the plain shape (decode it with serde).
pub(crate) fn decode_depth(payload: &[u8]) -> Option<DepthDiff> {
    let mut rd = Reader { buf: payload };
    let fields = rd.map_len()?;
    if fields != 7 {
        return None;
    }
    let (mut symbol, mut first, mut last, mut bids, mut asks, mut exchange, mut received) =
        (None, None, None, None, None, None, None);
    for _ in 0..fields {
        let slot_was_empty = match rd.str()? {
            b"symbol" => symbol.replace(rd.symbol()?).is_none(),
            b"first_update_id" => first.replace(rd.uint()?).is_none(),
            b"last_update_id" => last.replace(rd.uint()?).is_none(),
            b"bids" => bids.replace(rd.levels()?).is_none(),
            b"asks" => asks.replace(rd.levels()?).is_none(),
            b"time_exchange" => exchange.replace(rd.uint()?).is_none(),
            b"time_received" => received.replace(rd.uint()?).is_none(),
            _ => false,
        };
        if !slot_was_empty {
            return None;
        }
    }
    if !rd.buf.is_empty() {
        return None;
    }
    Some(DepthDiff {
        symbol: symbol?,
        first_update_id: first?,
        last_update_id: last?,
        bids: bids?,
        asks: asks?,
        time_exchange: exchange?,
        time_received: received?,
    })
}

/// A cursor over msgpack bytes; every read is bounds-checked and `None` on a short buffer.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn be(&mut self, n: usize) -> Option<u64> {
        Some(self.take(n)?.iter().fold(0u64, |v, &b| v << 8 | u64::from(b)))
    }

    fn map_len(&mut self) -> Option<usize> {
        match self.byte()? {
            m @ 0x80..=0x8f => Some(usize::from(m & 0x0f)),
            0xde => Some(self.be(2)? as usize),
            _ => None,
        }
    }

    fn array_len(&mut self) -> Option<usize> {
        match self.byte()? {
            m @ 0x90..=0x9f => Some(usize::from(m & 0x0f)),
            0xdc => Some(self.be(2)? as usize),
            0xdd => Some(self.be(4)? as usize),
            _ => None,
        }
    }

    fn str(&mut self) -> Option<&'a [u8]> {
        let len = match self.byte()? {
            m @ 0xa0..=0xbf => usize::from(m & 0x1f),
            0xd9 => self.be(1)? as usize,
            0xda => self.be(2)? as usize,
            0xdb => self.be(4)? as usize,
            _ => return None,
        };
        self.take(len)
    }

    fn uint(&mut self) -> Option<u64> {
        match self.byte()? {
            v @ 0x00..=0x7f => Some(u64::from(v)),
            0xcc => self.be(1),
            0xcd => self.be(2),
            0xce => self.be(4),
            0xcf => self.be(8),
            _ => None,
        }
    }

    fn symbol(&mut self) -> Option<Symbol> {
        let text = std::str::from_utf8(self.str()?).ok()?;
        // Exactly what serde builds (the id is `#[serde(transparent)]` over the string as written).
        let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> = text.into_deserializer();
        Symbol::deserialize(de).ok()
    }

    fn levels(&mut self) -> Option<Vec<Level>> {
        let n = self.array_len()?;
        // Each level takes at least 5 bytes: never reserve more than the payload could hold.
        let mut levels = Vec::with_capacity(n.min(self.buf.len() / 5));
        for _ in 0..n {
            if self.array_len()? != 2 {
                return None;
            }
            let price = parse_exact_ascii(self.str()?).ok()?;
            let qty = parse_exact_ascii(self.str()?).ok()?;
            levels.push(Level::new(Price(price), Qty(qty)));
        }
        Some(levels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    fn serde_decode(payload: &[u8]) -> Option<DepthDiff> {
        rmp_serde::from_slice(payload).ok()
    }

    fn decimal() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            (any::<i64>(), 0u32..=18).prop_map(|(m, scale)| Decimal::new(m, scale)),
            // Past 19 digits: the exact parser's slow path.
            (any::<i128>(), 0u32..=28).prop_map(|(m, scale)| Decimal::from_i128_with_scale(m % 10i128.pow(27), scale)),
        ]
    }

    fn level() -> impl Strategy<Value = Level> {
        (decimal(), decimal()).prop_map(|(p, q)| Level::new(Price(p), Qty(q)))
    }

    fn diff() -> impl Strategy<Value = DepthDiff> {
        (
            "[A-Za-z0-9 ]{0,12}".prop_map(String::from),
            any::<(u64, u64, u64, u64)>(),
            prop::collection::vec(level(), 0..20),
            prop::collection::vec(level(), 0..20),
        )
            .prop_map(|(symbol, (a, b, c, d), bids, asks): (String, _, _, _)| DepthDiff {
                // Not normalised on purpose: the reader must keep the string exactly as serde does.
                symbol: Symbol::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(
                    symbol.as_str(),
                ))
                .expect("a string is a symbol"),
                first_update_id: a % 1_000,
                last_update_id: b,
                bids,
                asks,
                time_exchange: c >> (a % 64),
                time_received: d,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(storm_testkit::fuzz::cases(512)))]

        #[test]
        fn reads_every_encoded_diff_as_serde_does(d in diff()) {
            let payload = crate::codec::encode(&d).expect("encode");
            prop_assert_eq!(decode_depth(&payload), Some(d));
        }

        #[test]
        fn never_accepts_what_serde_would_read_otherwise(
            d in diff(),
            edits in prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 1..6),
        ) {
            let payload = storm_testkit::fuzz::mutate(&crate::codec::encode(&d).expect("encode"), &edits);
            if let Some(ours) = decode_depth(&payload) {
                prop_assert_eq!(Some(ours), serde_decode(&payload));
            }
        }
    }

    #[test]
    fn other_shapes_are_left_to_serde() {
        let d = DepthDiff {
            symbol: Symbol::new("BTCUSDT"),
            first_update_id: 1,
            last_update_id: 2,
            bids: vec![Level::parse("1.5", "2").expect("level")],
            asks: vec![],
            time_exchange: 3,
            time_received: 4,
        };
        // Positional (array) form: serde reads it, this reader declines.
        let positional = rmp_serde::to_vec(&d).expect("encode");
        assert_eq!(decode_depth(&positional), None);
        assert_eq!(serde_decode(&positional), Some(d.clone()));
        // Trailing bytes, a truncated payload, an empty one.
        let mut named = crate::codec::encode(&d).expect("encode");
        named.push(0xc0);
        assert_eq!(decode_depth(&named), None);
        named.truncate(named.len() - 3);
        assert_eq!(decode_depth(&named), None);
        assert_eq!(decode_depth(&[]), None);
        // A level that is not a plain decimal.
        let bad = crate::codec::encode(&serde_json::json!({
            "symbol": "BTCUSDT", "first_update_id": 1, "last_update_id": 2,
            "bids": [["1e5", "1"]], "asks": [], "time_exchange": 3, "time_received": 4
        }))
        .expect("encode");
        assert_eq!(decode_depth(&bad), None);
        assert!(serde_decode(&bad).is_none());
    }
}
