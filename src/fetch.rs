//! Recordings named on the command line: a path, an `s3://`, `az://` or `gs://` URL
//! (`SCHEME://BUCKET/KEY`), or a session id
//! found in the catalog of the configured store. Remote recordings are streamed to a private
//! temporary file (removed afterwards), so memory stays bounded whatever their size.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sessrec_store::{Catalog, Store};

use crate::config::Config;

/// A recording ready to open.
pub struct Fetched {
    path: PathBuf,
    temporary: bool,
}

impl Fetched {
    /// Where to open it.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Fetched {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Resolves `name`: an existing file (or `-`) as it is; `s3://BUCKET/KEY` (or `az://`, `gs://`);
/// or a session id looked up in the catalog of `store` (default: the policy's `storage`). The
/// policy is read from `config` only when it is needed.
pub fn resolve(name: &Path, store: Option<&str>, config: &Path) -> Result<Fetched> {
    let text = name.to_string_lossy();
    if name.as_os_str() == "-" || name.exists() {
        return Ok(Fetched {
            path: name.to_path_buf(),
            temporary: false,
        });
    }
    let config = Config::load(config)?;
    for scheme in ["s3://", "az://", "gs://"] {
        let Some(rest) = text.strip_prefix(scheme) else {
            continue;
        };
        let (bucket, key) = rest
            .split_once('/')
            .with_context(|| format!("{text}: the URL needs a key ({scheme}BUCKET/KEY)"))?;
        let store = Store::open(&format!("{scheme}{bucket}"), &config.store_settings())?;
        return download(&store, key);
    }
    if !looks_like_session_id(&text) {
        bail!("{text} is not a file, a store URL (s3://, az://, gs://) or a session id");
    }
    let url = store.map(str::to_owned).unwrap_or(config.storage.clone());
    let store = Store::open(&url, &config.store_settings())?;
    let catalog_path = crate::catalog::default_catalog(&url)?;
    let mut catalog = Catalog::open(&catalog_path)
        .with_context(|| format!("cannot open the catalog {}", catalog_path.display()))?;
    let mut found = catalog.get(&text)?;
    if found.is_none() {
        // Maybe shipped since the catalog was built.
        crate::catalog::rebuild(&store, &mut catalog)?;
        found = catalog.get(&text)?;
    }
    let manifest = found.with_context(|| format!("no session {text} in {url}"))?;
    // A manifest is not signed: whoever can write the store writes it. Its key must be where the
    // store lays out that session's recording (no `..`, no absolute path, no other session).
    let expected = manifest.keys().recording;
    if manifest.session_id != text || manifest.key != expected {
        bail!(
            "the manifest of session {text} in {url} points at {:?}, not at that session's recording \
             ({expected}); the store may have been tampered with",
            manifest.key
        );
    }
    let fetched = match url.strip_prefix("file://") {
        Some(dir) => {
            let path = Path::new(dir).join(&manifest.key);
            let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
            if !regular {
                bail!("{} is not a regular file in the store", path.display());
            }
            Fetched {
                path,
                temporary: false,
            }
        }
        None => download(&store, &manifest.key)?,
    };
    holds_session(&fetched, &text)?;
    Ok(fetched)
}

/// Whether the recording fetched for session `id` is that session's (its header says so), so
/// another session's genuine recording put in its place is not shown or verified as this one.
fn holds_session(fetched: &Fetched, id: &str) -> Result<()> {
    let reader =
        sessrec_formats::open_path(fetched.path(), &sessrec_formats::OpenOptions::default())
            .with_context(|| format!("cannot read the recording of session {id}"))?;
    match reader.header().session_id() {
        Some(found) if found == id => Ok(()),
        found => bail!(
            "the recording stored for session {id} is the recording of {}; the store may have been \
             tampered with",
            found.map_or("no sessrec session".to_string(), |f| format!("session {f}"))
        ),
    }
}

/// UUID-shaped: 36 characters of hex digits and dashes.
fn looks_like_session_id(s: &str) -> bool {
    s.len() == 36 && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

fn download(store: &Store, key: &str) -> Result<Fetched> {
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce)
        .map_err(|e| anyhow::anyhow!("no randomness for a temporary file name: {e}"))?;
    let path = std::env::temp_dir().join(format!(
        "sessrec-{}.cast.zst",
        sessrec_store::manifest::hex(&nonce)
    ));
    let fetched = Fetched {
        path,
        temporary: true,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode_private()
        .open(&fetched.path)
        .with_context(|| format!("cannot create {}", fetched.path.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime
        .block_on(sessrec_store::upload::fetch_to(store, key, &mut file))
        .with_context(|| format!("cannot fetch {key} from {}", store.url()))?;
    Ok(fetched)
}

trait PrivateMode {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateMode for std::fs::OpenOptions {
    /// Recordings are evidence and may hold secrets shown on screen: only the auditor reads them.
    fn mode_private(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}
