//! Writing candles to Redis: closed and amended candles, the forming candles' hashes and the
//! engine's restart point. A commit with the restart point is one script call, so a restart
//! resumes exactly where the last write left off; closed candles alone (what must be on time)
//! go out as plain `XADD`s in one `MULTI`/`EXEC`, the state never ahead of them.
//!
//! A closed candle is `XADD <open_ms>-<version>` with `MINID ~` trimming; an id already in the
//! stream (the same candle written before a restart) is skipped and counted as a duplicate, so
//! replaying the trade stream can never add a candle twice. The restart point is the id of the
//! last trade entry folded in (`cursor`) and, per symbol, its series state (msgpack), written
//! with the candles they produced.
//!
//! A backfill corrects candles below the top of a stream, where `XADD` cannot go (ids only
//! grow). [`rewrite_tail`] replaces the tail from the first corrected candle in one script:
//! delete it, move the stream's last id back (`XSETID`) to the entry before it, and append the
//! corrected tail in order — every candle still once, readable by time.

use redis::aio::{ConnectionLike, ConnectionManager};
use storm_bus::lua::Lua;

/// One script: stream writes, hash writes, then the state hash.
///
/// KEYS[1] the state hash, then one key per write in ARGV order. ARGV[1] stream writes,
/// ARGV[2] hash writes; each stream write `id minid n f1 v1 ..`, each hash write `n f1 v1 ..`,
/// then the state's `n f1 v1 ..`. Returns {added, duplicates, failed}.
static COMMIT: Lua = Lua::new(
    r#"
local ki, ai = 2, 3
local added, dup, failed = 0, 0, 0
for _ = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[ai + 2])
  local r = redis.pcall('XADD', KEYS[ki], 'MINID', '~', ARGV[ai + 1], ARGV[ai], unpack(ARGV, ai + 3, ai + 2 + 2 * n))
  if type(r) == 'table' and r.err then
    if string.find(r.err, 'equal or smaller', 1, true) then dup = dup + 1 else failed = failed + 1 end
  else
    added = added + 1
  end
  ki, ai = ki + 1, ai + 3 + 2 * n
end
for _ = 1, tonumber(ARGV[2]) do
  local n = tonumber(ARGV[ai])
  redis.call('HSET', KEYS[ki], unpack(ARGV, ai + 1, ai + 2 * n))
  ki, ai = ki + 1, ai + 1 + 2 * n
end
local n = tonumber(ARGV[ai])
if n > 0 then
  for j = 0, n - 1, 1000 do
    redis.call('HSET', KEYS[1], unpack(ARGV, ai + 1 + 2 * j, ai + 2 * math.min(n, j + 1000)))
  end
end
return {added, dup, failed}
"#,
);

