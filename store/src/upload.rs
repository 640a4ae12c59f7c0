//! Shipping one sealed recording: the recording in parts, confirmed ([`put_and_confirm`]), then
//! its manifest and grant marker ([`finish`]). Nothing is replaced by different bytes (see
//! [`guard`]): a retry after any failure (or a crash) finds its own bytes and goes on; the caller
//! deletes the local copy only after both returned `Ok`.

use std::collections::HashSet;
use std::path::Path;

use bytes::BytesMut;
use futures::StreamExt;
use md5::{Digest, Md5};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStoreExt, WriteMultipart};
use tokio::io::AsyncReadExt;

use crate::guard;
use crate::location::Store;
use crate::manifest::{
    Manifest, ShippedVerdict, StoredManifest, from_header_bytes, hex, parse_stored,
};
use crate::resumable;
pub use crate::resumable::Resumed;
use crate::sealed::{Attested, MAX_SEALED};
use crate::sent::{Sent, SentHasher};
use crate::{Result, StoreError};
use sessrec_formats::keys::PublicKey;

/// Part size of multipart uploads (S3's minimum is 5 MiB).
const PART: usize = 8 * 1024 * 1024;
/// Parts in flight at once; memory is bounded by PART times this.
const PARTS_IN_FLIGHT: usize = 4;
/// Bytes read from the file at a time.
const READ: usize = 1024 * 1024;

/// How the store confirmed that it holds exactly the bytes sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmed {
    /// The store's ETag is the MD5 of the parts it received, and it matches ours.
    ETag,
    /// The recording was read back and compared slice by slice (stores without MD5 ETags,
    /// `read_back = true`, or an ETag that did not match).
    ReadBack,
}

/// What [`put_and_confirm`] shipped.
#[derive(Debug, Clone)]
pub struct Shipped {
    /// Bytes stored.
    pub size: u64,
    /// Their SHA-256, hex, for the manifest.
    pub sha256: String,
    /// How the store's copy was confirmed.
    pub confirmed: Confirmed,
    /// Parts an earlier, interrupted attempt had already sent (cloud stores).
    pub resumed: Resumed,
}

/// Uploads the recording (hashing it on the way) and confirms that the store holds exactly
/// these bytes. S3-compatible stores (AWS, MinIO, Garage, Ceph) answer a completed multipart
/// upload with the MD5 of the MD5s of the parts they received: when that matches ours, the
/// server has computed over the very bytes sent. Otherwise (another ETag scheme, such as
/// SSE-KMS or Azure's, a local directory, or `read_back = true`), the copy is read back and
/// compared: an ETag is a shortcut, never a reason to reject.
///
/// On cloud stores the upload resumes: `checkpoint` (a local file) records each part the
/// store confirmed, and a later call sends only the others.
pub async fn put_and_confirm(
    store: &Store,
    path: &Path,
    key: &str,
    checkpoint: &Path,
) -> Result<Shipped> {
    let dest = store.path(key);
    let (sent, etag, resumed) = match store.multipart() {
        Some(multipart) => {
            let plan = resumable::Plan {
                checkpoint,
                part: PART,
                in_flight: PARTS_IN_FLIGHT,
                ids_are_md5: store.part_ids_are_md5(),
            };
            resumable::put(multipart, path, &dest, &plan).await?
        }
        None if store.local_dir().is_some() => {
            (put_local(store, path, key)?, None, Resumed::default())
        }
        None => {
            let (sent, etag) = put_file(store, path, &dest).await?;
            (sent, etag, Resumed::default())
        }
    };
    let etag_matches = etag.is_some_and(|e| same_etag(&e, &sent.multipart_etag()));
    let confirmed = if etag_matches && !store.read_back() {
        Confirmed::ETag
    } else {
        check_stored(store, &dest, &sent).await?;
        Confirmed::ReadBack
    };
    Ok(Shipped {
        size: sent.size,
        sha256: sent.sha256,
        confirmed,
        resumed,
    })
}

