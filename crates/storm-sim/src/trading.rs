//! Order entry on the simulated exchange: validation with Binance's codes, balance checks,
//! matching, fees (0.1 % of the received asset by default), resting GTC orders, cancels, queries.

use rust_decimal::Decimal;
use storm_core::{Asset, BookSide, FilterError, Price, Qty, Side, Symbol};

use crate::exchange::{Exchange, ExecutionReport, SimEvent};
use crate::matching::{self, Limits, Resting};
use crate::orders::{
    Balance, Fill, Order, OrderRequest, OrderStatus, OrderType, Placement, SimError, TimeInForce, MAX_PLACEMENTS,
};

/// How an order is looked up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderRef {
    /// By exchange id.
    Id(u64),
    /// By client order id (the most recent order with it).
    ClientId(String),
}

fn filter_err(e: FilterError) -> SimError {
    SimError::new(-1013, e.to_string())
}

fn report(order: &Order, exec_type: &'static str, last: Option<Fill>, time_ms: u64) -> ExecutionReport {
    let mut snapshot = order.clone();
    snapshot.fills.clear();
    ExecutionReport { order: snapshot, exec_type, last, time_ms }
}

impl Exchange {
    fn position(&self, api_key: &str, assets: &[&Asset], time_ms: u64) -> Option<SimEvent> {
        let acct = self.accounts.get(api_key)?;
        let balances =
            assets.iter().map(|a| ((*a).clone(), acct.balances.get(*a).copied().unwrap_or_default())).collect();
        Some(SimEvent::Position { api_key: api_key.to_owned(), time_ms, balances })
    }

