//! Recording how an opportunity ended: one `storm:arb:log` entry, the journal record marked
//! `done` (a chain's, written only by its owner), the chain removed from the open set and the
//! leases, a `storm:exec:failed` entry for broken chains (and a `storm:exec:parked` entry for a
//! chain whose order status could not be resolved), the realized loss added to the day's
//! `storm:exec:loss:<day>` (exactly, as decimal strings), the books a traded chain changed
//! (`storm:exec:traded:<venue>`, [`crate::supersede`]) — and the consumer-group XACK — all in
//! **one** script. Either everything happened or nothing
//! did, so after a crash an opportunity is never logged twice and never acknowledged unlogged.
//!
//! Entry fields (plain, for `redis-cli XREVRANGE storm:arb:log + - COUNT 5`): `id`, `outcome`
//! (`executed` / `partial` / `expired` / `superseded` / `rejected` / `failed` / `validated` for
//! dry-run: [`storm_bus::outcomes`]),
//! `reason`, `venue`, `path`, `asset`, `mode`, `predicted` (profit the finder expected),
//! `realized` (net change of the start asset), `slippage` (`realized - predicted`, traded
//! chains only), `pnl` (JSON net change per asset, from the fills and commissions), `orders`,
//! `time_ms`, `executor`; then `v` and last `m` (msgpack of [`ArbOutcome`]), so the blob does
//! not hide the plain fields.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use storm_bus::lua::Lua;
use storm_bus::{Bus, BusError, CodecError, Entry, Keys};
use storm_core::arb::Opportunity;

use crate::journal::{ChainRecord, ChainState};
use crate::pnl::{self, Deltas};

/// The outcome of one opportunity, as logged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArbOutcome {
    /// Opportunity id.
    pub id: String,
    /// `executed`, `partial`, `expired`, `superseded`, `rejected`, `failed`, `validated`
    /// ([`storm_bus::outcomes`]).
    pub outcome: String,
    /// Why, when not plainly executed.
    pub reason: Option<String>,
    /// Venue.
    pub venue: String,
    /// Path.
    pub path: String,
    /// Start asset.
    pub asset: String,
    /// Executor mode.
    pub mode: String,
    /// Expected profit in the start asset.
    pub predicted: Decimal,
    /// Net change of the start asset.
    pub realized: Decimal,
    /// Net change per asset (decimal strings).
    pub pnl: std::collections::BTreeMap<String, Decimal>,
    /// Orders sent.
    pub orders: usize,
    /// When logged, ms.
    pub time_ms: u64,
}

impl ArbOutcome {
    /// The outcome of `opp` with the chain's net changes.
    pub fn new(
        opp: &Opportunity,
        outcome: &str,
        reason: Option<String>,
        mode: &str,
        deltas: &Deltas,
        orders: usize,
    ) -> Self {
        Self {
            id: opp.id.clone(),
            outcome: outcome.to_owned(),
            reason,
            venue: opp.venue.to_string(),
            path: opp.path.clone(),
            asset: opp.asset.to_string(),
            mode: mode.to_owned(),
            predicted: opp.profit,
            realized: deltas.get(&opp.asset).copied().unwrap_or_default(),
            pnl: deltas.iter().map(|(a, v)| (a.to_string(), *v)).collect(),
            orders,
            time_ms: storm_core::time::now_millis(),
        }
    }

    fn traded(&self) -> bool {
        self.orders > 0 && !self.pnl.is_empty()
    }
}

/// A broken chain's report for `storm:exec:failed`.
pub struct FailedReport<'a> {
    /// Why it broke and what the unwind did.
    pub reason: &'a str,
    /// Inventory left (asset ≠ start).
    pub residue: &'a [(storm_core::Asset, Decimal)],
    /// For a parked chain, its JSON for `storm:exec:parked` ([`parked_json`]).
    pub parked: Option<&'a str>,
}

/// The `storm:exec:parked` entry of a chain whose orders `unresolved` (client id and symbol) have
/// no known status: what an operator needs to look them up on the venue.
pub fn parked_json(record: &ChainRecord, reason: &str, unresolved: &[String], owner: &str) -> String {
    serde_json::json!({
        "id": record.opp_id,
        "path": record.path,
        "asset": record.asset.as_str(),
        "reason": reason,
        "unresolved": unresolved,
        "executor": owner,
        "time_ms": storm_core::time::now_millis(),
    })
    .to_string()
}

