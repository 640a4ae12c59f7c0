//! Shipping one sealed recording: the recording in parts, read back and compared
//! ([`put_and_confirm`]), then its manifest and grant marker ([`finish`]). Every step overwrites
//! the same keys with the same bytes, so a retry after any failure (or a crash) never duplicates
//! or corrupts anything; the caller deletes the local copy only after both returned `Ok`.

use std::path::Path;

use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::location::Store;
use crate::manifest::{Manifest, hex};
use crate::{Result, StoreError};

/// Part size of multipart uploads (S3's minimum is 5 MiB).
const PART: usize = 8 * 1024 * 1024;
/// Parts in flight at once; memory is bounded by PART times this.
const PARTS_IN_FLIGHT: usize = 4;

/// Uploads the recording (hashing it on the way), reads it back and compares: the store holds
/// exactly these bytes. Returns their size and SHA-256 for the manifest.
pub async fn put_and_confirm(store: &Store, path: &Path, key: &str) -> Result<(u64, String)> {
    let dest = store.path(key);
    let sent = put_file(store, path, &dest).await?;
    check_stored(store, &dest, &sent).await?;
    Ok((sent.size, sent.sha256))
}

/// Stores the manifest and the grant marker, then removes the parts shipped while the session
/// was live: the last step of shipping a recording.
pub async fn finish(store: &Store, manifest: &Manifest) -> Result<()> {
    let keys = manifest.keys();
    let json = serde_json::to_vec_pretty(manifest).expect("a manifest serialises");
    let manifest_at = store.path(&keys.manifest);
    store
        .inner()
        .put(&manifest_at, json.into())
        .await
        .map_err(|e| StoreError::store(format!("storing the manifest {manifest_at}"), e))?;
    if let Some(marker) = &keys.grant {
        let at = store.path(marker);
        store
            .inner()
            .put(&at, keys.recording.clone().into())
            .await
            .map_err(|e| StoreError::store(format!("storing the grant marker {at}"), e))?;
    }
    // The parts shipped while it was live are now redundant.
    crate::live::remove(store, &manifest.session_id).await
}

/// What was sent: its size, SHA-256, and the SHA-256 of each [`PART`]-sized slice (to check
/// the read-back slice by slice, in parallel).
struct Sent {
    size: u64,
    sha256: String,
    slices: Vec<[u8; 32]>,
}

async fn put_file(store: &Store, path: &Path, dest: &ObjectPath) -> Result<Sent> {
    let what = || format!("reading {}", path.display());
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| StoreError::io(what(), e))?;
    let upload = store
        .inner()
        .put_multipart(dest)
        .await
        .map_err(|e| StoreError::store(format!("starting the upload of {dest}"), e))?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
    let mut buf = vec![0u8; 1024 * 1024];
    let mut hash = Sha256::new();
    let mut slice = Sha256::new();
    let mut slices = Vec::new();
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(StoreError::io(what(), e));
            }
        };
        if n == 0 {
            break;
        }
        if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
            // The failed upload is abandoned; a retry starts a new one under the same key.
            return Err(StoreError::store(format!("uploading {dest}"), e));
        }
        hash.update(&buf[..n]);
        // Reads are 1 MiB or less and PART is a multiple of 1 MiB: slices end on read ends,
        // except after a short read, handled by splitting.
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let room = PART - (size as usize % PART);
            let take = room.min(rest.len());
            slice.update(&rest[..take]);
            size += take as u64;
            if size as usize % PART == 0 {
                slices.push(std::mem::take(&mut slice).finalize().into());
            }
            rest = &rest[take..];
        }
        writer.write(&buf[..n]);
    }
    writer
        .finish()
        .await
        .map_err(|e| StoreError::store(format!("completing the upload of {dest}"), e))?;
    if size as usize % PART != 0 {
        slices.push(slice.finalize().into());
    }
    Ok(Sent {
        size,
        sha256: hex(&hash.finalize()),
        slices,
    })
}

