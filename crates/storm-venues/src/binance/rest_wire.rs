//! Binance Spot REST: the URLs, request weights and reply parsers the sync engines need.
//!
//! Pure functions over strings: the HTTP client lives in the engine, so everything here is tested
//! on recorded replies (`testdata/`) and never waits on a socket. Facts follow BINANCE.md,
//! "REST" and "Filters":
//!
//! - `GET /api/v3/depth?symbol=..&limit=N` ([`depth_url`], weight [`depth_weight`]) →
//!   [`parse_depth_snapshot`];
//! - `GET /api/v3/exchangeInfo` (weight [`EXCHANGE_INFO_WEIGHT`]) → [`parse_exchange_info`]: every
//!   symbol as a storm-core [`Instrument`] with its filters, and the venue's REST rate limits;
//! - `GET /api/v3/ticker/bookTicker` → [`parse_book_tickers`].
//!
//! Every price and quantity is an exact decimal and is checked: an unreadable or negative number
//! is an error naming the field, never a panic and never a silent zero. A *missing* filter is
//! different: Binance's own convention is that 0 disables a rule, so a symbol without
//! PRICE_FILTER, LOT_SIZE or NOTIONAL gets zeros for those fields.

use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use storm_core::{Asset, Instrument, Level, Price, Qty, Symbol, SymbolStatus};

use super::wire;
use crate::adapter::{DepthSnapshot, RateLimit};

/// Most levels `GET /api/v3/depth` returns; a larger `limit` is served as this one.
pub const MAX_DEPTH_LIMIT: u32 = 5000;

/// Request weight per minute and IP (`REQUEST_WEIGHT` of exchangeInfo's `rateLimits`).
pub const WEIGHT_PER_MINUTE: u32 = 6_000;

/// Reply header carrying the weight used in the current minute.
pub const USED_WEIGHT_HEADER: &str = "x-mbx-used-weight-1m";

/// Header carrying the API key of a signed request.
pub const API_KEY_HEADER: &str = "x-mbx-apikey";

/// Request weight of `GET /api/v3/ticker/bookTicker` without a symbol (every symbol).
pub const ALL_BOOK_TICKERS_WEIGHT: u32 = 4;

/// `GET /api/v3/time` (weight 1): `{"serverTime": <ms>}`.
pub const TIME_PATH: &str = "/api/v3/time";

/// Request weight of `GET /api/v3/exchangeInfo` (all symbols).
pub const EXCHANGE_INFO_WEIGHT: u32 = 20;

/// The `limit` storm sends for a requested depth: at least 1, at most [`MAX_DEPTH_LIMIT`].
pub fn depth_limit(limit: u32) -> u32 {
    limit.clamp(1, MAX_DEPTH_LIMIT)
}

/// Request weight of `GET /api/v3/depth` for `limit` (after [`depth_limit`]): 1–100 → 5,
/// 101–500 → 25, 501–1000 → 50, 1001–5000 → 250.
pub fn depth_weight(limit: u32) -> u32 {
    match depth_limit(limit) {
        ..=100 => 5,
        101..=500 => 25,
        501..=1000 => 50,
        _ => 250,
    }
}

/// `<rest_base_url>/api/v3/depth?symbol=BTCUSDT&limit=1000`, the limit passed through
/// [`depth_limit`] so that the URL and [`depth_weight`] always agree.
pub fn depth_url(rest_base_url: &str, symbol: &Symbol, limit: u32) -> String {
    format!("{}/api/v3/depth?symbol={}&limit={}", rest_base_url.trim_end_matches('/'), symbol, depth_limit(limit))
}

/// A REST reply that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RestWireError {
    /// Not the reply's JSON shape: truncated, a missing field, a number where a decimal string
    /// belongs, an unreadable decimal inside a book level.
    #[error("not a valid reply: {0}")]
    Json(#[from] serde_json::Error),
    /// A number that parsed (or not) but cannot be right.
    #[error("{field}: {value:?} is {problem}")]
    Number {
        /// Where: `bids[3] qty`, `BTCUSDT LOT_SIZE.stepSize`, ...
        field: String,
        /// The value as received.
        value: String,
        /// What is wrong with it (`negative`, `not a decimal`, ...).
        problem: &'static str,
    },
}

