//! `sessrec ls` and `sessrec index`: the catalog of the store.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use sessrec_store::{Catalog, Filter, Manifest, Store};

use crate::catalog::{default_catalog, rebuild};
use crate::cli::{Index, Ls, StoreArgs};
use crate::config::Config;
use crate::exit::Status;
use crate::print;

impl Ls {
    pub fn run(self) -> Result<Status> {
        let (store, path) = self.store.open()?;
        let mut catalog = open_catalog(&path)?;
        if self.refresh || !self.store.keys.is_empty() || catalog.is_empty()? {
            rebuild(&store, &mut catalog, &self.store.trusted()?)?;
        }
        let filter = Filter {
            user: self.user,
            host: self.host,
            grant: self.grant,
            since: self.since,
            until: self.until,
        };
        let sessions = catalog.query(&filter)?;
        let mut out = print::stdout();
        if self.json {
            for m in &sessions {
                writeln!(out, "{}", print::json_safe(serde_json::to_string(m)?))
                    .context("printing the list")?;
            }
        } else {
            print_table(&mut out, &sessions).context("printing the list")?;
        }
        Ok(Status::Ok)
    }
}

impl Index {
    pub fn run(self) -> Result<Status> {
        let (store, path) = self.store.open()?;
        let mut catalog = open_catalog(&path)?;
        let n = rebuild(&store, &mut catalog, &self.store.trusted()?)?;
        print::note(format_args!(
            "catalog {} holds {n} sessions from {}",
            path.display(),
            store.url()
        ));
        Ok(Status::Ok)
    }
}

impl StoreArgs {
    /// The keys whose manifests are believed.
    pub(super) fn trusted(&self) -> Result<Vec<sessrec_formats::keys::PublicKey>> {
        Ok(crate::keyfile::trusted_keys(&self.keys, &self.config)?.0)
    }

    /// The store and the catalog's path.
    pub(super) fn open(&self) -> Result<(Store, PathBuf)> {
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

fn open_catalog(path: &std::path::Path) -> Result<Catalog> {
    Catalog::open(path).with_context(|| format!("cannot open the catalog {}", path.display()))
}

/// The table. Every field comes from a manifest, which whoever can write the store controls:
/// each is made terminal-safe.
fn print_table(out: &mut impl Write, sessions: &[Manifest]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<36}  {:<20}  {:>9}  {:<12}  {:<16}  {:<16}  {:<9}",
        "SESSION", "START (UTC)", "DURATION", "USER", "HOST", "GRANT", "VERDICT"
    )?;
    for m in sessions {
        let start = m
            .start
            .as_deref()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "{:<36}  {:<20}  {:>9}  {:<12}  {:<16}  {:<16}  {:<9}",
            print::safe(&m.session_id),
            start,
            duration(m.duration_ms),
            print::safe(m.user.as_deref().unwrap_or("-")),
            print::safe(m.host.as_deref().unwrap_or("-")),
            print::safe(m.grant.as_deref().unwrap_or("-")),
            m.verdict
        )?;
    }
    Ok(())
}

fn duration(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}
