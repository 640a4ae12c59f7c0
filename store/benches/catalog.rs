//! The catalog with 100 000 sessions (the listing goal: under 1 s): listing all of them,
//! and the filtered queries `sessrec ls` runs, against rebuilding from scratch.

use criterion::{Criterion, criterion_group, criterion_main};
use sessrec_store::{Catalog, Filter};

#[path = "../examples/support/synthetic.rs"]
mod synthetic;

const SESSIONS: usize = 100_000;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut catalog = Catalog::open(&dir.path().join("catalog.sqlite")).expect("catalog");
    let all = synthetic::manifests(SESSIONS);
    catalog.replace_all(&all).expect("fill");
    let mut g = c.benchmark_group("catalog_100k");
    g.sample_size(10);
    g.bench_function("list_all", |b| {
        b.iter(|| assert_eq!(catalog.query(&Filter::default()).unwrap().len(), SESSIONS))
    });
    g.bench_function("one_user", |b| {
        let f = Filter {
            user: Some("user42".into()),
            ..Default::default()
        };
        b.iter(|| catalog.query(&f).unwrap())
    });
    g.bench_function("one_grant", |b| {
        let f = Filter {
            grant: Some("INC-4711".into()),
            ..Default::default()
        };
        b.iter(|| catalog.query(&f).unwrap())
    });
    g.bench_function("one_day", |b| {
        let f = Filter {
            since: Some("2026-11-05".into()),
            until: Some("2026-11-06".into()),
            ..Default::default()
        };
        b.iter(|| catalog.query(&f).unwrap())
    });
    g.bench_function("rebuild", |b| b.iter(|| catalog.replace_all(&all).unwrap()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