fn bad_number(field: impl Into<String>, value: impl ToString, problem: &'static str) -> RestWireError {
    RestWireError::Number { field: field.into(), value: value.to_string(), problem }
}

/// Parses a `GET /api/v3/depth` reply (shape: [`wire::DepthSnapshot`]). Prices must be positive
/// and quantities non-negative; level order is kept as sent (best first).
pub fn parse_depth_snapshot(body: &str) -> Result<DepthSnapshot, RestWireError> {
    let reply: wire::DepthSnapshot = serde_json::from_str(body)?;
    check_levels("bids", &reply.bids)?;
    check_levels("asks", &reply.asks)?;
    Ok(DepthSnapshot { last_update_id: reply.last_update_id, bids: reply.bids, asks: reply.asks })
}

fn check_levels(side: &str, levels: &[Level]) -> Result<(), RestWireError> {
    for (i, level) in levels.iter().enumerate() {
        if level.price.0 <= Decimal::ZERO {
            return Err(bad_number(format!("{side}[{i}] price"), level.price, "not positive"));
        }
        if level.qty.0 < Decimal::ZERO {
            return Err(bad_number(format!("{side}[{i}] qty"), level.qty, "negative"));
        }
    }
    Ok(())
}

/// The parts of `GET /api/v3/exchangeInfo` storm reads; every other field is ignored.
///
/// `{"timezone":"UTC","serverTime":1691945251489,"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT",
/// "interval":"MINUTE","intervalNum":1,"limit":1200},..],"exchangeFilters":[],
/// "symbols":[{"symbol":"ETHBTC","status":"TRADING","baseAsset":"ETH","baseAssetPrecision":8,
/// "quoteAsset":"BTC","quotePrecision":8,..,"filters":[..]}]}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExchangeInfo {
    /// The venue's REST limits (absent in some trimmed listings).
    #[serde(default)]
    pub(crate) rate_limits: Vec<RateLimitRule>,
    /// Every listed symbol, trading or not.
    pub(crate) symbols: Vec<ExchangeInfoSymbol>,
}

/// One entry of `exchangeInfo.symbols[]` (status `TRADING`, `BREAK`, `HALT`, ...).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExchangeInfoSymbol {
    pub(crate) symbol: String,
    pub(crate) status: SymbolStatus,
    pub(crate) base_asset: String,
    pub(crate) quote_asset: String,
    #[serde(default)]
    pub(crate) filters: Vec<SymbolFilter>,
}

/// The filters that become [`Instrument`] fields; decimals stay strings until checked, so an
/// error can name the symbol and field. A missing field reads as 0 (rule disabled).
///
/// `{"filterType":"PRICE_FILTER","minPrice":"0.01000000","maxPrice":"1000000.00000000","tickSize":"0.01000000"}`,
/// `{"filterType":"LOT_SIZE","minQty":"0.00001000","maxQty":"9000.00000000","stepSize":"0.00001000"}`,
/// `{"filterType":"NOTIONAL","minNotional":"10.00000000","applyMinToMarket":true,"maxNotional":"9000000.00000000",
/// "applyMaxToMarket":false,"avgPriceMins":5}`, older listings:
/// `{"filterType":"MIN_NOTIONAL","minNotional":"10.00000000","applyToMarket":true,"avgPriceMins":5}`.
#[derive(Deserialize)]
#[serde(tag = "filterType")]
pub(crate) enum SymbolFilter {
    #[serde(rename = "PRICE_FILTER", rename_all = "camelCase")]
    Price { min_price: Option<String>, max_price: Option<String>, tick_size: Option<String> },
    #[serde(rename = "LOT_SIZE", rename_all = "camelCase")]
    LotSize { min_qty: Option<String>, max_qty: Option<String>, step_size: Option<String> },
    #[serde(rename = "NOTIONAL", rename_all = "camelCase")]
    Notional { min_notional: Option<String>, max_notional: Option<String> },
    #[serde(rename = "MIN_NOTIONAL", rename_all = "camelCase")]
    MinNotional { min_notional: Option<String> },
    /// PERCENT_PRICE_BY_SIDE, MARKET_LOT_SIZE, ICEBERG_PARTS, ...: not used by storm.
    #[serde(other)]
    Other,
}

