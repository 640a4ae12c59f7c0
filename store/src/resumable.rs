//! Multipart uploads that resume where they stopped: after each part the store confirms, a
//! checkpoint beside the spool file records it, so an uploader killed in the middle of a 2 GB
//! recording sends only the parts the store does not have yet.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::BytesMut;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{Error as ObjectError, PutPayload};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::task::JoinSet;

use crate::manifest::hex;
use crate::sent::{Sent, SentHasher};
use crate::{Result, StoreError};

/// What the store has confirmed of one multipart upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Checkpoint {
    /// The object being written.
    key: String,
    /// The store's id of the upload.
    upload_id: String,
    /// Size of the local file, and of each part: a checkpoint for other bytes is not reused.
    size: u64,
    part_size: u64,
    /// Confirmed parts: index to the store's id of the part (its ETag on S3).
    parts: BTreeMap<usize, String>,
}

/// Progress of [`put`], for the caller's log.
#[derive(Debug, Clone, Copy, Default)]
pub struct Resumed {
    /// Parts the store already had from an earlier attempt.
    pub parts_kept: usize,
    /// Parts in all.
    pub parts: usize,
}

/// How to cut and send an upload.
pub(crate) struct Plan<'a> {
    /// The local checkpoint (deleted once the upload is complete).
    pub checkpoint: &'a Path,
    /// Bytes per part.
    pub part: usize,
    /// Parts sent at once.
    pub in_flight: usize,
    /// Whether the store's part ids are MD5s to check each part against.
    pub ids_are_md5: bool,
}

/// Uploads `path` to `dest` as planned. Returns what was sent, the store's ETag of the whole,
/// and how much of it an earlier attempt had already sent.
pub(crate) async fn put(
    store: &Arc<dyn MultipartStore>,
    path: &Path,
    dest: &ObjectPath,
    plan: &Plan<'_>,
) -> Result<(Sent, Option<String>, Resumed)> {
    let Plan {
        checkpoint,
        part,
        in_flight,
        ids_are_md5,
    } = *plan;
    let what = || format!("reading {}", path.display());
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| StoreError::io(what(), e))?;
    let size = file
        .metadata()
        .await
        .map_err(|e| StoreError::io(what(), e))?
        .len();
    let mut state = match load(checkpoint, dest, size, part) {
        Some(c) => c,
        None => {
            let upload_id = store
                .create_multipart(dest)
                .await
                .map_err(|e| StoreError::store(format!("starting the upload of {dest}"), e))?;
            let c = Checkpoint {
                key: dest.to_string(),
                upload_id,
                size,
                part_size: part as u64,
                parts: BTreeMap::new(),
            };
            save(checkpoint, &c)?;
            c
        }
    };
    let count = (size.div_ceil(part as u64) as usize).max(1);
    let resumed = Resumed {
        parts_kept: state.parts.len(),
        parts: count,
    };
    let mut hasher = SentHasher::new(part);
    // Parts are tasks: they progress while the next part is read from disk.
    let mut sending = JoinSet::new();
    for index in 0..count {
        // Room first, then the next part is read: at most `in_flight` parts in memory.
        while sending.len() >= in_flight {
            let done = joined(sending.join_next().await)?;
            confirm(store.as_ref(), dest, plan, &mut state, done).await?;
        }
        let mut buf = BytesMut::with_capacity(part);
        while buf.len() < part {
            let n = file
                .read_buf(&mut buf)
                .await
                .map_err(|e| StoreError::io(what(), e))?;
            if n == 0 {
                break;
            }
        }
        let chunk = buf.freeze();
        hasher.update(&chunk);
        let md5 = hex(&hasher.last_part());
        if let Some(id) = state.parts.get(&index) {
            if ids_are_md5 && md5_differs(id, &md5) {
                // Not the bytes the checkpoint was written for: start again.
                forget(store.as_ref(), dest, checkpoint, &state).await;
                return Err(StoreError::Mismatch(format!(
                    "part {index} of {dest} in the store differs from the file; the upload starts again"
                )));
            }
            continue;
        }
        let (to, at, upload_id) = (store.clone(), dest.clone(), state.upload_id.clone());
        sending.spawn(async move {
            let sent = to
                .put_part(&at, &upload_id, index, PutPayload::from_bytes(chunk))
                .await;
            (index, md5, sent)
        });
    }
    while !sending.is_empty() {
        let done = joined(sending.join_next().await)?;
        confirm(store.as_ref(), dest, plan, &mut state, done).await?;
    }
    let parts: Vec<PartId> = state
        .parts
        .values()
        .map(|id| PartId {
            content_id: id.clone(),
        })
        .collect();
    let completed = store
        .complete_multipart(dest, &state.upload_id, parts)
        .await;
    let done = match completed {
        Ok(done) => done,
        Err(e) => {
            if matches!(e, ObjectError::NotFound { .. }) {
                forget(store.as_ref(), dest, checkpoint, &state).await;
            }
            return Err(StoreError::store(
                format!("completing the upload of {dest}"),
                e,
            ));
        }
    };
    let _ = std::fs::remove_file(checkpoint);
    Ok((hasher.finish(), done.e_tag, resumed))
}

