//! The fast path of [`parse_frame`](super::parse_frame): the market-data frames Binance sends
//! most, read straight from their bytes in the exact spelling Binance uses.
//!
//! Binance writes every frame the same way: fields in a fixed order, no whitespace, no escapes,
//! prices and quantities as plain decimal strings. For the three streams that make up nearly all
//! traffic (diff depth, bookTicker, trade), raw or combined, this module reads that spelling in
//! one pass with no intermediate `String`, `Value` or `Decimal::from_str`: each decimal is built
//! from its digits (mantissa and scale) directly, so it keeps the string's scale exactly.
//!
//! It answers `None` for anything else — another field order, whitespace, an escape, an unknown
//! stream, a number it cannot hold exactly — and the caller falls back to the serde decoder,
//! which is the reference: whatever this module accepts, serde decodes to the same frame (the
//! tests check it on every recorded frame and on mutations of them).

mod cursor;
#[cfg(test)]
mod tests;

use serde::de::value::{BorrowedStrDeserializer, Error as ValueError};
use serde::Deserialize;
use storm_core::{Level, Price, Qty, Symbol};

use self::cursor::Cursor;
use super::frame::{Frame, Kind};
use super::{BookTicker, DepthUpdate, DepthUpdateTag, TradeEvent, TradeTag};

/// Room for this many levels per side before the first reallocation: a depth@100ms side of the
/// recordings has 15 to 17 levels on average, and growing from empty cost 15% of a frame.
const LEVELS_HINT: usize = 32;

/// Decodes `text` when it is a depth, bookTicker or trade frame in Binance's own spelling;
/// `None` means "not that shape", never "malformed".
pub(super) fn parse(text: &str, received: u64) -> Option<Frame> {
    let mut c = Cursor::new(text);
    let frame = if c.skip(br#"{"stream":""#) {
        let kind = Kind::of_stream(c.str_body()?);
        c.lit(br#","data":"#)?;
        let frame = payload(&mut c, kind, received)?;
        c.lit(b"}")?;
        frame
    } else {
        let kind = if text.starts_with(r#"{"e":"depthUpdate","#) {
            Kind::Depth
        } else if text.starts_with(r#"{"e":"trade","#) {
            Kind::Trade
        } else if text.starts_with(r#"{"u":"#) {
            Kind::Ticker
        } else {
            return None;
        };
        payload(&mut c, kind, received)?
    };
    c.at_end().then_some(frame)
}

/// One payload object of a known kind.
fn payload(c: &mut Cursor<'_>, kind: Kind, received: u64) -> Option<Frame> {
    Some(match kind {
        Kind::Depth => Frame::Depth(depth(c)?.into_diff(received)),
        Kind::Ticker => Frame::Ticker(ticker(c)?.into_ticker(received)),
        Kind::Trade => Frame::Trade(trade(c)?.into_trade(received)),
        Kind::Kline | Kind::Shutdown | Kind::Other => return None,
    })
}

/// `{"e":"depthUpdate","E":..,"s":"..","U":..,"u":..,"b":[..],"a":[..]}`.
fn depth(c: &mut Cursor<'_>) -> Option<DepthUpdate> {
    c.lit(br#"{"e":"depthUpdate","E":"#)?;
    let event_time_ms = c.u64()?;
    c.lit(br#","s":""#)?;
    let symbol = symbol(c)?;
    c.lit(br#","U":"#)?;
    let first_update_id = c.u64()?;
    c.lit(br#","u":"#)?;
    let final_update_id = c.u64()?;
    c.lit(br#","b":"#)?;
    let bids = levels(c)?;
    c.lit(br#","a":"#)?;
    let asks = levels(c)?;
    c.lit(b"}")?;
    Some(DepthUpdate { event: DepthUpdateTag, event_time_ms, symbol, first_update_id, final_update_id, bids, asks })
}

/// `{"u":..,"s":"..","b":"..","B":"..","a":"..","A":".."}`.
fn ticker(c: &mut Cursor<'_>) -> Option<BookTicker> {
    c.lit(br#"{"u":"#)?;
    let update_id = c.u64()?;
    c.lit(br#","s":""#)?;
    let symbol = symbol(c)?;
    c.lit(br#","b":"#)?;
    let bid_price = Price(c.decimal()?);
    c.lit(br#","B":"#)?;
    let bid_qty = Qty(c.decimal()?);
    c.lit(br#","a":"#)?;
    let ask_price = Price(c.decimal()?);
    c.lit(br#","A":"#)?;
    let ask_qty = Qty(c.decimal()?);
    c.lit(b"}")?;
    Some(BookTicker { update_id, symbol, bid_price, bid_qty, ask_price, ask_qty })
}

/// `{"e":"trade","E":..,"s":"..","t":..,"p":"..","q":"..","T":..,"m":..,"M":..}`.
fn trade(c: &mut Cursor<'_>) -> Option<TradeEvent> {
    c.lit(br#"{"e":"trade","E":"#)?;
    let event_time_ms = c.u64()?;
    c.lit(br#","s":""#)?;
    let symbol = symbol(c)?;
    c.lit(br#","t":"#)?;
    let trade_id = c.u64()?;
    c.lit(br#","p":"#)?;
    let price = Price(c.decimal()?);
    c.lit(br#","q":"#)?;
    let qty = Qty(c.decimal()?);
    c.lit(br#","T":"#)?;
    let trade_time_ms = c.u64()?;
    c.lit(br#","m":"#)?;
    let buyer_is_maker = c.bool()?;
    c.lit(br#","M":"#)?;
    let ignore = c.bool()?;
    c.lit(b"}")?;
    Some(TradeEvent {
        event: TradeTag,
        event_time_ms,
        symbol,
        trade_id,
        price,
        qty,
        trade_time_ms,
        buyer_is_maker,
        ignore,
    })
}

/// The symbol string (opening quote already read), kept verbatim as serde would keep it.
fn symbol(c: &mut Cursor<'_>) -> Option<Symbol> {
    // `Symbol::new` would normalise the spelling; deserializing keeps the wire's.
    Symbol::deserialize(BorrowedStrDeserializer::<ValueError>::new(c.str_body()?)).ok()
}

/// `[]` or `[["price","qty"],...]`.
fn levels(cursor: &mut Cursor<'_>) -> Option<Vec<Level>> {
    // A local copy keeps the position in a register; it is written back on success only (on
    // failure the whole frame goes to serde).
    let mut c = *cursor;
    let levels = levels_at(&mut c)?;
    *cursor = c;
    Some(levels)
}

/// [`levels`] proper.
#[inline(always)]
fn levels_at(c: &mut Cursor<'_>) -> Option<Vec<Level>> {
    c.lit(b"[")?;
    if c.skip(b"]") {
        return Some(Vec::new());
    }
    let mut levels = Vec::with_capacity(LEVELS_HINT);
    loop {
        c.lit(b"[")?;
        let price = Price(c.decimal()?);
        c.lit(b",")?;
        let qty = Qty(c.decimal()?);
        c.lit(b"]")?;
        levels.push(Level { price, qty });
        if c.skip(b"]") {
            return Some(levels);
        }
        c.lit(b",")?;
    }
}
