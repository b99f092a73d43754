//! Paper trading: LIMIT IOC/FOK orders filled locally against the book hashes booksync keeps
//! (`storm:book:<venue>:<SYM>`, top 20 per side), with the configured taker fee charged in the
//! asset received, and in-memory balances that refuse what the account cannot
//! pay. Nothing leaves the machine; the chain logic above cannot tell paper from live.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rust_decimal::Decimal;
use storm_bus::Bus;
use storm_core::{Asset, Instrument, Level, Side, Symbol};
use storm_venues::error::VenueError;
use storm_venues::trading::{NewOrder, TimeInForce};

use crate::journal::LegFill;

/// The paper venue.
pub struct Paper {
    bus: Bus,
    venue: String,
    fee: Decimal,
    next_id: AtomicU64,
    state: Mutex<PaperState>,
}

#[derive(Default)]
struct PaperState {
    balances: HashMap<Asset, Decimal>,
    orders: HashMap<String, LegFill>,
}

impl Paper {
    /// A paper account on `venue` holding `balances`.
    pub fn new(bus: &Bus, venue: &str, fee: Decimal, balances: &BTreeMap<String, Decimal>) -> Self {
        let balances = balances.iter().map(|(a, v)| (Asset::new(a), *v)).collect();
        Self {
            bus: bus.clone(),
            venue: venue.to_owned(),
            fee,
            next_id: AtomicU64::new(1),
            state: Mutex::new(PaperState { balances, orders: HashMap::new() }),
        }
    }

    /// Free paper balance of `asset`.
    pub fn balance(&self, asset: &Asset) -> Decimal {
        self.lock().balances.get(asset).copied().unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PaperState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fills `order` against the current book hash.
    pub async fn place(&self, order: &NewOrder, inst: &Instrument) -> Result<LegFill, VenueError> {
        let levels = self.levels(&order.symbol, order.side).await?;
        let overflow = || VenueError::refused("paper: the book's amounts overflow");
        let (qty, quote) = sweep(&levels, order.side, order.price, order.quantity).ok_or_else(overflow)?;
        let mut fill = LegFill {
            order_id: Some(self.next_id.fetch_add(1, Ordering::Relaxed).to_string()),
            status: "EXPIRED".into(),
            ..Default::default()
        };
        let fok_short = order.time_in_force == TimeInForce::Fok && qty < order.quantity;
        if !qty.is_zero() && !fok_short {
            let (paid, pay_amount, got, gross) = match order.side {
                Side::Buy => (&inst.quote, quote, &inst.base, qty),
                Side::Sell => (&inst.base, qty, &inst.quote, quote),
            };
            let commission = gross.checked_mul(self.fee).ok_or_else(overflow)?.round_dp(8);
            let mut st = self.lock();
            let free = st.balances.get(paid).copied().unwrap_or_default();
            if free < pay_amount {
                return Err(VenueError::refused("paper: insufficient balance for this order"));
            }
            let had = st.balances.get(got).copied().unwrap_or_default();
            let received = gross.checked_sub(commission).and_then(|r| had.checked_add(r)).ok_or_else(overflow)?;
            let left = free.checked_sub(pay_amount).ok_or_else(overflow)?;
            st.balances.insert(paid.clone(), left);
            st.balances.insert(got.clone(), received);
            fill.executed_qty = qty;
            fill.quote_qty = quote;
            fill.commission.insert(got.to_string(), commission);
            fill.status = if qty == order.quantity { "FILLED" } else { "EXPIRED" }.into();
        }
        self.lock().orders.insert(order.client_order_id.clone(), fill.clone());
        Ok(fill)
    }

    /// The paper order with `client_id`, if one was placed.
    pub fn find(&self, client_id: &str) -> Option<LegFill> {
        self.lock().orders.get(client_id).cloned()
    }

    /// The side of the book an order on `side` takes from, best first; only a `live` book.
    async fn levels(&self, symbol: &Symbol, side: Side) -> Result<Vec<Level>, VenueError> {
        let top = crate::book::live_top(&self.bus, &self.venue, symbol)
            .await
            .map_err(|msg| VenueError::refused(format!("paper: {msg}")))?;
        Ok(crate::book::taken_by(top, side))
    }
}

/// Takes up to `qty` from `levels` (best first) at prices no worse than `limit`:
/// (base filled, quote amount); `None` when the book's amounts (read from Redis) overflow.
pub fn sweep(levels: &[Level], side: Side, limit: Decimal, qty: Decimal) -> Option<(Decimal, Decimal)> {
    let mut left = qty;
    let mut quote = Decimal::ZERO;
    for l in levels {
        let ok = match side {
            Side::Buy => l.price.0 <= limit,
            Side::Sell => l.price.0 >= limit,
        };
        if !ok || left.is_zero() {
            break;
        }
        let take = left.min(l.qty.0);
        quote = quote.checked_add(take.checked_mul(l.price.0)?.round_dp(8))?;
        left = left.checked_sub(take)?;
    }
    Some((qty.checked_sub(left)?, quote))
}

#[cfg(test)]
mod tests {
    use storm_core::{Price, Qty};

    use super::*;

    fn lv(p: i64, q: i64) -> Level {
        Level::new(Price(Decimal::from(p)), Qty(Decimal::from(q)))
    }

    #[test]
    fn a_buy_takes_asks_up_to_its_limit_and_no_further() {
        let asks = [lv(10, 1), lv(11, 2), lv(12, 5)];
        assert_eq!(
            sweep(&asks, Side::Buy, Decimal::from(11), Decimal::from(10)),
            Some((Decimal::from(3), Decimal::from(32)))
        );
        assert_eq!(sweep(&asks, Side::Buy, Decimal::from(9), Decimal::from(10)), Some((Decimal::ZERO, Decimal::ZERO)));
    }

    #[test]
    fn a_sell_takes_bids_down_to_its_limit() {
        let bids = [lv(10, 1), lv(9, 2)];
        assert_eq!(
            sweep(&bids, Side::Sell, Decimal::from(9), Decimal::from(2)),
            Some((Decimal::from(2), Decimal::from(19)))
        );
    }

    #[test]
    fn a_book_whose_amounts_overflow_fills_nothing_instead_of_panicking() {
        let asks = [Level::new(Price(Decimal::MAX), Qty(Decimal::from(2)))];
        assert_eq!(sweep(&asks, Side::Buy, Decimal::MAX, Decimal::from(2)), None);
    }
}
