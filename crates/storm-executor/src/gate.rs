//! The gate every opportunity passes before its first order: **one** Lua script, so one round
//! trip on the path from signal to order, and atomic, so two executors cannot both take the last
//! `max_open_chains` slot.
//!
//! In order, the script: returns the opportunity's journal record if there is one (a redelivery
//! or a crash to continue — checked before anything else, so a chain in flight is never refused
//! for being late); refuses when the caller's own checks of the opportunity itself failed
//! (notional, filters); ends it as `superseded` when a chain has traded on one of its books since
//! the version it was priced on (`storm:exec:traded:<venue>`, written with each traded chain's
//! outcome, [`crate::outcome`]: that mispricing is taken, the price is gone); refuses when the
//! caller found no room under `orders_per_10s` (an expired opportunity is refused before the
//! superseded check: it stays `expired`); refuses while
//! `storm:halt` is set; refuses once the day's loss of the start asset
//! (`storm:exec:loss:<day>`, shared by every executor) reached `daily_loss_cap` — an unreadable
//! value refuses too; refuses at `max_open_chains`; refuses when the streamer's
//! `storm:balance` entry shows less free start asset than leg 1 spends (decimal strings compared
//! exactly, digit by digit — never as floats); and otherwise writes the record with leg 1's
//! intent, its `storm:exec:open` entry and its owner's lease in `storm:exec:lease`
//! ([`crate::claim`]), and lets the order go — returning the update ids of the legs' books as
//! Redis has them now, the versions the chain trades against.

use rust_decimal::Decimal;
use storm_bus::lua::Lua;
use storm_bus::{BlockingConn, Bus};
use storm_core::Symbol;

use crate::journal::{ChainRecord, JournalError};

static GATE: Lua = Lua::new(concat!(
    crate::lua_decimal::decimal_lua!(),
    r#"
local rec = redis.call('HGET', KEYS[2], ARGV[1])
if rec then return {'record', rec} end
if ARGV[8] == 'hard' then return {'local', ''} end
-- superseded: a chain traded on one of its books since the version it was priced on (and after
-- it was found: update ids that start again after a venue restart supersede nothing)
for sym, id in string.gmatch(ARGV[13], '(%S+):(%d+)') do
  local mark = redis.call('HGET', KEYS[7], sym)
  if mark then
    local v, t = string.match(mark, '^(%d+) (%d+)')
    if v and tonumber(id) <= tonumber(v) and tonumber(ARGV[12]) <= tonumber(t) then
      return {'superseded', sym .. ' ' .. mark}
    end
  end
end
if ARGV[8] ~= '' then return {'local', ''} end
local halt = redis.call('GET', KEYS[1])
if halt then return {'halt', halt} end
-- the day's loss of the start asset (every executor's), against daily_loss_cap
if ARGV[11] ~= '' then
  local loss = redis.call('HGET', KEYS[6], ARGV[4])
  if loss and not lt(loss, ARGV[11]) then return {'loss', loss} end
end
local open = redis.call('HLEN', KEYS[3])
if tonumber(ARGV[3]) > 0 and open >= tonumber(ARGV[3]) then return {'open', tostring(open)} end
if ARGV[6] == '1' then
  local raw = redis.call('HGET', KEYS[4], ARGV[4])
  if raw then
    local ok, b = pcall(cjson.decode, raw)
    if ok and type(b) == 'table' and type(b.free) == 'string' and lt(b.free, ARGV[5]) then
      return {'balance', b.free}
    end
  end
end
if ARGV[9] == '1' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[7])
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[5], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[10]), ARGV[1])
end
local ids = {}
for i = 8, #KEYS do
  local v = redis.pcall('HGET', KEYS[i], 'update_id')
  ids[#ids + 1] = type(v) == 'string' and v or '0'
end
return {'go', table.concat(ids, ' ')}
"#
));

/// What the gate decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// The opportunity already has a journal record (raw JSON).
    Existing(String),
    /// The caller's own check failed; nothing was written.
    Local,
    /// `storm:halt` is set (its value).
    Halted(String),
    /// The day's loss of the start asset (as stored) reached `daily_loss_cap`.
    LossCap(String),
    /// `max_open_chains` chains are in flight.
    Full(usize),
    /// The free balance (as stored) is below leg 1's spend.
    Balance(String),
    /// A chain traded on one of its books since it was priced: the symbol and the mark
    /// (`<update id> <ms> <opportunity id>` of that chain).
    Superseded(String),
    /// Go: the record (with leg 1's intent) is journaled and the chain counted open; the update
    /// ids of the legs' books in Redis now, leg by leg (0 where there is no book).
    Go(Vec<u64>),
}

