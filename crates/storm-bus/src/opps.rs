//! Entries on `storm:opps`: one per distinct arbitrage opportunity. The one place that writes
//! and reads them (the finder writes, the executor's consumer group reads).
//!
//! Fields, in this order, for `redis-cli XREVRANGE storm:opps + - COUNT 5`: the plain ones `id`,
//! `kind`, `venue`, `path`, `profit_bps`, `size`, `asset`, `expires_ms`; then `v` (schema version)
//! and last `m` (msgpack of the whole [`Opportunity`] with its legs, named fields), so a person
//! reads the plain fields before the binary blob. Readers find fields by name.

use rust_decimal::Decimal;
use storm_core::arb::Opportunity;
use storm_core::{Price, Qty};

use crate::codec::{Entry, StreamEntry};
use crate::error::CodecError;
use crate::keys::Keys;

/// The entry for `opp` on `storm:opps`, trimmed to about `maxlen`.
pub fn entry(keys: &Keys, maxlen: usize, opp: &Opportunity) -> Result<Entry, CodecError> {
    Entry::new(keys.opps(), maxlen)
        .field("id", opp.id.as_str())
        .field("kind", opp.kind.as_str())
        .field("venue", opp.venue.as_str())
        .field("path", opp.path.as_str())
        .field("profit_bps", profit_bps_text(opp.profit_bps))
        // Without trailing zeros (`0.01189`, not `0.01189000000000000000000000`): the same value,
        // which is what a reader compares (as a `Decimal`), in fewer digits.
        .field("size", opp.size.normalize().to_string())
        .field("asset", opp.asset.as_str())
        .field("expires_ms", opp.expires_ms.to_string())
        .payload(opp)
}

/// `profit_bps` as its plain field shows it: two decimals (cut, as `Decimal` formats them). A
/// reader that checks the plain fields against the record compares with this, not a tolerance.
pub fn profit_bps_text(bps: Decimal) -> String {
    format!("{bps:.2}")
}

/// Reads an opportunity back (schema version checked; every leg with a positive price and
/// quantity, the only orders the executor may send).
pub fn decode(entry: &StreamEntry) -> Result<Opportunity, CodecError> {
    let opp: Opportunity = entry.decode()?;
    if let Some(leg) = opp.legs.iter().find(|l| l.price <= Price::ZERO || l.qty <= Qty::ZERO) {
        return Err(CodecError::BadField {
            field: "m",
            value: format!("leg {} {} @ {}", leg.symbol, leg.qty, leg.price),
        });
    }
    Ok(opp)
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;
    use storm_core::arb::{OppKind, OppLeg};
    use storm_core::{Asset, Price, Qty, Side, Symbol, VenueId};

    use super::*;
    use crate::codec::tests::as_read;

    #[test]
    fn an_opportunity_round_trips_with_plain_fields() {
        let leg = |s: &str, side, p: &str, q: &str| OppLeg {
            venue: VenueId::new("sim"),
            symbol: Symbol::new(s),
            side,
            price: p.parse::<Price>().expect("price"),
            qty: q.parse::<Qty>().expect("qty"),
        };
        let opp = Opportunity {
            id: "sim-7-abc".into(),
            kind: OppKind::Triangular,
            venue: VenueId::new("sim"),
            path: "USDT>BTC>ETH>USDT".into(),
            asset: Asset::new("USDT"),
            size: Decimal::new(1000, 0),
            profit: Decimal::new(512, 2),
            profit_bps: Decimal::new(512, 1),
            confidence: 0.75,
            created_ms: 1,
            expires_ms: 2,
            legs: vec![
                leg("BTCUSDT", Side::Buy, "60000.00", "0.01666"),
                leg("ETHBTC", Side::Buy, "0.05000", "0.3332"),
                leg("ETHUSDT", Side::Sell, "3100.00", "0.3331"),
            ],
            book_ids: vec![1, 2, 3],
            time_trigger_us: 9,
        };
        let e = entry(&Keys::default(), 10_000, &opp).expect("encode");
        assert_eq!(e.key, "storm:opps");
        // The order `redis-cli XREVRANGE` shows: plain fields first, the msgpack blob last.
        let names: Vec<&str> = e.fields.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, ["id", "kind", "venue", "path", "profit_bps", "size", "asset", "expires_ms", "v", "m"]);
        let back = as_read(&e);
        for (field, value) in [
            ("id", "sim-7-abc"),
            ("kind", "triangular"),
            ("venue", "sim"),
            ("path", "USDT>BTC>ETH>USDT"),
            ("profit_bps", "51.20"),
            ("size", "1000"),
            ("asset", "USDT"),
            ("expires_ms", "2"),
        ] {
            assert_eq!(back.get_str(field), Some(value), "{field}");
        }
        assert_eq!(decode(&back).expect("decode"), opp);
    }
}
