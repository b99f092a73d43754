//! `stormctl halt on|off|status`: the one switch that stops the executor from sending new orders.
//! `storm:halt` is a plain STRING so `redis-cli GET storm:halt` tells the same story; its value is
//! the reason. Setting it never expires by itself: an operator turns it off on purpose.

use anyhow::Context;
use serde::Serialize;

use crate::cli::HaltAction;
use crate::ctx::{Conn, Ctx};
use crate::output::{age, print_json};

/// The halt switch as read from Redis.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub(crate) struct Halt {
    /// True while `storm:halt` exists.
    pub halted: bool,
    /// Its value.
    pub reason: Option<String>,
    /// Time left when it was given a TTL (by hand), ms.
    pub ttl_ms: Option<u64>,
}

impl Halt {
    /// One line for people: `HALTED: maintenance` or `off`.
    pub fn line(&self) -> String {
        match (&self.halted, &self.reason, self.ttl_ms) {
            (false, _, _) => "off: the executor may trade".to_owned(),
            (true, reason, ttl) => {
                let mut s = format!("HALTED: {}", reason.as_deref().unwrap_or(""));
                if let Some(ttl) = ttl {
                    s.push_str(&format!(" (expires in {})", age(ttl)));
                }
                s
            }
        }
    }
}

/// Reads `storm:halt` (value and TTL).
pub(crate) async fn read(conn: &mut Conn, key: &str) -> redis::RedisResult<Halt> {
    let (value, ttl): (Option<Vec<u8>>, i64) =
        redis::pipe().cmd("GET").arg(key).cmd("PTTL").arg(key).query_async(conn).await?;
    Ok(match value {
        None => Halt::default(),
        Some(v) => Halt {
            halted: true,
            reason: Some(String::from_utf8_lossy(&v).into_owned()),
            ttl_ms: u64::try_from(ttl).ok(),
        },
    })
}

/// Runs `halt on|off|status`.
pub(crate) async fn run(ctx: &Ctx, action: &HaltAction) -> anyhow::Result<()> {
    let mut conn = ctx.connect().await?;
    let key = ctx.keys.halt();
    let before = read(&mut conn, &key).await.with_context(|| format!("reading {key}"))?;
    let (after, message) = match action {
        HaltAction::Status => (before.clone(), before.line()),
        HaltAction::On { reason } => {
            let reason = reason.clone().unwrap_or_else(|| "halted by stormctl".to_owned());
            let _: () = redis::cmd("SET").arg(&key).arg(&reason).query_async(&mut conn).await.context("SET halt")?;
            let after = Halt { halted: true, reason: Some(reason), ttl_ms: None };
            let msg = format!("{} ({key} set; the executor sends no new order)", after.line());
            (after, msg)
        }
        HaltAction::Off => {
            let _: i64 = redis::cmd("DEL").arg(&key).query_async(&mut conn).await.context("DEL halt")?;
            let msg = match &before.reason {
                Some(r) if before.halted => format!("halt off ({key} deleted; was: {r})"),
                _ => format!("halt off ({key} was not set)"),
            };
            (Halt::default(), msg)
        }
    };
    if ctx.json {
        match action {
            HaltAction::Status => print_json(&serde_json::json!({ "key": key, "halt": after })),
            _ => print_json(&serde_json::json!({ "key": key, "before": before, "halt": after })),
        }
    } else {
        println!("{message}");
    }
    Ok(())
}
