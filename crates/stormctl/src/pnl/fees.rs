//! The commissions of the reported chains, from the streamer's fills (`storm:fills:<venue>:*`).
//! The arb log holds each chain's net change only (fills minus commissions), so the fees are
//! found where the venue reported them: every fill whose client order id is one of the
//! executor's (`st<opportunity id>-<leg>`, see `storm_executor::journal::client_order_id`) and
//! whose opportunity is in the report. Fills of other orders on the account are not counted.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::anyhow;
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};
use storm_bus::account::decode_fill;

use crate::ctx::{Conn, Ctx};
use crate::fetch::{self, describe, entries_from_value};

/// How far before the window the fills are read: a chain's orders fill before its outcome is
/// logged (an unwind can take a few seconds).
const LEAD_MS: u64 = 60_000;

/// The fees of one venue's chains.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Fees {
    pub venue: String,
    /// Streams read.
    pub streams: Vec<String>,
    /// Fills of reported chains.
    pub fills: u64,
    /// Reported chains with at least one fill.
    pub chains: u64,
    /// Commission per asset.
    pub by_asset: BTreeMap<String, Decimal>,
    /// Fills that could not be read.
    #[serde(skip)]
    pub notes: Vec<String>,
}

/// The opportunity id part of an executor client order id (`st<id>-<leg>`, `st<id>-u<n>`).
pub(crate) fn chain_of(client_id: &str) -> Option<&str> {
    let rest = client_id.strip_prefix("st")?;
    let (id, leg) = rest.rsplit_once('-')?;
    (!id.is_empty() && !leg.is_empty()).then_some(id)
}

/// The id the executor puts in its client order ids for opportunity `id`: the id itself when
/// short and alphanumeric, else 16 hex chars of its SHA-256 (as the executor's journal does).
fn client_id_part(id: &str) -> String {
    if id.len() <= 24 && !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        id.to_owned()
    } else {
        hex::encode(&Sha256::digest(id.as_bytes())[..8])
    }
}

/// Reads the fills of `venue` from shortly before `since_ms` and adds up those of `ids`.
pub(crate) async fn collect(
    ctx: &Ctx,
    conn: &mut Conn,
    venue: &str,
    ids: &BTreeSet<String>,
    since_ms: Option<u64>,
) -> anyhow::Result<Fees> {
    let wanted: BTreeSet<String> = ids.iter().map(|i| client_id_part(i)).collect();
    let pattern = ctx.keys.fills(venue, "*");
    let mut out = Fees { venue: venue.to_owned(), ..Fees::default() };
    out.streams = fetch::scan(conn, &pattern).await.map_err(|e| anyhow!(describe(&pattern, &e)))?;
    let mut chains = BTreeSet::new();
    for key in out.streams.clone() {
        let mut start = since_ms.map_or_else(|| "-".to_owned(), |ms| format!("{}-0", ms.saturating_sub(LEAD_MS)));
        loop {
            let v: redis::Value = redis::cmd("XRANGE")
                .arg(&key)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(1000)
                .query_async(conn)
                .await
                .map_err(|e| anyhow!(describe(&key, &e)))?;
            let page = entries_from_value(&key, &v);
            for e in &page {
                let fill = match decode_fill(e) {
                    Ok(f) => f,
                    Err(err) => {
                        out.notes.push(format!("{key} {}: fill left out: {err}", e.id));
                        continue;
                    }
                };
                let Some(chain) = chain_of(&fill.client_order_id).filter(|c| wanted.contains(*c)) else { continue };
                let slot = out.by_asset.entry(fill.commission_asset.to_string()).or_default();
                match slot.checked_add(fill.commission.0) {
                    Some(sum) => *slot = sum,
                    None => {
                        out.notes.push(format!("{key} {}: fill left out: the fee sum overflows", e.id));
                        continue;
                    }
                }
                out.fills += 1;
                chains.insert(chain.to_owned());
            }
            match page.last() {
                Some(last) if page.len() == 1000 => start = format!("({}", last.id),
                _ => break,
            }
        }
    }
    out.chains = chains.len() as u64;
    out.by_asset.retain(|_, v| !v.is_zero());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_lead_back_to_their_opportunity() {
        assert_eq!(chain_of("st0123456789abcdef-1"), Some("0123456789abcdef"));
        assert_eq!(chain_of("st0123456789abcdef-u2"), Some("0123456789abcdef"));
        assert_eq!(chain_of("web-order-1"), None);
        assert_eq!(chain_of("st-1"), None);
        assert_eq!(client_id_part("0123456789abcdef"), "0123456789abcdef");
        let hashed = client_id_part("a weird id with spaces");
        assert_eq!(hashed.len(), 16);
        assert!(hashed.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
