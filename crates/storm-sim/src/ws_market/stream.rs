//! Stream names (`btcusdt@depth@100ms`, `ethbtc@kline_1m`, ...) and the compact keys the hot path
//! uses instead of them.
//!
//! A connection may hold up to 1024 streams and every frame is checked against them, so a stream
//! is a [`StreamKey`] (symbol index, [`Kind`]) with a dense slot number: membership is one bit
//! test and the hub's "does anyone want this?" is one atomic load. Names are parsed once, when a
//! client subscribes, and printed again only for `LIST_SUBSCRIPTIONS` and combined frames.

use std::collections::HashMap;

use storm_core::time::{civil_from_days, days_from_civil};
use storm_core::Symbol;

/// How a kline interval maps to its open and close times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Span {
    /// A fixed number of milliseconds, aligned to the Unix epoch.
    Fixed(u64),
    /// Monday 00:00 UTC to the next Monday.
    Week,
    /// The first of a calendar month to the first of the next.
    Month,
}

const SECOND: u64 = 1_000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// Every kline interval Binance serves, in its spelling.
const INTERVALS: [(&str, Span); 16] = [
    ("1s", Span::Fixed(SECOND)),
    ("1m", Span::Fixed(MINUTE)),
    ("3m", Span::Fixed(3 * MINUTE)),
    ("5m", Span::Fixed(5 * MINUTE)),
    ("15m", Span::Fixed(15 * MINUTE)),
    ("30m", Span::Fixed(30 * MINUTE)),
    ("1h", Span::Fixed(HOUR)),
    ("2h", Span::Fixed(2 * HOUR)),
    ("4h", Span::Fixed(4 * HOUR)),
    ("6h", Span::Fixed(6 * HOUR)),
    ("8h", Span::Fixed(8 * HOUR)),
    ("12h", Span::Fixed(12 * HOUR)),
    ("1d", Span::Fixed(DAY)),
    ("3d", Span::Fixed(3 * DAY)),
    ("1w", Span::Week),
    ("1M", Span::Month),
];

/// Number of kline intervals.
pub const INTERVAL_COUNT: usize = INTERVALS.len();

/// Stream kinds per symbol: four plain ones and one per kline interval.
pub const KIND_COUNT: usize = 4 + INTERVAL_COUNT;

/// A kline interval (an index into Binance's list).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Interval(u8);

impl Interval {
    /// Every interval, shortest first.
    pub fn all() -> impl Iterator<Item = Interval> {
        (0..INTERVAL_COUNT as u8).map(Interval)
    }

    /// Position in [`Interval::all`].
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// Binance's spelling (`1m`, `1M`, ...).
    pub fn as_str(self) -> &'static str {
        INTERVALS[self.index()].0
    }

    fn parse(s: &str) -> Option<Interval> {
        INTERVALS.iter().position(|(name, _)| *name == s).map(|i| Interval(i as u8))
    }

    /// Open time and close time (the last millisecond) of the candle holding `t_ms`.
    pub fn bounds(self, t_ms: u64) -> (u64, u64) {
        let (open, next) = match INTERVALS[self.index()].1 {
            Span::Fixed(len) => {
                let open = t_ms - t_ms % len;
                (open, open + len)
            }
            Span::Week => {
                // 1970-01-01 was a Thursday: the first Monday is four days later.
                let shifted = t_ms.saturating_sub(4 * DAY);
                let open = shifted - shifted % (7 * DAY) + 4 * DAY;
                (open, open + 7 * DAY)
            }
            Span::Month => {
                let (y, m, _) = civil_from_days((t_ms / DAY) as i64);
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                (days_from_civil(y, m, 1) as u64 * DAY, days_from_civil(ny, nm, 1) as u64 * DAY)
            }
        };
        (open, next - 1)
    }
}

/// What a stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `<sym>@depth`: diffs merged over one second.
    Depth,
    /// `<sym>@depth@100ms`: every diff as the exchange produces it.
    Depth100ms,
    /// `<sym>@bookTicker`.
    BookTicker,
    /// `<sym>@trade`.
    Trade,
    /// `<sym>@kline_<interval>`.
    Kline(Interval),
}

impl Kind {
    /// Dense index in `0..KIND_COUNT`.
    pub fn index(self) -> usize {
        match self {
            Kind::Depth => 0,
            Kind::Depth100ms => 1,
            Kind::BookTicker => 2,
            Kind::Trade => 3,
            Kind::Kline(i) => 4 + i.index(),
        }
    }

    /// True for both diff-depth streams (the `gap` fault drops one of their frames).
    pub fn is_depth(self) -> bool {
        matches!(self, Kind::Depth | Kind::Depth100ms)
    }

    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "depth" => Kind::Depth,
            "depth@100ms" => Kind::Depth100ms,
            "bookTicker" => Kind::BookTicker,
            "trade" => Kind::Trade,
            _ => Kind::Kline(Interval::parse(s.strip_prefix("kline_")?)?),
        })
    }

    fn suffix(self) -> String {
        match self {
            Kind::Depth => "depth".into(),
            Kind::Depth100ms => "depth@100ms".into(),
            Kind::BookTicker => "bookTicker".into(),
            Kind::Trade => "trade".into(),
            Kind::Kline(i) => format!("kline_{}", i.as_str()),
        }
    }
}

