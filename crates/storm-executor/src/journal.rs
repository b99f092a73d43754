//! The chain journal, `storm:exec:journal` (opportunity id → JSON [`ChainRecord`]): the
//! executor's memory across crashes.
//!
//! The rule that makes a leg impossible to send twice: a leg's **intent** (client order id,
//! symbol, side, price, quantity, time) is written here *before* the request leaves; its result
//! is written when known. After a crash, every leg with an intent but no result is resolved by
//! querying the venue with its deterministic client order id — never by sending it again — and
//! the chain then continues or unwinds from what really exists. A finished chain keeps its record
//! (state `done`) until `journal_retention_ms`, so an opportunity delivered again is recognised;
//! its id is indexed by expiry in `storm:exec:journal:expiry`, so the sweep reads only what
//! expired. An opportunity refused before any order gets no record (its outcome is on the log).
//!
//! Ownership: a record names its `owner` and a fencing `epoch` ([`crate::claim`]). Every write
//! is a compare-and-set in one script — it lands only while the stored record still has the
//! writer's owner and epoch and is not done — so an executor that lost the chain to another
//! cannot overwrite what the new owner wrote, nor a late "running" overwrite "done".

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use storm_bus::lua::Lua;
use storm_bus::{Bus, BusError};
use storm_core::arb::Opportunity;
use storm_core::{Asset, Side, Symbol};
use storm_venues::trading::{NewOrder, OrderReport, TimeInForce};

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
    /// Venue order id (none when the order never existed). Journals written before ids were
    /// strings hold numbers, read as their digits.
    #[serde(default, deserialize_with = "order_id")]
    pub order_id: Option<String>,
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

    /// What a venue reported of an order; its commissions summed per asset (a total that
    /// overflows makes the report unreadable: `Err`).
    pub fn from_report(r: OrderReport) -> Result<Self, String> {
        let status =
            serde_json::to_value(r.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let mut commission: BTreeMap<String, Decimal> = BTreeMap::new();
        for (asset, fee) in r.commissions {
            let slot = commission.entry(asset).or_default();
            *slot = slot.checked_add(fee).ok_or_else(|| format!("commission total overflows: {slot} + {fee}"))?;
        }
        Ok(Self {
            order_id: Some(r.order_id),
            status,
            executed_qty: r.executed_qty,
            quote_qty: r.quote_qty,
            commission,
            reject: None,
        })
    }
}

/// An order id as a string, or as the number older journals hold.
fn order_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(u64),
    }
    Ok(Option::<Id>::deserialize(d)?.map(|id| match id {
        Id::Text(s) => s,
        Id::Number(n) => n.to_string(),
    }))
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChainRecord {
    /// Opportunity id.
    pub opp_id: String,
    /// `USDT>BTC>ETH>USDT`.
    pub path: String,
    /// Start asset.
    pub asset: Asset,
    /// Executor instance that owns it (the one that may write it and send its orders).
    pub owner: String,
    /// Fencing epoch: 1 when started, one more at each takeover ([`crate::claim`]).
    #[serde(default)]
    pub epoch: u64,
    /// The mode the chain started in; it finishes in it ([`crate::config::Mode`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<crate::config::Mode>,
    /// The `storm:opps` entry it came from (acknowledged with the outcome).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// The opportunity itself, so the chain can be finished from the journal alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opp: Option<Opportunity>,
    /// Started, ms.
    pub started_ms: u64,
    /// The update ids of the legs' books (leg by leg) as Redis had them when the gate let the
    /// chain go: the versions it traded against, marked superseding once it traded
    /// ([`crate::outcome`]). Empty for a record written before they were kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub book_ids: Vec<u64>,
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
            epoch: 1,
            mode: None,
            entry: None,
            opp: None,
            started_ms: now_ms,
            book_ids: Vec::new(),
            legs: Vec::new(),
            state: ChainState::Running,
            outcome: None,
        }
    }

    /// This record with its plan: the opportunity, the entry it came from, the mode.
    pub fn with_plan(mut self, opp: &Opportunity, entry: &str, mode: crate::config::Mode) -> Self {
        self.opp = Some(opp.clone());
        self.entry = Some(entry.to_owned());
        self.mode = Some(mode);
        self
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
/// the leg `1`..`3` or `u1`.. for unwinds, valid on every venue
/// ([`storm_venues::trading::portable_client_order_id`]). An id that
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

/// The compare-and-set write: lands when the stored record has the writer's owner and epoch and
/// is not done, or when there is none (Redis lost it: the owner puts it back, with its open slot
/// and lease). Returns 0 when the writer no longer owns the chain.
static SAVE: Lua = Lua::new(
    r#"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local ok, r = pcall(cjson.decode, cur)
  if not ok or type(r) ~= 'table' or r.state == 'done' or r.owner ~= ARGV[3] or (tonumber(r.epoch) or 0) ~= tonumber(ARGV[4]) then
    return 0
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
if not cur then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[3], 'NX', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[5]), ARGV[1])
end
return 1
"#,
);

