//! Simulated nights: the KB preset, pinned, against a bare event queue.
//!
//! `cargo bench --bench night` reports the time per KB night; the events per
//! second follow from the events a night processes (printed once). The
//! baseline pushes and pops the same number of events through a bare binary
//! heap: the least any discrete-event simulator could spend on them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mailsim::{ConflictBehavior, Scenario};

/// The pinned preset: the KB night, server shutting down, seed 7.
fn preset() -> Scenario {
    Scenario::kb98097()
        .seed(7)
        .conflict_behavior(ConflictBehavior::Shutdown)
}

fn nights(c: &mut Criterion) {
    let scenario = preset();
    let events = scenario.run().expect("the preset runs").events_processed();
    eprintln!("KB night (seed 7, shutdown): {events} events");
    let mut g = c.benchmark_group("night");
    g.throughput(Throughput::Elements(events));
    g.bench_function(BenchmarkId::new("kb98097", events), |b| {
        b.iter(|| black_box(scenario.run().expect("the preset runs")))
    });
    g.bench_function(BenchmarkId::new("bare_event_queue", events), |b| {
        b.iter(|| {
            let mut q = BinaryHeap::new();
            let mut t = 0u64;
            for i in 0..events {
                t = t
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                q.push(Reverse((t >> 40, i)));
                if i % 2 == 1 {
                    black_box(q.pop());
                }
            }
            while let Some(x) = q.pop() {
                black_box(x);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, nights);
criterion_main!(benches);
