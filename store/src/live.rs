//! Sessions still being recorded: what the spool file gained since the last pass goes to the
//! store as a part object named by its byte range, so that at most a few seconds of a live
//! session exist only on the bastion. Any prefix of a `.cast.zst` reads as a truncated
//! recording, so the parts joined in order are a playable, verifiable (truncated) recording.
//! Once the session is sealed and the whole recording is stored, the parts are removed.
//!
//! ```text
//! live/SESSION/00000000000000000000-00000000000000004096.part
//! live/SESSION/00000000000000004096-00000000000000012288.part
//! ```

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use futures::StreamExt;
use object_store::ObjectStoreExt;

use crate::layout::component;
use crate::location::Store;
use crate::{Result, StoreError};

/// The largest part put in one request.
const MAX_PART: u64 = 16 * 1024 * 1024;

fn dir(session_id: &str) -> String {
    format!("live/{}", component(session_id))
}

/// The byte ranges stored for a live session.
pub async fn parts(store: &Store, session_id: &str) -> Result<Vec<(u64, u64)>> {
    let prefix = store.path(&dir(session_id));
    let mut list = store.inner().list(Some(&prefix));
    let mut ranges = Vec::new();
    while let Some(meta) = list.next().await {
        let meta = match meta {
            Ok(m) => m,
            // A junk entry planted in a local store is not a part: skipped, not fatal.
            Err(_) if store.local_dir().is_some() => continue,
            Err(e) => return Err(StoreError::store(format!("listing {prefix}"), e)),
        };
        let name = meta.location.filename().unwrap_or_default();
        let range = name.strip_suffix(".part").and_then(|r| r.split_once('-'));
        if let Some((a, b)) = range
            && let (Ok(a), Ok(b)) = (a.parse(), b.parse())
        {
            ranges.push((a, b));
        }
    }
    ranges.sort_unstable();
    Ok(ranges)
}

/// How far the store holds the session without a gap: the checkpoint to resume from when the
/// local one is lost.
pub async fn confirmed(store: &Store, session_id: &str) -> Result<u64> {
    let mut end = 0;
    for (a, b) in parts(store, session_id).await? {
        if a <= end {
            end = end.max(b);
        }
    }
    Ok(end)
}

/// Stores what `path` holds after `from`; returns the new end.
pub async fn ship_tail(store: &Store, path: &Path, session_id: &str, from: u64) -> Result<u64> {
    crate::guard::no_links(store, &format!("{}/x", dir(session_id)))?;
    let what = || format!("reading {}", path.display());
    let mut file = std::fs::File::open(path).map_err(|e| StoreError::io(what(), e))?;
    let len = file
        .metadata()
        .map_err(|e| StoreError::io(what(), e))?
        .len();
    let mut at = from;
    while at < len {
        let end = len.min(at + MAX_PART);
        let mut buf = vec![0u8; (end - at) as usize];
        file.seek(SeekFrom::Start(at))
            .and_then(|_| file.read_exact(&mut buf))
            .map_err(|e| StoreError::io(what(), e))?;
        let name = format!("{}/{at:020}-{end:020}.part", dir(session_id));
        if let Some((root, parts)) = store.local_parts(&name) {
            // The same part again (after a lost checkpoint) holds the same bytes.
            crate::local::put_bytes(&root, &parts, &buf, crate::local::Place::Replace)
                .map_err(|e| StoreError::io(format!("storing {name}"), e))?;
        } else {
            let key = store.path(&name);
            store
                .inner()
                .put(&key, buf.into())
                .await
                .map_err(|e| StoreError::store(format!("storing {key}"), e))?;
        }
        at = end;
    }
    Ok(at)
}

/// Removes the parts once the whole recording is stored.
pub async fn remove(store: &Store, session_id: &str) -> Result<()> {
    crate::guard::no_links(store, &format!("{}/x", dir(session_id)))?;
    for (a, b) in parts(store, session_id).await? {
        let name = format!("{}/{a:020}-{b:020}.part", dir(session_id));
        if let Some((root, parts)) = store.local_parts(&name) {
            crate::local::remove(&root, &parts)
                .map_err(|e| StoreError::io(format!("removing {name}"), e))?;
            continue;
        }
        let key = store.path(&name);
        store
            .inner()
            .delete(&key)
            .await
            .map_err(|e| StoreError::store(format!("removing {key}"), e))?;
    }
    Ok(())
}
