//! The simulator's REST API over a real socket, driven with an ordinary HTTP client and requests
//! signed as Binance documents.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::Value;
use storm_core::Asset;
use storm_sim::server::{self, SimState};
use storm_sim::{Exchange, ModelConfig};
use storm_venues::binance::sign;
use tokio_util::sync::CancellationToken;

const KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

async fn start(weight_limit: u64) -> (String, Arc<SimState>, CancellationToken) {
    let mut ex = Exchange::new(&ModelConfig::default(), 7, storm_core::time::now_millis());
    ex.add_account(KEY, SECRET, &[(Asset::new("USDT"), Decimal::from(100_000)), (Asset::new("BTC"), Decimal::from(1))]);
    let state = SimState::new(ex, weight_limit, Default::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    tokio::spawn(server::serve(listener, state.clone(), shutdown.clone()));
    (base, state, shutdown)
}

fn signed(params: &str) -> String {
    let q = format!("{params}&timestamp={}", storm_core::time::now_millis());
    format!("{q}&signature={}", sign::sign(SECRET, &q))
}

async fn get(url: &str) -> (u16, Option<String>, Value) {
    let r = reqwest::Client::new().get(url).header("X-MBX-APIKEY", KEY).send().await.unwrap();
    let status = r.status().as_u16();
    let used = r.headers().get("x-mbx-used-weight-1m").map(|v| v.to_str().unwrap().to_owned());
    (status, used, r.json().await.unwrap())
}

#[tokio::test]
async fn public_endpoints_answer_in_binance_shape() {
    let (base, _, _stop) = start(6000).await;
    assert_eq!(get(&format!("{base}/api/v3/ping")).await.2, serde_json::json!({}));
    assert!(get(&format!("{base}/api/v3/time")).await.2["serverTime"].as_u64().unwrap() > 1_700_000_000_000);
    let info = get(&format!("{base}/api/v3/exchangeInfo")).await.2;
    assert_eq!(info["symbols"].as_array().unwrap().len(), 29);
    assert_eq!(info["rateLimits"][0]["limit"], 6000);
    let btc = info["symbols"].as_array().unwrap().iter().find(|s| s["symbol"] == "BTCUSDT").unwrap();
    assert_eq!(btc["filters"][0]["filterType"], "PRICE_FILTER");

    let (status, used, depth) = get(&format!("{base}/api/v3/depth?symbol=BTCUSDT&limit=500")).await;
    assert_eq!(status, 200);
    assert_eq!(used.as_deref(), Some("47"), "ping 1 + time 1 + exchangeInfo 20 + depth(limit 500) 25");
    assert!(depth["bids"].as_array().unwrap().len() >= 100, "deep ladder");
    let best_bid = Decimal::from_str(depth["bids"][0][0].as_str().unwrap()).unwrap();
    let best_ask = Decimal::from_str(depth["asks"][0][0].as_str().unwrap()).unwrap();
    assert!(best_bid < best_ask);
    assert_eq!(depth["bids"][0][0].as_str().unwrap().split('.').nth(1).unwrap().len(), 8, "8 decimals like Binance");

    let (status, _, err) = get(&format!("{base}/api/v3/depth?symbol=NOPE")).await;
    assert_eq!((status, err["code"].as_i64()), (400, Some(-1121)));
}

#[tokio::test]
async fn signed_ioc_order_fills_and_shows_in_account() {
    let (base, state, _stop) = start(6000).await;
    let (_, bids, asks) = state.exchange().depth(&storm_core::Symbol::new("BTCUSDT"), 1).unwrap();
    let ask = asks[0].price.0;
    assert!(bids[0].price.0 < ask);
    let client = reqwest::Client::new();
    let body = signed(&format!(
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=IOC&quantity=0.001&price={ask}&newClientOrderId=opp1-leg1&newOrderRespType=FULL"
    ));
    let r = client
        .post(format!("{base}/api/v3/order"))
        .header("X-MBX-APIKEY", KEY)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let o: Value = r.json().await.unwrap();
    assert_eq!(o["clientOrderId"], "opp1-leg1");
    assert!(o["status"] == "FILLED" || o["status"] == "EXPIRED", "{o}");
    assert!(!o["fills"].as_array().unwrap().is_empty(), "{o}");
    assert_eq!(o["fills"][0]["commissionAsset"], "BTC");

    let (_, _, q) = get(&format!("{base}/api/v3/order?{}", signed("symbol=BTCUSDT&origClientOrderId=opp1-leg1"))).await;
    assert_eq!(q["orderId"], o["orderId"]);
    let (_, _, acct) = get(&format!("{base}/api/v3/account?{}", signed("recvWindow=5000"))).await;
    let btc = acct["balances"].as_array().unwrap().iter().find(|b| b["asset"] == "BTC").unwrap();
    assert!(Decimal::from_str(btc["free"].as_str().unwrap()).unwrap() > Decimal::ONE, "BTC bought: {btc}");
    let (_, _, trades) = get(&format!("{base}/api/v3/myTrades?{}", signed("symbol=BTCUSDT"))).await;
    assert!(!trades.as_array().unwrap().is_empty());
}

#[tokio::test]
async fn bad_signature_missing_key_and_stale_timestamp_are_rejected() {
    let (base, _, _stop) = start(6000).await;
    let mut q = signed("symbol=BTCUSDT");
    q.push('0'); // corrupt the signature
    let (status, _, e) = get(&format!("{base}/api/v3/openOrders?{q}")).await;
    assert_eq!(
        (status, e["code"].as_i64(), e["msg"].as_str()),
        (400, Some(-1022), Some("Signature for this request is not valid."))
    );

    let r = reqwest::get(format!("{base}/api/v3/openOrders?{}", signed("symbol=BTCUSDT"))).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], -2014);

    let stale = "symbol=BTCUSDT&timestamp=1499827319559";
    let (_, _, e) = get(&format!("{base}/api/v3/openOrders?{stale}&signature={}", sign::sign(SECRET, stale))).await;
    assert_eq!(e["code"], -1021);
}

