//! The candle engine: `storm:md:<venue>:trade` in, `storm:candles:*` and `storm:candle:*` out.
//!
//! One reader folds every trade entry into its symbol's [`Series`]. Each series runs on the
//! clock of the entries it reads (the entry id's milliseconds: when the ingester wrote the
//! trade), and, once the reader has caught up with the stream, on the wall clock every
//! `tick_ms`, so a candle closes at its boundary plus the grace whether or not a trade came. A
//! replay after a restart therefore closes and amends exactly as the live run did. Candles, the
//! forming hashes and the restart point (`storm:candles-state:<venue>`) go out together in one
//! script call ([`crate::store`]).

mod backfill;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use storm_bus::{codec, md, Bus, BusError, StartAt, StreamEntry, StreamReader};
use storm_core::time::now_millis;
use storm_core::{Channel, Kline, MdEvent, Symbol, VenueId};
use storm_service::metrics::Counter;
use storm_service::{BootError, Config, Metrics};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::candle::{Candle, Tick};
use crate::config::{CandlesConfig, CandlesConfigError};
use crate::crosscheck::{CrossCheck, Verdict};
use crate::series::{Emitted, IdCheck, Plan, Refused, Series};
use crate::store::Commit;
use crate::ticker::{step_for, TickerState};
use crate::timeframe::Timeframe;
use crate::wire;

