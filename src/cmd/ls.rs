//! `sessrec ls` and `sessrec index`: the catalog of the store.

use std::path::PathBuf;

use anyhow::{Context, Result};
use sessrec_store::{Catalog, Filter, Manifest, Store, upload};

use crate::cli::{Index, Ls, StoreArgs};
use crate::config::Config;
use crate::exit::Status;

impl Ls {
    pub fn run(self) -> Result<Status> {
        let (store, path) = self.store.open()?;
        let mut catalog = open_catalog(&path)?;
        if self.refresh || catalog.is_empty()? {
            rebuild(&store, &mut catalog)?;
        }
        let filter = Filter {
            user: self.user,
            host: self.host,
            grant: self.grant,
            since: self.since,
            until: self.until,
        };
        let sessions = catalog.query(&filter)?;
        if self.json {
            for m in &sessions {
                println!("{}", serde_json::to_string(m)?);
            }
        } else {
            print_table(&sessions);
        }
        Ok(Status::Ok)
    }
}

impl Index {
    pub fn run(self) -> Result<Status> {
        let (store, path) = self.store.open()?;
        let mut catalog = open_catalog(&path)?;
        let n = rebuild(&store, &mut catalog)?;
        eprintln!(
            "sessrec: catalog {} holds {n} sessions from {}",
            path.display(),
            store.url()
        );
        Ok(Status::Ok)
    }
}

impl StoreArgs {
    /// The store and the catalog's path.
    fn open(&self) -> Result<(Store, PathBuf)> {
        let config = Config::load(&self.config)?;
        let url = self.store.clone().unwrap_or(config.storage.clone());
        let store = Store::open(&url, &config.store_settings())?;
        let catalog = match &self.catalog {
            Some(p) => p.clone(),
            None => default_catalog(&url)?,
        };
        Ok((store, catalog))
    }
}

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

fn open_catalog(path: &std::path::Path) -> Result<Catalog> {
    Catalog::open(path).with_context(|| format!("cannot open the catalog {}", path.display()))
}

/// Rebuilds `catalog` from the manifests in `store`; returns how many sessions it holds.
pub fn rebuild(store: &Store, catalog: &mut Catalog) -> Result<usize> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let manifests = runtime
        .block_on(upload::manifests(store))
        .with_context(|| format!("cannot list {}", store.url()))?;
    catalog.replace_all(&manifests)?;
    Ok(manifests.len())
}

fn print_table(sessions: &[Manifest]) {
    println!(
        "{:<36}  {:<20}  {:>9}  {:<12}  {:<16}  {:<16}  {:<9}",
        "SESSION", "START (UTC)", "DURATION", "USER", "HOST", "GRANT", "VERDICT"
    );
    for m in sessions {
        let start = m
            .start
            .as_deref()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<36}  {:<20}  {:>9}  {:<12}  {:<16}  {:<16}  {:<9}",
            clean(&m.session_id),
            start,
            duration(m.duration_ms),
            clean(m.user.as_deref().unwrap_or("-")),
            clean(m.host.as_deref().unwrap_or("-")),
            clean(m.grant.as_deref().unwrap_or("-")),
            m.verdict
        );
    }
}

/// Values from recordings are printed without control characters: a hostile user or host
/// name must not drive the auditor's terminal.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn duration(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}
