//! Fills a catalog with N made-up sessions, to time `sessrec ls` end to end on a large catalog.
//! Usage: `fill_catalog CATALOG [N]` (default 100 000).

use sessrec_store::{Catalog, Manifest};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: fill_catalog CATALOG [N]");
    let n: usize = args.next().map_or(100_000, |v| v.parse().expect("N"));
    let manifests: Vec<Manifest> = (0..n)
        .map(|i| {
            let day = 1 + i % 28;
            let start = format!("2026-11-{day:02}T{:02}:{:02}:00Z", i % 24, i % 60);
            Manifest {
                manifest: 1,
                session_id: format!("{:08x}-0000-7000-8000-{i:012x}", i),
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
                key_id: None,
                identity: None,
                grant_detail: None,
                uploaded: start,
            }
        })
        .collect();
    let mut c = Catalog::open(std::path::Path::new(&path)).expect("catalog");
    c.replace_all(&manifests).expect("fill");
}
