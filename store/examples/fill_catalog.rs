//! Fills a catalog with N made-up sessions, to time `sessrec ls` end to end on a large catalog.
//! Usage: `fill_catalog CATALOG [N]` (default 100 000).

#[path = "support/synthetic.rs"]
mod synthetic;

use sessrec_store::Catalog;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: fill_catalog CATALOG [N]");
    let n: usize = args.next().map_or(100_000, |v| v.parse().expect("N"));
    let manifests = synthetic::manifests(n);
    let mut c = Catalog::open(std::path::Path::new(&path)).expect("catalog");
    c.replace_all(&manifests).expect("fill");
}
