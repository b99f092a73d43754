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

use std::collections::HashMap;

use storm_bus::account::{decode_order, encode_balance, encode_order, fill_entry, Balance, OrderState};
use storm_bus::{is_retryable, Bus, BusError, CodecError};
use storm_core::{Asset, Backoff, Symbol};
use tracing::{info, warn};

use crate::book::Write;

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

    /// Every order state of the account in Redis; unreadable values are returned as the count
    /// of values skipped.
    pub async fn load_orders(&self) -> Result<(Vec<OrderState>, usize), BusError> {
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
                            .arg(200)
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
        let (mut orders, mut bad) = (Vec::new(), 0);
        for key in keys {
            let hash: HashMap<String, String> = self
                .bus
                .retry("read order hash", |mut c| {
                    let key = key.clone();
                    async move { redis::cmd("HGETALL").arg(&key).query_async(&mut c).await }
                })
                .await?;
            for (field, json) in hash {
                match decode_order(&json) {
                    Ok(o) => orders.push(o),
                    Err(e) => {
                        bad += 1;
                        warn!(key, field, error = %e, "unreadable order state skipped");
                    }
                }
            }
        }
        Ok((orders, bad))
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