/// Whether the ETag a store returned (quoted or not, maybe weak) is `want`.
fn same_etag(got: &str, want: &str) -> bool {
    let got = got.trim().trim_start_matches("W/").trim_matches('"');
    got.eq_ignore_ascii_case(want)
}

/// Stores the manifest and the grant marker, never replacing different ones, then, when
/// `remove_live` (the recording just stored verified as this session's), removes the parts
/// shipped while it was live: the last step of shipping a recording.
pub async fn finish(store: &Store, stored: &StoredManifest, remove_live: bool) -> Result<()> {
    let attested = Attested {
        sealed: stored.sealed.clone(),
        key_id: stored.key_id.clone(),
        sig: stored.sig.clone(),
    };
    let body = attested.body()?;
    let keys = crate::layout::session_keys(
        &body.session_id,
        body.start.as_deref(),
        body.host.as_deref(),
        body.user.as_deref(),
        body.grant.as_deref(),
    );
    // A retry stores the same body with another upload time: that is the same manifest.
    let same_body = |held: &[u8]| {
        serde_json::from_slice::<StoredManifest>(held)
            .is_ok_and(|m| m.sealed.get() == stored.sealed.get() && m.sig == stored.sig)
    };
    guard::put_new(store, &keys.manifest, stored.to_bytes(), same_body).await?;
    if let Some(marker) = &keys.grant {
        guard::put_new(store, marker, keys.recording.clone().into_bytes(), |_| {
            false
        })
        .await?;
    }
    if remove_live {
        // The parts shipped while it was live are now redundant.
        crate::live::remove(store, &body.session_id).await?;
    }
    Ok(())
}

/// Copies `path` into a `file://` store, never through a link and never over an existing file
/// (see [`crate::local`]), hashing it on the way.
fn put_local(store: &Store, path: &Path, key: &str) -> Result<Sent> {
    struct Hashing<R> {
        inner: R,
        hashing: SentHasher,
    }
    impl<R: std::io::Read> std::io::Read for Hashing<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.hashing.update(&buf[..n]);
            Ok(n)
        }
    }
    let (root, parts) = store
        .local_parts(key)
        .ok_or_else(|| StoreError::Config("not a file:// store".into()))?;
    let file = std::fs::File::open(path)
        .map_err(|e| StoreError::io(format!("reading {}", path.display()), e))?;
    let mut source = Hashing {
        inner: std::io::BufReader::with_capacity(READ, file),
        hashing: SentHasher::new(PART),
    };
    match crate::local::put_file(&root, &parts, &mut source, crate::local::Place::New) {
        Ok(_) => Ok(source.hashing.finish()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(StoreError::Exists(
            format!("{key} appeared in the store meanwhile; it is not replaced"),
        )),
        Err(e) => Err(StoreError::io(format!("storing {key}"), e)),
    }
}

