//! The catalog with 100 000 sessions (the listing goal: under 1 s): listing all of them,
//! and the filtered queries `sessrec ls` runs, against rebuilding from scratch.

use criterion::{Criterion, criterion_group, criterion_main};
use sessrec_store::{Catalog, Filter, Manifest};

const SESSIONS: usize = 100_000;

fn manifests() -> Vec<Manifest> {
    (0..SESSIONS)
        .map(|i| {
            let day = 1 + i % 28;
            let start = format!("2026-11-{day:02}T{:02}:{:02}:00Z", i % 24, i % 60);
            Manifest {
                manifest: 1,
                session_id: format!("0193{i:032x}"),
                key: format!(
                    "sessions/2026/11/{day:02}/bastion-{}/user{}/{i}.cast.zst",
                    i % 7,
                    i % 300
                ),
                host: Some(format!("bastion-{}", i % 7)),
                user: Some(format!("user{}", i % 300)),
                grant: Some(format!("INC-{}", i / 20)),
                start: Some(start.clone()),
                duration_ms: (i as u64 % 7200) * 1000,
                size: 100_000 + i as u64,
                sha256: format!("{i:064x}"),
                verdict: "intact".into(),
                key_id: Some("01AFEC4616F89957".into()),
                identity: None,
                grant_detail: None,
                uploaded: start,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut catalog = Catalog::open(&dir.path().join("catalog.sqlite")).expect("catalog");
    let all = manifests();
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