/// One stream: a symbol (by index in the [`Universe`]) and a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamKey {
    /// Index of the symbol.
    pub symbol: u32,
    /// What the stream carries.
    pub kind: Kind,
}

impl StreamKey {
    /// Dense number in `0..universe.slots()`.
    pub fn slot(self) -> usize {
        self.symbol as usize * KIND_COUNT + self.kind.index()
    }
}

/// The symbols the simulator lists, fixed at start, with their stream-name spelling.
#[derive(Debug)]
pub struct Universe {
    symbols: Vec<Symbol>,
    lower: Vec<String>,
    by_symbol: HashMap<Symbol, u32>,
    by_lower: HashMap<String, u32>,
}

impl Universe {
    /// Indexes `symbols` in the given order.
    pub fn new(symbols: Vec<Symbol>) -> Self {
        let lower: Vec<String> = symbols.iter().map(|s| s.as_str().to_ascii_lowercase()).collect();
        let by_symbol = symbols.iter().enumerate().map(|(i, s)| (s.clone(), i as u32)).collect();
        let by_lower = lower.iter().enumerate().map(|(i, s)| (s.clone(), i as u32)).collect();
        Self { symbols, lower, by_symbol, by_lower }
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// True when there is no symbol.
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// Number of distinct streams.
    pub fn slots(&self) -> usize {
        self.len() * KIND_COUNT
    }

    /// The index of a symbol.
    pub fn index(&self, symbol: &Symbol) -> Option<u32> {
        self.by_symbol.get(symbol).copied()
    }

    /// The symbol at an index.
    pub fn symbol(&self, index: u32) -> Option<&Symbol> {
        self.symbols.get(index as usize)
    }

    /// Parses a stream name; the symbol must be lowercase, as Binance spells stream names.
    pub fn parse(&self, name: &str) -> Option<StreamKey> {
        let (sym, kind) = name.split_once('@')?;
        Some(StreamKey { symbol: *self.by_lower.get(sym)?, kind: Kind::parse(kind)? })
    }

    /// The stream name of a key (`btcusdt@depth@100ms`).
    pub fn name(&self, key: StreamKey) -> String {
        let sym = self.lower.get(key.symbol as usize).map_or("", String::as_str);
        format!("{sym}@{}", key.kind.suffix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn universe() -> Universe {
        Universe::new(vec![Symbol::new("BTCUSDT"), Symbol::new("ETHBTC")])
    }

    #[test]
    fn every_documented_stream_name_round_trips() {
        let u = universe();
        let mut names = vec!["btcusdt@depth", "btcusdt@depth@100ms", "ethbtc@bookTicker", "ethbtc@trade"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        names.extend(Interval::all().map(|i| format!("btcusdt@kline_{}", i.as_str())));
        let mut slots = std::collections::HashSet::new();
        for name in &names {
            let key = u.parse(name).unwrap_or_else(|| panic!("{name} must parse"));
            assert_eq!(&u.name(key), name);
            assert!(key.slot() < u.slots() && slots.insert(key.slot()), "{name}: dense, distinct slot");
        }
    }

    #[test]
    fn unknown_or_misspelt_streams_are_rejected() {
        let u = universe();
        for bad in [
            "BTCUSDT@depth",
            "btcusdt",
            "btcusdt@",
            "bnbusdt@trade",
            "btcusdt@depth@250ms",
            "btcusdt@kline_2m",
            "btcusdt@kline_",
            "btcusdt@aggTrade",
            "",
        ] {
            assert_eq!(u.parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn candle_bounds_follow_binance_calendar() {
        let at = |name: &str| Interval::parse(name).map(|i| i.bounds(1_723_161_255_342));
        // 2024-08-08 23:54:15.342 UTC, a Thursday.
        assert_eq!(at("1s"), Some((1_723_161_255_000, 1_723_161_255_999)));
        assert_eq!(at("1m"), Some((1_723_161_240_000, 1_723_161_299_999)));
        assert_eq!(at("1d"), Some((1_723_075_200_000, 1_723_161_599_999)));
        // Week from Monday 2024-08-05 00:00 UTC; month from 2024-08-01 to 2024-09-01.
        assert_eq!(at("1w"), Some((1_722_816_000_000, 1_723_420_799_999)));
        assert_eq!(at("1M"), Some((1_722_470_400_000, 1_725_148_799_999)));
        // December rolls over into January.
        assert_eq!(
            Interval::parse("1M").map(|i| i.bounds(1_735_000_000_000)),
            Some((1_733_011_200_000, 1_735_689_599_999))
        );
    }
}
