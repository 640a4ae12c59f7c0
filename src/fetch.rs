//! Recordings named on the command line: a path, an `s3://`, `az://` or `gs://` URL
//! (`SCHEME://BUCKET/KEY`), or a session id
//! found in the catalog of the configured store. Remote recordings are streamed to a private
//! temporary file (removed afterwards), so memory stays bounded whatever their size.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sessrec_store::{Catalog, Manifest, Store};

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

/// A recording that is not the one it was named as: another session's, put in its place by
/// someone who can write the store. Reported as an alteration (exit 4).
#[derive(Debug)]
pub struct Substituted(pub String);

impl std::fmt::Display for Substituted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "substituted: {}", self.0)
    }
}

impl std::error::Error for Substituted {}

/// Resolves `name`: `-`; `s3://BUCKET/KEY` (or `az://`, `gs://`); a session id (36 characters
/// of hex digits and dashes), looked up in the catalog of `store` (default: the policy's
/// `storage`), even if a file of that name exists; or else a path. `./ID` names a local file
/// that looks like an id. The policy is read from `config` only when it is needed.
///
/// A recording named by session id or store key must be that session's: its (chained and
/// signed) header must name the requested session, and the host, user, grant and start of its
/// manifest; one that does not is [`Substituted`].
pub fn resolve(name: &Path, store: Option<&str>, config: &Path) -> Result<Fetched> {
    let text = name.to_string_lossy();
    let local = |path: &Path| Fetched {
        path: path.to_path_buf(),
        temporary: false,
    };
    if name.as_os_str() == "-" {
        return Ok(local(name));
    }
    let scheme = ["s3://", "az://", "gs://"]
        .into_iter()
        .find(|s| text.starts_with(s));
    if scheme.is_none() && !looks_like_session_id(&text) {
        if !name.exists() {
            bail!(
                "{text} is not a file, a store URL (s3://, az://, gs://) or a session id; check \
                 the name"
            );
        }
        return Ok(local(name));
    }
    let config = Config::load(config)?;
    if let Some(scheme) = scheme {
        let rest = &text[scheme.len()..];
        let (bucket, key) = rest
            .split_once('/')
            .with_context(|| format!("{text}: the URL needs a key ({scheme}BUCKET/KEY)"))?;
        let store = Store::open(&format!("{scheme}{bucket}"), &config.store_settings())?;
        let fetched = download(&store, key)?;
        at_its_key(&fetched, key)?;
        return Ok(fetched);
    }
    let url = store.map(str::to_owned).unwrap_or(config.storage.clone());
    let store = Store::open(&url, &config.store_settings())?;
    let catalog_path = crate::catalog::default_catalog(&url)?;
    let mut catalog = Catalog::open(&catalog_path)
        .with_context(|| format!("cannot open the catalog {}", catalog_path.display()))?;
    let mut found = catalog.get(&text)?;
    if found.is_none() {
        // Maybe shipped since the catalog was built.
        let trusted = crate::keyfile::read_public_keys(&config.trusted_keys)?;
        crate::catalog::rebuild(&store, &mut catalog, &trusted)?;
        found = catalog.get(&text)?;
    }
    let manifest = found.with_context(|| {
        let file = if name.exists() {
            format!(" (to open the local file of that name, write ./{text})")
        } else {
            String::new()
        };
        format!("no session {text} in {url}{file}")
    })?;
    // Its key must be where the store lays out that session's recording (no `..`, no absolute
    // path, no other session): a manifest's key is never trusted as a path.
    let expected = manifest.keys().recording;
    if manifest.session_id != text || manifest.key != expected {
        return Err(Substituted(format!(
            "the manifest of session {text} in {url} points at {:?}, not at that session's \
             recording ({expected})",
            manifest.key
        ))
        .into());
    }
    let fetched = match url.strip_prefix("file://") {
        Some(dir) => {
            let path = Path::new(dir).join(&manifest.key);
            let regular = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file());
            if !regular {
                bail!("{} is not a regular file in the store", path.display());
            }
            local(&path)
        }
        None => download(&store, &manifest.key)?,
    };
    matches_manifest(&fetched, &manifest)?;
    Ok(fetched)
}

/// What the recording's header says about whose session it is.
fn header_of(fetched: &Fetched) -> Result<Manifest> {
    sessrec_store::manifest::from_header(fetched.path()).with_context(|| {
        format!(
            "cannot read the header of the recording {}",
            fetched.path().display()
        )
    })
}

/// The recording fetched for a manifest is that manifest's session: the same session id,
/// host, user, grant and start in its header.
fn matches_manifest(fetched: &Fetched, manifest: &Manifest) -> Result<()> {
    let header = header_of(fetched).map_err(|e| {
        Substituted(format!(
            "the recording stored for session {} is not a sessrec recording ({e:#})",
            manifest.session_id
        ))
    })?;
    let fields = [
        ("session", &header.session_id, &manifest.session_id),
        ("host", &shown(&header.host), &shown(&manifest.host)),
        ("user", &shown(&header.user), &shown(&manifest.user)),
        ("grant", &shown(&header.grant), &shown(&manifest.grant)),
        ("start", &shown(&header.start), &shown(&manifest.start)),
    ];
    for (what, held, claimed) in fields {
        if held != claimed {
            return Err(Substituted(format!(
                "the file holds session {} ({what} {held}), not session {} ({what} {claimed})",
                header.session_id, manifest.session_id
            ))
            .into());
        }
    }
    Ok(())
}

/// A recording fetched by store key is the one the store lays out at that key.
fn at_its_key(fetched: &Fetched, key: &str) -> Result<()> {
    if !key.starts_with("sessions/") {
        // Not laid out by sessrec (a copy put elsewhere): nothing to compare with.
        return Ok(());
    }
    let header = header_of(fetched)
        .map_err(|e| Substituted(format!("{key} is not a sessrec recording ({e:#})")))?;
    if header.key != key {
        return Err(Substituted(format!(
            "the file at {key} holds session {}, whose recording belongs at {}",
            header.session_id, header.key
        ))
        .into());
    }
    Ok(())
}

fn shown(field: &Option<String>) -> String {
    field.clone().unwrap_or_else(|| "none".into())
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
