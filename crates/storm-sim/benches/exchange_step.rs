//! How fast the simulated market produces depth diffs on one core (no transport): 500 symbols,
//! 100 symbol updates per step. Run: `cargo bench -p storm-sim --bench exchange_step`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use storm_sim::app::model;
use storm_sim::config::SimConfig;
use storm_sim::{Exchange, SimEvent};

fn bench(c: &mut Criterion) {
    let cfg = SimConfig { extra_assets: 157, ..SimConfig::default() };
    let mut ex = Exchange::new(&model(&cfg), 42, 0);
    let symbols = ex.instruments().count();
    assert!(symbols >= 500, "{symbols} symbols");
    let mut g = c.benchmark_group("exchange_step");
    g.throughput(Throughput::Elements(100));
    let mut t = 0;
    g.bench_function("500_symbols_100_updates", |b| {
        b.iter(|| {
            t += 10;
            let events = ex.step(t, 100);
            assert!(events.iter().filter(|e| matches!(e, SimEvent::Depth(_))).count() >= 90);
            events
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
