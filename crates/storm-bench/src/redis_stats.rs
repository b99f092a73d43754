//! What Redis itself says about a run: `INFO commandstats` (calls and µs per command, before
//! and after the window) and the slow log (every command that ran ≥ 10 ms, with its duration),
//! so a late candle can be traced to the script call that carried it, and the cost inside Redis
//! told apart from the engine's own.

use std::collections::BTreeMap;

use anyhow::Result;
use redis::aio::MultiplexedConnection;
use redis::Value;
use serde::Serialize;

/// Commands slower than this are kept in the slow log during a run, µs.
pub const SLOW_US: u64 = 10_000;

/// Calls and total µs of one command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CmdStat {
    /// Calls.
    pub calls: u64,
    /// Total time inside Redis, µs.
    pub usec: u64,
}

/// `cmdstat_<name>:calls=..,usec=..,...` lines of `INFO commandstats`, by command name.
pub fn parse_commandstats(info: &str) -> BTreeMap<String, CmdStat> {
    let mut out = BTreeMap::new();
    for line in info.lines() {
        let Some((name, rest)) = line.trim().strip_prefix("cmdstat_").and_then(|l| l.split_once(':')) else {
            continue;
        };
        let mut s = CmdStat::default();
        for kv in rest.split(',') {
            match kv.split_once('=') {
                Some(("calls", v)) => s.calls = v.parse().unwrap_or(0),
                Some(("usec", v)) => s.usec = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        out.insert(name.to_owned(), s);
    }
    out
}

/// One command the slow log kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Slow {
    /// Unix time it started, s.
    pub at_s: u64,
    /// Time inside Redis, µs.
    pub us: u64,
    /// Command name (lower case).
    pub cmd: String,
    /// For `EVALSHA`/`EVAL`, the number of keys the script was given (0 otherwise).
    pub keys: u64,
}

/// A connection for the statistics (not the engine's, not the watchers').
pub struct RedisStats {
    conn: MultiplexedConnection,
}

impl RedisStats {
    /// Connects and turns the slow log on for commands ≥ [`SLOW_US`].
    pub async fn connect(url: &str) -> Result<Self> {
        let mut conn = redis::Client::open(url)?.get_multiplexed_async_connection().await?;
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("slowlog-log-slower-than")
            .arg(SLOW_US)
            .query_async::<()>(&mut conn)
            .await?;
        redis::cmd("CONFIG").arg("SET").arg("slowlog-max-len").arg(100_000).query_async::<()>(&mut conn).await?;
        Ok(Self { conn })
    }

    /// Every command's calls and µs so far.
    pub async fn commandstats(&mut self) -> Result<BTreeMap<String, CmdStat>> {
        let info: String = redis::cmd("INFO").arg("commandstats").query_async(&mut self.conn).await?;
        Ok(parse_commandstats(&info))
    }

    /// The slow log's entries that started at or after `since_s`, oldest first.
    pub async fn slow_since(&mut self, since_s: u64) -> Result<Vec<Slow>> {
        let v: Value = redis::cmd("SLOWLOG").arg("GET").arg(-1).query_async(&mut self.conn).await?;
        let mut out: Vec<Slow> = slow_entries(&v).into_iter().filter(|s| s.at_s >= since_s).collect();
        out.reverse();
        Ok(out)
    }
}

/// `SLOWLOG GET` reply: `[[id, unix_s, us, [cmd, args..], client, name], ..]`.
fn slow_entries(v: &Value) -> Vec<Slow> {
    let Value::Array(items) = v else { return Vec::new() };
    items
        .iter()
        .filter_map(|e| {
            let Value::Array(f) = e else { return None };
            let int = |i: usize| match f.get(i) {
                Some(Value::Int(n)) => u64::try_from(*n).ok(),
                _ => None,
            };
            let args: &[Value] = match f.get(3) {
                Some(Value::Array(args)) => args,
                _ => &[],
            };
            let text = |i: usize| match args.get(i) {
                Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                _ => String::new(),
            };
            let cmd = text(0).to_lowercase();
            let keys = if cmd.starts_with("eval") { text(2).parse().unwrap_or(0) } else { 0 };
            Some(Slow { at_s: int(1)?, us: int(2)?, cmd, keys })
        })
        .collect()
}

/// `after − before` per command, commands without a call in between left out.
pub fn delta(before: &BTreeMap<String, CmdStat>, after: &BTreeMap<String, CmdStat>) -> BTreeMap<String, CmdStat> {
    after
        .iter()
        .filter_map(|(name, a)| {
            let b = before.get(name).copied().unwrap_or_default();
            let d = CmdStat { calls: a.calls.saturating_sub(b.calls), usec: a.usec.saturating_sub(b.usec) };
            (d.calls > 0).then(|| (name.clone(), d))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commandstats_parse_and_subtract() {
        let before = parse_commandstats(
            "# Commandstats\r\ncmdstat_evalsha:calls=10,usec=5000,usec_per_call=500.00,rejected_calls=0,failed_calls=0\r\n\
             cmdstat_xread:calls=3,usec=30,usec_per_call=10.00\r\n",
        );
        assert_eq!(before["evalsha"], CmdStat { calls: 10, usec: 5_000 });
        let after = parse_commandstats(
            "cmdstat_evalsha:calls=30,usec=25000,usec_per_call=833.33\r\ncmdstat_xread:calls=3,usec=30\r\n\
             cmdstat_exec:calls=7,usec=70\r\nnot a stat line\r\n",
        );
        let d = delta(&before, &after);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d["evalsha"], CmdStat { calls: 20, usec: 20_000 });
        assert_eq!(d["exec"], CmdStat { calls: 7, usec: 70 });
    }

    #[test]
    fn slow_log_entries_parse() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(2),
                Value::Int(1_765_000_001),
                Value::Int(42_000),
                Value::Array(vec![bulk("EVALSHA"), bulk("abc"), bulk("8001"), bulk("k")]),
            ]),
            Value::Array(vec![Value::Int(1)]),
        ]);
        assert_eq!(
            slow_entries(&reply),
            [Slow { at_s: 1_765_000_001, us: 42_000, cmd: "evalsha".into(), keys: 8_001 }]
        );
    }
}