/// Why the caller refuses an opportunity, if it does: its kind decides whether a superseded
/// opportunity is still told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Local {
    /// No refusal.
    None,
    /// The opportunity itself is unusable (fields, notional, filters) or expired: refused before
    /// anything, as what it is.
    Hard,
    /// Refused for now (no order rate left): a superseded opportunity is logged as such.
    Soft,
}

/// The question put to the gate.
pub struct Ask<'a> {
    /// The chain to start, with leg 1's intent when `write`.
    pub record: &'a ChainRecord,
    /// The venue traded (its `storm:exec:traded:<venue>` marks).
    pub venue: &'a str,
    /// The lease its owner gets on `Go`, ms (`claim_idle_ms`).
    pub lease_ms: u64,
    /// `max_open_chains` (0: no limit).
    pub max_open: usize,
    /// `storm:balance:<venue>:<acct>` when the account is known.
    pub balance_key: Option<&'a str>,
    /// Start asset spent by leg 1.
    pub spend: Decimal,
    /// The caller's own refusal, if any (the record check still comes first).
    pub local: Local,
    /// The opportunity's `created_ms`, its legs' symbols and the update ids of the books it was
    /// priced on (empty: no superseded check).
    pub priced_on: (u64, Vec<(&'a Symbol, u64)>),
    /// `storm:book:<venue>:<SYM>` of each leg, in order (read on `Go`).
    pub books: Vec<String>,
    /// Journal the record on `Go` (false for dry-run, which sends nothing).
    pub write: bool,
    /// `daily_loss_cap` of the start asset, if it has one.
    pub loss_cap: Option<Decimal>,
}

/// Runs the gate: on the fast path when there is one and it works, else on the bus.
pub async fn pass(bus: &Bus, fast: Option<&BlockingConn>, ask: &Ask<'_>) -> Result<Gate, JournalError> {
    let keys = bus.keys();
    let journal = keys.exec_journal();
    let mut key_list = vec![
        keys.halt(),
        journal.clone(),
        keys.exec_open(),
        ask.balance_key.map_or(journal, str::to_owned),
        keys.exec_lease(),
        keys.exec_loss(storm_core::time::now_millis()),
        keys.exec_traded(ask.venue),
    ];
    key_list.extend(ask.books.iter().cloned());
    let json = serde_json::to_string(ask.record)
        .map_err(|e| JournalError::Corrupt(ask.record.opp_id.clone(), e.to_string()))?;
    let flag = |b: bool| if b { "1" } else { "0" }.to_owned();
    let args = [
        ask.record.opp_id.clone(),
        json,
        ask.max_open.to_string(),
        ask.record.asset.to_string(),
        ask.spend.normalize().to_string(),
        flag(ask.balance_key.is_some()),
        ask.record.owner.clone(),
        match ask.local {
            Local::None => String::new(),
            Local::Hard => "hard".into(),
            Local::Soft => "soft".into(),
        },
        flag(ask.write),
        ask.lease_ms.to_string(),
        ask.loss_cap.map_or(String::new(), |c| c.normalize().to_string()),
        ask.priced_on.0.to_string(),
        ask.priced_on.1.iter().map(|(s, id)| format!("{s}:{id}")).collect::<Vec<_>>().join(" "),
    ];
    let k: Vec<&str> = key_list.iter().map(String::as_str).collect();
    let fast_reply = fast.and_then(|f| f.run(&GATE, &k, &args.as_slice()));
    let (kind, detail): (String, String) = match fast_reply {
        Some(r) => r,
        None => {
            bus.retry("gate", |mut c| {
                let (key_list, args) = (key_list.clone(), args.clone());
                async move {
                    let k: Vec<&str> = key_list.iter().map(String::as_str).collect();
                    GATE.run(&mut c, &k, &args.as_slice()).await
                }
            })
            .await?
        }
    };
    Ok(match kind.as_str() {
        "record" => Gate::Existing(detail),
        "local" => Gate::Local,
        "halt" => Gate::Halted(detail),
        "loss" => Gate::LossCap(detail),
        "open" => Gate::Full(detail.parse().unwrap_or(0)),
        "balance" => Gate::Balance(detail),
        "superseded" => Gate::Superseded(detail),
        _ => Gate::Go(detail.split_whitespace().map(|id| id.parse().unwrap_or(0)).collect()),
    })
}
