//! The triangle graph: which 3-cycles a venue offers, and which of them one book change touches.
//!
//! The finder re-evaluates cycles on every book change, so the expensive part (finding the
//! cycles) happens once per instruments refresh, and a change of `SYM` costs a lookup in the
//! by-symbol index plus the evaluation of exactly the cycles through `SYM`.
//!
//! Conventions, decided here and asserted by the tests:
//! - **Nodes** are assets. Every TRADING instrument with `base != quote` is an edge usable both
//!   ways: `quote → base` is a [`Side::Buy`] (taking the asks), `base → quote` a [`Side::Sell`]
//!   (taking the bids). Halted or `BREAK` symbols give no edge; a symbol listed twice counts once.
//! - **A cycle** is `A → B → C → A` over three distinct assets. One symbol trades one pair, so
//!   the three legs are three distinct symbols by construction.
//! - **Rotations and directions are distinct cycles.** A triangle of three assets yields two
//!   directions × three rotations = six cycles when all three assets are start assets: they hold
//!   and risk different assets, and their profits are counted in different units.
//! - **Start assets.** With `start_assets` empty, every asset that appears is a start (all six
//!   cycles of every triangle). Otherwise only cycles whose start is one of them (assets that no
//!   symbol trades are ignored).
//! - **Order.** Cycles are sorted by [`Cycle::path`], then by their symbols (distinct symbols on
//!   the same pair, as some venues list, give distinct cycles); a cycle's id is its position, so
//!   the same instruments always give the same ids.
//!
//! On the real Binance exchangeInfo of 2023-08-13 (1,393 TRADING symbols over 385 assets) this is
//! 13,986 cycles from every start (2,331 triangles), 4,802 through USDT, BTC or BNB; a change of
//! BTCUSDT re-evaluates 1,178 of those (test `tests/arb_graph_binance.rs`).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::{Asset, Instrument, Side, Symbol};

/// One leg of a cycle: convert `from` into `to` on `symbol` (`Buy`: from = quote, to = base).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CycleLeg {
    /// Symbol traded.
    pub symbol: Symbol,
    /// Buy (pay quote, receive base) or sell (pay base, receive quote).
    pub side: Side,
    /// Asset paid.
    pub from: Asset,
    /// Asset received.
    pub to: Asset,
}

/// A 3-cycle starting and ending at `start`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cycle {
    /// Index in the graph.
    pub id: u32,
    /// Start and end asset.
    pub start: Asset,
    /// The three conversions, in order.
    pub legs: [CycleLeg; 3],
}

impl Cycle {
    /// `USDT>BTC>ETH>USDT`.
    pub fn path(&self) -> String {
        format!("{}>{}>{}>{}", self.start, self.legs[0].to, self.legs[1].to, self.legs[2].to)
    }
}

/// Every 3-cycle of a venue, indexed by symbol.
#[derive(Clone, Debug, Default)]
pub struct TriangleGraph {
    cycles: Vec<Cycle>,
    by_symbol: HashMap<Symbol, Vec<u32>>,
}

/// A directed edge of the asset graph.
struct Edge<'a> {
    instrument: &'a Instrument,
    side: Side,
}

impl Edge<'_> {
    fn leg(&self) -> CycleLeg {
        let i = self.instrument;
        let (from, to) = match self.side {
            Side::Buy => (&i.quote, &i.base),
            Side::Sell => (&i.base, &i.quote),
        };
        CycleLeg { symbol: i.symbol.clone(), side: self.side, from: from.clone(), to: to.clone() }
    }

    fn to(&self) -> &Asset {
        match self.side {
            Side::Buy => &self.instrument.base,
            Side::Sell => &self.instrument.quote,
        }
    }
}

impl TriangleGraph {
    /// The cycles over the TRADING `instruments`, through `start_assets` (all assets when empty).
    pub fn build(instruments: &[Instrument], start_assets: &[Asset]) -> Self {
        // Edges out of each asset, and the edges between each ordered pair (to close a cycle).
        let mut out: HashMap<&Asset, Vec<Edge<'_>>> = HashMap::new();
        let mut between: HashMap<(&Asset, &Asset), Vec<Edge<'_>>> = HashMap::new();
        let mut seen = HashSet::new();
        for i in instruments {
            if !i.is_trading() || i.base == i.quote || !seen.insert(&i.symbol) {
                continue;
            }
            for (from, to, side) in [(&i.quote, &i.base, Side::Buy), (&i.base, &i.quote, Side::Sell)] {
                out.entry(from).or_default().push(Edge { instrument: i, side });
                between.entry((from, to)).or_default().push(Edge { instrument: i, side });
            }
        }
        let mut starts: Vec<&Asset> = if start_assets.is_empty() {
            out.keys().copied().collect()
        } else {
            start_assets.iter().filter(|a| out.contains_key(a)).collect()
        };
        starts.sort();
        starts.dedup();

        let mut cycles = Vec::new();
        for a in starts {
            for e1 in out.get(a).into_iter().flatten() {
                let b = e1.to();
                for e2 in out.get(b).into_iter().flatten() {
                    let c = e2.to();
                    if c == a {
                        continue;
                    }
                    for e3 in between.get(&(c, a)).into_iter().flatten() {
                        cycles.push(Cycle { id: 0, start: a.clone(), legs: [e1.leg(), e2.leg(), e3.leg()] });
                    }
                }
            }
        }
        cycles.sort_by_cached_key(|c| (c.path(), c.legs.clone().map(|l| l.symbol)));

        let mut by_symbol: HashMap<Symbol, Vec<u32>> = HashMap::new();
        for (id, cycle) in (0u32..).zip(cycles.iter_mut()) {
            cycle.id = id;
            for leg in &cycle.legs {
                by_symbol.entry(leg.symbol.clone()).or_default().push(id);
            }
        }
        Self { cycles, by_symbol }
    }

    /// Every cycle.
    pub fn cycles(&self) -> &[Cycle] {
        &self.cycles
    }

    /// The ids of the cycles through `symbol`, ascending.
    pub fn cycles_of(&self, symbol: &Symbol) -> &[u32] {
        self.by_symbol.get(symbol).map(Vec::as_slice).unwrap_or(&[])
    }

    /// One cycle.
    pub fn cycle(&self, id: u32) -> Option<&Cycle> {
        self.cycles.get(id as usize)
    }
}

#[cfg(test)]
mod tests;
