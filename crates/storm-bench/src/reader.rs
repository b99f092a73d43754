//! The observer of the pipeline's output: `storm:tops:<venue>` (one entry per change of a
//! book's top, written in the same transaction as the book hash) and `storm:opps`.
//!
//! Two ways, because reading is not free on a 2-core machine:
//! * **live** — a blocking `XREAD`, as the arbitrage and the executor read, stamping each entry
//!   with the wall clock (µs) when it arrives: "when can a consumer act on it". Used by `run`
//!   and `vs-ccxt`. Its CPU is this process', reported as `bench`, never an engine's.
//! * **sampled** — once a second, the latest 1,000 tops entries are read back with `XREVRANGE`
//!   (only the opportunities, a few per second, are read live), so the observer costs the same at
//!   any rate and the sweep's high rates are not slowed by it. Only the Redis entry id (ms) then
//!   tells when the hash and tops entry were written.
//!
//! Clocks: `E` (the sim's event time, carried as `time_exchange`) is **milliseconds**, truncated,
//! stamped when the sim generates the market step (all diffs of one 10 ms step share it); every
//! other timestamp (`time_received` by the ingester, `time_local` by booksync, arrival here) is
//! **microseconds** of the same host's clock; Redis entry ids are milliseconds of that clock.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use redis::AsyncCommands;
use storm_bus::{opps, tops, Bus, BusConfig, StartAt, StreamEntry, StreamReader};
use storm_core::time::now_micros;
use storm_core::{BookStatus, BookTop};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Best bid and ask (price, qty) of a tops entry, as the venue's decimal strings.
pub type Best = (Option<(String, String)>, Option<(String, String)>);

/// One tops entry.
#[derive(Clone, Debug)]
pub struct TopSample {
    /// Arrival at the live reader, µs (None when read back afterwards).
    pub at_us: Option<u64>,
    /// Redis entry id, ms: when the hash and this entry were written.
    pub id_ms: u64,
    /// Symbol.
    pub symbol: String,
    /// Update id of the book.
    pub update_id: u64,
    /// sim `E`, µs (whole ms).
    pub e_us: u64,
    /// ingester receive, µs.
    pub recv_us: u64,
    /// booksync publish stamp, µs.
    pub local_us: u64,
}

/// One opportunity.
#[derive(Clone, Debug)]
pub struct OppSample {
    /// Arrival, µs.
    pub at_us: u64,
    /// ingester receive of the triggering diff, µs.
    pub trigger_us: u64,
    /// (symbol, update id) of each leg's book.
    pub books: Vec<(String, u64)>,
}

/// Everything seen inside the window.
#[derive(Debug, Default)]
pub struct Seen {
    /// Tops entries of live books.
    pub tops: Vec<TopSample>,
    /// Opportunities.
    pub opps: Vec<OppSample>,
    /// Per symbol: update id → best bid/ask (every live entry, also outside the window), when
    /// asked to keep books (to check another client's books).
    pub books: HashMap<String, BTreeMap<u64, Best>>,
}

fn top_sample(e: &StreamEntry, top: &BookTop, at_us: Option<u64>) -> TopSample {
    TopSample {
        at_us,
        id_ms: e.id_millis().unwrap_or(0),
        symbol: top.symbol.as_str().to_owned(),
        update_id: top.update_id,
        e_us: top.time_exchange,
        recv_us: top.time_received,
        local_us: top.time_local,
    }
}

/// A running observer.
pub struct Observer {
    window: Arc<AtomicBool>,
    stop: CancellationToken,
    task: JoinHandle<Result<Seen>>,
}

