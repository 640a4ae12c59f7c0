//! Made-up sessions for the catalog benchmark and the `fill_catalog` example: spread over 28
//! days, 7 hosts, 300 users, a grant per 20 sessions.

use sessrec_store::Manifest;

/// `n` made-up manifests.
pub fn manifests(n: usize) -> Vec<Manifest> {
    (0..n)
        .map(|i| {
            let day = 1 + i % 28;
            let start = format!("2026-11-{day:02}T{:02}:{:02}:00Z", i % 24, i % 60);
            Manifest {
                manifest: 1,
                session_id: format!("{i:08x}-0000-7000-8000-{i:012x}"),
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
                verdict: sessrec_store::ShippedVerdict::Intact,
                key_id: None,
                identity: None,
                grant_detail: None,
                uploaded: start,
                attestation: Default::default(),
                claimed: None,
                problem: None,
            }
        })
        .collect()
}
