//! Nothing stored is ever replaced by different bytes: a spool file that claims an existing
//! session's id (or a retry after a crash) meets what the store already holds, and only the
//! very same bytes count as "already shipped". Compare-and-refuse works on every store; the
//! window between the look and the write is the uploader's own (one uploader per spool).

use std::path::Path;

use futures::StreamExt;
use object_store::ObjectStoreExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::location::Store;
use crate::{Result, StoreError};

/// What the store holds under a key, against a local file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    /// Nothing.
    Absent,
    /// The same bytes (an earlier attempt stored them): their SHA-256, hex.
    Same(String),
    /// Other bytes: why they differ.
    Different(String),
}

/// In a `file://` store, refuses a key any of whose directories is a link: the local store
/// follows links, and one planted by whoever can write the store would send the uploader's
/// writes (and deletions) outside it.
pub fn no_links(store: &Store, key: &str) -> Result<()> {
    let Some(root) = store.local_dir() else {
        return Ok(());
    };
    // The very path the local store writes: each part as the object path encodes it.
    let mut at = root.to_path_buf();
    for part in store.path(key).parts() {
        at.push(part.as_ref());
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(StoreError::Exists(format!(
                    "{} in the store is a link; nothing is written through it (remove it)",
                    at.display()
                )));
            }
            Ok(_) => {}
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// Compares the object at `key` with the local file at `local`: size first, then SHA-256.
pub async fn compare_with_file(store: &Store, key: &str, local: &Path) -> Result<Existing> {
    no_links(store, key)?;
    let at = store.path(key);
    let meta = match store.inner().head(&at).await {
        Ok(m) => m,
        Err(object_store::Error::NotFound { .. }) => return Ok(Existing::Absent),
        Err(e) => return Err(StoreError::store(format!("looking for {at}"), e)),
    };
    let size = std::fs::metadata(local)
        .map_err(|e| StoreError::io(format!("reading {}", local.display()), e))?
        .len();
    if meta.size != size {
        return Ok(Existing::Different(format!(
            "{key} holds {} bytes, the spool file {size}",
            meta.size
        )));
    }
    let ours = hash_file(local).await?;
    let theirs = hash_object(store, key).await?;
    Ok(if ours == theirs {
        Existing::Same(ours)
    } else {
        Existing::Different(format!(
            "{key} holds other bytes of the same size (SHA-256 {theirs}, the spool file {ours})"
        ))
    })
}

/// Stores a small object at `key` unless one is there; an existing one is accepted only when
/// `same` says it is equivalent, else [`StoreError::Exists`].
pub async fn put_new(
    store: &Store,
    key: &str,
    bytes: Vec<u8>,
    same: impl Fn(&[u8]) -> bool,
) -> Result<()> {
    no_links(store, key)?;
    let at = store.path(key);
    match store.inner().head(&at).await {
        Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(StoreError::store(format!("looking for {at}"), e)),
        Ok(meta) if meta.size > crate::sealed::MAX_SEALED => {
            return Err(StoreError::Exists(format!(
                "{key} already exists ({} bytes, no manifest or marker); it is not replaced",
                meta.size
            )));
        }
        Ok(meta) => {
            let held = match meta.size {
                0 => bytes::Bytes::new(),
                n => store.read(&at, Some(0..n)).await?,
            };
            if held.as_ref() == bytes.as_slice() || same(&held) {
                return Ok(());
            }
            return Err(StoreError::Exists(format!(
                "{key} already exists with other content; it is not replaced"
            )));
        }
    }
    if let Some((root, parts)) = store.local_parts(key) {
        return match crate::local::put_bytes(&root, &parts, &bytes, crate::local::Place::New) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(StoreError::Exists(
                format!("{key} appeared in the store meanwhile; it is not replaced"),
            )),
            Err(e) => Err(StoreError::io(format!("storing {key}"), e)),
        };
    }
    store
        .inner()
        .put(&at, bytes.into())
        .await
        .map_err(|e| StoreError::store(format!("storing {at}"), e))?;
    Ok(())
}

async fn hash_file(path: &Path) -> Result<String> {
    let what = || format!("reading {}", path.display());
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| StoreError::io(what(), e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .await
            .map_err(|e| StoreError::io(what(), e))?;
        if n == 0 {
            return Ok(crate::manifest::hex(&h.finalize()));
        }
        h.update(&buf[..n]);
    }
}

async fn hash_object(store: &Store, key: &str) -> Result<String> {
    let at = store.path(key);
    let mut stream = store
        .inner()
        .get(&at)
        .await
        .map_err(|e| StoreError::store(format!("reading {at}"), e))?
        .into_stream();
    let mut h = Sha256::new();
    while let Some(chunk) = stream.next().await {
        h.update(&chunk.map_err(|e| StoreError::store(format!("reading {at}"), e))?);
    }
    Ok(crate::manifest::hex(&h.finalize()))
}
