//! "All USDT, BTC and BNB markets": subscriptions for every TRADING symbol whose quote or base
//! asset is in a list, from the venue's instrument listing.
//!
//! The listing is read by the venue adapter ([`VenueAdapter::listed_markets`], Binance's
//! `exchangeInfo`); the selection here is venue-neutral. A halted or delisted symbol (`BREAK`,
//! `HALT`, ...) is never selected: its streams would stay silent and look like a dead connection.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use storm_core::{Asset, Channel, Symbol, SymbolStatus};
use storm_venues::adapter::{
    parse_channel, AdapterError, ListedMarket, Subscription, SubscriptionError, SubscriptionProblem, VenueAdapter,
};

/// A channel to subscribe for every selected market: `depth`, `ticker`, `trade` or
/// `kline:<interval>` (a subscription member without its symbol).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MarketChannel {
    channel: Channel,
    interval: Option<String>,
}

/// Symbol used only to validate a [`MarketChannel`] through [`Subscription::new`].
const PROBE_SYMBOL: &str = "PROBE";

impl MarketChannel {
    /// Diff depth.
    pub const DEPTH: MarketChannel = MarketChannel { channel: Channel::Depth, interval: None };

    /// Parses `depth`, `ticker`, `trade` or `kline:1m` (channel case-insensitive).
    pub fn parse(spec: &str) -> Result<Self, SubscriptionError> {
        let error = |problem| SubscriptionError { member: spec.to_owned(), problem };
        let trimmed = spec.trim();
        let (channel_part, interval) = match trimmed.split_once(':') {
            Some((channel, interval)) => (channel, Some(interval)),
            None => (trimmed, None),
        };
        let channel = parse_channel(channel_part)
            .ok_or_else(|| error(SubscriptionProblem::UnknownChannel(channel_part.to_owned())))?;
        let probe = Subscription::new(channel, PROBE_SYMBOL, interval).map_err(error)?;
        Ok(Self { channel, interval: probe.interval })
    }

    /// The channel.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// The kline interval, for klines.
    pub fn interval(&self) -> Option<&str> {
        self.interval.as_deref()
    }

    /// The subscription of this channel for `symbol`.
    pub fn subscription(&self, symbol: &Symbol) -> Result<Subscription, SubscriptionError> {
        Subscription::new(self.channel, symbol.as_str(), self.interval.as_deref())
            .map_err(|problem| SubscriptionError { member: format!("{}:{symbol}", self.channel), problem })
    }
}

impl fmt::Display for MarketChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.interval {
            Some(interval) => write!(f, "{}:{interval}", self.channel),
            None => write!(f, "{}", self.channel),
        }
    }
}

