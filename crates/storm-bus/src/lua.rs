//! Lua scripts run by `EVALSHA`: the shared weight budget's and the executor's atomic
//! outcome. redis-rs' own `Script` needs its `script` feature, which the workspace leaves off.

use std::sync::OnceLock;

use redis::aio::ConnectionManager;
use redis::{ErrorKind, FromRedisValue, RedisResult, ToRedisArgs};

/// A Lua script run by `EVALSHA`, loaded on first use and again after Redis forgot it (restart,
/// `SCRIPT FLUSH`). redis-rs' own `Script` needs its `script` feature, which the workspace leaves off.
pub struct Lua {
    src: &'static str,
    sha: OnceLock<String>,
}

impl Lua {
    /// A script with source `src`.
    pub const fn new(src: &'static str) -> Self {
        Self { src, sha: OnceLock::new() }
    }

    /// Runs the script with `keys` and `args`.
    pub async fn run<T: FromRedisValue>(
        &self,
        conn: &mut ConnectionManager,
        keys: &[&str],
        args: &impl ToRedisArgs,
    ) -> RedisResult<T> {
        let sha = match self.sha.get() {
            Some(sha) => sha.clone(),
            None => {
                let sha: String = redis::cmd("SCRIPT").arg("LOAD").arg(self.src).query_async(conn).await?;
                self.sha.get_or_init(|| sha).clone()
            }
        };
        let call = |verb: &str, head: &str| {
            let mut cmd = redis::cmd(verb);
            cmd.arg(head).arg(keys.len()).arg(keys).arg(args);
            cmd
        };
        match call("EVALSHA", &sha).query_async(conn).await {
            // EVAL runs it and puts it back in the server's script cache.
            Err(e) if e.kind() == ErrorKind::NoScriptError => call("EVAL", self.src).query_async(conn).await,
            other => other,
        }
    }

    /// [`Lua::run`] on a blocking connection: for a hot path that cannot afford the task hops of
    /// the multiplexed async connection (the caller bounds it with socket timeouts).
    pub fn run_blocking<T: FromRedisValue>(
        &self,
        conn: &mut redis::Connection,
        keys: &[&str],
        args: &impl ToRedisArgs,
    ) -> RedisResult<T> {
        let sha = match self.sha.get() {
            Some(sha) => sha.clone(),
            None => {
                let sha: String = redis::cmd("SCRIPT").arg("LOAD").arg(self.src).query(conn)?;
                self.sha.get_or_init(|| sha).clone()
            }
        };
        let call = |verb: &str, head: &str| {
            let mut cmd = redis::cmd(verb);
            cmd.arg(head).arg(keys.len()).arg(keys).arg(args);
            cmd
        };
        match call("EVALSHA", &sha).query(conn) {
            Err(e) if e.kind() == ErrorKind::NoScriptError => call("EVAL", self.src).query(conn),
            other => other,
        }
    }
}
