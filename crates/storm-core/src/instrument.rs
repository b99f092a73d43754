//! A tradable symbol with the exchange filters an order must pass, and the rounding rules that
//! make an order pass them.
//!
//! Rounding is exact Decimal arithmetic. Quantities are floored to the step (never sell or buy
//! more than the available amount); prices are rounded toward the side that keeps the trade at
//! least as good as intended: a buy limit is floored to the tick (never pay more), a sell limit is
//! ceiled (never receive less). A tick or step of zero disables that rule, as on Binance.
//!
//! Book data is never validated against these filters: recorded levels can be finer than the
//! step. Only our own orders are.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{Asset, Price, Qty, Side, Symbol};

/// Trading status of a symbol as the venue reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SymbolStatus {
    /// Open for trading.
    Trading,
    /// Halted or delisted: no edges in the arbitrage graph, no orders.
    Halt,
    /// Auction / not yet trading.
    PreTrading,
    /// Anything else the venue says (`BREAK`, `END_OF_DAY`, ...), kept as not tradable.
    #[serde(other)]
    Other,
}

/// One symbol with its filters. Serialized as the JSON stored in `storm:instruments:<venue>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instrument {
    /// Venue symbol, e.g. `BTCUSDT`.
    pub symbol: Symbol,
    /// Base asset (what a BUY receives).
    pub base: Asset,
    /// Quote asset (what a BUY pays).
    pub quote: Asset,
    /// Trading status.
    pub status: SymbolStatus,
    /// PRICE_FILTER tickSize (0 = no rule).
    pub tick_size: Decimal,
    /// PRICE_FILTER minPrice (0 = no rule).
    pub min_price: Decimal,
    /// PRICE_FILTER maxPrice (0 = no rule).
    pub max_price: Decimal,
    /// LOT_SIZE stepSize (0 = no rule).
    pub step_size: Decimal,
    /// LOT_SIZE minQty.
    pub min_qty: Decimal,
    /// LOT_SIZE maxQty (0 = no rule).
    pub max_qty: Decimal,
    /// NOTIONAL / MIN_NOTIONAL minNotional (0 = no rule).
    pub min_notional: Decimal,
    /// NOTIONAL maxNotional (0 = no rule).
    pub max_notional: Decimal,
}

/// A violated filter; `Display` is Binance's own message (`Filter failure: LOT_SIZE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum FilterError {
    /// Price outside [minPrice, maxPrice] or not a multiple of tickSize.
    #[error("Filter failure: PRICE_FILTER")]
    PriceFilter,
    /// Quantity outside [minQty, maxQty] or not a multiple of stepSize.
    #[error("Filter failure: LOT_SIZE")]
    LotSize,
    /// price × qty outside [minNotional, maxNotional].
    #[error("Filter failure: NOTIONAL")]
    Notional,
}

/// `value` rounded down to a multiple of `step` (values are non-negative); `step` 0 keeps it.
fn floor_to(value: Decimal, step: Decimal) -> Decimal {
    if step.is_zero() || value.is_sign_negative() {
        return value;
    }
    value - value % step
}

/// `value` rounded up to a multiple of `step`; `step` 0 keeps it.
fn ceil_to(value: Decimal, step: Decimal) -> Decimal {
    if step.is_zero() || value.is_sign_negative() {
        return value;
    }
    let rem = value % step;
    if rem.is_zero() {
        value
    } else {
        value - rem + step
    }
}

fn is_multiple(value: Decimal, step: Decimal) -> bool {
    step.is_zero() || (value % step).is_zero()
}

impl Instrument {
    /// True when the venue lets us trade this symbol now.
    pub fn is_trading(&self) -> bool {
        self.status == SymbolStatus::Trading
    }

    /// Floors a quantity to the step size.
    pub fn floor_qty(&self, qty: Qty) -> Qty {
        Qty(floor_to(qty.0, self.step_size))
    }

    /// Rounds a price down to the tick size.
    pub fn floor_price(&self, price: Price) -> Price {
        Price(floor_to(price.0, self.tick_size))
    }

    /// Rounds a price up to the tick size.
    pub fn ceil_price(&self, price: Price) -> Price {
        Price(ceil_to(price.0, self.tick_size))
    }

    /// Rounds a limit price to the tick in the direction that never worsens the trade:
    /// a buy is floored (pay at most the price), a sell is ceiled (receive at least it).
    pub fn round_price(&self, side: Side, price: Price) -> Price {
        match side {
            Side::Buy => self.floor_price(price),
            Side::Sell => self.ceil_price(price),
        }
    }

