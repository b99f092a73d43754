//! `GET /api/v3/exchangeInfo` in Binance's shape: rate limits and every symbol with its filters;
//! and the futures and options listings, empty: the sim is a spot-only venue, but general clients
//! (ccxt's `load_markets` with its default options) ask for them and fail on an unknown endpoint.

use serde_json::{json, Value};

use crate::exchange::Exchange;
use crate::json::dec;

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