/// Uploads `path` to `dest` in parts; returns what was sent
/// and the ETag the store answered.
async fn put_file(store: &Store, path: &Path, dest: &ObjectPath) -> Result<(Sent, Option<String>)> {
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
    let mut hashing = SentHasher::new(PART);
    loop {
        let mut buf = BytesMut::with_capacity(READ);
        let n = match file.read_buf(&mut buf).await {
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
        let chunk = buf.freeze();
        hashing.update(&chunk);
        // Handed over, not copied, into the part.
        writer.put(chunk);
    }
    let done = writer
        .finish()
        .await
        .map_err(|e| StoreError::store(format!("completing the upload of {dest}"), e))?;
    Ok((hashing.finish(), done.e_tag))
}

/// Reads the stored recording back and compares it with what was sent: its size, then each
/// slice's MD5, several slices at a time.
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
    let checks = sent.parts.iter().enumerate().map(|(i, want)| async move {
        let start = i as u64 * part;
        let range = start..(start + part).min(sent.size);
        if range.is_empty() {
            return Ok(());
        }
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
        let mut h = Md5::new();
        let mut len = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| StoreError::store(format!("reading back {dest}"), e))?;
            len += chunk.len() as u64;
            h.update(&chunk);
        }
        let got: [u8; 16] = h.finalize().into();
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

/// Every manifest in the store; for a recording stored without one (a crash between the two
/// puts, or a manifest deleted), what its header says, with the verdict `unverified`.
///
/// An object that cannot be read as a manifest or a recording is left out and named in
/// [`Listing::unreadable`], so one junk file never hides every other session; a store that
/// cannot be reached is an error.
pub async fn manifests(store: &Store, trusted: &[PublicKey]) -> Result<Listing> {
    let prefix = store.path("sessions");
    let mut list = store.inner().list(Some(&prefix));
    let mut out = Vec::new();
    let mut described = HashSet::new();
    let mut recordings = Vec::new();
    let mut unreadable = Vec::new();
    while let Some(meta) = list.next().await {
        let meta = match meta {
            Ok(m) => m,
            // In a local store, one entry that cannot be listed (a link loop, a name that is not
            // UTF-8) is named and skipped: it never hides every other session.
            Err(e) if store.local_dir().is_some() => {
                unreadable.push(format!("an entry under {prefix} cannot be listed: {e}"));
                continue;
            }
            Err(e) => return Err(StoreError::store(format!("listing {prefix}"), e)),
        };
        let name = meta.location.as_ref();
        if let Some(stem) = name.strip_suffix(".manifest.json") {
            if meta.size > MAX_SEALED {
                unreadable.push(format!(
                    "the manifest {name} is {} bytes, over the 1 MiB a manifest may have",
                    meta.size
                ));
                continue;
            }
            match read_manifest(store, &meta.location, meta.size, trusted).await {
                Ok(m) => {
                    // Only a manifest of this very session describes the recording beside it:
                    // another session's put here must not hide this one.
                    if store.path(&m.keys().manifest) == meta.location {
                        described.insert(stem.to_string());
                    }
                    out.push(m);
                }
                Err(e) if !e.is_transient() => unreadable.push(e.to_string()),
                Err(e) => return Err(e),
            }
        } else if name.ends_with(RECORDING) {
            recordings.push(meta);
        }
    }
    let sizes: std::collections::HashMap<String, u64> = recordings
        .iter()
        .map(|r| (r.location.to_string(), r.size))
        .collect();
    for m in &mut out {
        held_as_sealed(store, m, &sizes);
    }
    for meta in recordings {
        let name = meta.location.as_ref();
        if described.contains(&name[..name.len() - RECORDING.len()]) {
            continue;
        }
        match manifest_from_recording(store, &meta.location).await {
            Ok(mut m) => {
                m.size = meta.size;
                m.uploaded = meta.last_modified.to_rfc3339();
                out.push(m);
            }
            Err(e) if !e.is_transient() => unreadable.push(e.to_string()),
            Err(e) => return Err(e),
        }
    }
    let manifests = one_per_session(out, &mut unreadable);
    Ok(Listing {
        manifests,
        unreadable,
    })
}

/// A verdict stands only while the store holds a recording of the sealed size at the sealed
/// key (`verify ID` checks its bytes): cut or deleted, the row says so instead.
fn held_as_sealed(store: &Store, m: &mut Manifest, sizes: &std::collections::HashMap<String, u64>) {
    if !matches!(
        m.verdict,
        ShippedVerdict::Intact | ShippedVerdict::Incomplete
    ) {
        return;
    }
    let problem = match sizes.get(store.path(&m.key).as_ref()) {
        None => format!("its recording {} is not in the store", m.key),
        Some(&size) if size != m.size => format!(
            "the store holds {size} bytes at {}, but {} were sealed",
            m.key, m.size
        ),
        Some(_) => return,
    };
    m.verdict = ShippedVerdict::Unverified;
    m.problem = Some(problem);
}

/// One manifest per session: where several claim the same session (one copied into another
/// session's place, say), the best attested is kept and the others are named as left out, so a
/// copy never displaces the genuine row.
fn one_per_session(all: Vec<Manifest>, left_out: &mut Vec<String>) -> Vec<Manifest> {
    use crate::sealed::Attestation;
    let rank = |m: &Manifest| match m.attestation {
        Attestation::Signed { .. } => 0,
        Attestation::Untrusted { .. } => 1,
        Attestation::Unsigned => 2,
        Attestation::Invalid { .. } => 3,
    };
    let mut best: std::collections::BTreeMap<String, Manifest> = Default::default();
    for m in all {
        let id = m.session_id.clone();
        let keep = match best.remove(&id) {
            None => m,
            Some(held) => {
                let (kept, dropped) = if rank(&m) < rank(&held) {
                    (m, held)
                } else {
                    (held, m)
                };
                left_out.push(format!(
                    "another manifest for session {id} ({}): {:?}",
                    dropped.key, dropped.attestation
                ));
                kept
            }
        };
        best.insert(id, keep);
    }
    best.into_values().collect()
}

/// What [`manifests`] found.
#[derive(Debug, Default)]
pub struct Listing {
    /// Every session described, by its manifest or by its recording's header.
    pub manifests: Vec<Manifest>,
    /// Why each object left out could not be read.
    pub unreadable: Vec<String>,
}

/// The suffix of recordings in the store.
const RECORDING: &str = ".cast.zst";
/// How much of a recording is fetched to read its header (the header opens the first frame).
const HEADER_BYTES: u64 = 256 * 1024;

/// Reads at most the `size` bytes the listing gave (a manifest replaced by a huge object since
/// is cut there, and fails to parse, rather than read whole).
async fn read_manifest(
    store: &Store,
    at: &ObjectPath,
    size: u64,
    trusted: &[PublicKey],
) -> Result<Manifest> {
    if size == 0 {
        return Err(StoreError::Recording(format!("the manifest {at} is empty")));
    }
    let bytes = store.read(at, Some(0..size)).await?;
    parse_stored(
        &bytes,
        &store.key_of(at),
        |m| store.path(&m.keys().manifest) == *at,
        trusted,
    )
}

async fn manifest_from_recording(store: &Store, at: &ObjectPath) -> Result<Manifest> {
    let start = store.read(at, Some(0..HEADER_BYTES)).await?;
    let mut m = from_header_bytes(start.to_vec(), at.as_ref())?;
    // The key it is stored under, even if the header would place it elsewhere.
    m.key = store.key_of(at);
    Ok(m)
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
    let back = store.read(&at, None).await?;
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

/// The object at `key` if it is there and no larger than a manifest may be (1 MiB).
pub async fn read_small(store: &Store, key: &str) -> Result<Option<bytes::Bytes>> {
    let at = store.path(key);
    let meta = match store.inner().head(&at).await {
        Ok(m) => m,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(StoreError::store(format!("looking for {at}"), e)),
    };
    if meta.size > MAX_SEALED {
        return Err(StoreError::Recording(format!(
            "{key} is {} bytes, over the 1 MiB a manifest may have",
            meta.size
        )));
    }
    let bytes = match meta.size {
        0 => bytes::Bytes::new(),
        n => store.read(&at, Some(0..n)).await?,
    };
    Ok(Some(bytes))
}

/// The keys of the objects under `prefix` (a key prefix ending in `/`), sorted.
pub async fn list_keys(store: &Store, prefix: &str) -> Result<Vec<String>> {
    let at = store.path(prefix.trim_end_matches('/'));
    let mut list = store.inner().list(Some(&at));
    let mut out = Vec::new();
    while let Some(meta) = list.next().await {
        let meta = meta.map_err(|e| StoreError::store(format!("listing {at}"), e))?;
        out.push(store.key_of(&meta.location));
    }
    out.sort();
    Ok(out)
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
