//! Recordings named on the command line: a path, an `s3://`, `az://` or `gs://` URL
//! (`SCHEME://BUCKET/KEY`), or a session id
//! found in the catalog of the configured store. Remote recordings are streamed to a private
//! temporary file (removed afterwards), so memory stays bounded whatever their size.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sessrec_formats::SessrecMeta;
use sessrec_store::{Catalog, Manifest, Store};

use crate::config::Config;

/// A recording ready to open.
pub struct Fetched {
    path: PathBuf,
    temporary: bool,
    /// A recording in a `file://` store, held open: every later open goes through
    /// `/proc/self/fd/N` to this very file, so it cannot be swapped for another after the check.
    _held: Option<std::fs::File>,
    /// The session it must be, when it was named by session id or store key.
    expected: Option<Expected>,
}

impl Expected {
    /// The session a manifest describes, as its recording must show it.
    fn of(manifest: &Manifest) -> Expected {
        Expected {
            named: format!("the recording of session {}", manifest.session_id),
            session_id: manifest.session_id.clone(),
            fields: Some([
                manifest.host.clone(),
                manifest.user.clone(),
                manifest.grant.clone(),
                manifest.start.clone(),
            ]),
            key: Some(manifest.key.clone()),
        }
    }
}

impl Drop for Fetched {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Whose recording a fetched one must be.
#[derive(Debug, Clone)]
struct Expected {
    /// How it was named, for messages.
    named: String,
    session_id: String,
    /// host, user, grant, start, from the manifest (`None`: not compared).
    fields: Option<[Option<String>; 4]>,
    /// The store key it was fetched from, which must be its layout's key.
    key: Option<String>,
}

impl Fetched {
    /// Where to open it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks the header of the recording as a verification pass read it (`meta`) against the
    /// session it was named as; `Err` is [`Substituted`].
    pub fn check_verified(&self, meta: Option<&SessrecMeta>) -> Result<(), Substituted> {
        let Some(expected) = &self.expected else {
            return Ok(());
        };
        let Some(meta) = meta else {
            return Err(Substituted(format!(
                "{} is not a sessrec recording",
                expected.named
            )));
        };
        let held = sessrec_store::manifest::from_meta(meta);
        if held.session_id != expected.session_id {
            return Err(Substituted(format!(
                "the file holds session {}, not session {}",
                held.session_id, expected.session_id
            )));
        }
        if let Some(fields) = &expected.fields {
            let mine = [&held.host, &held.user, &held.grant, &held.start];
            for ((what, claimed), got) in ["host", "user", "grant", "start"]
                .iter()
                .zip(fields)
                .zip(mine)
            {
                if got != claimed {
                    return Err(Substituted(format!(
                        "the file holds session {} with {what} {}, but its manifest says {}",
                        held.session_id,
                        shown(got),
                        shown(claimed)
                    )));
                }
            }
        }
        if let Some(key) = &expected.key
            && key.starts_with("sessions/")
            && &held.key != key
        {
            return Err(Substituted(format!(
                "the file at {key} holds session {}, whose recording belongs at {}",
                held.session_id, held.key
            )));
        }
        Ok(())
    }

    /// The same for a recording read from its start by another reader (`info`, `play`).
    pub fn check_header(&self, header: &sessrec_formats::Header) -> Result<(), Substituted> {
        self.check_verified(header.sessrec.as_ref())
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
    if name.as_os_str() == "-" {
        return Ok(Fetched::local(name));
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
        return Ok(Fetched::local(name));
    }
    let config = Config::load(config)?;
    if let Some(scheme) = scheme {
        let rest = &text[scheme.len()..];
        let (bucket, key) = rest
            .split_once('/')
            .with_context(|| format!("{text}: the URL needs a key ({scheme}BUCKET/KEY)"))?;
        let store = Store::open(&format!("{scheme}{bucket}"), &config.store_settings())?;
        let mut fetched = download(&store, key)?;
        // Laid out by sessrec, the key names the session: the file must be that session's.
        if let Some(id) = key
            .strip_prefix("sessions/")
            .and_then(|k| k.rsplit('/').next())
            .and_then(|n| n.strip_suffix(".cast.zst"))
        {
            fetched.expected = Some(Expected {
                named: text.to_string(),
                session_id: id.to_string(),
                fields: None,
                key: Some(key.to_string()),
            });
        }
        fetched.check_now()?;
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
    let mut fetched = match store.local_file(&manifest.key) {
        Some(file) => Fetched::held(&file)?,
        None => download(&store, &manifest.key)?,
    };
    fetched.expected = Some(Expected::of(&manifest));
    fetched.check_now()?;
    Ok(fetched)
}

impl Fetched {
    fn local(path: &Path) -> Fetched {
        Fetched {
            path: path.to_path_buf(),
            temporary: false,
            _held: None,
            expected: None,
        }
    }

    /// A file in a `file://` store, opened now (never through a link at its end) and reached
    /// from then on through its descriptor.
    fn held(path: &Path) -> Result<Fetched> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(
                (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
            )
            .open(path)
            .with_context(|| format!("cannot open {} in the store", path.display()))?;
        let regular = file.metadata().is_ok_and(|m| m.file_type().is_file());
        if !regular {
            bail!("{} is not a regular file in the store", path.display());
        }
        Ok(Fetched {
            path: PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd())),
            temporary: false,
            _held: Some(file),
            expected: None,
        })
    }

