//! The chain journal, `storm:exec:journal` (opportunity id → JSON [`ChainRecord`]): the
//! executor's memory across crashes.
//!
//! The rule that makes a leg impossible to send twice: a leg's **intent** (client order id,
//! symbol, side, price, quantity, time) is written here *before* the request leaves; its result
//! is written when known. After a crash, every leg with an intent but no result is resolved by
//! querying the venue with its deterministic client order id — never by sending it again — and
//! the chain then continues or unwinds from what really exists. A finished chain keeps its record
//! (state `done`) until `journal_retention_ms`, so an opportunity delivered again is recognised.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use storm_bus::{Bus, BusError};
use storm_core::{Asset, Side, Symbol};
use storm_venues::binance::trade::{NewOrder, TimeInForce};

/// Where a chain is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainState {
    /// Legs may still be sent or unknown.
    Running,
    /// The outcome is on `storm:arb:log`.
    Done,
}

/// Why an order exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "n")]
pub enum LegRole {
    /// Leg `n` (0-based) of the opportunity.
    Leg(usize),
    /// The `n`-th unwind order (0-based) of a broken chain.
    Unwind(usize),
}

/// What the venue did with one order, as far as it is known.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegFill {
    /// Venue order id (none when the order never existed).
    pub order_id: Option<u64>,
    /// Venue status (`FILLED`, `EXPIRED`, ...) or `NOT_PLACED` / `REJECTED`.
    pub status: String,
    /// Filled base quantity.
    pub executed_qty: Decimal,
    /// Filled quote quantity.
    pub quote_qty: Decimal,
    /// Commission by asset.
    pub commission: BTreeMap<String, Decimal>,
    /// The venue's reason when refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject: Option<String>,
}

impl LegFill {
    /// A request that never became an order.
    pub fn not_placed(reason: impl Into<String>) -> Self {
        Self { status: "NOT_PLACED".into(), reject: Some(reason.into()), ..Default::default() }
    }
}

/// One order of a chain: the intent, then its result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegRecord {
    /// Leg or unwind.
    pub role: LegRole,
    /// Deterministic client order id.
    pub client_id: String,
    /// Symbol.
    pub symbol: Symbol,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub price: Decimal,
    /// Base quantity.
    pub qty: Decimal,
    /// `IOC` or `FOK`.
    pub tif: String,
    /// When the intent was written (venue clock), ms: after `+ recvWindow` an order that the
    /// venue does not know can no longer appear.
    pub intent_ms: i64,
    /// The result, once known.
    pub fill: Option<LegFill>,
}

impl LegRecord {
    /// The order this intent describes (LIMIT, its time in force, its client id).
    pub fn order(&self) -> NewOrder {
        NewOrder {
            symbol: self.symbol.clone(),
            side: self.side,
            time_in_force: if self.tif == "FOK" { TimeInForce::Fok } else { TimeInForce::Ioc },
            quantity: self.qty,
            price: self.price,
            client_order_id: self.client_id.clone(),
        }
    }
}

/// The journal entry of one opportunity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainRecord {
    /// Opportunity id.
    pub opp_id: String,
    /// `USDT>BTC>ETH>USDT`.
    pub path: String,
    /// Start asset.
    pub asset: Asset,
    /// Executor instance that last worked on it.
    pub owner: String,
    /// Started, ms.
    pub started_ms: u64,
    /// Orders in the order they were intended.
    pub legs: Vec<LegRecord>,
    /// Running or done.
    pub state: ChainState,
    /// The outcome, once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

impl ChainRecord {
    /// A chain about to start.
    pub fn new(opp_id: &str, path: &str, asset: &Asset, owner: &str, now_ms: u64) -> Self {
        Self {
            opp_id: opp_id.to_owned(),
            path: path.to_owned(),
            asset: asset.clone(),
            owner: owner.to_owned(),
            started_ms: now_ms,
            legs: Vec::new(),
            state: ChainState::Running,
            outcome: None,
        }
    }

    /// The record of `role`, if intended.
    pub fn leg(&self, role: LegRole) -> Option<&LegRecord> {
        self.legs.iter().find(|l| l.role == role)
    }

    /// Mutable record of `role`.
    pub fn leg_mut(&mut self, role: LegRole) -> Option<&mut LegRecord> {
        self.legs.iter_mut().find(|l| l.role == role)
    }

    /// Unwind orders intended so far.
    pub fn unwinds(&self) -> usize {
        self.legs.iter().filter(|l| matches!(l.role, LegRole::Unwind(_))).count()
    }
}

/// The deterministic client order id of `role` in opportunity `opp_id`: `st<id>-<leg>` with
/// the leg `1`..`3` or `u1`.. for unwinds, within Binance's charset and 36 characters. An id that
/// is not already short and clean is replaced by 16 hex chars of its SHA-256, so the same
/// opportunity always yields the same ids.
pub fn client_order_id(opp_id: &str, role: LegRole) -> String {
    let clean = opp_id.len() <= 24 && !opp_id.is_empty() && opp_id.bytes().all(|b| b.is_ascii_alphanumeric());
    let id = if clean {
        opp_id.to_owned()
    } else {
        let digest = Sha256::digest(opp_id.as_bytes());
        hex::encode(&digest[..8])
    };
    match role {
        LegRole::Leg(n) => format!("st{id}-{}", n + 1),
        LegRole::Unwind(n) => format!("st{id}-u{}", n + 1),
    }
}