/// Appends the log (and failed) entries and acknowledges the entry, in one script.
///
/// For a chain (ARGV[2] is its record): only its owner at its epoch logs it — the record is
/// marked done, indexed for the sweep (`storm:exec:journal:expiry`), and leaves the open set and
/// the leases; a record already done (a retry after a lost reply, a second delivery) is only
/// acknowledged; a record owned by another executor now returns -1 and nothing happens. For an
/// opportunity refused before any order (ARGV[2] empty) no record is written; if a chain owns the
/// opportunity meanwhile, its owner logs it and this delivery is only acknowledged. With the log
/// entry (ARGV[9], JSON, may be empty): the realized loss added to the day's loss hash, and a
/// parked chain's `storm:exec:parked` entry.
static FINISH: Lua = Lua::new(concat!(
    crate::lua_decimal::decimal_lua!(),
    r#"
local cur = redis.call('HGET', KEYS[3], ARGV[1])
local log = true
if ARGV[2] == '' then
  if cur then log = false end
elseif cur then
  local ok, r = pcall(cjson.decode, cur)
  if ok and type(r) == 'table' and r.state == 'done' then
    log = false
  elseif not ok or type(r) ~= 'table' or r.owner ~= ARGV[6] or (tonumber(r.epoch) or 0) ~= tonumber(ARGV[7]) then
    return -1
  end
end
if log then
  local i = 10
  for s = 1, 2 do
    local n = tonumber(ARGV[i])
    if n > 0 then
      local args = {KEYS[s], 'MAXLEN', '~', ARGV[5], '*'}
      for j = 1, n do args[#args + 1] = ARGV[i + j] end
      redis.call('XADD', unpack(args))
    end
    i = i + n + 1
  end
  -- with the outcome: the day's loss of the start asset (the shared daily loss cap; an
  -- unreadable stored value is left for the gate to refuse on) and a parked chain
  if ARGV[9] ~= '' then
    local x = cjson.decode(ARGV[9])
    if x.loss then
      local sum = dadd(redis.call('HGET', KEYS[8], x.asset) or '0', x.loss)
      if sum then redis.call('HSET', KEYS[8], x.asset, sum) end
      redis.call('EXPIRE', KEYS[8], x.ttl)
    end
    if x.parked then redis.call('HSET', KEYS[9], ARGV[1], x.parked) end
    -- the books this chain traded on: what was priced on them up to now is superseded
    if x.traded then
      local t = redis.call('TIME')
      local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
      for sym, id in pairs(x.traded) do
        redis.call('HSET', KEYS[10], sym, id .. ' ' .. now .. ' ' .. ARGV[1])
      end
    end
  end
  if ARGV[2] ~= '' then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
    redis.call('ZADD', KEYS[7], now + tonumber(ARGV[8]), ARGV[1])
  end
end
if ARGV[2] ~= '' then
  redis.call('HDEL', KEYS[4], ARGV[1])
  redis.call('ZREM', KEYS[6], ARGV[1])
end
local acked = 0
for id in string.gmatch(ARGV[3], '[^ ]+') do
  acked = acked + redis.call('XACK', KEYS[5], ARGV[4], id)
end
return acked
"#
));

/// How long a day's loss hash (`storm:exec:loss:<day>`) is kept, seconds: two days.
const LOSS_TTL_S: u64 = 2 * 86_400;

/// Where and how an outcome is recorded.
pub struct Finish<'a> {
    /// `storm:opps` and the consumer group.
    pub group: (&'a str, &'a str),
    /// The stream entries to acknowledge (the one in hand, and the chain's own if another).
    pub entry_ids: Vec<String>,
    /// `MAXLEN ~` of the log streams.
    pub maxlen: usize,
    /// How long a done record is kept, ms.
    pub retention_ms: u64,
    /// This executor's instance name (the `executor` field).
    pub executor: &'a str,
    /// The books the chain traded on: symbol → the update id it traded against
    /// ([`crate::supersede::marks`]); empty when nothing filled.
    pub traded: Vec<(String, u64)>,
}