impl TryFrom<String> for MarketChannel {
    type Error = SubscriptionError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<MarketChannel> for String {
    fn from(c: MarketChannel) -> String {
        c.to_string()
    }
}

/// The TRADING symbols whose quote or base asset is in `assets`, sorted, without duplicates.
pub fn select_markets(markets: &[ListedMarket], assets: &[Asset]) -> Vec<Symbol> {
    let selected: BTreeSet<&Symbol> = markets
        .iter()
        .filter(|m| m.status == SymbolStatus::Trading)
        .filter(|m| assets.contains(&m.quote) || assets.contains(&m.base))
        .map(|m| &m.symbol)
        .collect();
    selected.into_iter().cloned().collect()
}

/// Subscriptions for the selected markets, and the symbols that are not valid subscription
/// symbols (reported, not fatal).
#[derive(Debug, Default)]
pub struct MarketSelection {
    /// One subscription per selected symbol and channel, in symbol order.
    pub subscriptions: Vec<Subscription>,
    /// Symbols the listing had that cannot be subscription members.
    pub skipped: Vec<SubscriptionError>,
}

/// Every channel of `channels` for every market [`select_markets`] picks.
pub fn all_markets_subscriptions(
    markets: &[ListedMarket],
    assets: &[Asset],
    channels: &[MarketChannel],
) -> MarketSelection {
    let mut out = MarketSelection::default();
    for symbol in select_markets(markets, assets) {
        for channel in channels {
            match channel.subscription(&symbol) {
                Ok(subscription) => out.subscriptions.push(subscription),
                Err(error) => out.skipped.push(error),
            }
        }
    }
    out
}

/// [`all_markets_subscriptions`] from the venue's raw listing (Binance: the `exchangeInfo` body).
pub fn all_markets_from_listing(
    adapter: &dyn VenueAdapter,
    listing_body: &str,
    assets: &[Asset],
    channels: &[MarketChannel],
) -> Result<MarketSelection, AdapterError> {
    let markets = adapter.listed_markets(listing_body)?;
    Ok(all_markets_subscriptions(&markets, assets, channels))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use storm_venues::binance::adapter::BinanceAdapter;

    use super::*;

    /// Computed from the file (1393 TRADING of 2276 symbols): TRADING symbols with USDT, BTC or
    /// BNB as quote or base.
    const USDT_BTC_BNB_TRADING_MARKETS: usize = 771;

    fn assets(codes: &[&str]) -> Vec<Asset> {
        codes.iter().map(Asset::new).collect()
    }

    fn market(symbol: &str, base: &str, quote: &str, status: SymbolStatus) -> ListedMarket {
        ListedMarket { symbol: symbol.into(), base: base.into(), quote: quote.into(), status }
    }

    fn real_exchange_info() -> String {
        let path = storm_testkit::fixtures::testdata_file("exchange-info/binance_spot_exchangeInfo_2023-08-13.json");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn market_channels_parse_and_print_back() {
        for (spec, printed) in
            [("depth", "depth"), ("TICKER", "ticker"), (" trade ", "trade"), ("kline:1M", "kline:1M")]
        {
            assert_eq!(MarketChannel::parse(spec).unwrap().to_string(), printed, "{spec:?}");
        }
        let bad = [
            ("kline", SubscriptionProblem::MissingInterval),
            ("kline:7x", SubscriptionProblem::UnknownInterval("7x".into())),
            ("depth:1m", SubscriptionProblem::UnexpectedInterval(Channel::Depth)),
            ("book", SubscriptionProblem::UnknownChannel("book".into())),
            ("", SubscriptionProblem::UnknownChannel(String::new())),
        ];
        for (spec, problem) in bad {
            assert_eq!(MarketChannel::parse(spec).unwrap_err().problem, problem, "{spec:?}");
        }
    }

    #[test]
    fn trading_markets_with_a_listed_quote_or_base_are_selected() {
        let markets = [
            market("ETHBTC", "ETH", "BTC", SymbolStatus::Trading),
            market("BTCUSDT", "BTC", "USDT", SymbolStatus::Trading),
            market("BTCEUR", "BTC", "EUR", SymbolStatus::Trading),
            market("ETHEUR", "ETH", "EUR", SymbolStatus::Trading),
            market("BCCBTC", "BCC", "BTC", SymbolStatus::Other),
            market("LUNABTC", "LUNA", "BTC", SymbolStatus::Halt),
        ];
        let selected = select_markets(&markets, &assets(&["BTC"]));
        assert_eq!(selected, [Symbol::new("BTCEUR"), Symbol::new("BTCUSDT"), Symbol::new("ETHBTC")]);
        assert!(select_markets(&markets, &[]).is_empty());
        let channels = [MarketChannel::DEPTH, MarketChannel::parse("kline:1m").unwrap()];
        let selection = all_markets_subscriptions(&markets, &assets(&["EUR"]), &channels);
        let members: Vec<String> = selection.subscriptions.iter().map(Subscription::member).collect();
        assert_eq!(members, ["depth:BTCEUR", "kline:BTCEUR:1m", "depth:ETHEUR", "kline:ETHEUR:1m"]);
        assert!(selection.skipped.is_empty());
    }

    #[test]
    fn symbols_that_cannot_be_members_are_reported_not_subscribed() {
        let markets = [market("BTC/USDT", "BTC", "USDT", SymbolStatus::Trading)];
        let selection = all_markets_subscriptions(&markets, &assets(&["USDT"]), &[MarketChannel::DEPTH]);
        assert!(selection.subscriptions.is_empty());
        assert_eq!(selection.skipped[0].member, "depth:BTC/USDT");
    }

    #[test]
    fn usdt_btc_bnb_markets_of_the_real_exchange_info_are_771_trading_symbols() {
        let body = real_exchange_info();
        let markets = BinanceAdapter.listed_markets(&body).unwrap();
        assert_eq!(markets.len(), 2276);
        let selected = select_markets(&markets, &assets(&["USDT", "BTC", "BNB"]));
        assert!((100..=1_000).contains(&selected.len()), "{}", selected.len());
        assert_eq!(selected.len(), USDT_BTC_BNB_TRADING_MARKETS);
        // BCCBTC is listed with status BREAK: excluded although its quote is BTC.
        let bcc = markets.iter().find(|m| m.symbol.as_str() == "BCCBTC").expect("BCCBTC is in the file");
        assert_eq!((bcc.status, bcc.quote.as_str()), (SymbolStatus::Other, "BTC"));
        assert!(!selected.contains(&bcc.symbol));
        assert!(
            selected.contains(&Symbol::new("ETHBTC")) && selected.contains(&Symbol::new("BNBETH")),
            "base BNB counts"
        );

        let channels = [MarketChannel::DEPTH, MarketChannel::parse("ticker").unwrap()];
        let selection =
            all_markets_from_listing(&BinanceAdapter, &body, &assets(&["USDT", "BTC", "BNB"]), &channels).unwrap();
        assert_eq!(selection.subscriptions.len(), 2 * USDT_BTC_BNB_TRADING_MARKETS);
        assert!(selection.skipped.is_empty());
        for subscription in &selection.subscriptions {
            BinanceAdapter.stream_name(subscription).unwrap();
        }
    }
}