    /// Checks a limit order against PRICE_FILTER, LOT_SIZE and NOTIONAL, in Binance's order.
    pub fn check_limit(&self, price: Price, qty: Qty) -> Result<(), FilterError> {
        let p = price.0;
        if p <= Decimal::ZERO
            || (!self.min_price.is_zero() && p < self.min_price)
            || (!self.max_price.is_zero() && p > self.max_price)
            || !is_multiple(p, self.tick_size)
        {
            return Err(FilterError::PriceFilter);
        }
        self.check_qty(qty)?;
        self.check_notional(p * qty.0)
    }

    /// Checks a quantity against LOT_SIZE.
    pub fn check_qty(&self, qty: Qty) -> Result<(), FilterError> {
        let q = qty.0;
        if q <= Decimal::ZERO
            || q < self.min_qty
            || (!self.max_qty.is_zero() && q > self.max_qty)
            || !is_multiple(q, self.step_size)
        {
            return Err(FilterError::LotSize);
        }
        Ok(())
    }

    /// Checks a quote amount (price × qty) against NOTIONAL.
    pub fn check_notional(&self, notional: Decimal) -> Result<(), FilterError> {
        if notional < self.min_notional || (!self.max_notional.is_zero() && notional > self.max_notional) {
            return Err(FilterError::Notional);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("test decimal")
    }

    fn btcusdt() -> Instrument {
        Instrument {
            symbol: Symbol::new("BTCUSDT"),
            base: Asset::new("BTC"),
            quote: Asset::new("USDT"),
            status: SymbolStatus::Trading,
            tick_size: d("0.01"),
            min_price: d("0.01"),
            max_price: d("1000000"),
            step_size: d("0.00001"),
            min_qty: d("0.00001"),
            max_qty: d("9000"),
            min_notional: d("5"),
            max_notional: d("9000000"),
        }
    }

    #[test]
    fn floor_qty_at_step_edges() {
        let i = btcusdt();
        for (input, want) in [
            ("0.00001", "0.00001"),     // exactly one step
            ("0.000019999", "0.00001"), // just below the next step
            ("0.00002", "0.00002"),     // exactly on the next step
            ("0.000009999", "0"),       // below one step floors to zero
            ("1.234567891", "1.23456"),
            ("0", "0"),
        ] {
            assert_eq!(i.floor_qty(Qty(d(input))).0, d(want), "floor_qty({input})");
        }
    }

    #[test]
    fn price_rounds_toward_the_safe_side() {
        let i = btcusdt();
        assert_eq!(i.round_price(Side::Buy, Price(d("61837.639"))).0, d("61837.63"));
        assert_eq!(i.round_price(Side::Sell, Price(d("61837.631"))).0, d("61837.64"));
        // Already on the tick: unchanged either way.
        assert_eq!(i.round_price(Side::Buy, Price(d("61837.64"))).0, d("61837.64"));
        assert_eq!(i.round_price(Side::Sell, Price(d("61837.64"))).0, d("61837.64"));
        // One unit of the 28th digit past a tick still moves a sell up a whole tick.
        assert_eq!(i.ceil_price(Price(d("1.0100000000000000000000000001"))).0, d("1.02"));
    }

    #[test]
    fn zero_tick_or_step_disables_rounding() {
        let mut i = btcusdt();
        i.tick_size = Decimal::ZERO;
        i.step_size = Decimal::ZERO;
        assert_eq!(i.floor_qty(Qty(d("1.23456789"))).0, d("1.23456789"));
        assert_eq!(i.ceil_price(Price(d("1.234"))).0, d("1.234"));
        assert!(i.check_limit(Price(d("100.001")), Qty(d("0.123456"))).is_ok());
    }

    #[test]
    fn filters_reject_with_binance_names() {
        let i = btcusdt();
        assert_eq!(i.check_limit(Price(d("100.001")), Qty(d("1"))), Err(FilterError::PriceFilter));
        assert_eq!(i.check_limit(Price(d("100")), Qty(d("0.000011"))), Err(FilterError::LotSize));
        assert_eq!(i.check_limit(Price(d("100")), Qty(d("0.04"))), Err(FilterError::Notional));
        assert_eq!(i.check_limit(Price(d("100")), Qty(d("0.05"))), Ok(()));
        assert_eq!(FilterError::LotSize.to_string(), "Filter failure: LOT_SIZE");
    }

    #[test]
    fn instrument_json_uses_contract_field_names() {
        let json = serde_json::to_value(btcusdt()).expect("serializable");
        assert_eq!(json["tick_size"], "0.01");
        assert_eq!(json["status"], "TRADING");
        assert_eq!(json["base"], "BTC");
    }
}
