//! Conversions between Binance wire types and storm-core events, in both directions: the
//! ingester turns frames into events (`into_diff`, ...), the simulator turns events into frames
//! (`From<&DepthDiff>`, ...).

use storm_core::time::millis_to_micros;
use storm_core::{DepthDiff, Kline, Qty, Ticker, Trade};

use super::{BookTicker, DepthUpdate, DepthUpdateTag, KlineData, KlineEvent, KlineTag, TradeEvent, TradeTag};

/// storm's microseconds back to the venue's milliseconds.
const fn micros_to_millis(us: u64) -> u64 {
    us / 1_000
}

impl DepthUpdate {
    /// The storm-core diff; `time_exchange` is `E` in µs.
    pub fn into_diff(self, time_received_us: u64) -> DepthDiff {
        DepthDiff {
            symbol: self.symbol,
            first_update_id: self.first_update_id,
            last_update_id: self.final_update_id,
            bids: self.bids,
            asks: self.asks,
            time_exchange: millis_to_micros(self.event_time_ms),
            time_received: time_received_us,
        }
    }
}

impl From<&DepthDiff> for DepthUpdate {
    fn from(d: &DepthDiff) -> Self {
        Self {
            event: DepthUpdateTag,
            event_time_ms: micros_to_millis(d.time_exchange),
            symbol: d.symbol.clone(),
            first_update_id: d.first_update_id,
            final_update_id: d.last_update_id,
            bids: d.bids.clone(),
            asks: d.asks.clone(),
        }
    }
}

impl BookTicker {
    /// The storm-core ticker; `time_exchange` is 0 because bookTicker carries no event time.
    pub fn into_ticker(self, time_received_us: u64) -> Ticker {
        Ticker {
            symbol: self.symbol,
            update_id: self.update_id,
            bid_price: self.bid_price,
            bid_qty: self.bid_qty,
            ask_price: self.ask_price,
            ask_qty: self.ask_qty,
            time_exchange: 0,
            time_received: time_received_us,
        }
    }
}

impl From<&Ticker> for BookTicker {
    fn from(t: &Ticker) -> Self {
        Self {
            update_id: t.update_id,
            symbol: t.symbol.clone(),
            bid_price: t.bid_price,
            bid_qty: t.bid_qty,
            ask_price: t.ask_price,
            ask_qty: t.ask_qty,
        }
    }
}

impl TradeEvent {
    /// The storm-core trade; `time_exchange` is the trade time `T` in µs (`E` is dropped).
    pub fn into_trade(self, time_received_us: u64) -> Trade {
        Trade {
            symbol: self.symbol,
            trade_id: self.trade_id,
            price: self.price,
            qty: self.qty,
            buyer_is_maker: self.buyer_is_maker,
            time_exchange: millis_to_micros(self.trade_time_ms),
            time_received: time_received_us,
        }
    }
}

impl From<&Trade> for TradeEvent {
    /// `E` and `T` are both the trade time (storm-core keeps one venue time).
    fn from(t: &Trade) -> Self {
        let ms = micros_to_millis(t.time_exchange);
        Self {
            event: TradeTag,
            event_time_ms: ms,
            symbol: t.symbol.clone(),
            trade_id: t.trade_id,
            price: t.price,
            qty: t.qty,
            trade_time_ms: ms,
            buyer_is_maker: t.buyer_is_maker,
            ignore: true,
        }
    }
}

impl KlineEvent {
    /// The storm-core candle; times in µs, `time_exchange` is `E`. Trade ids and taker volumes
    /// are not kept.
    pub fn into_kline(self, time_received_us: u64) -> Kline {
        let k = self.kline;
        Kline {
            symbol: self.symbol,
            interval: k.interval,
            open_time: millis_to_micros(k.open_time_ms),
            close_time: millis_to_micros(k.close_time_ms),
            open: k.open,
            high: k.high,
            low: k.low,
            close: k.close,
            volume: k.volume,
            quote_volume: k.quote_volume,
            trades: k.trades,
            closed: k.closed,
            time_exchange: millis_to_micros(self.event_time_ms),
            time_received: time_received_us,
        }
    }
}

impl From<&Kline> for KlineEvent {
    /// storm-core's candle has no trade ids or taker volumes: they come out as `-1` and zero;
    /// set the public fields afterwards when the simulator knows them.
    fn from(k: &Kline) -> Self {
        Self {
            event: KlineTag,
            event_time_ms: micros_to_millis(k.time_exchange),
            symbol: k.symbol.clone(),
            kline: KlineData {
                open_time_ms: micros_to_millis(k.open_time),
                close_time_ms: micros_to_millis(k.close_time),
                symbol: k.symbol.clone(),
                interval: k.interval.clone(),
                first_trade_id: -1,
                last_trade_id: -1,
                open: k.open,
                close: k.close,
                high: k.high,
                low: k.low,
                volume: k.volume,
                trades: k.trades,
                closed: k.closed,
                quote_volume: k.quote_volume,
                taker_buy_volume: Qty::ZERO,
                taker_buy_quote_volume: Qty::ZERO,
                ignore: "0".to_owned(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::binance::wire::samples::{DEPTH, KLINE, TICKER, TRADE};

    #[test]
    fn depth_update_converts_to_diff_and_back() {
        let wire: DepthUpdate = serde_json::from_str(DEPTH).unwrap();
        let diff = wire.clone().into_diff(7);
        assert_eq!(diff.first_update_id, 50_093_239_203);
        assert_eq!(diff.last_update_id, 50_093_239_207);
        assert_eq!(diff.time_exchange, 1_723_161_255_308_000);
        assert_eq!(diff.time_received, 7);
        assert!(diff.bids[0].qty.is_zero());
        assert_eq!(DepthUpdate::from(&diff), wire);
    }

    #[test]
    fn ticker_trade_and_kline_convert_both_ways() {
        let bt: BookTicker = serde_json::from_str(TICKER).unwrap();
        let ticker = bt.clone().into_ticker(5);
        assert_eq!((ticker.update_id, ticker.time_exchange), (400_900_217, 0));
        assert_eq!(ticker.bid_price.to_string(), "25.35190000");
        assert_eq!(BookTicker::from(&ticker), bt);

        let te: TradeEvent = serde_json::from_str(TRADE).unwrap();
        let trade = te.clone().into_trade(5);
        assert_eq!(trade.time_exchange, 1_723_161_255_342_000);
        assert!(trade.buyer_is_maker);
        let back = TradeEvent::from(&trade);
        assert_eq!(TradeEvent { event_time_ms: te.event_time_ms, ..back }, te);

        let ke: KlineEvent = serde_json::from_str(KLINE).unwrap();
        let kline = ke.clone().into_kline(5);
        assert_eq!((kline.open_time, kline.close_time), (1_633_998_480_000_000, 1_633_998_539_999_000));
        assert_eq!((kline.trades, kline.closed, kline.interval.as_str()), (30, false, "1m"));
        let back = KlineEvent::from(&kline);
        assert_eq!(back.kline.first_trade_id, -1);
        let restored = KlineData {
            first_trade_id: 19_862_761,
            last_trade_id: 19_862_790,
            taker_buy_volume: ke.kline.taker_buy_volume,
            taker_buy_quote_volume: ke.kline.taker_buy_quote_volume,
            ..back.kline
        };
        assert_eq!(serde_json::to_string(&KlineEvent { kline: restored, ..back }).unwrap(), KLINE);
    }
}