impl Observer {
    /// Starts reading `storm:opps`, and the tops of `venue` when `live_tops`, from their end.
    /// `keep_books` (live only): keep every entry's best bid/ask by update id.
    pub async fn start(redis_url: &str, venue: &str, live_tops: bool, keep_books: bool) -> Result<Self> {
        let bus = Bus::connect(BusConfig::new(redis_url), CancellationToken::new()).await?;
        let keys = bus.keys().clone();
        let tops_key = keys.tops(venue);
        let mut streams = vec![(keys.opps(), StartAt::End)];
        if live_tops {
            streams.push((tops_key.clone(), StartAt::End));
        }
        let mut reader = StreamReader::new(&bus, &streams, 10_000, Duration::from_millis(100)).await?;
        let window = Arc::new(AtomicBool::new(false));
        let stop = CancellationToken::new();
        let (w, s, tk) = (window.clone(), stop.clone(), tops_key.clone());
        let mut sampler = bus.conn();
        let task = tokio::spawn(async move {
            let mut seen = Seen::default();
            let mut last_sample = std::time::Instant::now();
            let mut newest_sampled = String::from("0-0");
            while !s.is_cancelled() {
                let batch = reader.next_batch().await?;
                let now = now_micros();
                let on = w.load(Ordering::Relaxed);
                if !live_tops && on && last_sample.elapsed() >= Duration::from_secs(1) {
                    last_sample = std::time::Instant::now();
                    let reply: redis::streams::StreamRangeReply =
                        sampler.xrevrange_count(&tk, "+", "-", SAMPLE).await?;
                    for id in reply.ids.iter().rev() {
                        if id_after(&id.id, &newest_sampled) {
                            let fields = id
                                .map
                                .iter()
                                .map(|(k, v)| (k.clone(), redis::from_redis_value::<Vec<u8>>(v).unwrap_or_default()))
                                .collect();
                            let e = StreamEntry { stream: tk.clone(), id: id.id.clone(), fields };
                            if let Ok(top) = tops::decode(&e) {
                                if top.status == BookStatus::Live {
                                    seen.tops.push(top_sample(&e, &top, None));
                                }
                            }
                        }
                    }
                    if let Some(first) = reply.ids.first() {
                        newest_sampled = first.id.clone();
                    }
                }
                for e in batch {
                    if e.stream == tk {
                        let Ok(top) = tops::decode(&e) else { continue };
                        if top.status != BookStatus::Live {
                            continue;
                        }
                        if keep_books {
                            let best =
                                |l: &[storm_core::Level]| l.first().map(|l| (l.price.to_string(), l.qty.to_string()));
                            seen.books
                                .entry(top.symbol.as_str().to_owned())
                                .or_default()
                                .insert(top.update_id, (best(&top.bids), best(&top.asks)));
                        }
                        if on {
                            seen.tops.push(top_sample(&e, &top, Some(now)));
                        }
                    } else if on {
                        let Ok(o) = opps::decode(&e) else { continue };
                        seen.opps.push(OppSample {
                            at_us: now,
                            trigger_us: o.time_trigger_us,
                            books: o
                                .legs
                                .iter()
                                .map(|l| l.symbol.as_str().to_owned())
                                .zip(o.book_ids.iter().copied())
                                .collect(),
                        });
                    }
                }
            }
            Ok(seen)
        });
        Ok(Self { window, stop, task })
    }

    /// Starts (or ends) the window in which samples are kept.
    pub fn set_window(&self, on: bool) {
        self.window.store(on, Ordering::Relaxed);
    }

    /// Stops and returns what was seen.
    pub async fn finish(self) -> Result<Seen> {
        self.set_window(false);
        self.stop.cancel();
        self.task.await?
    }
}

/// Tops entries read back per second in sampled mode.
const SAMPLE: usize = 1_000;

/// Whether stream id `a` (`ms-seq`) comes after `b`.
fn id_after(a: &str, b: &str) -> bool {
    let parse = |x: &str| {
        let (ms, seq) = x.split_once('-').unwrap_or((x, "0"));
        (ms.parse::<u64>().unwrap_or(0), seq.parse::<u64>().unwrap_or(0))
    };
    parse(a) > parse(b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn stream_ids_order_numerically() {
        assert!(super::id_after("10-0", "9-5"));
        assert!(super::id_after("10-10", "10-9"));
        assert!(!super::id_after("10-1", "10-1"));
    }
}
