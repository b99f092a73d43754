//! Market-data entries on `storm:md:<venue>:<channel>`: the one place that writes and reads them.
//!
//! Fields: `sym` (the symbol), `k` (the kind: `depth`, `ticker`, `trade`, `kline`, `reset`,
//! `alive`, `unsub`), `v` (schema version) and `m` (msgpack of the event, named fields).
//! `redis-cli XREVRANGE storm:md:binance:depth + - COUNT 1` shows symbol and kind in plain text.
//!
//! Three markers ride the depth stream, between the diffs they concern: `reset` (continuity is
//! broken for `sym`: resync), `alive` (no `sym`; `conn` names the ingester's connection, `m`
//! lists the depth symbols it carries and the venue acknowledged: their books are still the
//! venue's, however quiet) and `unsub` (the depth subscription of `sym` was removed: no diff
//! follows, the book is dropped). Readers that only want diffs skip every other kind.

use storm_core::{DepthDiff, MdEvent, VenueId};

use crate::codec::{self, Entry, StreamEntry};
use crate::depth_wire;
use crate::error::CodecError;
use crate::keys::Keys;

/// The entry for `event` on its venue's stream, trimmed to about `maxlen`.
pub fn entry(keys: &Keys, venue: &VenueId, maxlen: usize, event: &MdEvent) -> Result<Entry, CodecError> {
    let key = keys.md(venue.as_str(), event.channel());
    let sym = event.symbol().map(|s| s.as_str());
    let e = match event {
        MdEvent::Depth(d) => Entry::record(key, maxlen, sym, d)?,
        MdEvent::Ticker(t) => Entry::record(key, maxlen, sym, t)?,
        MdEvent::Trade(t) => Entry::record(key, maxlen, sym, t)?,
        MdEvent::Kline(k) => Entry::record(key, maxlen, sym, k)?,
        MdEvent::Reset(r) => Entry::record(key, maxlen, sym, r)?,
        MdEvent::Alive(a) => Entry::record(key, maxlen, sym, a)?.field("conn", a.conn.as_str()),
        MdEvent::Unsubscribed(u) => Entry::record(key, maxlen, sym, u)?,
    };
    Ok(e.field("k", event.kind()))
}

/// Reads a market-data entry back (schema version checked).
pub fn decode(entry: &StreamEntry) -> Result<MdEvent, CodecError> {
    Ok(match entry.get_str("k").ok_or(CodecError::MissingField("k"))? {
        "depth" => MdEvent::Depth(decode_depth(entry)?),
        "ticker" => MdEvent::Ticker(entry.decode()?),
        "trade" => MdEvent::Trade(entry.decode()?),
        "kline" => MdEvent::Kline(entry.decode()?),
        "reset" => MdEvent::Reset(entry.decode()?),
        "alive" => MdEvent::Alive(entry.decode()?),
        "unsub" => MdEvent::Unsubscribed(entry.decode()?),
        _ => return Err(CodecError::MissingField("k")),
    })
}

/// A depth entry: the direct reader ([`crate::depth_wire`]) when the payload has the plain
/// shape, serde otherwise (same value, or the proper error).
fn decode_depth(entry: &StreamEntry) -> Result<DepthDiff, CodecError> {
    codec::check_version(entry.get("v"))?;
    match entry.get("m").and_then(depth_wire::decode_depth) {
        Some(diff) => Ok(diff),
        None => entry.decode(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::tests::as_read;
    use storm_core::{DepthAlive, DepthDiff, Level, StreamReset, StreamUnsubscribed, Symbol};

    #[test]
    fn liveness_and_unsubscribe_markers_round_trip_on_the_depth_stream() {
        let keys = Keys::default();
        let venue = VenueId::new("sim");
        let alive = MdEvent::Alive(DepthAlive {
            conn: "conn-3".into(),
            symbols: vec![Symbol::new("BTCUSDT"), Symbol::new("ETHUSDT")],
            time_received: 5,
        });
        let e = entry(&keys, &venue, 1000, &alive).expect("encode");
        assert_eq!(e.key, "storm:md:sim:depth");
        let back = as_read(&e);
        assert_eq!(
            (back.get_str("sym"), back.get_str("k"), back.get_str("conn")),
            (None, Some("alive"), Some("conn-3"))
        );
        assert_eq!(decode(&back).expect("decode"), alive);
        let unsub = MdEvent::Unsubscribed(StreamUnsubscribed { symbol: Symbol::new("ETHUSDT"), time_received: 6 });
        let back = as_read(&entry(&keys, &venue, 1000, &unsub).expect("encode"));
        assert_eq!((back.get_str("sym"), back.get_str("k")), (Some("ETHUSDT"), Some("unsub")));
        assert_eq!(decode(&back).expect("decode"), unsub);
    }

    #[test]
    fn depth_and_reset_entries_round_trip_on_the_depth_stream() {
        let keys = Keys::default();
        let venue = VenueId::new("sim");
        let diff = MdEvent::Depth(DepthDiff {
            symbol: Symbol::new("BTCUSDT"),
            first_update_id: 7,
            last_update_id: 9,
            bids: vec![Level::parse("1.00000000", "2.00000000").expect("level")],
            asks: vec![],
            time_exchange: 1,
            time_received: 2,
        });
        let reset = MdEvent::Reset(StreamReset {
            symbol: Symbol::new("BTCUSDT"),
            reason: "reconnect".into(),
            time_received: 3,
        });
        for ev in [diff, reset] {
            let e = entry(&keys, &venue, 1000, &ev).expect("encode");
            assert_eq!(e.key, "storm:md:sim:depth");
            let back = as_read(&e);
            assert_eq!(back.get_str("sym"), Some("BTCUSDT"));
            assert_eq!(back.get_str("k"), Some(ev.kind()));
            assert_eq!(decode(&back).expect("decode"), ev);
        }
    }

    #[test]
    fn unknown_kind_is_an_error() {
        let mut e = as_read(&Entry::new("k", 0).field("k", "nope").field("v", "1").field("m", vec![0x80]));
        assert!(decode(&e).is_err());
        e.fields.retain(|(k, _)| k != "k");
        assert!(matches!(decode(&e), Err(CodecError::MissingField("k"))));
    }
}
