//! `GET /api/v3/exchangeInfo` in Binance's shape: rate limits and every symbol with its filters.
//! And what general clients load besides it with their default options (ccxt's `load_markets`
//! fails on any unknown endpoint): the futures and options listings, empty, since the sim is a
//! spot-only venue, and the wallet's coin list (docs/venues/BINANCE.md).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::exchange::Exchange;
use crate::json::dec;
use crate::orders::{Balance, SimError};

/// The exchangeInfo document.
pub fn exchange_info(ex: &Exchange, weight_limit: u64, now_ms: u64) -> Value {
    let symbols: Vec<Value> = ex
        .instruments()
        .map(|i| {
            json!({
                "symbol": i.symbol.as_str(),
                "status": "TRADING",
                "baseAsset": i.base.as_str(),
                "baseAssetPrecision": 8,
                "quoteAsset": i.quote.as_str(),
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8,
                "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                "icebergAllowed": false,
                "ocoAllowed": false,
                "otoAllowed": false,
                "quoteOrderQtyMarketAllowed": true,
                "allowTrailingStop": false,
                "cancelReplaceAllowed": false,
                "isSpotTradingAllowed": true,
                "isMarginTradingAllowed": false,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": dec(i.min_price), "maxPrice": dec(i.max_price), "tickSize": dec(i.tick_size)},
                    {"filterType": "LOT_SIZE", "minQty": dec(i.min_qty), "maxQty": dec(i.max_qty), "stepSize": dec(i.step_size)},
                    {"filterType": "MARKET_LOT_SIZE", "minQty": dec(rust_decimal::Decimal::ZERO), "maxQty": dec(i.max_qty), "stepSize": dec(rust_decimal::Decimal::ZERO)},
                    {"filterType": "NOTIONAL", "minNotional": dec(i.min_notional), "applyMinToMarket": true,
                     "maxNotional": dec(i.max_notional), "applyMaxToMarket": false, "avgPriceMins": 5},
                ],
                "permissions": [],
                "permissionSets": [["SPOT"]],
                "defaultSelfTradePreventionMode": "NONE",
                "allowedSelfTradePreventionModes": ["NONE"],
            })
        })
        .collect();
    json!({
        "timezone": "UTC",
        "serverTime": now_ms,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": weight_limit},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        ],
        "exchangeFilters": [],
        "symbols": symbols,
    })
}

/// `GET /fapi/v1/exchangeInfo` (USDⓈ-M futures, with `assets`) or `/dapi/v1/exchangeInfo` (COIN-M):
/// Binance's shape with no symbol listed.
pub fn futures_exchange_info(usd_margined: bool, now_ms: u64) -> Value {
    let mut info = json!({
        "timezone": "UTC",
        "serverTime": now_ms,
        "rateLimits": [],
        "exchangeFilters": [],
        "symbols": [],
    });
    if usd_margined {
        info["assets"] = json!([]);
    }
    info
}

/// `GET /eapi/v1/exchangeInfo` (options): Binance's shape with no contract, asset or symbol.
pub fn options_exchange_info(now_ms: u64) -> Value {
    json!({
        "timezone": "UTC",
        "serverTime": now_ms,
        "optionContracts": [],
        "optionAssets": [],
        "optionSymbols": [],
        "rateLimits": [],
    })
}

/// `GET /sapi/v1/capital/config/getall` (signed): every asset of the venue with the account's
/// balance, in Binance's shape. The sim has no deposits or withdrawals, so no network is listed.
pub fn coin_list(ex: &Exchange, api_key: &str) -> Result<Value, SimError> {
    let mut coins: BTreeMap<String, Balance> = ex
        .instruments()
        .flat_map(|i| [i.base.as_str(), i.quote.as_str()])
        .map(|asset| (asset.to_owned(), Balance::default()))
        .collect();
    for (asset, balance) in ex.balances(api_key)? {
        coins.insert(asset.as_str().to_owned(), balance);
    }
    let zero = dec(rust_decimal::Decimal::ZERO);
    Ok(coins
        .iter()
        .map(|(coin, b)| {
            json!({
                "coin": coin, "name": coin, "free": dec(b.free), "locked": dec(b.locked),
                "freeze": zero, "withdrawing": zero, "ipoing": zero, "ipoable": zero, "storage": zero,
                "isLegalMoney": false, "trading": true,
                "depositAllEnable": false, "withdrawAllEnable": false, "networkList": [],
            })
        })
        .collect())
}