/// Trade entries read per `XREAD`; a shorter batch means the reader has caught up.
const BATCH: usize = 1_000;

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A setting that cannot work.
    #[error(transparent)]
    Config(#[from] CandlesConfigError),
    /// Redis or the metrics endpoint could not be set up.
    #[error(transparent)]
    Boot(#[from] BootError),
    /// Redis failed during start-up.
    #[error("redis: {0}")]
    Bus(#[from] BusError),
}

struct Stats {
    trades: Counter,
    refused: Counter,
    unreadable: Counter,
    closed: Counter,
    amended: Counter,
    too_late: Counter,
    duplicates: Counter,
    write_errors: Counter,
    seen_trades: Counter,
    renumbered: Counter,
    gaps: Counter,
    backfilled: Counter,
    backfill_errors: Counter,
    kline_checks: Counter,
    kline_disagreements: Counter,
}

impl Stats {
    fn new(m: &Metrics, venue: &str) -> Self {
        let l = [("venue", venue)];
        Self {
            trades: m.counter("storm_candles_trades_total", "trades folded into candles", &l),
            refused: m.counter("storm_candles_refused_total", "trades refused (bad values, future time)", &l),
            unreadable: m.counter("storm_candles_unreadable_total", "trade entries that could not be decoded", &l),
            closed: m.counter("storm_candles_closed_total", "candles closed", &l),
            amended: m.counter("storm_candles_amended_total", "closed candles amended by a late trade", &l),
            too_late: m.counter("storm_candles_too_late_total", "trades older than the last closed candle", &l),
            duplicates: m.counter("storm_candles_duplicates_total", "candles already in Redis (replay)", &l),
            write_errors: m.counter("storm_candles_write_errors_total", "failed writes (retried)", &l),
            seen_trades: m.counter("storm_candles_seen_trades_total", "trades skipped: id already taken", &l),
            renumbered: m.counter("storm_candles_renumbered_total", "trade ids that started afresh", &l),
            gaps: m.counter("storm_candles_gaps_total", "holes in a symbol's trade ids (missed trades)", &l),
            backfilled: m.counter("storm_candles_backfilled_total", "candles rewritten from the venue's klines", &l),
            backfill_errors: m.counter("storm_candles_backfill_errors_total", "backfills that failed (retried)", &l),
            kline_checks: m.counter(
                "storm_candles_kline_checks_total",
                "venue klines compared with storm's candles",
                &l,
            ),
            kline_disagreements: m.counter(
                "storm_candles_kline_disagreements_total",
                "venue klines that differ from storm's candle",
                &l,
            ),
        }
    }
}

struct Tracked {
    series: Series,
    dirty: bool,
}

/// The engine's state between reads.
struct Engine {
    plan: Plan,
    cfg: CandlesConfig,
    venue: VenueId,
    bus: Bus,
    series: HashMap<Symbol, Tracked>,
    tickers: HashMap<Symbol, (TickerState, bool)>,
    trade_key: String,
    ticker_key: String,
    kline_key: String,
    crosscheck: CrossCheck,
    commit: Commit,
    cursor: String,
    stats: Stats,
    /// The venue's REST candles, when it has some storm reads.
    history: Option<backfill::Source>,
    /// The venue numbers each symbol's trades without holes: a jump is a gap.
    consecutive_ids: bool,
    /// Symbols with holes waiting for a backfill.
    gapped: BTreeSet<Symbol>,
    /// Earliest next try of a symbol whose backfill failed.
    retry_at: HashMap<Symbol, u64>,
    /// No series closes before this (ms): the clock skips the scan until then.
    due_ms: u64,
}

/// Runs the engine until `shutdown` fires, with a fresh metrics registry.
pub async fn run(cfg: Config<CandlesConfig>, shutdown: CancellationToken) -> Result<(), EngineError> {
    run_with_metrics(cfg, Metrics::new(), shutdown).await
}

/// [`run`] with the caller's registry.
pub async fn run_with_metrics(
    cfg: Config<CandlesConfig>,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<(), EngineError> {
    let plan = cfg.engine.plan()?;
    let bus = storm_service::boot::connect(&cfg.common, &metrics, shutdown.clone(), &shutdown).await?;
    let heartbeat =
        metrics.spawn_heartbeat(&bus, "candles", &cfg.common.instance, Duration::from_millis(cfg.common.heartbeat_ms));
    let venue = VenueId::new(&cfg.engine.venue);
    let venue_cfg = cfg.venue(&cfg.engine.venue);
    let mut engine = Engine {
        history: backfill::Source::new(venue_cfg, &bus),
        consecutive_ids: venue_cfg.is_some_and(|v| storm_venues::history::trade_ids_are_consecutive(v.kind)),
        gapped: BTreeSet::new(),
        retry_at: HashMap::new(),
        due_ms: 0,
        stats: Stats::new(&metrics, venue.as_str()),
        plan,
        cfg: cfg.engine.clone(),
        venue: venue.clone(),
        bus: bus.clone(),
        series: HashMap::new(),
        tickers: HashMap::new(),
        trade_key: bus.keys().md(venue.as_str(), Channel::Trade),
        ticker_key: bus.keys().md(venue.as_str(), Channel::Ticker),
        kline_key: bus.keys().md(venue.as_str(), Channel::Kline),
        crosscheck: CrossCheck::default(),
        commit: Commit::default(),
        cursor: String::new(),
    };
    let start = engine.restore().await?;
    engine.restore_tickers().await;
    let streams = [
        (engine.trade_key.clone(), start),
        (engine.ticker_key.clone(), StartAt::End),
        (engine.kline_key.clone(), StartAt::End),
    ];
    let mut reader = StreamReader::new(&bus, &streams, BATCH, Duration::from_millis(engine.cfg.tick_ms)).await?;
    info!(venue = %engine.venue, symbols = engine.series.len(), cursor = %engine.cursor, "candles started");
    let mut next_save = engine.next_save(now_millis());
    loop {
        // Wake when the next candle is due, not up to a tick later.
        let now = now_millis();
        reader.set_block(Duration::from_millis(engine.due_ms.saturating_sub(now).min(engine.cfg.tick_ms)));
        let batch = tokio::select! {
            _ = shutdown.cancelled() => break,
            b = reader.next_batch() => b,
        };
        let batch = match batch {
            Ok(b) => b,
            Err(BusError::Cancelled) => break,
            Err(e) => return Err(e.into()),
        };
        let caught_up = batch.len() < BATCH;
        for entry in &batch {
            engine.on_entry(entry);
        }
        if caught_up {
            engine.on_clock(now_millis());
        }
        // Closed candles go out first and on their own: the save point is far larger.
        engine.flush().await;
        if caught_up {
            engine.backfill_due(now_millis()).await;
        }
        let now = now_millis();
        if now >= next_save {
            engine.save_point();
            engine.flush().await;
            next_save = engine.next_save(now);
        }
    }
    engine.save_point();
    engine.flush().await;
    let _ = tokio::time::timeout(Duration::from_millis(200), heartbeat).await;
    info!(venue = %engine.venue, "candles stopped");
    Ok(())
}

/// Milliseconds of a stream entry id (`<ms>-<seq>`).
fn id_ms(id: &str) -> Option<u64> {
    id.split_once('-').map_or(id, |(ms, _)| ms).parse().ok()
}

impl Engine {
    /// Loads the restart point: where to read from, and every series as it was.
    async fn restore(&mut self) -> Result<StartAt, EngineError> {
        let key = self.bus.keys().candles_state(self.venue.as_str());
        // Retried like every start-up read: Redis may still be loading its dataset.
        let raw: HashMap<String, Vec<u8>> = self
            .bus
            .retry("restore candles state", |mut conn| {
                let key = key.clone();
                async move { redis::cmd("HGETALL").arg(&key).query_async(&mut conn).await }
            })
            .await?;
        for (field, value) in raw {
            if field == "cursor" {
                self.cursor = String::from_utf8_lossy(&value).into_owned();
                continue;
            }
            match rmp_serde::from_slice::<Series>(&value) {
                Ok(series) => {
                    if !series.gaps().is_empty() {
                        self.gapped.insert(Symbol::new(&field));
                    }
                    self.series.insert(Symbol::new(&field), Tracked { series, dirty: false });
                }
                Err(e) => {
                    self.stats.unreadable.inc();
                    warn!(symbol = %field, error = %e, "unreadable saved series: it starts again from its next trade");
                }
            }
        }
        Ok(if self.cursor.is_empty() { StartAt::Beginning } else { StartAt::After(self.cursor.clone()) })
    }

    /// Rebuilds each restored symbol's 24 h window from the candles in Redis.
    async fn restore_tickers(&mut self) {
        let symbols: Vec<Symbol> = self.series.keys().cloned().collect();
        for sym in symbols {
            self.rebuild_ticker(&sym).await;
        }
    }

    /// Rebuilds `sym`'s 24 h window from the candles in Redis up to its series' restart point
    /// (what follows is re-emitted by the replay): the step timeframe's stream where it is built,
    /// the base stream inside the step the restart point is in. After a restart, and after a
    /// backfill corrected candles inside the window.
    async fn rebuild_ticker(&mut self, sym: &Symbol) {
        let Some(upto) = self.series.get(sym).map(|t| t.series.next_close()) else { return };
        let step = step_for(self.plan.base());
        let from = now_millis().saturating_sub(86_400_000);
        let mut closed = BTreeMap::new();
        let mut base_from = from;
        if step != self.plan.base() && self.plan.timeframes().any(|tf| tf == step) {
            base_from = step.open_of(upto);
            let _ = self.read_candles(sym, step, from, base_from, &mut closed).await;
        }
        let _ = self.read_candles(sym, self.plan.base(), base_from, upto, &mut closed).await;
        let t = self.tickers.entry(sym.clone()).or_default();
        t.0.clear_window();
        for c in closed.values() {
            t.0.on_closed(step, c);
        }
        t.1 = true;
    }

    /// The latest version of each candle of `sym` in `tf` opening in `[from_ms, to_ms)`.
    async fn read_candles(
        &self,
        sym: &Symbol,
        tf: Timeframe,
        from_ms: u64,
        to_ms: u64,
        out: &mut BTreeMap<u64, Candle>,
    ) -> Result<(), BusError> {
        if to_ms <= from_ms {
            return Ok(());
        }
        let key = self.bus.keys().candles(self.venue.as_str(), sym, tf.as_str());
        let mut conn = self.bus.conn();
        // `(<ms>-0`: before every version of the candle opening at `to_ms`.
        let reply: redis::Value =
            redis::cmd("XRANGE").arg(&key).arg(from_ms).arg(format!("({to_ms}-0")).query_async(&mut conn).await?;
        for e in storm_bus::read::entries(&key, reply) {
            match wire::decode(&e) {
                Ok(c) => {
                    out.insert(c.open_ms, c);
                }
                Err(_) => self.stats.unreadable.inc(),
            }
        }
        Ok(())
    }

    fn on_entry(&mut self, entry: &StreamEntry) {
        if entry.stream == self.ticker_key {
            if let Ok(MdEvent::Ticker(t)) = md::decode(entry) {
                let slot = self.tickers.entry(t.symbol.clone()).or_default();
                slot.0.on_book(&t);
                slot.1 = true;
            }
            return;
        }
        if entry.stream == self.kline_key {
            if let Ok(MdEvent::Kline(k)) = md::decode(entry) {
                self.on_kline(&k);
            }
            return;
        }
        self.cursor.clone_from(&entry.id);
        let trade = match md::decode(entry) {
            Ok(MdEvent::Trade(t)) => t,
            Ok(_) => return,
            Err(e) => {
                self.stats.unreadable.inc();
                warn!(id = %entry.id, error = %e, "unreadable trade entry skipped");
                return;
            }
        };
        let now = id_ms(&entry.id).unwrap_or_else(now_millis);
        let tick = Tick {
            trade_id: trade.trade_id,
            time_ms: trade.time_exchange / 1_000,
            price: trade.price.0,
            qty: trade.qty.0,
        };
        if !self.take_id(&trade.symbol, &tick) {
            return;
        }
        let result = match self.series.get_mut(&trade.symbol) {
            Some(t) => {
                t.dirty = true;
                let mut out = t.series.on_clock(&self.plan, now);
                t.series.on_trade(&self.plan, &tick, now).map(|more| {
                    out.extend(more);
                    out
                })
            }
            None => self.plan.check_time(&tick, now).and_then(|()| {
                Series::start(&self.plan, &tick).map_err(Refused::from).map(|mut series| {
                    if self.consecutive_ids {
                        series.check_id(&tick);
                    }
                    if !series.gaps().is_empty() {
                        self.gapped.insert(trade.symbol.clone());
                    }
                    self.due_ms = self.due_ms.min(series.due(&self.plan));
                    self.series.insert(trade.symbol.clone(), Tracked { series, dirty: true });
                    Vec::new()
                })
            }),
        };
        match result {
            Ok(out) => {
                self.stats.trades.inc();
                let slot = self.tickers.entry(trade.symbol.clone()).or_default();
                slot.0.on_trade(tick.price, tick.time_ms);
                slot.1 = true;
                self.emit(&trade.symbol, out);
            }
            Err(e) => {
                self.stats.refused.inc();
                warn!(symbol = %trade.symbol, error = %e, "trade refused");
            }
        }
    }

    /// Checks a trade's id where the venue numbers trades without holes: false for one already
    /// taken (skipped); a jump records a gap for the backfill.
    fn take_id(&mut self, sym: &Symbol, tick: &Tick) -> bool {
        if !self.consecutive_ids {
            return true;
        }
        let Some(t) = self.series.get_mut(sym) else { return true };
        match t.series.check_id(tick) {
            IdCheck::Next => true,
            IdCheck::Seen => {
                self.stats.seen_trades.inc();
                false
            }
            IdCheck::Renumbered => {
                t.dirty = true;
                self.gapped.insert(sym.clone());
                self.stats.renumbered.inc();
                warn!(symbol = %sym, trade_id = tick.trade_id, "trade ids start afresh (a restarted venue): following them");
                true
            }
            IdCheck::Gap(gap) => {
                t.dirty = true;
                self.stats.gaps.inc();
                self.gapped.insert(sym.clone());
                warn!(symbol = %sym, from_ms = gap.from_ms, to_ms = gap.to_ms, trade_id = tick.trade_id, "missed trades: backfilling from the venue's klines once it closed them");
                true
            }
        }
    }

    /// Compares a venue kline with storm's candle ([`CrossCheck`]).
    fn on_kline(&mut self, k: &Kline) {
        let Some(t) = self.series.get(&k.symbol) else { return };
        let tf = k.interval.parse::<Timeframe>().ok();
        // A candle touching a hole disagrees until the backfill: not a finding.
        if tf.is_some_and(|tf| t.series.in_hole(tf, k.open_time / 1_000)) {
            return;
        }
        let last = tf.and_then(|tf| t.series.last_closed(&self.plan, tf));
        let next = tf.and_then(|tf| t.series.unclosed_open(&self.plan, tf));
        let verdict = self.crosscheck.on_venue(k, last, next);
        self.record(&k.symbol, k.open_time / 1_000, &k.interval, verdict);
    }

    fn record(&self, sym: &Symbol, open_ms: u64, tf: &str, verdict: Verdict) {
        match verdict {
            Verdict::Agree => self.stats.kline_checks.inc(),
            Verdict::Disagree(both) => {
                self.stats.kline_checks.inc();
                self.stats.kline_disagreements.inc();
                let (ours, venue) = *both;
                warn!(symbol = %sym, %tf, open_ms, ?ours, ?venue, "the venue's kline differs from storm's candle");
            }
            Verdict::Waiting | Verdict::Skipped => {}
        }
    }

    /// Closes every interval due at `now`; nothing to do (no scan) before the earliest is due.
    fn on_clock(&mut self, now: u64) {
        if now < self.due_ms {
            return;
        }
        let mut all = Vec::new();
        let mut due = u64::MAX;
        for (sym, t) in &mut self.series {
            let out = t.series.on_clock(&self.plan, now);
            due = due.min(t.series.due(&self.plan));
            if !out.is_empty() {
                t.dirty = true;
                all.push((sym.clone(), out));
            }
        }
        self.due_ms = due;
        for (sym, out) in all {
            self.emit(&sym, out);
        }
    }

    /// The next save point after `now`: every `forming_every_ms`, half a period after the
    /// closes (boundary + grace), so its large write never delays them.
    fn next_save(&self, now: u64) -> u64 {
        let every = self.cfg.forming_every_ms.max(1);
        let phase = (self.plan.grace_ms + every / 2) % every;
        let next = (now / every + 1) * every + phase;
        if next.saturating_sub(every) > now {
            next - every
        } else {
            next
        }
    }

    fn emit(&mut self, sym: &Symbol, out: Vec<Emitted>) {
        for e in out {
            let c = match e {
                Emitted::Closed(c) => {
                    self.stats.closed.inc();
                    if let Some(v) = self.crosscheck.on_closed(sym, &c) {
                        let hole = self.series.get(sym).is_some_and(|t| t.series.in_hole(c.tf, c.open_ms));
                        if !hole {
                            self.record(sym, c.open_ms, c.tf.as_str(), v);
                        }
                    }
                    if c.tf == self.plan.base() {
                        let slot = self.tickers.entry(sym.clone()).or_default();
                        slot.0.on_closed(step_for(c.tf), &c);
                        slot.1 = true;
                    }
                    c
                }
                Emitted::Amended(c) => {
                    self.stats.amended.inc();
                    c
                }
                Emitted::TooLate { tf, time_ms } => {
                    self.stats.too_late.inc();
                    warn!(symbol = %sym, %tf, time_ms, "trade older than the last closed candle: left to backfill");
                    continue;
                }
            };
            self.push_candle(sym, &c);
        }
    }

    fn push_candle(&mut self, sym: &Symbol, c: &Candle) {
        let key = self.bus.keys().candles(self.venue.as_str(), sym, c.tf.as_str());
        let minid = self.trim_below(c);
        match wire::fields(sym.as_str(), c) {
            Ok(fields) => self.commit.candle(key, wire::entry_id(c), minid, fields),
            Err(e) => warn!(symbol = %sym, error = %e, "cannot encode a candle"),
        }
    }

    /// The oldest open time kept in `c`'s stream once `c` is in it (`keep` candles).
    fn trim_below(&self, c: &Candle) -> u64 {
        let span = c.tf.fixed_ms().unwrap_or(31 * 86_400_000);
        c.open_ms.saturating_sub(self.cfg.keep.saturating_mul(span))
    }

    /// Adds the forming hashes and the restart point of every changed series to the commit.
    fn save_point(&mut self) {
        let tfs: Vec<Timeframe> = self.plan.timeframes().collect();
        for (sym, t) in &mut self.series {
            if !std::mem::take(&mut t.dirty) {
                continue;
            }
            for &tf in &tfs {
                let Some(c) = t.series.forming(&self.plan, tf) else { continue };
                if let Ok(mut fields) = wire::fields(sym.as_str(), &c) {
                    fields.push(("updated_ms", now_millis().to_string().into_bytes()));
                    self.commit.hash(self.bus.keys().candle(self.venue.as_str(), sym, tf.as_str()), fields);
                }
            }
            match codec::encode(&t.series) {
                Ok(state) => self.commit.state(sym.as_str().to_owned(), state),
                Err(e) => warn!(symbol = %sym, error = %e, "cannot encode a series"),
            }
        }
        if !self.cursor.is_empty() {
            self.commit.state("cursor".into(), self.cursor.clone().into_bytes());
        }
        let key = self.bus.keys().ticker(self.venue.as_str());
        for (sym, (t, dirty)) in &mut self.tickers {
            if !std::mem::take(dirty) {
                continue;
            }
            let forming = self.series.get(sym).and_then(|s| s.series.forming(&self.plan, self.plan.base()));
            match serde_json::to_vec(&t.json(forming.as_ref())) {
                Ok(json) => self.commit.hash_field(key.clone(), sym.as_str().to_owned(), json),
                Err(e) => warn!(symbol = %sym, error = %e, "cannot encode a ticker"),
            }
        }
    }

    async fn flush(&mut self) {
        let key = self.bus.keys().candles_state(self.venue.as_str());
        let mut conn = self.bus.conn();
        match self.commit.run(&mut conn, &key).await {
            Ok(w) => {
                self.stats.duplicates.add(w.duplicates);
                if w.failed > 0 {
                    self.stats.write_errors.add(w.failed);
                    warn!(failed = w.failed, "candles Redis refused (wrong key type?)");
                }
            }
            Err(e) => {
                // Kept in the commit and sent again with the next flush.
                self.stats.write_errors.inc();
                warn!(error = %e, "cannot write candles: retrying with the next batch");
            }
        }
    }
}