    /// Books one fill of an order: balances, fees, order state, reports.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fill_order(
        &mut self,
        api_key: &str,
        order_id: u64,
        price: Decimal,
        qty: Decimal,
        is_maker: bool,
        trade_id: u64,
        now_ms: u64,
        out: &mut Vec<SimEvent>,
    ) -> Option<Fill> {
        let fee_rate = self.fee;
        let acct = self.accounts.get_mut(api_key)?;
        let order = acct.orders.get(&order_id)?;
        let inst = self.markets.get(&order.symbol)?.instrument.clone();
        let side = order.side;
        let quote = (price * qty).round_dp(8);
        let (received, commission) = match side {
            Side::Buy => (inst.base.clone(), (qty * fee_rate).round_dp(8)),
            Side::Sell => (inst.quote.clone(), (quote * fee_rate).round_dp(8)),
        };
        match (side, is_maker) {
            (Side::Buy, true) => acct.spend_locked(&inst.quote, quote),
            (Side::Buy, false) => acct.credit(&inst.quote, -quote),
            (Side::Sell, true) => acct.spend_locked(&inst.base, qty),
            (Side::Sell, false) => acct.credit(&inst.base, -qty),
        }
        let gross = if side == Side::Buy { qty } else { quote };
        acct.credit(&received, gross - commission);
        let fill = Fill {
            trade_id,
            order_id,
            symbol: inst.symbol.clone(),
            side,
            price,
            qty,
            quote_qty: quote,
            commission,
            commission_asset: received,
            is_maker,
            time_ms: now_ms,
        };
        acct.trades.push(fill.clone());
        let order = acct.orders.get_mut(&order_id)?;
        order.executed_qty += qty;
        order.cummulative_quote_qty += quote;
        order.update_time_ms = now_ms;
        order.status = if order.remaining().is_zero() { OrderStatus::Filled } else { OrderStatus::PartiallyFilled };
        order.fills.push(fill.clone());
        let rep = Box::new(report(order, "TRADE", Some(fill.clone()), now_ms));
        out.push(SimEvent::Execution { api_key: api_key.to_owned(), report: rep });
        if let Some(p) = self.position(api_key, &[&inst.base, &inst.quote], now_ms) {
            out.push(p);
        }
        Some(fill)
    }

    /// Places an order. Returns the order as it stands after matching and every event it caused.
    /// Every attempt, accepted or rejected, is also kept in the placement log
    /// ([`Exchange::placements`], `GET /_sim/orders`).
    pub fn place(&mut self, api_key: &str, req: OrderRequest, now_ms: u64) -> Result<(Order, Vec<SimEvent>), SimError> {
        let mut entry = Placement {
            account: storm_venues::binance::sign::account_id(api_key),
            client_order_id: req.client_order_id.clone(),
            symbol: req.symbol.clone(),
            side: req.side,
            kind: req.kind,
            price: req.price,
            quantity: req.quantity,
            time_ms: now_ms,
            order_id: None,
            error: None,
        };
        let result = self.place_checked(api_key, req, now_ms);
        match &result {
            Ok((order, _)) => {
                entry.order_id = Some(order.order_id);
                entry.client_order_id = Some(order.client_order_id.clone());
            }
            Err(e) => entry.error = Some((e.code, e.msg.clone())),
        }
        if self.placements.len() < MAX_PLACEMENTS {
            self.placements.push(entry);
        }
        result
    }

    /// Every order placement attempt so far, oldest first (at most [`MAX_PLACEMENTS`]).
    pub fn placements(&self) -> &[Placement] {
        &self.placements
    }

    fn place_checked(
        &mut self,
        api_key: &str,
        req: OrderRequest,
        now_ms: u64,
    ) -> Result<(Order, Vec<SimEvent>), SimError> {
        let acct = self.accounts.get(api_key).ok_or_else(SimError::bad_api_key)?;
        let market = self.markets.get(&req.symbol).ok_or_else(SimError::bad_symbol)?;
        let inst = market.instrument.clone();
        let tif = match (req.kind, req.time_in_force) {
            (OrderType::Limit, Some(t)) => t,
            (OrderType::Limit, None) => {
                return Err(SimError::new(
                    -1102,
                    "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
                ))
            }
            (_, Some(_)) if req.kind == OrderType::Market => {
                return Err(SimError::new(-1106, "Parameter 'timeInForce' sent when not required."))
            }
            _ => TimeInForce::Gtc,
        };
        let price = match req.kind {
            OrderType::Market => None,
            _ => Some(req.price.ok_or_else(|| {
                SimError::new(-1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed.")
            })?),
        };
        if req.kind != OrderType::Market && req.quantity.is_none() {
            return Err(SimError::new(
                -1102,
                "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.",
            ));
        }
        if req.kind == OrderType::Market && req.quantity.is_none() == req.quote_order_qty.is_none() {
            return Err(SimError::new(
                -1102,
                "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
            ));
        }
        // Binance's legal range for an amount is `^([0-9]{1,20})(\.[0-9]{1,20})?$`: a negative or
        // 29-digit budget is refused before it reaches any arithmetic (found by fuzzing: it made
        // the matching subtract past Decimal's range).
        if let Some(q) = req.quote_order_qty {
            if q <= Decimal::ZERO || q >= Decimal::from(10u64.pow(19)) * Decimal::TEN {
                return Err(SimError::new(
                    -1100,
                    "Illegal characters found in parameter 'quoteOrderQty'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
                ));
            }
        }
        match (price, req.quantity) {
            (Some(p), Some(q)) => inst.check_limit(Price(p), Qty(q)).map_err(filter_err)?,
            (None, Some(q)) => inst.check_qty(Qty(q)).map_err(filter_err)?,
            _ => {}
        }
        if let Some(cid) = &req.client_order_id {
            if cid.is_empty() || cid.len() > 36 || !cid.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                return Err(SimError::new(-1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_.]{1,36}$'."));
            }
            if acct.open_by_client_id(cid).is_some() {
                return Err(SimError::new(-2010, "Duplicate order sent."));
            }
        }
        let lim = Limits { price, qty: req.quantity, quote: req.quote_order_qty };
        let (avail_qty, avail_quote) = matching::preview(market, req.side, lim);
        // Balance: a LIMIT buy needs price × qty of quote; a MARKET buy what the book says; a
        // sell needs the base quantity.
        let (needed_asset, needed) = match (req.side, price, req.quantity) {
            (Side::Buy, Some(p), Some(q)) => (&inst.quote, p * q),
            (Side::Buy, _, _) => (&inst.quote, req.quote_order_qty.unwrap_or(avail_quote)),
            (Side::Sell, _, Some(q)) => (&inst.base, q),
            (Side::Sell, _, None) => (&inst.base, avail_qty),
        };
        if acct.free(needed_asset) < needed {
            return Err(SimError::insufficient_balance());
        }
        if req.kind == OrderType::LimitMaker && !avail_qty.is_zero() {
            return Err(SimError::new(-2010, "Order would immediately match and take."));
        }
        if req.kind == OrderType::Market && avail_qty.is_zero() {
            return Err(SimError::new(-2010, "Market is closed or has no liquidity."));
        }

        let order_id = self.next_order_id;
        self.next_order_id += 1;
        let order = Order {
            order_id,
            client_order_id: req.client_order_id.clone().unwrap_or_else(|| format!("sim{order_id:020}")),
            symbol: inst.symbol.clone(),
            side: req.side,
            kind: req.kind,
            time_in_force: tif,
            price: price.unwrap_or_default(),
            orig_qty: req.quantity.unwrap_or(avail_qty),
            orig_quote_qty: req.quote_order_qty.unwrap_or_default(),
            executed_qty: Decimal::ZERO,
            cummulative_quote_qty: Decimal::ZERO,
            status: OrderStatus::New,
            time_ms: now_ms,
            update_time_ms: now_ms,
            fills: Vec::new(),
        };
        let mut out = vec![SimEvent::Execution {
            api_key: api_key.to_owned(),
            report: Box::new(report(&order, "NEW", None, now_ms)),
        }];
        self.accounts.get_mut(api_key).ok_or_else(SimError::bad_api_key)?.orders.insert(order_id, order.clone());

        let fok_short = tif == TimeInForce::Fok && req.quantity.is_some_and(|q| avail_qty < q);
        if !fok_short {
            let market = self.markets.get_mut(&inst.symbol).ok_or_else(SimError::bad_symbol)?;
            let queues = self.queues.entry(inst.symbol.clone()).or_default();
            let takes = matching::sweep(market, queues, req.side, lim);
            self.settle_takes(&inst.symbol, req.side, Some((api_key, order_id)), &takes, now_ms, &mut out);
        }
        self.finish_taker(api_key, order_id, now_ms, &mut out)?;
        self.flush_market(&inst.symbol, now_ms, &mut out);
        let order = self
            .accounts
            .get(api_key)
            .and_then(|a| a.orders.get(&order_id))
            .cloned()
            .ok_or_else(SimError::no_such_order)?;
        Ok((order, out))
    }

    /// After matching: expire an IOC/FOK/MARKET remainder, or rest a GTC/LIMIT_MAKER one.
    fn finish_taker(
        &mut self,
        api_key: &str,
        order_id: u64,
        now_ms: u64,
        out: &mut Vec<SimEvent>,
    ) -> Result<(), SimError> {
        let acct = self.accounts.get_mut(api_key).ok_or_else(SimError::bad_api_key)?;
        let order = acct.orders.get_mut(&order_id).ok_or_else(SimError::no_such_order)?;
        let remaining = order.remaining();
        if remaining.is_zero() {
            order.status = OrderStatus::Filled;
            return Ok(());
        }
        let rests = order.kind != OrderType::Market && order.time_in_force == TimeInForce::Gtc;
        if !rests {
            order.status = OrderStatus::Expired;
            order.update_time_ms = now_ms;
            out.push(SimEvent::Execution {
                api_key: api_key.to_owned(),
                report: Box::new(report(order, "EXPIRED", None, now_ms)),
            });
            return Ok(());
        }
        let (side, price, symbol) = (order.side, order.price, order.symbol.clone());
        let inst = self.markets.get(&symbol).ok_or_else(SimError::bad_symbol)?.instrument.clone();
        match side {
            Side::Buy => acct.lock(&inst.quote, (price * remaining).round_dp(8)),
            Side::Sell => acct.lock(&inst.base, remaining),
        }
        let market = self.markets.get_mut(&symbol).ok_or_else(SimError::bad_symbol)?;
        let book_side = if side == Side::Buy { BookSide::Bid } else { BookSide::Ask };
        let key = (side == Side::Buy, price);
        let level = market.level_qty(book_side, price);
        *market.user_qty.entry(key).or_default() += remaining;
        market.set(book_side, price, level + remaining);
        self.queues.entry(symbol).or_default().entry(key).or_default().push_back(Resting {
            api_key: api_key.to_owned(),
            order_id,
            qty: remaining,
        });
        if let Some(p) = self.position(api_key, &[&inst.base, &inst.quote], now_ms) {
            out.push(p);
        }
        Ok(())
    }

    /// Finds an order of an account.
    pub fn query(&self, api_key: &str, symbol: &Symbol, r: &OrderRef) -> Result<Order, SimError> {
        let acct = self.accounts.get(api_key).ok_or_else(SimError::bad_api_key)?;
        let found = match r {
            OrderRef::Id(id) => acct.orders.get(id),
            OrderRef::ClientId(cid) => acct.latest_by_client_id(cid),
        };
        found.filter(|o| &o.symbol == symbol).cloned().ok_or_else(SimError::no_such_order)
    }

    /// Open orders of an account (all symbols, or one).
    pub fn open_orders(&self, api_key: &str, symbol: Option<&Symbol>) -> Result<Vec<Order>, SimError> {
        let acct = self.accounts.get(api_key).ok_or_else(SimError::bad_api_key)?;
        Ok(acct
            .orders
            .values()
            .filter(|o| o.status.is_open() && symbol.is_none_or(|s| &o.symbol == s))
            .cloned()
            .collect())
    }

    /// Cancels an open order, releasing its locked funds and its book quantity.
    pub fn cancel(
        &mut self,
        api_key: &str,
        symbol: &Symbol,
        r: &OrderRef,
        now_ms: u64,
    ) -> Result<(Order, Vec<SimEvent>), SimError> {
        let order = self.query(api_key, symbol, r)?;
        if !order.status.is_open() {
            return Err(SimError::new(-2011, "Unknown order sent."));
        }
        let inst = self.markets.get(symbol).ok_or_else(SimError::bad_symbol)?.instrument.clone();
        let remaining = order.remaining();
        let key = (order.side == Side::Buy, order.price);
        let book_side = if order.side == Side::Buy { BookSide::Bid } else { BookSide::Ask };
        if let Some(q) = self.queues.get_mut(symbol).and_then(|qs| qs.get_mut(&key)) {
            q.retain(|r| r.order_id != order.order_id);
        }
        let market = self.markets.get_mut(symbol).ok_or_else(SimError::bad_symbol)?;
        let level = market.level_qty(book_side, order.price);
        let user = market.user_qty.get(&key).copied().unwrap_or_default() - remaining;
        if user > Decimal::ZERO {
            market.user_qty.insert(key, user);
        } else {
            market.user_qty.remove(&key);
        }
        market.set(book_side, order.price, level - remaining);
        let acct = self.accounts.get_mut(api_key).ok_or_else(SimError::bad_api_key)?;
        match order.side {
            Side::Buy => acct.lock(&inst.quote, -(order.price * remaining).round_dp(8)),
            Side::Sell => acct.lock(&inst.base, -remaining),
        }
        let o = acct.orders.get_mut(&order.order_id).ok_or_else(SimError::no_such_order)?;
        o.status = OrderStatus::Canceled;
        o.update_time_ms = now_ms;
        let mut out = vec![SimEvent::Execution {
            api_key: api_key.to_owned(),
            report: Box::new(report(o, "CANCELED", None, now_ms)),
        }];
        let canceled = o.clone();
        if let Some(p) = self.position(api_key, &[&inst.base, &inst.quote], now_ms) {
            out.push(p);
        }
        self.flush_market(symbol, now_ms, &mut out);
        Ok((canceled, out))
    }

    /// Balances of an account.
    pub fn balances(&self, api_key: &str) -> Result<Vec<(Asset, Balance)>, SimError> {
        let acct = self.accounts.get(api_key).ok_or_else(SimError::bad_api_key)?;
        Ok(acct.balances.iter().map(|(a, b)| (a.clone(), *b)).collect())
    }
}
