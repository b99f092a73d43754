//! The Redis key schema: every key in DESIGN.md's contract is built here and nowhere else.
//!
//! `<venue>` is the venue's configured name, `<SYM>` the venue symbol in upper case and `<acct>`
//! the first 8 hex chars of SHA-256 of the API key (computed by the venue adapter, never the key).
//! The namespace prefix defaults to `storm`.

use storm_core::{Channel, Symbol};

/// Builds keys under one namespace prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Default for Keys {
    fn default() -> Self {
        Self::new("storm")
    }
}

impl Keys {
    /// Keys under `prefix` (`storm` unless configured).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into() }
    }

    /// The namespace prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// SET `storm:subs:<venue>`: wanted market data (`depth:BTCUSDT`, `kline:BTCUSDT:1m`).
    pub fn subs(&self, venue: &str) -> String {
        format!("{}:subs:{venue}", self.prefix)
    }

    /// STREAM `storm:md:<venue>:<channel>`: normalized market-data events.
    pub fn md(&self, venue: &str, channel: Channel) -> String {
        format!("{}:md:{venue}:{channel}", self.prefix)
    }

    /// HASH `storm:book:<venue>:<SYM>`: top N levels and status of one book.
    pub fn book(&self, venue: &str, symbol: &Symbol) -> String {
        format!("{}:book:{venue}:{symbol}", self.prefix)
    }

    /// STREAM `storm:tops:<venue>`: one entry per change of a book's top K levels.
    pub fn tops(&self, venue: &str) -> String {
        format!("{}:tops:{venue}", self.prefix)
    }

    /// HASH `storm:instruments:<venue>`: `<SYM>` → instrument JSON.
    pub fn instruments(&self, venue: &str) -> String {
        format!("{}:instruments:{venue}", self.prefix)
    }

    /// STREAM `storm:opps`: arbitrage opportunities.
    pub fn opps(&self) -> String {
        format!("{}:opps", self.prefix)
    }

    /// STREAM `storm:arb:log`: the outcome of every opportunity.
    pub fn arb_log(&self) -> String {
        format!("{}:arb:log", self.prefix)
    }

    /// HASH `storm:exec:journal`: opportunity id → legs state, written before each leg is sent.
    pub fn exec_journal(&self) -> String {
        format!("{}:exec:journal", self.prefix)
    }

    /// STREAM `storm:exec:failed`: failed or unwound trades.
    pub fn exec_failed(&self) -> String {
        format!("{}:exec:failed", self.prefix)
    }

    /// `storm:exec:open`: HASH opportunity id → executor instance, the chains in flight (counted
    /// against `max_open_chains`; an entry leaves in the transaction that logs the outcome).
    pub fn exec_open(&self) -> String {
        format!("{}:exec:open", self.prefix)
    }

    /// ZSET `storm:exec:lease`: opportunity id → until when (ms, Redis clock) its owner holds the
    /// chain. The owner renews it while it works; another executor may take the chain over (with
    /// the next fencing epoch) only once it has run out.
    pub fn exec_lease(&self) -> String {
        format!("{}:exec:lease", self.prefix)
    }

    /// ZSET `storm:exec:journal:expiry`: opportunity id of a finished journal record → when (ms)
    /// it may be removed, so the sweep reads only what expired.
    pub fn exec_journal_expiry(&self) -> String {
        format!("{}:exec:journal:expiry", self.prefix)
    }

    /// HASH `storm:exec:loss:<YYYYMMDD>` (the UTC day of `now_ms`): start asset → the day's net
    /// realized loss as a decimal string (negative after a net gain), added to in the script that
    /// logs each outcome and read by the gate against `daily_loss_cap`; expires after two days.
    pub fn exec_loss(&self, now_ms: u64) -> String {
        let day = storm_core::time::Utc::from_millis(now_ms);
        format!("{}:exec:loss:{:04}{:02}{:02}", self.prefix, day.year, day.month, day.day)
    }

    /// HASH `storm:exec:parked`: opportunity id → JSON of a chain whose order status could not be
    /// resolved (a permanent venue error, or `unknown_resolve_max_ms` spent); an operator checks
    /// the orders on the venue and removes the entry.
    pub fn exec_parked(&self) -> String {
        format!("{}:exec:parked", self.prefix)
    }

    /// HASH `storm:exec:traded:<venue>`: symbol → `<update id> <ms> <opportunity id>`: the book
    /// version the latest chain that filled an order on that book traded against, and when (Redis
    /// clock, ms) its outcome was logged. An opportunity priced on that book at or before that
    /// version and found before then was priced on a book the chain has since changed: the gate
    /// ends it as `superseded` instead of sending it (an expired one stays `expired`). One field
    /// per symbol, overwritten.
    pub fn exec_traded(&self, venue: &str) -> String {
        format!("{}:exec:traded:{venue}", self.prefix)
    }

    /// HASH `storm:order:<venue>:<acct>:<SYM>`: order id → latest order state.
    pub fn order(&self, venue: &str, acct: &str, symbol: &Symbol) -> String {
        format!("{}:order:{venue}:{acct}:{symbol}", self.prefix)
    }

    /// HASH `storm:balance:<venue>:<acct>`: asset → {free, locked, time}.
    pub fn balance(&self, venue: &str, acct: &str) -> String {
        format!("{}:balance:{venue}:{acct}", self.prefix)
    }

    /// STREAM `storm:fills:<venue>:<acct>`: every fill.
    pub fn fills(&self, venue: &str, acct: &str) -> String {
        format!("{}:fills:{venue}:{acct}", self.prefix)
    }

    /// HASH `storm:health:<engine>:<instance>`: heartbeat of one process.
    pub fn health(&self, engine: &str, instance: &str) -> String {
        format!("{}:health:{engine}:{instance}", self.prefix)
    }

    /// Pattern matching every health hash (for `SCAN`).
    pub fn health_pattern(&self) -> String {
        format!("{}:health:*", self.prefix)
    }

    /// STRING `storm:halt`: while present the executor sends no new order.
    pub fn halt(&self) -> String {
        format!("{}:halt", self.prefix)
    }

    /// STRING `storm:ratelimit:<venue>:<name>`: shared per-IP budget counters.
    pub fn ratelimit(&self, venue: &str, name: &str) -> String {
        format!("{}:ratelimit:{venue}:{name}", self.prefix)
    }

    /// STRING `storm:bus:producer:<id>`: the last batch a publisher committed (see [`crate::publish`]).
    pub fn producer_marker(&self, producer: &str) -> String {
        format!("{}:bus:producer:{producer}", self.prefix)
    }

    /// HASH `storm:notify:last`: stream key → id of the last entry `stormctl notify` posted (or
    /// summarized), so a restarted notifier resumes after it instead of posting again.
    pub fn notify_last(&self) -> String {
        format!("{}:notify:last", self.prefix)
    }

    /// STREAM `storm:candles:<venue>:<SYM>:<tf>`: closed candles, entry id `<open_ms>-<version>`
    /// (version 0 = closed on time, higher = amended by a late trade), so `XRANGE key <from_ms>
    /// <to_ms>` reads by time and a replay cannot add a candle twice.
    pub fn candles(&self, venue: &str, symbol: &Symbol, tf: &str) -> String {
        format!("{}:candles:{venue}:{symbol}:{tf}", self.prefix)
    }

    /// HASH `storm:candle:<venue>:<SYM>:<tf>`: the candle forming now.
    pub fn candle(&self, venue: &str, symbol: &Symbol, tf: &str) -> String {
        format!("{}:candle:{venue}:{symbol}:{tf}", self.prefix)
    }

    /// HASH `storm:ticker:<venue>`: a field per symbol, JSON of best bid/ask, last trade and 24 h
    /// statistics (written by storm-candles).
    pub fn ticker(&self, venue: &str) -> String {
        format!("{}:ticker:{venue}", self.prefix)
    }

    /// HASH `storm:candles-state:<venue>`: the candle engine's restart point (`cursor` = the last
    /// trade entry folded in; a field per symbol with that symbol's open intervals).
    pub fn candles_state(&self, venue: &str) -> String {
        format!("{}:candles-state:{venue}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_contract() {
        let k = Keys::default();
        let btc = Symbol::new("btcusdt");
        assert_eq!(k.subs("binance"), "storm:subs:binance");
        assert_eq!(k.md("binance", Channel::Depth), "storm:md:binance:depth");
        assert_eq!(k.book("binance", &btc), "storm:book:binance:BTCUSDT");
        assert_eq!(k.tops("binance"), "storm:tops:binance");
        assert_eq!(k.instruments("binance"), "storm:instruments:binance");
        assert_eq!(k.opps(), "storm:opps");
        assert_eq!(k.candles("sim", &btc, "1m"), "storm:candles:sim:BTCUSDT:1m");
        assert_eq!(k.candle("sim", &btc, "1M"), "storm:candle:sim:BTCUSDT:1M");
        assert_eq!(k.candles_state("sim"), "storm:candles-state:sim");
        assert_eq!(k.ticker("sim"), "storm:ticker:sim");
        assert_eq!(k.arb_log(), "storm:arb:log");
        assert_eq!(k.exec_journal(), "storm:exec:journal");
        assert_eq!(k.exec_failed(), "storm:exec:failed");
        assert_eq!(k.order("binance", "1a2b3c4d", &btc), "storm:order:binance:1a2b3c4d:BTCUSDT");
        assert_eq!(k.balance("binance", "1a2b3c4d"), "storm:balance:binance:1a2b3c4d");
        assert_eq!(k.exec_open(), "storm:exec:open");
        assert_eq!(k.exec_lease(), "storm:exec:lease");
        assert_eq!(k.exec_journal_expiry(), "storm:exec:journal:expiry");
        assert_eq!(k.exec_loss(1_723_163_655_408), "storm:exec:loss:20240809");
        assert_eq!(k.exec_parked(), "storm:exec:parked");
        assert_eq!(k.exec_traded("sim"), "storm:exec:traded:sim");
        assert_eq!(k.fills("binance", "1a2b3c4d"), "storm:fills:binance:1a2b3c4d");
        assert_eq!(k.health("booksync", "a"), "storm:health:booksync:a");
        assert_eq!(k.halt(), "storm:halt");
        assert_eq!(k.ratelimit("binance", "weight"), "storm:ratelimit:binance:weight");
        assert_eq!(Keys::new("paper").halt(), "paper:halt");
    }

    #[test]
    fn notify_position_key_follows_the_namespace() {
        assert_eq!(Keys::default().notify_last(), "storm:notify:last");
        assert_eq!(Keys::new("paper").notify_last(), "paper:notify:last");
    }
}
