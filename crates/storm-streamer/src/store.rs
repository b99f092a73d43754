//! The streamer's Redis writes, each safe to repeat after a lost reply:
//!
//! - order states and balances are `HSET`s of whole values (repeating one changes nothing);
//! - a balance snapshot replaces the hash in one `MULTI` (`DEL` + `HSET`), so readers never see
//!   it half-written;
//! - a fill is an `XADD`, which is not idempotent, so it goes in one `MULTI` with the `HSET` of
//!   its order carrying `last_trade_id` = the fill's trade id. After a failed reply the order is
//!   read back: if its mark already covers the trade the transaction landed and is not resent.
//!   That mark is also what de-duplicates replayed fills (see [`crate::book`]), so no extra key
//!   is needed.
//! - closed orders past the retention are removed with `HDEL` (see [`crate::book::expired`]);
//!   the start reads the order hashes with `HSCAN` in pages, never all of one at once.

use storm_bus::account::{decode_order, encode_balance, encode_order, fill_entry, Balance, OrderState};
use storm_bus::{is_retryable, Bus, BusError, CodecError};
use storm_core::{Asset, Backoff, Symbol};
use tracing::{info, warn};

use crate::book::{expired, Write};

/// Fields (or keys) read or removed per Redis call: what bounds a start-up's reads.
const PAGE: usize = 500;

/// What [`Store::load_orders`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Order states to keep.
    pub orders: Vec<OrderState>,
    /// Values that do not decode (left in Redis, counted).
    pub unreadable: usize,
    /// Expired closed orders removed instead of loaded.
    pub pruned: usize,
}

/// A write that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis failed for good, or shutdown.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// A value could not be encoded.
    #[error("encode: {0}")]
    Encode(String),
}

impl From<CodecError> for StoreError {
    fn from(e: CodecError) -> Self {
        StoreError::Encode(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Encode(e.to_string())
    }
}

/// Writes one account's keys.
#[derive(Clone, Debug)]
pub struct Store {
    bus: Bus,
    venue: String,
    acct: String,
    fills_maxlen: usize,
}

impl Store {
    /// The store of account `acct` on `venue`.
    pub fn new(bus: &Bus, venue: &str, acct: &str, fills_maxlen: usize) -> Self {
        Self { bus: bus.clone(), venue: venue.to_owned(), acct: acct.to_owned(), fills_maxlen }
    }

    fn order_key(&self, symbol: &Symbol) -> String {
        self.bus.keys().order(&self.venue, &self.acct, symbol)
    }

    /// The order states of the account in Redis, read one bounded page at a time (`HSCAN`,
    /// never `HGETALL`: a hash can hold years of orders written before the retention existed).
    /// Closed orders last changed before `cutoff_ms` are removed page by page instead of loaded
    /// ([`expired`], against the highest trade id seen so far on the symbol: an early page may
    /// keep an order a later page outranks, which the first [`Store::forget`] pass removes).
    pub async fn load_orders(&self, cutoff_ms: u64) -> Result<Loaded, BusError> {
        let mut loaded = Loaded::default();
        for key in self.order_keys().await? {
            self.load_hash(&key, cutoff_ms, &mut loaded).await?;
        }
        Ok(loaded)
    }