/// KEYS[1] the stream. ARGV[1] the first id replaced, ARGV[2] MINID, ARGV[3] the number of
/// entries, then each entry `id n f1 v1 ..`. Returns the number of entries deleted.
static REWRITE: Lua = Lua::new(
    r#"
local tail = redis.call('XRANGE', KEYS[1], ARGV[1], '+')
for _, e in ipairs(tail) do redis.call('XDEL', KEYS[1], e[1]) end
local before = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #before > 0 then redis.call('XSETID', KEYS[1], before[1][1]) elseif redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('XSETID', KEYS[1], '0-1')
end
local ai = 4
for _ = 1, tonumber(ARGV[3]) do
  local n = tonumber(ARGV[ai + 1])
  local args = {KEYS[1], 'MINID', '~', ARGV[2], ARGV[ai]}
  for j = 1, 2 * n do args[#args + 1] = ARGV[ai + 1 + j] end
  redis.call('XADD', unpack(args))
  ai = ai + 2 + 2 * n
end
return #tail
"#,
);

/// Most fields one HSET of the commit sets (Lua's `unpack` has a stack limit of a few thousand).
pub const MAX_FIELDS: usize = 1_000;

/// A candle's field/value pairs ([`crate::wire::fields`]).
pub type Fields = Vec<(&'static str, Vec<u8>)>;
type Named = Vec<(String, Vec<u8>)>;

/// What one commit writes.
#[derive(Debug, Default)]
pub struct Commit {
    streams: Vec<(String, String, String, Fields)>,
    hashes: Vec<(String, Named)>,
    state: Vec<(String, Vec<u8>)>,
}

/// What Redis did with a commit's candles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// New entries.
    pub added: u64,
    /// Entries already there (a replay).
    pub duplicates: u64,
    /// Entries Redis refused for another reason (e.g. a key of another type).
    pub failed: u64,
}

impl Commit {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty() && self.hashes.is_empty() && self.state.is_empty()
    }

    /// Appends a closed candle: entry `id` on `key`, trimming entries older than `minid`.
    pub fn candle(&mut self, key: String, id: String, minid: u64, fields: Fields) {
        self.streams.push((key, id, minid.to_string(), fields));
    }

    /// Sets the fields of hash `key`.
    pub fn hash(&mut self, key: String, fields: Fields) {
        self.hashes.push((key, fields.into_iter().map(|(f, v)| (f.to_owned(), v)).collect()));
    }

    /// Sets one field of hash `key` (with the fields set just before on the same key: one HSET
    /// of at most [`MAX_FIELDS`]).
    pub fn hash_field(&mut self, key: String, field: String, value: Vec<u8>) {
        match self.hashes.last_mut() {
            Some((k, fields)) if *k == key && fields.len() < MAX_FIELDS => fields.push((field, value)),
            _ => self.hashes.push((key, vec![(field, value)])),
        }
    }

    /// Sets one field of the state hash.
    pub fn state(&mut self, field: String, value: Vec<u8>) {
        self.state.push((field, value));
    }

    /// Runs the commit (one script call; closed candles alone in one `MULTI`/`EXEC`) and
    /// empties it.
    pub async fn run(&mut self, conn: &mut ConnectionManager, state_key: &str) -> redis::RedisResult<Written> {
        if self.is_empty() {
            return Ok(Written::default());
        }
        if self.hashes.is_empty() && self.state.is_empty() {
            let w = self.run_plain(conn).await?;
            *self = Commit::default();
            return Ok(w);
        }
        let mut keys: Vec<&str> = vec![state_key];
        let mut args: Vec<Vec<u8>> = vec![self.streams.len().to_string().into(), self.hashes.len().to_string().into()];
        for (key, id, minid, fields) in &self.streams {
            keys.push(key);
            args.extend([id.clone().into_bytes(), minid.clone().into_bytes(), fields.len().to_string().into_bytes()]);
            push_fields(&mut args, fields.iter().map(|(f, v)| (f.as_bytes(), v)));
        }
        for (key, fields) in &self.hashes {
            keys.push(key);
            args.push(fields.len().to_string().into_bytes());
            push_fields(&mut args, fields.iter().map(|(f, v)| (f.as_bytes(), v)));
        }
        args.push(self.state.len().to_string().into_bytes());
        push_fields(&mut args, self.state.iter().map(|(f, v)| (f.as_bytes(), v)));
        let (added, duplicates, failed): (u64, u64, u64) = COMMIT.run(conn, &keys, &args).await?;
        *self = Commit::default();
        Ok(Written { added, duplicates, failed })
    }
}

impl Commit {
    /// Closed candles only, as plain `XADD`s in `MULTI`/`EXEC`: a script's argument handling
    /// costs Redis about four times a plain `XADD` per candle, and the closes are what must be
    /// on time. Each `XADD`'s own reply in `EXEC`'s counts it: an id already in its stream (a
    /// replay after a restart) is a duplicate, another refusal (a key of another type) a failure,
    /// and neither stops the others (Redis runs every command of a transaction).
    async fn run_plain(&self, conn: &mut ConnectionManager) -> redis::RedisResult<Written> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (key, id, minid, fields) in &self.streams {
            let cmd = pipe.cmd("XADD").arg(key).arg("MINID").arg("~").arg(minid).arg(id);
            for (f, v) in fields {
                cmd.arg(*f).arg(v.as_slice());
            }
        }
        // EXEC's reply alone (after MULTI's OK and a QUEUED per command), read as it is: the
        // pipeline's own query would turn the first refused XADD into an error for all of them.
        let n = self.streams.len();
        let mut replies = conn.req_packed_commands(&pipe, n + 1, 1).await?;
        let Some(redis::Value::Array(results)) = replies.pop() else {
            return Err((redis::ErrorKind::ResponseError, "EXEC did not answer with an array").into());
        };
        let mut w = Written::default();
        for r in &results {
            match r {
                redis::Value::ServerError(e) if e.details().is_some_and(|d| d.contains("equal or smaller")) => {
                    w.duplicates += 1
                }
                redis::Value::ServerError(_) => w.failed += 1,
                _ => w.added += 1,
            }
        }
        Ok(w)
    }
}

/// Replaces the entries of stream `key` from id `from` on with `entries` (ascending ids), trimming
/// below `minid`; the number of entries replaced.
pub async fn rewrite_tail(
    conn: &mut ConnectionManager,
    key: &str,
    from: &str,
    minid: u64,
    entries: &[(String, Fields)],
) -> redis::RedisResult<u64> {
    let mut args: Vec<Vec<u8>> =
        vec![from.as_bytes().to_vec(), minid.to_string().into_bytes(), entries.len().to_string().into_bytes()];
    for (id, fields) in entries {
        args.extend([id.clone().into_bytes(), fields.len().to_string().into_bytes()]);
        push_fields(&mut args, fields.iter().map(|(f, v)| (f.as_bytes(), v)));
    }
    REWRITE.run(conn, &[key], &args).await
}

fn push_fields<'a>(args: &mut Vec<Vec<u8>>, fields: impl Iterator<Item = (&'a [u8], &'a Vec<u8>)>) {
    for (f, v) in fields {
        args.push(f.to_vec());
        args.push(v.clone());
    }
}