#[tokio::test]
async fn weight_limit_gives_429_then_418() {
    let (base, _, _stop) = start(60).await;
    for _ in 0..3 {
        assert_eq!(get(&format!("{base}/api/v3/exchangeInfo")).await.0, 200);
    }
    let r = reqwest::get(format!("{base}/api/v3/exchangeInfo")).await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(r.json::<Value>().await.unwrap()["code"], -1003);
    let r = reqwest::get(format!("{base}/api/v3/ping")).await.unwrap();
    assert_eq!(r.status(), 418, "continuing after a 429 is a ban");
    assert_eq!(r.headers()["retry-after"], "120");
}

#[tokio::test]
async fn injected_5xx_comes_after_the_order_was_placed() {
    let (base, state, _stop) = start(6000).await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/_sim/fault"))
        .json(&serde_json::json!({"kind": "order_error", "mode": "5xx", "count": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, _, asks) = state.exchange().depth(&storm_core::Symbol::new("BTCUSDT"), 1).unwrap();
    let body = signed(&format!(
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=IOC&quantity=0.001&price={}&newClientOrderId=x5",
        asks[0].price.0
    ));
    let r = client.post(format!("{base}/api/v3/order?{body}")).header("X-MBX-APIKEY", KEY).send().await.unwrap();
    assert_eq!(r.status(), 500);
    // Status unknown to the client, but the order exists: a query finds it.
    let (status, _, q) = get(&format!("{base}/api/v3/order?{}", signed("symbol=BTCUSDT&origClientOrderId=x5"))).await;
    assert_eq!(status, 200);
    assert_eq!(q["clientOrderId"], "x5");
}

#[tokio::test]
async fn rest_cancel_answers_in_binance_cancel_shape() {
    let (base, state, _stop) = start(6000).await;
    let (_, bids, _) = state.exchange().depth(&storm_core::Symbol::new("BTCUSDT"), 1).unwrap();
    let price = bids[0].price.0 - Decimal::from(500);
    let client = reqwest::Client::new();
    let place = signed(&format!(
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price={price}&newClientOrderId=rest-gtc"
    ));
    let r = client.post(format!("{base}/api/v3/order?{place}")).header("X-MBX-APIKEY", KEY).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "NEW");
    let cancel = signed("symbol=BTCUSDT&origClientOrderId=rest-gtc");
    let r = client.delete(format!("{base}/api/v3/order?{cancel}")).header("X-MBX-APIKEY", KEY).send().await.unwrap();
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["status"], "CANCELED");
    assert_eq!(c["origClientOrderId"], "rest-gtc");
    assert!(c["transactTime"].as_u64().is_some(), "{c}");
}

