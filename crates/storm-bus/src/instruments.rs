//! `storm:instruments:<venue>`: `<SYM>` → JSON of [`Instrument`] (status and filters from the
//! venue's exchangeInfo). The one place that writes the hash (booksync) and reads it back
//! (arbitrage, its scout, the executor), so the shape cannot drift between them.

use std::collections::HashMap;

use storm_core::Instrument;

use crate::conn::Bus;
use crate::error::{BusError, CodecError};

/// Every readable instrument of `venue`, and the number of entries that could not be read (a
/// reader counts and logs them; one bad entry never hides the others).
pub async fn read(bus: &Bus, venue: &str) -> Result<(Vec<Instrument>, usize), BusError> {
    let key = bus.keys().instruments(venue);
    let raw: HashMap<String, String> = bus
        .retry("read instruments", |mut c| {
            let key = key.clone();
            async move { redis::cmd("HGETALL").arg(&key).query_async(&mut c).await }
        })
        .await?;
    let total = raw.len();
    let list: Vec<Instrument> = raw.values().filter_map(|json| decode(json).ok()).collect();
    let bad = total - list.len();
    Ok((list, bad))
}

/// Reads one value of the hash: the JSON of an [`Instrument`] whose filters are all
/// non-negative (0 disables a rule; a negative tick or step would round every order wrongly).
pub fn decode(json: &str) -> Result<Instrument, CodecError> {
    let bad = || CodecError::BadField { field: "instrument", value: json.chars().take(80).collect() };
    let i: Instrument = serde_json::from_str(json).map_err(|_| bad())?;
    let filters =
        [i.tick_size, i.min_price, i.max_price, i.step_size, i.min_qty, i.max_qty, i.min_notional, i.max_notional];
    if filters.iter().any(|f| f.is_sign_negative() && !f.is_zero()) {
        return Err(bad());
    }
    Ok(i)
}

/// Replaces the hash in one transaction (delisted symbols disappear, readers never see it
/// half-written); idempotent, so it can be retried through Redis outages.
pub async fn write(bus: &Bus, venue: &str, instruments: &[Instrument]) -> Result<(), BusError> {
    let key = bus.keys().instruments(venue);
    let fields: Vec<(String, String)> = instruments
        .iter()
        .filter_map(|i| serde_json::to_string(i).ok().map(|json| (i.symbol.to_string(), json)))
        .collect();
    bus.retry("write instruments", |mut c| {
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("DEL").arg(&key).ignore();
        for chunk in fields.chunks(500) {
            pipe.cmd("HSET").arg(&key).arg(chunk).ignore();
        }
        async move { pipe.query_async::<()>(&mut c).await }
    })
    .await
}
