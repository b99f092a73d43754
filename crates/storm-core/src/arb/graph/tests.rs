use super::*;
use crate::SymbolStatus;
use rust_decimal::Decimal;

fn inst(symbol: &str, base: &str, quote: &str, status: SymbolStatus) -> Instrument {
    Instrument {
        symbol: Symbol::new(symbol),
        base: Asset::new(base),
        quote: Asset::new(quote),
        status,
        tick_size: Decimal::ZERO,
        min_price: Decimal::ZERO,
        max_price: Decimal::ZERO,
        step_size: Decimal::ZERO,
        min_qty: Decimal::ZERO,
        max_qty: Decimal::ZERO,
        min_notional: Decimal::ZERO,
        max_notional: Decimal::ZERO,
    }
}

fn trading(symbol: &str, base: &str, quote: &str) -> Instrument {
    inst(symbol, base, quote, SymbolStatus::Trading)
}

fn triangle() -> Vec<Instrument> {
    vec![trading("BTCUSDT", "BTC", "USDT"), trading("ETHUSDT", "ETH", "USDT"), trading("ETHBTC", "ETH", "BTC")]
}

fn paths(g: &TriangleGraph) -> Vec<String> {
    g.cycles().iter().map(Cycle::path).collect()
}

#[test]
fn one_triangle_gives_six_cycles_when_every_asset_starts() {
    let g = TriangleGraph::build(&triangle(), &[]);
    assert_eq!(
        paths(&g),
        [
            "BTC>ETH>USDT>BTC",
            "BTC>USDT>ETH>BTC",
            "ETH>BTC>USDT>ETH",
            "ETH>USDT>BTC>ETH",
            "USDT>BTC>ETH>USDT",
            "USDT>ETH>BTC>USDT",
        ]
    );
    for (i, c) in g.cycles().iter().enumerate() {
        assert_eq!(c.id as usize, i, "id is the position");
        assert_eq!(g.cycle(c.id), Some(c));
    }
}

#[test]
fn legs_buy_from_quote_and_sell_from_base() {
    let g = TriangleGraph::build(&triangle(), &[Asset::new("USDT")]);
    assert_eq!(paths(&g), ["USDT>BTC>ETH>USDT", "USDT>ETH>BTC>USDT"]);
    let c = &g.cycles()[0];
    let legs: Vec<_> = c.legs.iter().map(|l| (l.symbol.as_str(), l.side, l.from.as_str(), l.to.as_str())).collect();
    assert_eq!(
        legs,
        [
            ("BTCUSDT", Side::Buy, "USDT", "BTC"),
            ("ETHBTC", Side::Buy, "BTC", "ETH"),
            ("ETHUSDT", Side::Sell, "ETH", "USDT"),
        ]
    );
    let back: Vec<_> = g.cycles()[1].legs.iter().map(|l| (l.symbol.as_str(), l.side)).collect();
    assert_eq!(back, [("ETHUSDT", Side::Buy), ("ETHBTC", Side::Sell), ("BTCUSDT", Side::Sell)]);
}

#[test]
fn start_assets_select_cycles_and_unknown_starts_are_ignored() {
    let starts = [Asset::new("BTC"), Asset::new("DOGE"), Asset::new("BTC")];
    let g = TriangleGraph::build(&triangle(), &starts);
    assert_eq!(paths(&g), ["BTC>ETH>USDT>BTC", "BTC>USDT>ETH>BTC"]);
    assert!(TriangleGraph::build(&triangle(), &[Asset::new("DOGE")]).cycles().is_empty());
}

#[test]
fn halted_duplicate_and_self_pair_symbols_give_no_extra_cycle() {
    let mut instruments = triangle();
    instruments.push(inst("XRPBTC", "XRP", "BTC", SymbolStatus::Halt));
    instruments.push(inst("XRPETH", "XRP", "ETH", SymbolStatus::Other));
    instruments.push(trading("XRPUSDT", "XRP", "USDT"));
    instruments.push(trading("BTCUSDT", "BTC", "USDT")); // listed twice
    instruments.push(trading("USDTUSDT", "USDT", "USDT"));
    let g = TriangleGraph::build(&instruments, &[]);
    assert_eq!(g.cycles().len(), 6);
    assert!(g.cycles_of(&Symbol::new("XRPUSDT")).is_empty());
}

#[test]
fn two_symbols_on_one_pair_give_distinct_cycles() {
    let mut instruments = triangle();
    instruments.push(trading("BTCUSDT2", "BTC", "USDT"));
    let g = TriangleGraph::build(&instruments, &[Asset::new("USDT")]);
    assert_eq!(g.cycles().len(), 4);
    let first: Vec<_> = g.cycles().iter().map(|c| c.legs[0].symbol.as_str()).collect();
    assert_eq!(first, ["BTCUSDT", "BTCUSDT2", "ETHUSDT", "ETHUSDT"]);
}

#[test]
fn cycles_of_lists_every_cycle_through_the_symbol() {
    let mut instruments = triangle();
    instruments.extend([trading("BNBBTC", "BNB", "BTC"), trading("BNBETH", "BNB", "ETH")]);
    let g = TriangleGraph::build(&instruments, &[]);
    assert_eq!(g.cycles().len(), 12, "two triangles share ETHBTC");
    for symbol in ["BTCUSDT", "ETHUSDT", "ETHBTC", "BNBBTC", "BNBETH"] {
        let symbol = Symbol::new(symbol);
        let want: Vec<u32> =
            g.cycles().iter().filter(|c| c.legs.iter().any(|l| l.symbol == symbol)).map(|c| c.id).collect();
        assert_eq!(g.cycles_of(&symbol), want.as_slice(), "{symbol}");
    }
    assert_eq!(g.cycles_of(&Symbol::new("ETHBTC")).len(), 12);
    assert!(g.cycles_of(&Symbol::new("NOPE")).is_empty());
}

#[test]
fn order_and_ids_do_not_depend_on_the_input_order() {
    let mut instruments = triangle();
    instruments.extend([trading("BNBBTC", "BNB", "BTC"), trading("BNBETH", "BNB", "ETH")]);
    let a = TriangleGraph::build(&instruments, &[]);
    instruments.reverse();
    let b = TriangleGraph::build(&instruments, &[]);
    assert_eq!(a.cycles(), b.cycles());
}
