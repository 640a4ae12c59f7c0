//! Criterion benchmarks of the player on a busy 64 MB session: building the timeline on one
//! thread and on two (output bytes per second), a seek through keyframes, and the same seek by replaying from the start
//! (what players without keyframes do). `cargo run --release -p sessrec-player --example
//! play_1gb` measures the 1 GB goals.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sessrec_player::{Player, Timeline, TimelineBuilder, VirtualTerminal};

#[path = "../examples/support/busy.rs"]
mod busy;

const BYTES: usize = 64 * 1024 * 1024;

fn benches(c: &mut Criterion) {
    let events: Vec<_> = busy::busy_session(BYTES).collect();
    let output: u64 = events
        .iter()
        .map(|e| match &e.data {
            sessrec_formats::EventData::Output(b) => b.len() as u64,
            _ => 0,
        })
        .sum();
    let mut g = c.benchmark_group("player");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(output));
    g.bench_function("build timeline (64 MB of output)", |b| {
        b.iter(|| Timeline::build(120, 40, events.iter().cloned().map(Ok::<_, ()>)).unwrap())
    });
    g.bench_function("build timeline on 2 threads (64 MB of output)", |b| {
        b.iter(|| {
            let mut builder = TimelineBuilder::new(120, 40).on_threads(2, 8).unwrap();
            for e in &events {
                builder.push(e);
            }
            builder.finish()
        })
    });
    let timeline = Timeline::build(120, 40, events.iter().cloned().map(Ok::<_, ()>)).unwrap();
    let late = timeline.duration * 9 / 10;
    g.throughput(Throughput::Elements(1));
    g.bench_function("seek to 90 % through keyframes", |b| {
        b.iter_batched(
            || Player::new(&timeline),
            |mut p| {
                p.seek(&timeline, late);
                p
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("seek to 90 % replaying from the start", |b| {
        b.iter(|| {
            let mut t = VirtualTerminal::new(120, 40);
            for e in events.iter().take_while(|e| e.time <= late) {
                t.apply(&e.data);
            }
            t
        })
    });
    g.finish();
}

criterion_group!(player, benches);
criterion_main!(player);