/// Records the outcome and acknowledges the entries atomically, exactly once. `record`: the
/// chain's record, `None` for an opportunity refused before any order. `Ok(false)`: the chain is
/// owned by another executor now, nothing was written.
pub async fn finish(
    bus: &Bus,
    how: &Finish<'_>,
    record: Option<&mut ChainRecord>,
    out: &ArbOutcome,
    failed: Option<FailedReport<'_>>,
) -> Result<bool, BusError> {
    let keys = bus.keys();
    let (journal_json, owner, epoch) = match record {
        Some(record) => {
            record.state = ChainState::Done;
            record.outcome = Some(out.outcome.clone());
            let json = serde_json::to_string(&record).map_err(|e| BusError::Config(format!("journal json: {e}")))?;
            (json, record.owner.clone(), record.epoch)
        }
        None => (String::new(), String::new(), 0),
    };
    let log = log_entry(keys, how.maxlen, how.executor, out)?;
    let parked = failed.as_ref().and_then(|f| f.parked);
    let failed_entry = failed.as_ref().map(|f| {
        let residue: Deltas = f.residue.iter().cloned().collect();
        let e = Entry::new(keys.exec_failed(), how.maxlen)
            .field("id", out.id.as_str())
            .field("path", out.path.as_str())
            .field("reason", f.reason)
            .field("residue", pnl::to_json(&residue))
            .field("pnl", pnl::to_json(&deltas_of(out)))
            .field("time_ms", out.time_ms.to_string());
        if f.parked.is_some() {
            e.field("parked", "1")
        } else {
            e
        }
    });
    let now = storm_core::time::now_millis();
    let keys_list = [
        keys.arb_log(),
        keys.exec_failed(),
        keys.exec_journal(),
        keys.exec_open(),
        how.group.0.to_owned(),
        keys.exec_lease(),
        keys.exec_journal_expiry(),
        keys.exec_loss(now),
        keys.exec_parked(),
        keys.exec_traded(&out.venue),
    ];
    let mut extras = serde_json::Map::new();
    if !out.realized.is_zero() {
        extras.insert("asset".into(), out.asset.clone().into());
        extras.insert("loss".into(), (-out.realized).normalize().to_string().into());
        extras.insert("ttl".into(), LOSS_TTL_S.into());
    }
    if let Some(p) = parked {
        extras.insert("parked".into(), p.into());
    }
    if !how.traded.is_empty() {
        let marks = how.traded.iter().map(|(s, id)| (s.clone(), id.to_string().into())).collect();
        extras.insert("traded".into(), serde_json::Value::Object(marks));
    }
    let extras = if extras.is_empty() { String::new() } else { serde_json::Value::Object(extras).to_string() };
    let mut args: Vec<Vec<u8>> = vec![
        out.id.clone().into_bytes(),
        journal_json.into_bytes(),
        how.entry_ids.join(" ").into_bytes(),
        how.group.1.as_bytes().to_vec(),
        how.maxlen.to_string().into_bytes(),
        owner.into_bytes(),
        epoch.to_string().into_bytes(),
        how.retention_ms.to_string().into_bytes(),
        extras.into_bytes(),
    ];
    for e in [Some(&log), failed_entry.as_ref()] {
        let fields = e.map_or(&[][..], |e| e.fields.as_slice());
        args.push((fields.len() * 2).to_string().into_bytes());
        for (name, value) in fields {
            args.push(name.as_bytes().to_vec());
            args.push(value.clone());
        }
    }
    let acked: i64 = bus
        .retry("record outcome", |mut c| {
            let (keys_list, args) = (keys_list.clone(), args.clone());
            async move {
                let k: Vec<&str> = keys_list.iter().map(String::as_str).collect();
                FINISH.run(&mut c, &k, &args).await
            }
        })
        .await?;
    Ok(acked >= 0)
}

/// The `storm:arb:log` entry of `out`: the plain fields first (what `redis-cli XREVRANGE` shows
/// first), then `v` and the msgpack blob `m`.
fn log_entry(keys: &Keys, maxlen: usize, executor: &str, out: &ArbOutcome) -> Result<Entry, CodecError> {
    let mut log = Entry::new(keys.arb_log(), maxlen)
        .field("id", out.id.as_str())
        .field("outcome", out.outcome.as_str())
        .field("reason", out.reason.clone().unwrap_or_default())
        .field("venue", out.venue.as_str())
        .field("path", out.path.as_str())
        .field("asset", out.asset.as_str())
        .field("mode", out.mode.as_str())
        .field("predicted", out.predicted.normalize().to_string())
        .field("realized", out.realized.normalize().to_string());
    // The prediction comes from outside: a slippage that does not fit is left out, not a panic.
    if let Some(slippage) = out.realized.checked_sub(out.predicted).filter(|_| out.traded()) {
        log = log.field("slippage", slippage.normalize().to_string());
    }
    log.field("pnl", pnl::to_json(&deltas_of(out)))
        .field("orders", out.orders.to_string())
        .field("time_ms", out.time_ms.to_string())
        .field("executor", executor)
        .payload(out)
}

fn deltas_of(out: &ArbOutcome) -> Deltas {
    out.pnl.iter().map(|(a, v)| (storm_core::Asset::new(a), *v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_entry_shows_its_plain_fields_before_the_blob() {
        let out = ArbOutcome {
            id: "9f3a".into(),
            outcome: "executed".into(),
            reason: None,
            venue: "sim".into(),
            path: "USDT>BTC>ETH>USDT".into(),
            asset: "USDT".into(),
            mode: "live".into(),
            predicted: Decimal::new(51, 2),
            realized: Decimal::new(49, 2),
            pnl: [("USDT".to_owned(), Decimal::new(49, 2))].into_iter().collect(),
            orders: 3,
            time_ms: 1,
        };
        let e = log_entry(&Keys::default(), 100, "ex-1", &out).expect("entry");
        let names: Vec<&str> = e.fields.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "id",
                "outcome",
                "reason",
                "venue",
                "path",
                "asset",
                "mode",
                "predicted",
                "realized",
                "slippage",
                "pnl",
                "orders",
                "time_ms",
                "executor",
                "v",
                "m"
            ]
        );
    }
}
