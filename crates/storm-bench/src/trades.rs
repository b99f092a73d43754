//! A synthetic trade feed for the candle engine: `symbols` symbols, `rate` trades a second in
//! all, written to `storm:md:<venue>:trade` exactly as the ingester writes them (storm-bus'
//! `md` entries through its exactly-once [`Publisher`]), each stamped with the wall clock when it
//! is written, so the engine sees live trades and closes candles on its own timer.
//!
//! Prices are exact decimals at each symbol's own scale (2 to 7 decimals, like the spread of
//! Binance's tick sizes) on a random walk of a few ticks; quantities 0.0001 to 10. The symbol of
//! each trade is drawn uniformly, so with 2,000 trades/s over 1,000 symbols most 1 s candles hold
//! one to four trades and some are flat (no trade: closed by the timer alone).

use std::time::{Duration, Instant};

use anyhow::Result;
use rust_decimal::Decimal;
use storm_bus::{md, Bus, Publisher};
use storm_core::time::now_micros;
use storm_core::{MdEvent, Price, Qty, Symbol, Trade, VenueId};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Trades kept on the stream (`MAXLEN ~`): minutes at the benchmark's rates.
const STREAM_MAXLEN: usize = 1_000_000;

/// How often the feed writes a batch: the trades due since the last one, in one pipeline.
const PERIOD: Duration = Duration::from_millis(5);

/// A small deterministic generator (splitmix64): the same feed every run, no dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0; 0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64().checked_rem(n).unwrap_or(0)
    }
}

/// One symbol's market.
#[derive(Clone, Debug)]
struct Market {
    symbol: Symbol,
    /// Price in ticks of `10^-scale`.
    ticks: i64,
    scale: u32,
    next_trade_id: u64,
}

/// The symbols `C0000USDT`, `C0001USDT`, ... (at least four digits).
pub fn symbol_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("C{i:04}USDT")).collect()
}

/// The trades of every symbol.
#[derive(Clone, Debug)]
pub struct TradeGen {
    markets: Vec<Market>,
    rng: Rng,
}

impl TradeGen {
    /// A generator over `names`, seeded.
    pub fn new(names: &[String], seed: u64) -> Self {
        let markets = names
            .iter()
            .enumerate()
            .map(|(i, name)| Market {
                symbol: Symbol::new(name),
                // 100.00 .. 999.99 in the symbol's ticks, 2 .. 7 decimals.
                ticks: 10_000 + (i as i64 * 7_919) % 90_000,
                scale: 2 + (i % 6) as u32,
                next_trade_id: 1,
            })
            .collect();
        Self { markets, rng: Rng::new(seed) }
    }

    /// The next trade of a random symbol, stamped `now_us`.
    pub fn next(&mut self, now_us: u64) -> Option<Trade> {
        let i = self.rng.below(self.markets.len() as u64) as usize;
        let step = self.rng.below(5) as i64 - 2;
        let qty = Decimal::new(1 + self.rng.below(100_000) as i64, 4);
        let buyer_is_maker = self.rng.below(2) == 0;
        let m = self.markets.get_mut(i)?;
        m.ticks = m.ticks.saturating_add(step).max(1);
        let trade_id = m.next_trade_id;
        m.next_trade_id += 1;
        Some(Trade {
            symbol: m.symbol.clone(),
            trade_id,
            price: Price(Decimal::new(m.ticks, m.scale)),
            qty: Qty(qty),
            buyer_is_maker,
            time_exchange: now_us,
            time_received: now_us,
        })
    }
}

/// How many trades are due after `elapsed` at `rate` a second, of which `sent` went out.
pub fn due(rate: u64, elapsed: Duration, sent: u64) -> u64 {
    let total = (rate as u128 * elapsed.as_micros() / 1_000_000) as u64;
    total.saturating_sub(sent)
}

/// The running feed.
pub struct Feed {
    stop: CancellationToken,
    task: JoinHandle<Result<u64>>,
}

impl Feed {
    /// Starts writing `rate` trades a second of `names` on `venue`'s trade stream.
    pub fn start(bus: &Bus, venue: &str, names: &[String], rate: u64) -> Self {
        let stop = CancellationToken::new();
        let (bus, venue, mut gen, s) = (bus.clone(), VenueId::new(venue), TradeGen::new(names, 7), stop.clone());
        let task = tokio::spawn(async move {
            let mut publisher = Publisher::new(&bus, "bench-trades");
            let keys = bus.keys().clone();
            let (t0, mut sent) = (Instant::now(), 0u64);
            let mut tick = tokio::time::interval(PERIOD);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !s.is_cancelled() {
                tokio::select! {
                    _ = s.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let n = due(rate, t0.elapsed(), sent);
                let now = now_micros();
                let mut entries = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let Some(t) = gen.next(now) else { break };
                    entries.push(md::entry(&keys, &venue, STREAM_MAXLEN, &MdEvent::Trade(t))?);
                }
                publisher.publish(&entries).await?;
                sent += n;
            }
            Ok(sent)
        });
        Self { stop, task }
    }

    /// Stops and returns the number of trades written.
    pub async fn finish(self) -> Result<u64> {
        self.stop.cancel();
        self.task.await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trades_are_exact_positive_and_numbered_per_symbol() {
        let names = symbol_names(3);
        assert_eq!(names, ["C0000USDT", "C0001USDT", "C0002USDT"]);
        let mut gen = TradeGen::new(&names, 1);
        let mut last_id = std::collections::HashMap::new();
        for _ in 0..3_000 {
            let t = gen.next(5).expect("a trade");
            assert!(t.price.0 > Decimal::ZERO && t.qty.0 > Decimal::ZERO, "{t:?}");
            assert!(t.price.0.scale() >= 2 && t.price.0.scale() <= 7);
            let prev = last_id.insert(t.symbol.as_str().to_owned(), t.trade_id).unwrap_or(0);
            assert_eq!(t.trade_id, prev + 1, "ids without holes per symbol");
        }
        assert_eq!(last_id.len(), 3, "every symbol trades");
    }

    #[test]
    fn the_pace_is_the_rate() {
        assert_eq!(due(2_000, Duration::from_millis(5), 0), 10);
        assert_eq!(due(2_000, Duration::from_millis(1_000), 1_990), 10);
        assert_eq!(due(3, Duration::from_millis(200), 0), 0);
        assert_eq!(due(2_000, Duration::from_millis(5), 50), 0, "never negative");
    }
}