/// Writes `record` (an intent before its order leaves, a result when known) with its entry in
/// `storm:exec:open`, if the writer still owns the chain ([`JournalError::Lost`] otherwise) — one
/// round trip, on the path to every order. `lease_ms`: the lease given when the record had to be
/// put back.
pub async fn save(bus: &Bus, record: &ChainRecord, lease_ms: u64) -> Result<(), JournalError> {
    let keys = bus.keys();
    let key_list = [keys.exec_journal(), keys.exec_open(), keys.exec_lease()];
    let json =
        serde_json::to_string(record).map_err(|e| JournalError::Corrupt(record.opp_id.clone(), e.to_string()))?;
    let args = [record.opp_id.clone(), json, record.owner.clone(), record.epoch.to_string(), lease_ms.to_string()];
    let written: i64 = bus
        .retry("journal write", |mut c| {
            let (key_list, args) = (key_list.clone(), args.clone());
            async move {
                let k: Vec<&str> = key_list.iter().map(String::as_str).collect();
                SAVE.run(&mut c, &k, &args.as_slice()).await
            }
        })
        .await?;
    if written == 0 {
        return Err(JournalError::Lost(record.opp_id.clone()));
    }
    Ok(())
}

/// Removes up to `count` finished records whose retention ran out by `now_ms`, from the expiry
/// index (never the whole journal); returns how many.
static SWEEP: Lua = Lua::new(
    r#"
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ids > 0 then
  redis.call('HDEL', KEYS[1], unpack(ids))
  redis.call('ZREM', KEYS[2], unpack(ids))
end
return #ids
"#,
);

/// Removes the finished records whose retention ran out by `now_ms` (their ids come from
/// `storm:exec:journal:expiry`, so the cost is the number removed, not the journal's size).
pub async fn sweep(bus: &Bus, now_ms: u64) -> Result<usize, JournalError> {
    const BATCH: usize = 500;
    let keys = bus.keys();
    let key_list = [keys.exec_journal(), keys.exec_journal_expiry()];
    let mut removed = 0;
    loop {
        let n: usize = bus
            .retry("journal sweep", |mut c| {
                let key_list = key_list.clone();
                async move {
                    let k: Vec<&str> = key_list.iter().map(String::as_str).collect();
                    SWEEP.run(&mut c, &k, &[now_ms.to_string(), BATCH.to_string()].as_slice()).await
                }
            })
            .await?;
        removed += n;
        if n < BATCH {
            return Ok(removed);
        }
    }
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
    /// Another executor owns the chain now (a later epoch), or it is done: this one must stop.
    #[error("chain {0} is no longer owned by this executor")]
    Lost(String),
}

#[cfg(test)]
mod tests {
    use storm_venues::trading::portable_client_order_id;

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
                assert!(portable_client_order_id(&c), "{c}");
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

    #[test]
    fn order_ids_are_strings_and_older_numeric_ones_still_read() {
        let old: LegFill = serde_json::from_str(
            r#"{"order_id":12345,"status":"FILLED","executed_qty":"1","quote_qty":"2","commission":{}}"#,
        )
        .expect("a journal written with numeric ids");
        assert_eq!(old.order_id.as_deref(), Some("12345"));
        let hex: LegFill = serde_json::from_str(r#"{"order_id":"5c35c02703aa673ceec2a168","status":"FILLED","executed_qty":"1","quote_qty":"2","commission":{}}"#)
            .expect("a venue's text id");
        assert_eq!(hex.order_id.as_deref(), Some("5c35c02703aa673ceec2a168"));
        let none: LegFill = serde_json::from_str(
            r#"{"order_id":null,"status":"NOT_PLACED","executed_qty":"0","quote_qty":"0","commission":{}}"#,
        )
        .expect("never placed");
        assert_eq!(none.order_id, None);
    }
}
