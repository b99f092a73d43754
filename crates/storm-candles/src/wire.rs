//! How a candle reads in Redis: plain fields first (what `redis-cli XRANGE` shows), then the
//! schema version `v` and `m`, the msgpack of the whole candle with named fields.
//!
//! Fields: `sym`, `tf`, `open_ms`, `close_ms`, `open`, `high`, `low`, `close`, `volume`,
//! `quote_volume` (decimal strings, exact), `trades`, `first_trade_id`, `last_trade_id` (empty
//! for a flat or backfilled candle), `version` (0 = closed on time, +1 per late-trade amendment), `backfilled`
//! (1 when it came from the venue's REST klines).

use storm_bus::codec::{encode, SCHEMA_VERSION};
use storm_bus::CodecError;

use crate::candle::Candle;

/// The field/value pairs of `c` for symbol `sym`, in the order they are written.
pub fn fields(sym: &str, c: &Candle) -> Result<Vec<(&'static str, Vec<u8>)>, CodecError> {
    let text = |v: String| v.into_bytes();
    // A backfilled candle's edges are placed at its bounds (REST klines carry no trade ids).
    let id = |e: Option<crate::candle::Edge>| {
        e.filter(|_| !c.backfilled).map(|e| e.trade_id.to_string()).unwrap_or_default()
    };
    Ok(vec![
        ("sym", sym.as_bytes().to_vec()),
        ("tf", c.tf.as_str().as_bytes().to_vec()),
        ("open_ms", text(c.open_ms.to_string())),
        ("close_ms", text(c.close_ms().to_string())),
        ("open", text(c.open.to_string())),
        ("high", text(c.high.to_string())),
        ("low", text(c.low.to_string())),
        ("close", text(c.close.to_string())),
        ("volume", text(c.volume.to_string())),
        ("quote_volume", text(c.quote_volume.to_string())),
        ("trades", text(c.trades.to_string())),
        ("first_trade_id", text(id(c.first))),
        ("last_trade_id", text(id(c.last))),
        ("version", text(c.version.to_string())),
        ("backfilled", if c.backfilled { b"1".to_vec() } else { b"0".to_vec() }),
        ("v", text(SCHEMA_VERSION.to_string())),
        ("m", encode(c)?),
    ])
}

/// The stream entry id of `c`: `<open_ms>-<version>`.
pub fn entry_id(c: &Candle) -> String {
    format!("{}-{}", c.open_ms, c.version)
}

/// A candle read back from its entry's `v` and `m`.
pub fn decode(entry: &storm_bus::StreamEntry) -> Result<Candle, CodecError> {
    entry.decode()
}