    /// Checks the header as it is now (the verification pass checks it again, as it reads).
    /// A header that cannot be read is not called a substitution: the reader says what is
    /// wrong with the file (`verify`: altered).
    fn check_now(&self) -> Result<()> {
        let reader =
            sessrec_formats::open_path(self.path(), &sessrec_formats::OpenOptions::default());
        if let Ok(r) = reader {
            self.check_header(r.header())?;
        }
        Ok(())
    }

    /// A recording held open in a `file://` store, copied to a private temporary file (and
    /// checked again there), for readers that read it more than once; others as they are.
    pub fn private_copy(mut self) -> Result<Fetched> {
        let Some(held) = self._held.take() else {
            return Ok(self);
        };
        let (path, mut copy) = private_temp()?;
        let fetched = Fetched {
            path,
            temporary: true,
            _held: None,
            expected: self.expected.take(),
        };
        let mut from = &held;
        std::io::Seek::seek(&mut from, std::io::SeekFrom::Start(0))
            .and_then(|_| std::io::copy(&mut from, &mut copy))
            .with_context(|| format!("cannot copy {}", self.path.display()))?;
        fetched.check_now()?;
        Ok(fetched)
    }
}

fn shown(field: &Option<String>) -> String {
    field.clone().unwrap_or_else(|| "none".into())
}

/// UUID-shaped: 36 characters of hex digits and dashes.
fn looks_like_session_id(s: &str) -> bool {
    s.len() == 36 && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// A new file only this user can read, in the temporary directory, with a random name.
fn private_temp() -> Result<(PathBuf, std::fs::File)> {
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce)
        .map_err(|e| anyhow::anyhow!("no randomness for a temporary file name: {e}"))?;
    let path = std::env::temp_dir().join(format!(
        "sessrec-{}.cast.zst",
        sessrec_store::manifest::hex(&nonce)
    ));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode_private()
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    Ok((path, file))
}

fn download(store: &Store, key: &str) -> Result<Fetched> {
    let (path, mut file) = private_temp()?;
    let fetched = Fetched {
        path,
        temporary: true,
        _held: None,
        expected: None,
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str, host: &str) -> SessrecMeta {
        SessrecMeta {
            format: 2,
            session_id: id.into(),
            host: Some(host.into()),
            start: Some("2026-12-01T10:00:00Z".into()),
            identity: Some(serde_json::json!({"user": "alice"})),
            ..SessrecMeta::default()
        }
    }

    /// What the verification pass read decides, whatever the first look at the file said: a
    /// file swapped or rewritten in between is still caught.
    #[test]
    fn the_header_a_pass_read_must_be_the_named_sessions() {
        let a = "01a20000-0000-7000-8000-00000000000a";
        let b = "01a20000-0000-7000-8000-00000000000b";
        let mut fetched = Fetched::local(Path::new("x"));
        let manifest = sessrec_store::manifest::from_meta(&meta(a, "bastion-1"));
        fetched.expected = Some(Expected::of(&manifest));
        assert!(fetched.check_verified(Some(&meta(a, "bastion-1"))).is_ok());
        let other = fetched
            .check_verified(Some(&meta(b, "bastion-1")))
            .unwrap_err();
        assert!(
            other.to_string().contains(&format!("holds session {b}")),
            "{other}"
        );
        let moved = fetched
            .check_verified(Some(&meta(a, "bastion-2")))
            .unwrap_err();
        assert!(moved.to_string().contains("host bastion-2"), "{moved}");
        assert!(fetched.check_verified(None).is_err());
        // A file named as a path is not bound to any session.
        assert!(Fetched::local(Path::new("x")).check_verified(None).is_ok());
    }
}