/// Reads the stored recording back and compares it with what was sent: its size, then each
/// slice's SHA-256, several slices at a time.
async fn check_stored(store: &Store, dest: &ObjectPath, sent: &Sent) -> Result<()> {
    let meta = store
        .inner()
        .head(dest)
        .await
        .map_err(|e| StoreError::store(format!("reading back {dest}"), e))?;
    if meta.size != sent.size {
        return Err(StoreError::Mismatch(format!(
            "the store holds {} bytes at {dest}, but {} were sent",
            meta.size, sent.size
        )));
    }
    let part = PART as u64;
    let checks = sent.slices.iter().enumerate().map(|(i, want)| async move {
        let start = i as u64 * part;
        let range = start..(start + part).min(sent.size);
        // Streamed and hashed as it comes: memory does not grow with the slices in flight.
        let opts = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            ..GetOptions::default()
        };
        let mut stream = store
            .inner()
            .get_opts(dest, opts)
            .await
            .map_err(|e| StoreError::store(format!("reading back {dest}"), e))?
            .into_stream();
        let mut h = Sha256::new();
        let mut len = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| StoreError::store(format!("reading back {dest}"), e))?;
            len += chunk.len() as u64;
            h.update(&chunk);
        }
        let got: [u8; 32] = h.finalize().into();
        if len != range.end - range.start || &got != want {
            return Err(StoreError::Mismatch(format!(
                "the store's copy of {dest} differs from what was sent in bytes {}..{}",
                range.start, range.end
            )));
        }
        Ok(())
    });
    let mut results = futures::stream::iter(checks).buffer_unordered(PARTS_IN_FLIGHT);
    while let Some(r) = results.next().await {
        r?;
    }
    Ok(())
}

/// Every manifest in the store.
pub async fn manifests(store: &Store) -> Result<Vec<Manifest>> {
    let prefix = store.path("sessions");
    let mut list = store.inner().list(Some(&prefix));
    let mut out = Vec::new();
    while let Some(meta) = list.next().await {
        let meta = meta.map_err(|e| StoreError::store(format!("listing {prefix}"), e))?;
        if !meta.location.as_ref().ends_with(".manifest.json") {
            continue;
        }
        let bytes = store
            .inner()
            .get(&meta.location)
            .await
            .map_err(|e| StoreError::store(format!("reading {}", meta.location), e))?
            .bytes()
            .await
            .map_err(|e| StoreError::store(format!("reading {}", meta.location), e))?;
        match serde_json::from_slice::<Manifest>(&bytes) {
            Ok(m) => out.push(m),
            Err(e) => {
                return Err(StoreError::Recording(format!(
                    "the manifest {} is not valid: {e}",
                    meta.location
                )));
            }
        }
    }
    Ok(out)
}

/// Writes, reads back and removes a small object under `doctor/`: proves the store is reachable
/// and the credentials may write, read and delete.
pub async fn probe(store: &Store) -> Result<()> {
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce)
        .map_err(|e| StoreError::Recording(format!("no randomness for the probe: {e}")))?;
    let body = format!("sessrec doctor probe {}", hex(&nonce));
    let at = store.path(&format!("doctor/probe-{}", hex(&nonce)));
    store
        .inner()
        .put(&at, body.clone().into())
        .await
        .map_err(|e| StoreError::store(format!("writing {at}"), e))?;
    let back = store
        .inner()
        .get(&at)
        .await
        .map_err(|e| StoreError::store(format!("reading {at}"), e))?
        .bytes()
        .await
        .map_err(|e| StoreError::store(format!("reading {at}"), e))?;
    store
        .inner()
        .delete(&at)
        .await
        .map_err(|e| StoreError::store(format!("deleting {at}"), e))?;
    if back.as_ref() != body.as_bytes() {
        return Err(StoreError::Mismatch(format!("{at} came back different")));
    }
    Ok(())
}

/// Streams the object at `key` into `out`; returns its size.
pub async fn fetch_to(store: &Store, key: &str, out: &mut impl std::io::Write) -> Result<u64> {
    let at = store.path(key);
    let got = store
        .inner()
        .get(&at)
        .await
        .map_err(|e| StoreError::store(format!("fetching {at}"), e))?;
    let mut stream = got.into_stream();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| StoreError::store(format!("fetching {at}"), e))?;
        out.write_all(&chunk)
            .map_err(|e| StoreError::io(format!("saving {at}"), e))?;
        size += chunk.len() as u64;
    }
    Ok(size)
}