/// ccxt's `binance.load_markets()` with its default options also asks for the USDⓈ-M and COIN-M
/// futures listings and, when options are wanted, the options listing; a spot-only venue answers
/// them as empty listings in Binance's shapes (docs/venues/BINANCE.md), not as unknown endpoints.
#[tokio::test]
async fn futures_and_options_listings_are_empty_as_on_a_spot_only_venue() {
    let (base, _, _stop) = start(6000).await;
    for path in ["/fapi/v1/exchangeInfo", "/dapi/v1/exchangeInfo"] {
        let (status, used, info) = get(&format!("{base}{path}")).await;
        assert_eq!(status, 200, "{path}: {info}");
        assert!(used.is_some(), "{path}: weight header");
        assert_eq!(info["timezone"], "UTC", "{path}");
        assert!(info["serverTime"].as_u64().unwrap() > 1_700_000_000_000, "{path}");
        assert_eq!(info["symbols"], serde_json::json!([]), "{path}");
        assert!(info["rateLimits"].is_array() && info["exchangeFilters"].is_array(), "{path}: {info}");
    }
    let (status, _, options) = get(&format!("{base}/eapi/v1/exchangeInfo")).await;
    assert_eq!(status, 200, "{options}");
    assert_eq!(options["optionSymbols"], serde_json::json!([]));
    assert_eq!(options["optionContracts"], serde_json::json!([]));
    assert_eq!(options["optionAssets"], serde_json::json!([]));
    assert!(options["serverTime"].as_u64().unwrap() > 1_700_000_000_000);
    // The spot listing is unchanged by them.
    assert_eq!(get(&format!("{base}/api/v3/exchangeInfo")).await.2["symbols"].as_array().unwrap().len(), 29);
}

/// With API keys, ccxt's default `load_markets` also reads the wallet's coin list
/// (`fetchCurrencies`): a signed endpoint that lists every asset of the venue with the account's
/// balance, in Binance's shape; the sim has no deposits or withdrawals, so no network.
#[tokio::test]
async fn wallet_coin_list_has_every_asset_with_the_accounts_balance() {
    let (base, _, _stop) = start(6000).await;
    let (status, used, coins) =
        get(&format!("{base}/sapi/v1/capital/config/getall?{}", signed("recvWindow=5000"))).await;
    assert_eq!(status, 200, "{coins}");
    assert_eq!(used.as_deref(), Some("10"), "weight 10");
    let coins = coins.as_array().unwrap();
    assert_eq!(coins.len(), 10, "the sim's 10 assets: {coins:?}");
    let coin = |c: &str| coins.iter().find(|e| e["coin"] == c).unwrap_or_else(|| panic!("{c} in {coins:?}"));
    let free = |c: &str| Decimal::from_str(coin(c)["free"].as_str().unwrap()).unwrap();
    assert_eq!((free("USDT"), free("BTC"), free("ETH")), (Decimal::from(100_000), Decimal::ONE, Decimal::ZERO));
    let btc = coin("BTC");
    assert_eq!(btc["locked"].as_str().map(|s| Decimal::from_str(s).unwrap()), Some(Decimal::ZERO));
    assert_eq!((btc["trading"].as_bool(), btc["isLegalMoney"].as_bool()), (Some(true), Some(false)));
    assert_eq!(btc["networkList"], serde_json::json!([]));

    let (status, _, err) = get(&format!("{base}/sapi/v1/capital/config/getall?timestamp=1&signature=00")).await;
    assert_eq!((status, err["code"].as_i64()), (400, Some(-1022)), "signed: {err}");
}