/// What a rate limit counts (`exchangeInfo.rateLimits[].rateLimitType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RateLimitType {
    /// Request weight per IP (each endpoint costs its weight).
    RequestWeight,
    /// New orders per account.
    Orders,
    /// Requests per IP, whatever their weight.
    RawRequests,
    /// A type this version does not know.
    #[serde(other)]
    Other,
}

/// The unit of a rate limit's window (`exchangeInfo.rateLimits[].interval`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RateInterval {
    /// One second.
    Second,
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One day.
    Day,
    /// A unit this version does not know.
    #[serde(other)]
    Other,
}

/// One entry of `exchangeInfo.rateLimits[]`: at most `limit` per `interval_num` × `interval`.
///
/// `{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitRule {
    /// What is counted.
    pub rate_limit_type: RateLimitType,
    /// Unit of the window.
    pub interval: RateInterval,
    /// Number of units in the window.
    pub interval_num: u64,
    /// Most allowed per window.
    pub limit: u64,
}

impl RateLimitRule {
    /// The window as a duration (`None` for an unknown unit or an absurd length).
    pub fn window(&self) -> Option<Duration> {
        let unit = match self.interval {
            RateInterval::Second => 1,
            RateInterval::Minute => 60,
            RateInterval::Hour => 3600,
            RateInterval::Day => 86_400,
            RateInterval::Other => return None,
        };
        self.interval_num.checked_mul(unit).map(Duration::from_secs)
    }

    /// As a venue-neutral [`RateLimit`]; a limit beyond `u32::MAX` saturates (no limit in effect).
    pub fn as_rate_limit(&self) -> Option<RateLimit> {
        Some(RateLimit { max: u32::try_from(self.limit).unwrap_or(u32::MAX), per: self.window()? })
    }
}

/// What storm takes from `exchangeInfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeInfoParsed {
    /// Every listed symbol (trading or not) with its filters, in the venue's order.
    pub instruments: Vec<Instrument>,
    /// The `REQUEST_WEIGHT` limit per 1 minute (Binance: 6000 since 2023, 1200 before), if listed.
    pub request_weight_per_minute: Option<u32>,
    /// The `ORDERS` limits (per account: e.g. 100 per 10 s and 200,000 per day).
    pub order_limits: Vec<RateLimit>,
}

/// Parses `GET /api/v3/exchangeInfo`: instruments from PRICE_FILTER, LOT_SIZE and NOTIONAL (or the
/// older MIN_NOTIONAL when there is no NOTIONAL), and the REST rate limits. One bad symbol fails
/// the whole listing: a listing storm cannot fully read is not one to trade on.
pub fn parse_exchange_info(body: &str) -> Result<ExchangeInfoParsed, RestWireError> {
    let info: ExchangeInfo = serde_json::from_str(body)?;
    let instruments = info.symbols.iter().map(instrument).collect::<Result<_, _>>()?;
    Ok(ExchangeInfoParsed {
        instruments,
        request_weight_per_minute: request_weight_per_minute(&info.rate_limits),
        order_limits: info
            .rate_limits
            .iter()
            .filter(|r| r.rate_limit_type == RateLimitType::Orders)
            .filter_map(RateLimitRule::as_rate_limit)
            .collect(),
    })
}

/// The `REQUEST_WEIGHT` rule with a 1-minute window, as its limit.
pub fn request_weight_per_minute(rules: &[RateLimitRule]) -> Option<u32> {
    rules
        .iter()
        .filter(|r| r.rate_limit_type == RateLimitType::RequestWeight)
        .filter_map(RateLimitRule::as_rate_limit)
        .find(|r| r.per == Duration::from_secs(60))
        .map(|r| r.max)
}

/// Only the `rateLimits` of an exchangeInfo body; the symbols are skipped unread.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateLimitsOnly {
    #[serde(default)]
    rate_limits: Vec<RateLimitRule>,
}

/// The `rateLimits` of an exchangeInfo body, without building its instruments (cheap even on
/// the full listing); empty when the body has none.
pub fn parse_rate_limits(body: &str) -> Result<Vec<RateLimitRule>, RestWireError> {
    Ok(serde_json::from_str::<RateLimitsOnly>(body)?.rate_limits)
}

