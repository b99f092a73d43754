//! The executor's parked chains (`storm:exec:parked`, opportunity id → JSON): chains stopped
//! because an order's status could not be resolved (a revoked key, a delisted symbol, a venue
//! answering with something that is not its API, or `unknown_resolve_max_ms` spent). Each waits
//! for an operator to look its unresolved orders up on the venue and remove the entry, so status
//! lists every one, however old.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// One parked chain, as the executor writes it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct Parked {
    /// Opportunity id.
    pub id: String,
    /// `USDT>BTC>ETH>USDT`.
    pub path: String,
    /// Start asset.
    pub asset: String,
    /// Why it was parked.
    pub reason: String,
    /// The orders of unknown status: `<client order id> <symbol>`.
    pub unresolved: Vec<String>,
    /// Executor instance that parked it.
    pub executor: String,
    /// When, ms.
    pub time_ms: u64,
}

/// The entries of the hash `key`, oldest first; unreadable ones become notes (and an entry with
/// only its id), so that they are still counted.
pub(crate) fn parse(key: &str, fields: HashMap<String, String>, notes: &mut Vec<String>) -> Vec<Parked> {
    let mut out: Vec<Parked> = fields
        .into_iter()
        .map(|(id, raw)| match serde_json::from_str::<Parked>(&raw) {
            Ok(p) => Parked { id: if p.id.is_empty() { id } else { p.id }, ..p },
            Err(e) => {
                notes.push(format!("{key} {id}: unreadable ({e})"));
                Parked { id, reason: "unreadable entry".into(), ..Parked::default() }
            }
        })
        .collect();
    out.sort_by(|a, b| a.time_ms.cmp(&b.time_ms).then_with(|| a.id.cmp(&b.id)));
    out
}