/// Reads the record of `opp_id`; an unreadable record is an error (never silently a new chain).
pub async fn load(bus: &Bus, opp_id: &str) -> Result<Option<ChainRecord>, JournalError> {
    let key = bus.keys().exec_journal();
    let raw: Option<String> = bus
        .retry("journal read", |mut c| {
            let key = key.clone();
            let id = opp_id.to_owned();
            async move { redis::cmd("HGET").arg(&key).arg(&id).query_async(&mut c).await }
        })
        .await?;
    raw.map(|json| serde_json::from_str(&json).map_err(|e| JournalError::Corrupt(opp_id.to_owned(), e.to_string())))
        .transpose()
}

/// Writes `record` (an intent before its order leaves, a result when known) and, while it is
/// running, its entry in `storm:exec:open` — one round trip, on the path to every order.
pub async fn save(bus: &Bus, record: &ChainRecord) -> Result<(), JournalError> {
    let (key, open) = (bus.keys().exec_journal(), bus.keys().exec_open());
    let json =
        serde_json::to_string(record).map_err(|e| JournalError::Corrupt(record.opp_id.clone(), e.to_string()))?;
    let running = record.state == ChainState::Running;
    bus.retry("journal write", |mut c| {
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("HSET").arg(&key).arg(&record.opp_id).arg(&json).ignore();
        if running {
            pipe.cmd("HSET").arg(&open).arg(&record.opp_id).arg(&record.owner).ignore();
        }
        async move { pipe.query_async::<()>(&mut c).await }
    })
    .await?;
    Ok(())
}

/// Every record (for the open-chain count and the retention sweep); unreadable ones skipped.
pub async fn all(bus: &Bus) -> Result<Vec<ChainRecord>, JournalError> {
    let key = bus.keys().exec_journal();
    let raw: Vec<String> = bus
        .retry("journal scan", |mut c| {
            let key = key.clone();
            async move { redis::cmd("HVALS").arg(&key).query_async(&mut c).await }
        })
        .await?;
    Ok(raw.iter().filter_map(|j| serde_json::from_str(j).ok()).collect())
}

/// Removes finished records started before `before_ms`.
pub async fn sweep(bus: &Bus, before_ms: u64) -> Result<usize, JournalError> {
    let old: Vec<String> = all(bus)
        .await?
        .into_iter()
        .filter(|r| r.state == ChainState::Done && r.started_ms < before_ms)
        .map(|r| r.opp_id)
        .collect();
    if old.is_empty() {
        return Ok(0);
    }
    let key = bus.keys().exec_journal();
    bus.retry("journal sweep", |mut c| {
        let cmd = redis::cmd("HDEL").arg(&key).arg(&old).clone();
        async move { cmd.query_async::<()>(&mut c).await }
    })
    .await?;
    Ok(old.len())
}

/// The journal could not be used: the executor must not trade without it.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Redis failed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// A record that cannot be read or written.
    #[error("journal record {0} unreadable: {1}")]
    Corrupt(String, String),
}

#[cfg(test)]
mod tests {
    use storm_venues::binance::trade::valid_client_order_id;

    use super::*;

    #[test]
    fn client_ids_are_deterministic_distinct_and_valid() {
        let a = client_order_id("0123456789abcdef", LegRole::Leg(0));
        assert_eq!(a, "st0123456789abcdef-1");
        assert_eq!(a, client_order_id("0123456789abcdef", LegRole::Leg(0)));
        assert_ne!(a, client_order_id("0123456789abcdef", LegRole::Leg(1)));
        assert_ne!(a, client_order_id("0123456789abcdef", LegRole::Unwind(0)));
        for id in ["0123456789abcdef", "a weird id with spaces and ünïcode", &"x".repeat(100)] {
            for role in [LegRole::Leg(2), LegRole::Unwind(7)] {
                let c = client_order_id(id, role);
                assert!(valid_client_order_id(&c), "{c}");
            }
        }
    }

    #[test]
    fn a_record_round_trips_through_json() {
        let mut r = ChainRecord::new("abc", "USDT>BTC>ETH>USDT", &Asset::new("USDT"), "x", 1);
        r.legs.push(LegRecord {
            role: LegRole::Unwind(0),
            client_id: client_order_id("abc", LegRole::Unwind(0)),
            symbol: Symbol::new("BTCUSDT"),
            side: Side::Sell,
            price: Decimal::new(1, 0),
            qty: Decimal::new(2, 0),
            tif: "IOC".into(),
            intent_ms: 5,
            fill: Some(LegFill::not_placed("x")),
        });
        let back: ChainRecord = serde_json::from_str(&serde_json::to_string(&r).expect("json")).expect("parses");
        assert_eq!(back, r);
    }
}
