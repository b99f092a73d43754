//! The executor reads back exactly what the finder writes: every opportunity the arbitrage's
//! encoder (`storm_bus::opps::entry`) produces decodes, whatever the digits of its profit, while
//! an entry whose plain fields contradict its record is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use storm_bus::keys::Keys;
use storm_bus::{opps, StreamEntry};
use storm_core::arb::{OppKind, OppLeg, Opportunity};
use storm_core::{Asset, Price, Qty, Side, Symbol, VenueId};
use storm_executor::handle::decode;

fn opportunity(profit_bps: &str) -> Opportunity {
    let leg = |s: &str, side, p: &str, q: &str| OppLeg {
        venue: VenueId::new("sim"),
        symbol: Symbol::new(s),
        side,
        price: p.parse::<Price>().unwrap(),
        qty: q.parse::<Qty>().unwrap(),
    };
    Opportunity {
        id: "3d0fa40e9aa5e0c0".into(),
        kind: OppKind::Triangular,
        venue: VenueId::new("sim"),
        path: "USDT>BTC>ETH>USDT".into(),
        asset: Asset::new("USDT"),
        size: "100.5".parse().unwrap(),
        profit: "0.55".parse().unwrap(),
        profit_bps: profit_bps.parse().unwrap(),
        confidence: 0.75,
        created_ms: 1,
        expires_ms: 2,
        legs: vec![
            leg("BTCUSDT", Side::Buy, "60000.00", "0.00167"),
            leg("ETHBTC", Side::Buy, "0.05000", "0.0334"),
            leg("ETHUSDT", Side::Sell, "3100.00", "0.0333"),
        ],
        book_ids: vec![1, 2, 3],
        time_trigger_us: 9,
    }
}

/// The entry as XREAD returns it.
fn as_read(opp: &Opportunity) -> StreamEntry {
    let e = opps::entry(&Keys::default(), 1000, opp).unwrap();
    StreamEntry {
        stream: e.key.clone(),
        id: "1-0".into(),
        fields: e.fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
    }
}

#[test]
fn every_profit_the_finder_writes_reads_back() {
    // Seen in the chaos soak: "plain field profit_bps 54.96 disagrees with the record
    // (54.968092784076714661491247243)" - the plain field has two decimals, cut, not rounded.
    for bps in ["54.968092784076714661491247243", "38.31626876637754057158755122", "19.957013", "10", "0.004999"] {
        let opp = opportunity(bps);
        let got = decode(&as_read(&opp)).unwrap_or_else(|e| panic!("profit_bps {bps}: {e}"));
        assert_eq!(got, opp);
    }
}

#[test]
fn plain_fields_that_contradict_the_record_are_refused() {
    let opp = opportunity("54.968092784076714661491247243");
    for (field, value) in [("profit_bps", "60.00"), ("size", "1000"), ("path", "USDT>BNB>ETH>USDT"), ("id", "other")] {
        let mut e = as_read(&opp);
        for (k, v) in &mut e.fields {
            if k == field {
                *v = value.as_bytes().to_vec();
            }
        }
        let err = decode(&e).expect_err(field);
        assert!(err.contains(field), "{field}: {err}");
    }
}