fn instrument(s: &ExchangeInfoSymbol) -> Result<Instrument, RestWireError> {
    let field = |filter: &str, name: &str, value: &Option<String>| filter_decimal(&s.symbol, filter, name, value);
    let mut i = Instrument {
        symbol: Symbol::new(&s.symbol),
        base: Asset::new(&s.base_asset),
        quote: Asset::new(&s.quote_asset),
        status: s.status,
        tick_size: Decimal::ZERO,
        min_price: Decimal::ZERO,
        max_price: Decimal::ZERO,
        step_size: Decimal::ZERO,
        min_qty: Decimal::ZERO,
        max_qty: Decimal::ZERO,
        min_notional: Decimal::ZERO,
        max_notional: Decimal::ZERO,
    };
    let mut has_notional = false;
    for filter in &s.filters {
        match filter {
            SymbolFilter::Price { min_price, max_price, tick_size } => {
                i.min_price = field("PRICE_FILTER", "minPrice", min_price)?;
                i.max_price = field("PRICE_FILTER", "maxPrice", max_price)?;
                i.tick_size = field("PRICE_FILTER", "tickSize", tick_size)?;
            }
            SymbolFilter::LotSize { min_qty, max_qty, step_size } => {
                i.min_qty = field("LOT_SIZE", "minQty", min_qty)?;
                i.max_qty = field("LOT_SIZE", "maxQty", max_qty)?;
                i.step_size = field("LOT_SIZE", "stepSize", step_size)?;
            }
            SymbolFilter::Notional { min_notional, max_notional } => {
                has_notional = true;
                i.min_notional = field("NOTIONAL", "minNotional", min_notional)?;
                i.max_notional = field("NOTIONAL", "maxNotional", max_notional)?;
            }
            SymbolFilter::MinNotional { min_notional } => {
                let min = field("MIN_NOTIONAL", "minNotional", min_notional)?;
                if !has_notional {
                    i.min_notional = min;
                }
            }
            SymbolFilter::Other => {}
        }
    }
    Ok(i)
}

/// A filter's decimal field: absent → 0 (rule disabled); unreadable (not a plain decimal, or
/// more digits than fit exactly) or negative → error.
fn filter_decimal(symbol: &str, filter: &str, name: &str, value: &Option<String>) -> Result<Decimal, RestWireError> {
    let Some(text) = value else { return Ok(Decimal::ZERO) };
    let field = || format!("{symbol} {filter}.{name}");
    // Exactly, as every decimal string: a tick that rounds to zero would disable its rule.
    let d = storm_core::num::parse_exact(text).map_err(|_| bad_number(field(), text, "not a decimal"))?;
    if d < Decimal::ZERO {
        return Err(bad_number(field(), text, "negative"));
    }
    Ok(d)
}

/// One entry of `GET /api/v3/ticker/bookTicker` (a list without `symbol=`, one object with it).
///
/// `{"symbol":"LTCBTC","bidPrice":"4.00000000","bidQty":"431.00000000","askPrice":"4.00000200",
/// "askQty":"9.00000000"}`. A side without orders reads `"0.00000000"` for both price and quantity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookTickerEntry {
    /// Symbol, upper case.
    pub symbol: Symbol,
    /// Best bid price (0 when there is no bid).
    pub bid_price: Price,
    /// Quantity at the best bid.
    pub bid_qty: Qty,
    /// Best ask price (0 when there is no ask).
    pub ask_price: Price,
    /// Quantity at the best ask.
    pub ask_qty: Qty,
}

/// Parses a `GET /api/v3/ticker/bookTicker` reply, list or single object; every number must be
/// non-negative. Extra fields are ignored, so `ticker/24hr` replies read the same way.
pub fn parse_book_tickers(body: &str) -> Result<Vec<BookTickerEntry>, RestWireError> {
    let entries = if body.trim_start().starts_with('{') {
        vec![serde_json::from_str::<BookTickerEntry>(body)?]
    } else {
        serde_json::from_str::<Vec<BookTickerEntry>>(body)?
    };
    for e in &entries {
        let numbers = [
            ("bidPrice", e.bid_price.0),
            ("bidQty", e.bid_qty.0),
            ("askPrice", e.ask_price.0),
            ("askQty", e.ask_qty.0),
        ];
        if let Some((name, value)) = numbers.into_iter().find(|(_, v)| *v < Decimal::ZERO) {
            return Err(bad_number(format!("{} {name}", e.symbol), value, "negative"));
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests;