type PartSent = (usize, String, object_store::Result<PartId>);

/// The outcome of a part's task.
fn joined(next: Option<Result<PartSent, tokio::task::JoinError>>) -> Result<PartSent> {
    match next {
        Some(Ok(done)) => Ok(done),
        Some(Err(e)) => Err(StoreError::Recording(format!(
            "a part's upload failed: {e}"
        ))),
        None => Err(StoreError::Recording("no part was in flight".into())),
    }
}

/// Records a part the store answered for, or gives up on an upload the store no longer knows.
async fn confirm(
    store: &dyn MultipartStore,
    dest: &ObjectPath,
    plan: &Plan<'_>,
    state: &mut Checkpoint,
    (index, md5, sent): PartSent,
) -> Result<()> {
    let checkpoint = plan.checkpoint;
    match sent {
        Ok(id) if plan.ids_are_md5 && md5_differs(&id.content_id, &md5) => {
            Err(StoreError::Mismatch(format!(
                "the store received part {index} of {dest} damaged (its ETag is {}, the part's MD5 {md5})",
                id.content_id
            )))
        }
        Ok(id) => {
            state.parts.insert(index, id.content_id);
            save(checkpoint, state)
        }
        Err(e) => {
            if matches!(e, ObjectError::NotFound { .. }) {
                // The upload expired or was aborted: the next attempt starts a new one.
                forget(store, dest, checkpoint, state).await;
            }
            Err(StoreError::store(
                format!("uploading part {index} of {dest}"),
                e,
            ))
        }
    }
}

/// Whether the store's id of a part (an MD5: S3's part ETags are) is not `md5`.
fn md5_differs(content_id: &str, md5: &str) -> bool {
    !content_id.trim_matches('"').eq_ignore_ascii_case(md5)
}

/// The checkpoint at `at` if it is for this object, size and part size.
fn load(at: &Path, dest: &ObjectPath, size: u64, part: usize) -> Option<Checkpoint> {
    let c: Checkpoint = serde_json::from_slice(&std::fs::read(at).ok()?).ok()?;
    (c.key == dest.as_ref() && c.size == size && c.part_size == part as u64).then_some(c)
}

/// Writes the checkpoint whole or not at all (a crash leaves the old one).
fn save(at: &Path, c: &Checkpoint) -> Result<()> {
    let mut tmp = at.as_os_str().to_owned();
    tmp.push(".tmp");
    let json = serde_json::to_vec(c).expect("a checkpoint serialises");
    if let Some(dir) = at.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::io(
                format!("creating the checkpoint directory {}", dir.display()),
                e,
            )
        })?;
    }
    std::fs::write(&tmp, json)
        .and_then(|()| std::fs::rename(&tmp, at))
        .map_err(|e| StoreError::io(format!("saving the upload checkpoint {}", at.display()), e))
}

/// Drops the checkpoint and, as far as the store allows, the upload it describes.
async fn forget(store: &dyn MultipartStore, dest: &ObjectPath, at: &Path, c: &Checkpoint) {
    let _ = std::fs::remove_file(at);
    let _ = store.abort_multipart(dest, &c.upload_id).await;
}
