//! Replay mode on the real recordings in `testdata/`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use storm_core::{BookSide, OrderBook, Symbol};
use storm_sim::app::{play, prepare};
use storm_sim::replay::{Item, Recording};
use storm_sim::server::SimState;
use storm_sim::{Exchange, ModelConfig, SimEvent};
use storm_testkit::fixtures::{btcusdt_replay, testdata_file, ReplayMsg};
use tokio_util::sync::CancellationToken;

fn sim_for(rec: &Recording) -> std::sync::Arc<SimState> {
    let mut ex = Exchange::new(&ModelConfig { assets: vec![], pairs: vec![], ..ModelConfig::default() }, 1, 0);
    prepare(&mut ex, rec);
    SimState::new(ex, 6000, Default::default())
}

/// The replayed book equals an independent replay of the same files through storm-core, and
/// every recorded frame is published.
#[tokio::test]
async fn hftbacktest_replay_serves_the_recorded_book() {
    let files = [
        testdata_file("binance-spot-replay/spot_btcusdt_20240808.gz"),
        testdata_file("binance-spot-replay/spot_btcusdt_20240809.gz"),
    ];
    let rec = Recording::load(&files).unwrap();
    assert_eq!(rec.skipped, 0);
    let snapshots = rec.items.iter().filter(|(_, i)| matches!(i, Item::Snapshot { .. })).count();
    assert_eq!(snapshots, 1);
    let published = rec.items.len() - snapshots;

    let state = sim_for(&rec);
    let mut rx = state.subscribe();
    let counter = tokio::spawn(async move {
        let mut n = 0;
        while let Ok(_ev) = rx.recv().await {
            n += 1;
        }
        n
    });
    play(state.clone(), rec, 0.0, CancellationToken::new()).await;

    // Independent replay with storm-core.
    let msgs = btcusdt_replay().unwrap();
    let mut book = OrderBook::default();
    if let Some(ReplayMsg::Snapshot { last_update_id, bids, asks }) =
        msgs.iter().map(|(_, m)| m).find(|m| matches!(m, ReplayMsg::Snapshot { .. }))
    {
        book.replace(bids, asks, *last_update_id).unwrap();
    }
    for (_, m) in &msgs {
        if let ReplayMsg::Diff(d) = m {
            if d.last_update_id > book.update_id() {
                book.apply_diff(d).unwrap();
            }
        }
    }
    let (id, bids, asks) = state.exchange().depth(&Symbol::new("BTCUSDT"), 5000).unwrap();
    assert_eq!(id, book.update_id());
    assert_eq!(bids, book.top(BookSide::Bid, 5000));
    assert_eq!(asks, book.top(BookSide::Ask, 5000));

    drop(state);
    let n = counter.await.unwrap();
    assert_eq!(n, published, "every recorded frame published");
}

/// cryptofeed's multi-symbol recording with snapshots from the sibling http file: every symbol
/// gets a book that advanced past its snapshot and never crossed.
#[tokio::test]
async fn cryptofeed_replay_builds_every_symbol() {
    let rec = Recording::load(&[testdata_file("binance-spot-multi/BINANCE.ws.1.0")]).unwrap();
    let snaps: Vec<(Symbol, u64)> = rec
        .items
        .iter()
        .filter_map(|(_, i)| match i {
            Item::Snapshot { symbol, snapshot } => Some((symbol.clone(), snapshot.last_update_id)),
            _ => None,
        })
        .collect();
    assert_eq!(snaps.len(), 4);
    let diffs = rec.items.iter().filter(|(_, i)| matches!(i, Item::Event(SimEvent::Depth(_)))).count();
    assert!(diffs > 50, "{diffs} diffs");
    let state = sim_for(&rec);
    play(state.clone(), rec, 0.0, CancellationToken::new()).await;
    let ex = state.exchange();
    for (sym, snap_id) in snaps {
        let (id, bids, asks) = ex.depth(&sym, 5000).unwrap();
        assert!(id >= snap_id, "{sym}");
        assert!(bids[0].price < asks[0].price, "{sym} crossed");
    }
}
