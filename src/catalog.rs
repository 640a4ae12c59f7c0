//! The local catalog of a store: where it lives and how it is rebuilt from the store's
//! manifests (the store is the source of truth). Used by `ls`, `index` and by id look-ups.

use std::path::PathBuf;

use anyhow::{Context, Result};
use sessrec_formats::keys::PublicKey;
use sessrec_store::{Catalog, Store, upload};

/// `~/.cache/sessrec/catalog-HASH.sqlite`, one per store URL.
pub fn default_catalog(url: &str) -> Result<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .context("no HOME or XDG_CACHE_HOME for the catalog; pass --catalog FILE")?;
    let dir = base.join("sessrec");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let digest = sessrec_store::manifest::hex(&sha256(url.as_bytes())[..6]);
    Ok(dir.join(format!("catalog-{digest}.sqlite")))
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

/// Rebuilds `catalog` from the manifests in `store`, checking their signatures against
/// `trusted`; returns how many sessions it holds.
pub fn rebuild(store: &Store, catalog: &mut Catalog, trusted: &[PublicKey]) -> Result<usize> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let listing = runtime
        .block_on(upload::manifests(store, trusted))
        .with_context(|| format!("cannot list {}", store.url()))?;
    // Left out, never silently: each unreadable object is named (and stays in the store).
    for why in &listing.unreadable {
        crate::print::warn(format_args!("left out of the catalog: {why}"));
    }
    catalog.replace_all(&listing.manifests)?;
    Ok(listing.manifests.len())
}