/// `/api/v3/klines` and `/api/v3/ticker/24hr` agree with the public trades the sim broadcast,
/// aggregated here independently (OHLC by time and id, volumes summed).
#[tokio::test]
async fn klines_and_the_24h_ticker_come_from_the_sims_own_trades() {
    let (base, state, _stop) = start(6000).await;
    let mut events = state.subscribe();
    let client = reqwest::Client::new();
    for i in 0..6 {
        let (_, _, asks) = state.exchange().depth(&storm_core::Symbol::new("BTCUSDT"), 1).unwrap();
        let side = if i % 2 == 0 { "BUY" } else { "SELL" };
        let body = signed(&format!("symbol=BTCUSDT&side={side}&type=MARKET&quantity=0.002&newClientOrderId=k{i}"));
        let r = client
            .post(format!("{base}/api/v3/order"))
            .header("X-MBX-APIKEY", KEY)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "order {i} at ask {}", asks[0].price.0);
    }
    let mut trades = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let storm_sim::exchange::SimEvent::Trade(t) = &*e {
            if t.symbol.as_str() == "BTCUSDT" {
                trades.push(t.clone());
            }
        }
    }
    assert!(trades.len() >= 6, "{} trades", trades.len());
    trades.sort_by_key(|t| (t.time_exchange, t.trade_id));
    let minute = |t: &storm_core::Trade| t.time_exchange / 1_000 / 60_000 * 60_000;
    let last_min = minute(trades.last().unwrap());
    let in_last: Vec<_> = trades.iter().filter(|t| minute(t) == last_min).collect();
    let (_, used, k) = get(&format!("{base}/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=2")).await;
    assert_eq!(used.as_deref(), Some("8"), "six orders weigh 1 each, klines 2");
    let row = k.as_array().unwrap().last().unwrap();
    let dec = |v: &Value| Decimal::from_str(v.as_str().unwrap()).unwrap();
    assert_eq!(row[0].as_u64(), Some(last_min));
    assert_eq!(row[6].as_u64(), Some(last_min + 59_999));
    assert_eq!(dec(&row[1]), in_last[0].price.0, "open");
    assert_eq!(dec(&row[4]), in_last.last().unwrap().price.0, "close");
    assert_eq!(dec(&row[2]), in_last.iter().map(|t| t.price.0).max().unwrap(), "high");
    assert_eq!(dec(&row[3]), in_last.iter().map(|t| t.price.0).min().unwrap(), "low");
    assert_eq!(dec(&row[5]), in_last.iter().map(|t| t.qty.0).sum::<Decimal>(), "volume");
    assert_eq!(row[8].as_u64(), Some(in_last.len() as u64), "trades");
    let buys: Decimal = in_last.iter().filter(|t| !t.buyer_is_maker).map(|t| t.qty.0).sum();
    assert_eq!(dec(&row[9]), buys, "taker buy volume");

    let (_, _, day) = get(&format!("{base}/api/v3/ticker/24hr?symbol=BTCUSDT")).await;
    assert_eq!(day["count"].as_u64(), Some(trades.len() as u64));
    assert_eq!(dec(&day["volume"]), trades.iter().map(|t| t.qty.0).sum::<Decimal>());
    assert_eq!(dec(&day["lastPrice"]), trades.last().unwrap().price.0);
    assert_eq!(day["firstId"].as_u64(), Some(trades[0].trade_id));
    let (status, _, err) = get(&format!("{base}/api/v3/klines?symbol=BTCUSDT&interval=7m")).await;
    assert_eq!((status, err["code"].as_i64()), (400, Some(-1120)));
}
