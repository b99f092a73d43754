//! `stormctl pnl` and `stormctl fills` on what the real engines wrote: a storm-sim exchange over
//! real sockets, the real executor trading on it (live, signed IOC orders), the real streamer
//! recording the account's fills and balances, a throwaway redis-server. The report's totals are
//! checked against an independent sum over the `storm:arb:log` entries, its fees against the
//! sim's own fills, its balances against the sim's account; `fills` against the sim's trades;
//! `--png` by decoding the file.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::Value;
use storm_bus::{opps, Bus, BusConfig};
use storm_core::arb::{OppKind, OppLeg, Opportunity};
use storm_core::{Asset, Price, Qty, Side, Symbol, VenueId};
use storm_service::Config;
use storm_sim::config::WsLimits;
use storm_sim::server::{self, SimState};
use storm_sim::{Exchange, ModelConfig};
use storm_testkit::RedisServer;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use common::{ctl, Out};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The account's opening balances (also written as `[[sim.account]]` into the config).
const START: [(&str, i64); 3] = [("USDT", 10_000), ("BTC", 1), ("ETH", 10)];

/// Book versions of the opportunities a test publishes, rising.
static BOOK_VERSION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(10);

struct World {
    redis: RedisServer,
    sim: Arc<SimState>,
    bus: Bus,
    key: String,
    config: std::path::PathBuf,
    dir: std::path::PathBuf,
    stop: CancellationToken,
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop.cancel();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

impl World {
    /// The sim (static book), Redis, and the executor and streamer running on them.
    async fn start() -> World {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let (key, secret) = (format!("pnl-test-key-{}-{n}", std::process::id()), format!("pnl-test-secret-{n}"));
        let (key_env, secret_env) = (format!("STORM_PNL_TEST_KEY_{n}"), format!("STORM_PNL_TEST_SECRET_{n}"));
        std::env::set_var(&key_env, &key);
        std::env::set_var(&secret_env, &secret);
        let mut ex = Exchange::new(&ModelConfig::default(), 7, storm_core::time::now_millis());
        let balances: Vec<(Asset, Decimal)> = START.iter().map(|(a, v)| (Asset::new(*a), Decimal::from(*v))).collect();
        ex.add_account(&key, &secret, &balances);
        let sim = SimState::new(ex, 6000, WsLimits::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = CancellationToken::new();
        tokio::spawn(server::serve(listener, sim.clone(), stop.clone()));
        let redis = RedisServer::start().unwrap();
        let bus = Bus::connect(BusConfig::new(redis.url()), CancellationToken::new()).await.unwrap();
        let list: Vec<_> = sim.exchange().instruments().cloned().collect();
        storm_bus::instruments::write(&bus, "sim", &list).await.unwrap();
        let start: Vec<String> = START.iter().map(|(a, v)| format!("{a} = \"{v}\"")).collect();
        let file = format!(
            r#"
redis_url = "{redis}"
instance = "pnl-test"
heartbeat_ms = 500
[[venue]]
name = "sim"
kind = "binance"
rest_url = "http://{addr}"
ws_url = "ws://{addr}"
ws_api_url = "ws://{addr}/ws-api/v3"
api_key_env = "{key_env}"
api_secret_env = "{secret_env}"
[sim]
listen = "{addr}"
[[sim.account]]
api_key_env = "{key_env}"
api_secret_env = "{secret_env}"
balances = {{ {start} }}
[streamer]
venues = ["sim"]
[executor]
venue = "sim"
mode = "live"
live_enabled = true
order_timeout_ms = 2000
[executor.max_notional]
USDT = "5000"
"#,
            redis = redis.url(),
            start = start.join(", "),
        );
        let dir = std::env::temp_dir().join(format!("stormctl-pnl-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("storm.toml");
        std::fs::write(&config, &file).unwrap();
        let table: toml::Table = file.parse().unwrap();
        let none = BTreeMap::new();
        tokio::spawn(storm_streamer::run(Config::from_parts(table.clone(), &none, &[]).unwrap(), stop.clone()));
        tokio::spawn(storm_executor::run(Config::from_parts(table, &none, &[]).unwrap(), stop.clone()));
        World { redis, sim, bus, key, config, dir, stop }
    }

    /// `stormctl --config <this world's file> <args>`, run to completion.
    fn ctl(&self, args: &[&str]) -> Out {
        let mut c = ctl(&self.redis.url(), &[]);
        c.arg("--config").arg(&self.config).args(args);
        Out::from(c.output().unwrap())
    }

    fn top(&self, s: &str) -> (Decimal, Decimal) {
        let (b, a) = self.sim.exchange().book_ticker(&Symbol::new(s)).unwrap();
        (b.price.0, a.price.0)
    }

    /// USDT → BTC → ETH → USDT for about `usdt`, each limit `slack` through the touch (every IOC
    /// fills), expiring in `expires_in_ms` (0: already expired when read).
    fn triangle(&self, id: &str, usdt: Decimal, slack: Decimal, expires_in_ms: i64) -> Opportunity {
        let inst = |s: &str| self.sim.exchange().instrument(&Symbol::new(s)).cloned().unwrap();
        let fee = d("0.999");
        let (i1, i2, i3) = (inst("BTCUSDT"), inst("ETHBTC"), inst("ETHUSDT"));
        let p1 = i1.ceil_price(Price(self.top("BTCUSDT").1 * (Decimal::ONE + slack))).0;
        let q1 = i1.floor_qty(Qty(usdt / p1)).0;
        let p2 = i2.ceil_price(Price(self.top("ETHBTC").1 * (Decimal::ONE + slack))).0;
        let q2 = i2.floor_qty(Qty(q1 * fee / p2)).0;
        let p3 = i3.floor_price(Price(self.top("ETHUSDT").0 * (Decimal::ONE - slack))).0;
        let q3 = i3.floor_qty(Qty(q2 * fee)).0;
        let leg = |s: &str, side, p, q| OppLeg {
            venue: VenueId::new("sim"),
            symbol: Symbol::new(s),
            side,
            price: Price(p),
            qty: Qty(q),
        };
        let now = storm_core::time::now_millis();
        Opportunity {
            id: id.to_owned(),
            kind: OppKind::Triangular,
            venue: VenueId::new("sim"),
            path: "USDT>BTC>ETH>USDT".into(),
            asset: Asset::new("USDT"),
            size: q1 * p1,
            profit: d("0.37"),
            profit_bps: d("18.5"),
            confidence: 0.5,
            created_ms: now - 10,
            expires_ms: now.saturating_add_signed(expires_in_ms),
            legs: vec![
                leg("BTCUSDT", Side::Buy, p1, q1),
                leg("ETHBTC", Side::Buy, p2, q2),
                leg("ETHUSDT", Side::Sell, p3, q3),
            ],
            // Each opportunity priced on newer books than the last: otherwise, once a chain has
            // traded them, the executor ends the next ones `superseded` (priced on a traded book).
            book_ids: vec![BOOK_VERSION.fetch_add(10, std::sync::atomic::Ordering::Relaxed); 3],
            time_trigger_us: 0,
        }
    }

    async fn publish(&self, opp: &Opportunity) {
        let e = opps::entry(self.bus.keys(), 10_000, opp).unwrap();
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&e.key).arg("*");
        for (n, v) in &e.fields {
            cmd.arg(*n).arg(v.as_slice());
        }
        let _: String = cmd.query_async(&mut self.bus.conn()).await.unwrap();
    }

    async fn log(&self) -> Vec<HashMap<String, String>> {
        let all: Vec<(String, HashMap<String, Vec<u8>>)> = redis::cmd("XRANGE")
            .arg("storm:arb:log")
            .arg("-")
            .arg("+")
            .query_async(&mut self.bus.conn())
            .await
            .unwrap();
        all.into_iter()
            .map(|(_, f)| f.into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect())
            .collect()
    }

    async fn fills_len(&self) -> usize {
        let acct = storm_venues::binance::sign::account_id(&self.key);
        redis::cmd("XLEN").arg(format!("storm:fills:sim:{acct}")).query_async(&mut self.bus.conn()).await.unwrap()
    }

    /// The sim's own fills of the account (trade id → fill), the truth `fills` is checked on.
    /// The account's fills by (symbol, trade id): trade ids are per symbol, as on Binance.
    fn sim_fills(&self) -> BTreeMap<(String, u64), storm_sim::orders::Fill> {
        let ex = self.sim.exchange();
        let acct = ex.account(&self.key).unwrap();
        acct.orders
            .values()
            .flat_map(|o| o.fills.iter().cloned())
            .map(|f| ((f.symbol.to_string(), f.trade_id), f))
            .collect()
    }

    /// The sim's account totals (free + locked).
    fn sim_balances(&self) -> BTreeMap<String, Decimal> {
        let ex = self.sim.exchange();
        let acct = ex.account(&self.key).unwrap();
        acct.balances.iter().map(|(a, b)| (a.to_string(), b.free + b.locked)).collect()
    }
}

async fn until<F, Fut>(what: &str, patience: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + patience;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within {patience:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Three chains that trade and two opportunities that expire unread, all logged; the streamer
/// has recorded every fill and balance.
async fn traded_world() -> World {
    let w = World::start().await;
    // The streamer's first balances mean it is connected: fills from now on are recorded live.
    let acct = storm_venues::binance::sign::account_id(&w.key);
    until("the streamer's balances", Duration::from_secs(30), || async {
        let n: usize =
            redis::cmd("HLEN").arg(format!("storm:balance:sim:{acct}")).query_async(&mut w.bus.conn()).await.unwrap();
        n > 0
    })
    .await;
    let mut ids = Vec::new();
    for (i, usdt) in ["200", "150", "120"].iter().enumerate() {
        let opp = w.triangle(&format!("aaaa00000000000{i}"), d(usdt), d("0.005"), 60_000);
        w.publish(&opp).await;
        ids.push(opp.id);
    }
    for i in 0..2 {
        let opp = w.triangle(&format!("eeee00000000000{i}"), d("100"), d("0.005"), -1_000);
        w.publish(&opp).await;
        ids.push(opp.id);
    }
    until("an outcome for every opportunity", Duration::from_secs(40), || async { w.log().await.len() >= ids.len() })
        .await;
    let trades = w.sim_fills().len();
    assert!(trades >= 9, "three chains of three filled legs: {trades} fills");
    until("every fill on storm:fills", Duration::from_secs(20), || async { w.fills_len().await >= trades }).await;
    until("storm:balance equal to the sim's account", Duration::from_secs(20), || async {
        let out = w.ctl(&["balances", "sim", "--json"]).ok().json();
        let redis: BTreeMap<String, Decimal> = out["balances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["asset"].as_str().unwrap().to_owned(), d(b["total"].as_str().unwrap())))
            .collect();
        let mut sim = w.sim_balances();
        sim.retain(|_, v| !v.is_zero());
        redis == sim
    })
    .await;
    w
}

fn dec(v: &Value) -> Decimal {
    d(v.as_str().unwrap_or_else(|| panic!("not a decimal string: {v}")))
}

fn add(m: &mut BTreeMap<String, Decimal>, k: &str, v: Decimal) {
    let slot = m.entry(k.to_owned()).or_default();
    *slot += v;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pnl_equals_the_sum_of_the_arb_log_and_the_balance_change() {
    let w = traded_world().await;
    let out = w.ctl(&["pnl", "--json"]).ok();
    let j = out.json();

    // The independent sum, straight from the stream's plain fields.
    let log = w.log().await;
    let mut kinds = BTreeMap::<String, u64>::new();
    let mut realized = BTreeMap::new();
    let (mut predicted, mut realized_traded, mut slippage, mut chains) =
        (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, 0);
    for e in &log {
        *kinds.entry(e["outcome"].clone()).or_default() += 1;
        let pnl: BTreeMap<String, String> = serde_json::from_str(&e["pnl"]).unwrap();
        for (a, v) in pnl {
            add(&mut realized, &a, d(&v));
        }
        if let Some(s) = e.get("slippage") {
            chains += 1;
            slippage += d(s);
            predicted += d(&e["predicted"]);
            realized_traded += d(&e["realized"]);
        }
    }
    assert_eq!(kinds.get("executed"), Some(&3), "the test's own premise: {log:?}");
    assert_eq!(kinds.get("expired"), Some(&2), "{log:?}");
    assert_eq!(j["entries"], log.len());
    let reported: BTreeMap<String, u64> = serde_json::from_value(j["outcomes"].clone()).unwrap();
    assert_eq!(reported, kinds);
    let reported: BTreeMap<String, Decimal> =
        j["realized"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), dec(v))).collect();
    assert_eq!(reported, realized, "realized per asset is the exact sum of the entries' pnl");
    let p = &j["prediction"]["USDT"];
    assert_eq!(
        (p["chains"].as_u64().unwrap(), dec(&p["predicted"]), dec(&p["realized"]), dec(&p["slippage"])),
        (chains, predicted, realized_traded, slippage)
    );
    assert_eq!(chains, 3);
    let path = &j["paths"]["USDT>BTC>ETH>USDT"];
    assert_eq!((path["outcomes"].as_u64().unwrap(), path["traded"].as_u64().unwrap()), (5, 3));
    assert_eq!(dec(&path["realized"]), realized["USDT"]);

    // Fees: the commissions the sim charged on the chains' orders.
    let mut fees = BTreeMap::new();
    for f in w.sim_fills().values() {
        add(&mut fees, f.commission_asset.as_str(), f.commission);
    }
    fees.retain(|_, v| !v.is_zero());
    let f = &j["fees"][0];
    let reported: BTreeMap<String, Decimal> =
        f["by_asset"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), dec(v))).collect();
    assert_eq!(reported, fees);
    assert_eq!((f["fills"].as_u64().unwrap() as usize, f["chains"].as_u64().unwrap()), (w.sim_fills().len(), 3));

    // Balances: the sim's opening balances, its account now, and a change the log explains.
    let b = &j["balances"][0];
    assert!(b["start_source"].as_str().unwrap().contains("[[sim.account]]"), "{b}");
    let sim_now = w.sim_balances();
    for row in b["rows"].as_array().unwrap() {
        let asset = row["asset"].as_str().unwrap();
        let start = START.iter().find(|(a, _)| *a == asset).map_or(Decimal::ZERO, |(_, v)| Decimal::from(*v));
        assert_eq!(dec(&row["start"]), start, "{row}");
        assert_eq!(dec(&row["now"]), sim_now.get(asset).copied().unwrap_or_default(), "{row}");
        assert_eq!(dec(&row["change"]), dec(&row["now"]) - start, "{row}");
        assert_eq!(dec(&row["logged"]), realized.get(asset).copied().unwrap_or_default(), "{row}");
        assert!(dec(&row["unexplained"]).is_zero(), "every balance change is in the log: {row}");
    }
    assert_eq!(b["rows"].as_array().unwrap().len(), START.len(), "{b}");

    // The text report shows the same numbers.
    let text = w.ctl(&["pnl"]).ok().stdout;
    for needle in ["executed", "expired", "USDT>BTC>ETH>USDT", "Fees on sim", "UNEXPLAINED"] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    assert!(text.contains(&realized["USDT"].normalize().to_string()), "{text}");

    // Windows: --since in the future and another venue count nothing; an unknown --since is a
    // clear usage error.
    let later =
        w.ctl(&["pnl", "--json", "--since", &(storm_core::time::now_millis() + 60_000).to_string()]).ok().json();
    assert_eq!(later["entries"], 0);
    assert_eq!(w.ctl(&["pnl", "--json", "--venue", "other"]).ok().json()["entries"], 0);
    let bad = w.ctl(&["pnl", "--since", "yesterday"]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stderr.contains("expected a duration"), "{bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fills_shows_every_fill_the_sim_made_and_filters() {
    let w = traded_world().await;
    let sim = w.sim_fills();
    let j = w.ctl(&["fills", "--venue", "sim", "-n", "0", "--json"]).ok().json();
    let rows = j["fills"].as_array().unwrap();
    assert_eq!(rows.len(), sim.len(), "{j}");
    for r in rows {
        let f = &sim[&(r["symbol"].as_str().unwrap().to_owned(), r["trade_id"].as_u64().unwrap())];
        assert_eq!(r["symbol"], f.symbol.as_str());
        assert_eq!((dec(&r["price"]), dec(&r["qty"]), dec(&r["commission"])), (f.price, f.qty, f.commission), "{r}");
        assert!(r["chain"].as_str().unwrap().starts_with("aaaa"), "{r}");
    }
    let times: Vec<u64> = rows.iter().map(|r| r["time_ms"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first: {times:?}");

    let btc = w.ctl(&["fills", "--symbol", "btcusdt", "--json"]).ok().json();
    let btc = btc["fills"].as_array().unwrap();
    assert_eq!(btc.len(), sim.values().filter(|f| f.symbol.as_str() == "BTCUSDT").count());
    assert!(btc.iter().all(|r| r["symbol"] == "BTCUSDT"));

    let last2 = w.ctl(&["fills", "-n", "2", "--json"]).ok().json();
    let last2: Vec<u64> = last2["fills"].as_array().unwrap().iter().map(|r| r["trade_id"].as_u64().unwrap()).collect();
    let all: Vec<u64> = rows.iter().map(|r| r["trade_id"].as_u64().unwrap()).collect();
    assert_eq!(last2, all[all.len() - 2..], "-n 2: the two newest");

    let text = w.ctl(&["fills"]).ok().stdout;
    assert!(text.lines().next().unwrap().contains("SYMBOL"), "{text}");
    assert!(text.contains("BTCUSDT") && text.contains("aaaa000000000000") && text.contains("taker"), "{text}");
    assert!(w.ctl(&["fills", "--venue", "nosuch"]).ok().stdout.contains("no fills"));
}

/// Width and height from a PNG's IHDR, checking the signature.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let n = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (n(16), n(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn png_draws_one_panel_per_asset_into_a_valid_file() {
    let w = traded_world().await;
    let file = w.dir.join("pnl.png");
    let j = w.ctl(&["pnl", "--json", "--png", file.to_str().unwrap()]).ok().json();
    assert_eq!(j["png"], file.to_str().unwrap());
    let bytes = std::fs::read(&file).unwrap();
    let assets = j["realized"].as_object().unwrap().len() as u32;
    assert!(assets >= 1, "{j}");
    assert_eq!(png_size(&bytes), (1000, 40 + 280 * assets));
    assert!((5_000..2_000_000).contains(&bytes.len()), "a chart, not an empty or a huge file: {} bytes", bytes.len());
    // Decoded: mostly white, with the first panel's blue line and dark text on it.
    let decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px: Vec<&[u8]> = buf[..info.buffer_size()].chunks(info.color_type.samples()).collect();
    let white = px.iter().filter(|p| p[..3] == [255, 255, 255]).count();
    let blue = px.iter().filter(|p| p[..3] == [31, 119, 180]).count();
    let dark = px.iter().filter(|p| p[..3].iter().all(|c| *c < 80)).count();
    assert!(white > px.len() / 2, "a white background: {white} of {}", px.len());
    assert!(blue > 200, "the PnL line is drawn: {blue} blue pixels");
    assert!(dark > 500, "text and axes are drawn: {dark} dark pixels");
    // A file that cannot be written is a clear error.
    let bad = w.ctl(&["pnl", "--png", "/nonexistent-dir/x.png"]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stderr.contains("--png /nonexistent-dir/x.png"), "{bad:?}");
}