    /// The account's order hashes (`SCAN` with the key schema's pattern).
    async fn order_keys(&self) -> Result<Vec<String>, BusError> {
        // The pattern is the order key of the symbol "*": the key schema stays in one place.
        let pattern = self.order_key(&Symbol::new("*"));
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = self
                .bus
                .retry("scan order hashes", |mut c| {
                    let pattern = pattern.clone();
                    async move {
                        redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(&pattern)
                            .arg("COUNT")
                            .arg(PAGE)
                            .query_async(&mut c)
                            .await
                    }
                })
                .await?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// One order hash, page by page.
    async fn load_hash(&self, key: &str, cutoff_ms: u64, out: &mut Loaded) -> Result<(), BusError> {
        let (mut cursor, mut mark) = (0u64, None);
        loop {
            let (next, flat): (u64, Vec<Vec<u8>>) =
                self.bus
                    .retry("scan order hash", |mut c| {
                        let key = key.to_owned();
                        async move {
                            redis::cmd("HSCAN").arg(&key).arg(cursor).arg("COUNT").arg(PAGE).query_async(&mut c).await
                        }
                    })
                    .await?;
            let mut gone: Vec<Vec<u8>> = Vec::new();
            for pair in flat.chunks_exact(2) {
                let (field, json) = (&pair[0], String::from_utf8_lossy(&pair[1]));
                match decode_order(&json) {
                    Ok(o) => {
                        mark = mark.max(o.last_trade_id);
                        if expired(&o, cutoff_ms, mark) {
                            gone.push(field.clone());
                        } else {
                            out.orders.push(o);
                        }
                    }
                    Err(e) => {
                        out.unreadable += 1;
                        warn!(key, field = %String::from_utf8_lossy(field), error = %e, "unreadable order state skipped");
                    }
                }
            }
            self.delete_fields(key, &gone).await?;
            out.pruned += gone.len();
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Removes orders of `symbol` from Redis (`HDEL`, a page at a time; repeating it is harmless).
    pub async fn forget(&self, symbol: &Symbol, ids: &[u64]) -> Result<(), BusError> {
        let fields: Vec<Vec<u8>> = ids.iter().map(|id| id.to_string().into_bytes()).collect();
        self.delete_fields(&self.order_key(symbol), &fields).await
    }

    async fn delete_fields(&self, key: &str, fields: &[Vec<u8>]) -> Result<(), BusError> {
        for page in fields.chunks(PAGE) {
            self.bus
                .retry("remove expired orders", |mut c| {
                    let mut cmd = redis::cmd("HDEL");
                    cmd.arg(key).arg(page);
                    async move { cmd.query_async::<()>(&mut c).await }
                })
                .await?;
        }
        Ok(())
    }

    /// Performs one write (retrying connection failures until it is known to have landed once).
    pub async fn write(&self, write: &Write) -> Result<(), StoreError> {
        match write {
            Write::Order(o) => {
                let (key, field, json) = (self.order_key(&o.symbol), o.field(), encode_order(o)?);
                self.idempotent("write order", move || {
                    let mut p = redis::pipe();
                    p.cmd("HSET").arg(&key).arg(&field).arg(&json).ignore();
                    p
                })
                .await
            }
            Write::Balances(list) => {
                let (key, fields) = (self.balance_key(), balance_fields(list.iter().map(|(a, b)| (a, b)))?);
                self.idempotent("write balances", move || {
                    let mut p = redis::pipe();
                    p.cmd("HSET").arg(&key).arg(&fields).ignore();
                    p
                })
                .await
            }
            Write::ReplaceBalances(map) => {
                let (key, fields) = (self.balance_key(), balance_fields(map.iter())?);
                self.idempotent("replace balances", move || {
                    let mut p = redis::pipe();
                    p.atomic().cmd("DEL").arg(&key).ignore();
                    if !fields.is_empty() {
                        p.cmd("HSET").arg(&key).arg(&fields).ignore();
                    }
                    p
                })
                .await
            }
            Write::Fill(fill, order) => self.fill(fill, order).await,
        }
    }

    fn balance_key(&self) -> String {
        self.bus.keys().balance(&self.venue, &self.acct)
    }

    async fn idempotent(&self, what: &str, pipe: impl Fn() -> redis::Pipeline) -> Result<(), StoreError> {
        self.bus
            .retry(what, |mut c| {
                let p = pipe();
                async move { p.query_async::<()>(&mut c).await }
            })
            .await
            .map_err(StoreError::from)
    }

    /// `XADD` the fill and `HSET` its order in one transaction, exactly once.
    async fn fill(&self, fill: &storm_bus::account::Fill, order: &OrderState) -> Result<(), StoreError> {
        let entry = fill_entry(self.bus.keys(), &self.venue, &self.acct, self.fills_maxlen, fill)?;
        let (key, field, json) = (self.order_key(&order.symbol), order.field(), encode_order(order)?);
        let mut pipe = redis::pipe();
        pipe.atomic();
        let xadd = pipe.cmd("XADD").arg(&entry.key).arg("MAXLEN").arg("~").arg(entry.maxlen).arg("*");
        for (name, value) in &entry.fields {
            xadd.arg(*name).arg(value.as_slice());
        }
        xadd.ignore();
        pipe.cmd("HSET").arg(&key).arg(&field).arg(&json).ignore();
        let cfg = self.bus.config();
        let mut backoff = Backoff::new(cfg.retry_base, cfg.retry_max);
        loop {
            let mut conn = self.bus.conn();
            match pipe.query_async::<()>(&mut conn).await {
                Ok(()) => return Ok(()),
                Err(e) if is_retryable(&e) => {
                    let delay = backoff.next_delay();
                    warn!(error = %e, ?delay, trade_id = fill.trade_id, "fill write failed; checking whether it landed");
                    tokio::select! {
                        _ = self.bus.shutdown().cancelled() => return Err(BusError::Cancelled.into()),
                        _ = tokio::time::sleep(delay) => {}
                    }
                    if self.fill_landed(&key, &field, fill.trade_id).await? {
                        info!(trade_id = fill.trade_id, "fill had landed before the failure; not resending");
                        return Ok(());
                    }
                }
                Err(e) => return Err(BusError::from(e).into()),
            }
        }
    }

    /// True when the stored order already records `trade_id` (or a later trade).
    async fn fill_landed(&self, key: &str, field: &str, trade_id: u64) -> Result<bool, StoreError> {
        let stored: Option<String> = self
            .bus
            .retry("read order mark", |mut c| {
                let (key, field) = (key.to_owned(), field.to_owned());
                async move { redis::cmd("HGET").arg(&key).arg(&field).query_async(&mut c).await }
            })
            .await?;
        Ok(stored.and_then(|s| decode_order(&s).ok()).and_then(|o| o.last_trade_id).is_some_and(|t| t >= trade_id))
    }
}

fn balance_fields<'a>(
    list: impl Iterator<Item = (&'a Asset, &'a Balance)>,
) -> Result<Vec<(String, String)>, StoreError> {
    list.map(|(a, b)| Ok((a.as_str().to_owned(), encode_balance(b)?))).collect()
}
