//! booksync on real recorded Binance data, end to end: storm-sim replays
//! `testdata/binance-spot-replay` (diffs over its WebSocket, the recorded snapshot over
//! REST), the real ingester writes them to Redis, booksync syncs and publishes. At every recorded
//! `bookTicker` whose `u` equals an applied diff's `u`, the best bid and ask (price and quantity)
//! on `storm:tops:sim` must equal the exchange's own bookTicker, exactly.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use redis::AsyncCommands;
use storm_booksync::BooksyncConfig;
use storm_bus::{md, tops, Bus, BusConfig, StartAt, StreamReader};
use storm_core::{BookStatus, BookTop, Channel, MdEvent};
use storm_ingester::IngesterConfig;
use storm_service::{Config, Metrics};
use storm_sim::config::WsLimits;
use storm_sim::replay::{Item, Recording};
use storm_sim::server::{self, SimState};
use storm_sim::{Exchange, ModelConfig, SimEvent};
use storm_testkit::RedisServer;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What one replay checked.
struct Checked {
    /// bookTickers compared, per recording day (`u` ≤ the last id of the first file, then the rest).
    per_day: [usize; 2],
    /// Diffs dropped as older than the snapshot: buffered ones when it arrived, and those that
    /// came after it (recorded at 1× speed, the second BTCUSDT diff arrives once the book is live).
    dropped: u64,
}

async fn read_all(reader: &mut StreamReader) -> Vec<storm_bus::StreamEntry> {
    let mut all = Vec::new();
    loop {
        let batch = reader.next_batch().await.unwrap();
        if batch.is_empty() {
            return all;
        }
        all.extend(batch);
    }
}

/// The replay sim (the recording's snapshots installed), the ingester subscribed to `symbols`'
/// depth, booksync, and a bus for the test; returns once the sim has registered the SUBSCRIBE.
struct Stack {
    sim: std::sync::Arc<SimState>,
    stop: CancellationToken,
    redis_server: RedisServer,
    bus: Bus,
    metrics: Metrics,
    ingester: tokio::task::JoinHandle<Result<(), storm_ingester::EngineError>>,
    booksync: tokio::task::JoinHandle<Result<(), storm_booksync::EngineError>>,
}

impl Stack {
    async fn start(rec: &Recording, symbols: &[&str], booksync_extra: &str) -> Stack {
        let mut ex = Exchange::new(&ModelConfig { assets: vec![], pairs: vec![], ..ModelConfig::default() }, 1, 0);
        storm_sim::app::prepare(&mut ex, rec);
        let sim = SimState::new(ex, 6000, WsLimits::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = CancellationToken::new();
        tokio::spawn(server::serve(listener, sim.clone(), stop.clone()));

        let redis_server = RedisServer::start().unwrap();
        let file = format!(
            r#"
        redis_url = "{redis}"
        instance = "replay"
        [[venue]]
        name = "sim"
        kind = "binance"
        rest_url = "http://{addr}"
        ws_url = "ws://{addr}"
        [ingester]
        venue = "sim"
        subs_poll_ms = 200
        subscriptions = [{subs}]
        [booksync]
        venue = "sim"
        {booksync_extra}
        "#,
            redis = redis_server.url(),
            subs = symbols.iter().map(|s| format!("\"depth:{s}\"")).collect::<Vec<_>>().join(","),
        );
        let table: toml::Table = file.parse().unwrap();
        let metrics = Metrics::new();
        let ingester = tokio::spawn(storm_ingester::run(
            Config::<IngesterConfig>::from_parts(table.clone(), &BTreeMap::new(), &[]).unwrap(),
            stop.clone(),
        ));
        let booksync = tokio::spawn(storm_booksync::run_with_metrics(
            Config::<BooksyncConfig>::from_parts(table, &BTreeMap::new(), &[]).unwrap(),
            metrics.clone(),
            stop.clone(),
        ));
        let bus = Bus::connect(BusConfig::new(redis_server.url()), CancellationToken::new()).await.unwrap();
        let mut depth = StreamReader::new(
            &bus,
            &[(bus.keys().md("sim", Channel::Depth), StartAt::Beginning)],
            100,
            Duration::from_millis(100),
        )
        .await
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !read_all(&mut depth).await.iter().any(|e| matches!(md::decode(e), Ok(MdEvent::Reset(_)))) {
            assert!(Instant::now() < deadline, "the ingester never subscribed");
        }
        tokio::time::sleep(Duration::from_secs(2)).await; // the sim registers the SUBSCRIBE
        Stack { sim, stop, redis_server, bus, metrics, ingester, booksync }
    }
}

/// The `u` of every recorded depth diff (of `symbol`, or of all symbols), in recording order.
fn depth_ids(rec: &Recording, symbol: Option<&str>) -> Vec<u64> {
    rec.items
        .iter()
        .filter_map(|(_, i)| match i {
            Item::Event(SimEvent::Depth(d)) if symbol.is_none_or(|s| d.symbol.as_str() == s) => Some(d.last_update_id),
            _ => None,
        })
        .collect()
}

/// Every entry of `storm:tops:sim` so far.
async fn read_tops(bus: &Bus) -> Vec<BookTop> {
    let mut reader =
        StreamReader::new(bus, &[(bus.keys().tops("sim"), StartAt::Beginning)], 10_000, Duration::from_millis(100))
            .await
            .unwrap();
    read_all(&mut reader).await.iter().map(|e| tops::decode(e).unwrap()).collect()
}

/// Waits until `symbol`'s hash is live at `last_u`.
async fn wait_live_at(redis: &mut redis::aio::MultiplexedConnection, symbol: &str, last_u: u64) {
    let key = format!("storm:book:sim:{symbol}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let id: Option<u64> = redis.hget(&key, "update_id").await.unwrap();
        let status: Option<String> = redis.hget(&key, "status").await.unwrap();
        if id == Some(last_u) && status.as_deref() == Some("live") {
            return;
        }
        assert!(Instant::now() < deadline, "{symbol} at {id:?} {status:?}, want {last_u} live");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Replays `files` of one symbol and checks every matching bookTicker against the tops stream.
async fn replay(symbol: &str, files: [&str; 2]) -> Checked {
    let paths: Vec<_> = files.iter().map(|f| storm_testkit::fixtures::testdata_file(f)).collect();
    let first_day = Recording::load(&paths[..1]).unwrap();
    let day_one_last_u = *depth_ids(&first_day, None).iter().max().unwrap();
    let rec = Recording::load(&paths).unwrap();
    let snapshot_id = rec
        .items
        .iter()
        .find_map(|(_, i)| match i {
            Item::Snapshot { snapshot, .. } => Some(snapshot.last_update_id),
            _ => None,
        })
        .unwrap();
    // Phase one: the diffs older than the snapshot, at the recorded pace, so booksync asks for its
    // snapshot while the venue still serves the recorded one; phase two: the rest, 100× faster.
    let split = rec
        .items
        .iter()
        .position(|(_, i)| matches!(i, Item::Event(SimEvent::Depth(d)) if d.last_update_id > snapshot_id))
        .unwrap();
    let phase_two = Recording { items: rec.items[split..].to_vec(), skipped: 0 };
    let phase_one = Recording { items: rec.items[..split].to_vec(), skipped: 0 };

    let Stack { sim, stop, redis_server, bus, metrics, ingester, booksync } =
        Stack::start(&rec, &[symbol], "stale_after_ms = 600000").await;

    storm_sim::app::play(sim.clone(), phase_one, 1.0, stop.clone()).await;
    let mut redis = redis::Client::open(redis_server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let key = format!("storm:book:sim:{symbol}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status: Option<String> = redis.hget(&key, "status").await.unwrap();
        if status.as_deref() == Some("live") {
            break;
        }
        assert!(Instant::now() < deadline, "{symbol} never went live on the recorded snapshot");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recorded = phase_two.clone();
    storm_sim::app::play(sim.clone(), phase_two, 100.0, stop.clone()).await;

    let last_u = *depth_ids(&recorded, None).iter().max().unwrap();
    wait_live_at(&mut redis, symbol, last_u).await;
    let tops = read_tops(&bus).await;
    assert!(tops.iter().all(|t| t.status == BookStatus::Live || t.update_id == 0), "never out of sync");
    let live: Vec<&BookTop> = tops.iter().filter(|t| t.status == BookStatus::Live).collect();
    let applied: std::collections::BTreeSet<u64> =
        depth_ids(&recorded, None).into_iter().filter(|u| *u > snapshot_id).collect();
    let mut per_day = [0usize; 2];
    for (_, item) in &rec.items {
        let Item::Event(SimEvent::Ticker(t)) = item else { continue };
        if !applied.contains(&t.update_id) {
            continue;
        }
        let at = live.partition_point(|top| top.update_id <= t.update_id);
        assert!(at > 0, "no published state at or before {}", t.update_id);
        let top = live[at - 1];
        let (bid, ask) = (&top.bids[0], &top.asks[0]);
        assert_eq!(
            (bid.price, bid.qty, ask.price, ask.qty),
            (t.bid_price, t.bid_qty, t.ask_price, t.ask_qty),
            "{symbol} at u={}",
            t.update_id
        );
        per_day[usize::from(t.update_id > day_one_last_u)] += 1;
    }
    let dropped = metrics.counter("storm_booksync_snapshot_dropped_total", "", &[("venue", "sim")]).get()
        + metrics.counter("storm_booksync_stale_diffs_total", "", &[("venue", "sim")]).get();
    let resyncs: u64 = ["gap", "crossed", "reset", "buffer_overflow", "bad_level", "bad_snapshot"]
        .iter()
        .map(|r| metrics.counter("storm_booksync_resyncs_total", "", &[("venue", "sim"), ("reason", r)]).get())
        .sum();
    assert_eq!(resyncs, 0, "one sync, never lost");
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(6), async {
        let _ = ingester.await;
        let _ = booksync.await;
    })
    .await;
    Checked { per_day, dropped }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn btcusdt_recording_matches_every_book_ticker() {
    let checked = replay(
        "BTCUSDT",
        ["binance-spot-replay/spot_btcusdt_20240808.gz", "binance-spot-replay/spot_btcusdt_20240809.gz"],
    )
    .await;
    assert_eq!(checked.dropped, 2, "the first two diffs are older than the snapshot");
    assert_eq!(checked.per_day, [564, 1_072 - 564], "every bookTicker check, exact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ethusdt_recording_matches_every_book_ticker() {
    let checked = replay(
        "ETHUSDT",
        ["binance-spot-replay/spot_ethusdt_20240808.gz", "binance-spot-replay/spot_ethusdt_20240809.gz"],
    )
    .await;
    assert_eq!(checked.per_day, [577, 1_056 - 577], "every bookTicker check, exact");
}

/// binance-spot-multi (cryptofeed's 2021 recording of NKNUSDT, BLZETH, LRCBTC and RUNEEUR with
/// their REST snapshots) served by the sim through the real ingester: every book goes live once
/// and stays in sync to the last recorded update, and every recorded bookTicker at an applied
/// update id from the moment its book went live equals the published top.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_symbol_recording_syncs_every_book_and_matches_its_book_tickers() {
    let rec = Recording::load(&[storm_testkit::fixtures::testdata_file("binance-spot-multi/BINANCE.ws.1.0")]).unwrap();
    let symbols = ["NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"];
    let Stack { sim, stop, redis_server, bus, metrics, ingester, booksync } =
        Stack::start(&rec, &symbols, "stale_after_ms = 600000").await;
    let span_s = (rec.items.last().unwrap().0 - rec.items[0].0) as f64 / 1e9;
    storm_sim::app::play(sim.clone(), rec.clone(), (span_s / 15.0).max(1.0), stop.clone()).await;

    let mut redis = redis::Client::open(redis_server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let diffs_of = |symbol: &str| depth_ids(&rec, Some(symbol));
    for symbol in symbols {
        wait_live_at(&mut redis, symbol, *diffs_of(symbol).iter().max().unwrap()).await;
    }
    let tops = read_tops(&bus).await;
    let mut checked = BTreeMap::new();
    for symbol in symbols {
        let live: Vec<&BookTop> =
            tops.iter().filter(|t| t.symbol.as_str() == symbol && t.status == BookStatus::Live).collect();
        let went_live = live.first().expect("a live entry").update_id;
        let applied: std::collections::BTreeSet<u64> = diffs_of(symbol).into_iter().collect();
        let mut n = 0usize;
        for (_, item) in &rec.items {
            let Item::Event(SimEvent::Ticker(t)) = item else { continue };
            if t.symbol.as_str() != symbol || t.update_id < went_live || !applied.contains(&t.update_id) {
                continue;
            }
            let top = live[live.partition_point(|top| top.update_id <= t.update_id) - 1];
            let (bid, ask) = (&top.bids[0], &top.asks[0]);
            assert_eq!(
                (bid.price, bid.qty, ask.price, ask.qty),
                (t.bid_price, t.bid_qty, t.ask_price, t.ask_qty),
                "{symbol} at u={}",
                t.update_id
            );
            n += 1;
        }
        checked.insert(symbol, n);
    }
    assert!(checked.values().sum::<usize>() > 0, "some bookTickers were checked: {checked:?}");
    let resyncs: u64 = ["gap", "crossed", "reset", "buffer_overflow", "bad_level", "bad_snapshot"]
        .iter()
        .map(|r| metrics.counter("storm_booksync_resyncs_total", "", &[("venue", "sim"), ("reason", r)]).get())
        .sum();
    assert_eq!(resyncs, 0, "each book synced once and never lost: {checked:?}");
    println!("bookTicker checks per symbol: {checked:?}");
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(6), async {
        let _ = ingester.await;
        let _ = booksync.await;
    })
    .await;
}

/// The replay ends and the venue has nothing more to send, while the connection stays up and
/// answers pings: quiet books are normal, so every book stays `live` (hash and tops) well past
/// `stale_after_ms`, at the last recorded update, and its top 20 equals the venue's book exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn books_stay_live_and_exact_after_the_replay_ends() {
    let rec = Recording::load(&[storm_testkit::fixtures::testdata_file("binance-spot-multi/BINANCE.ws.1.0")]).unwrap();
    let symbols = ["NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"];
    let stale_after = Duration::from_millis(2_000);
    let extra = format!("stale_after_ms = {}", stale_after.as_millis());
    let Stack { sim, stop, redis_server, bus, ingester, booksync, .. } = Stack::start(&rec, &symbols, &extra).await;
    let span_s = (rec.items.last().unwrap().0 - rec.items[0].0) as f64 / 1e9;
    storm_sim::app::play(sim.clone(), rec.clone(), (span_s / 15.0).max(1.0), stop.clone()).await;

    let mut redis = redis::Client::open(redis_server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let last_u = |symbol: &str| *depth_ids(&rec, Some(symbol)).iter().max().unwrap();
    for symbol in symbols {
        wait_live_at(&mut redis, symbol, last_u(symbol)).await;
    }
    // Three times the stale timeout of silence on the depth stream: never stale.
    let quiet_until = Instant::now() + stale_after * 3;
    while Instant::now() < quiet_until {
        for symbol in symbols {
            let status: Option<String> = redis.hget(format!("storm:book:sim:{symbol}"), "status").await.unwrap();
            assert_eq!(status.as_deref(), Some("live"), "{symbol} after the replay ended");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tops = read_tops(&bus).await;
    for symbol in symbols {
        let last = tops.iter().rev().find(|t| t.symbol.as_str() == symbol).expect("a tops entry");
        assert_eq!((last.status, last.update_id), (BookStatus::Live, last_u(symbol)), "{symbol}: last tops entry");
        let key = format!("storm:book:sim:{symbol}");
        let hash: std::collections::HashMap<String, String> = redis.hgetall(&key).await.unwrap();
        let book = storm_bus::book::parse(&storm_core::Symbol::new(symbol), &hash).unwrap();
        let (id, bids, asks) = sim.exchange().depth(&storm_core::Symbol::new(symbol), 20).unwrap();
        assert_eq!((book.top.update_id, &book.top.bids, &book.top.asks), (id, &bids, &asks), "{symbol} exact");
    }
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(6), async {
        let _ = ingester.await;
        let _ = booksync.await;
    })
    .await;
}
