//! The spool as the uploader sees it: which recordings are still being written (their recorder
//! holds a lock), how often shipping one failed and why, and the quarantine for files that
//! cannot be shipped.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// A recording in the spool.
pub struct SpoolFile {
    /// Its path.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Whether a recorder is still writing it.
    pub live: bool,
    /// Earlier failures to ship it.
    pub failures: Option<Failures>,
}

/// Failed attempts to ship one file, kept in `SPOOL/.upload/NAME.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Failures {
    /// How many passes failed.
    pub count: u32,
    /// The last error.
    pub last_error: String,
    /// When (RFC 3339).
    pub last_try: String,
}

/// The recordings in `spool`, oldest first (session ids are time-ordered UUIDv7).
pub fn scan(spool: &Path) -> Result<Vec<SpoolFile>> {
    let mut out = Vec::new();
    let entries = fs::read_dir(spool)
        .with_context(|| format!("cannot read the spool {}", spool.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read the spool {}", spool.display()))?;
        let path = entry.path();
        let is_recording = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".cast.zst") && !n.starts_with('.'));
        let Ok(meta) = entry.metadata() else { continue };
        if !is_recording || !meta.is_file() {
            continue;
        }
        out.push(SpoolFile {
            live: is_live(&path),
            failures: read_failures(spool, &path),
            size: meta.len(),
            path,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Whether a recorder holds the file's lock.
pub fn is_live(path: &Path) -> bool {
    let Ok(f) = fs::File::open(path) else {
        return false;
    };
    rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockShared).is_err()
}

fn state_path(spool: &Path, file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    let mut p = spool.join(".upload").join(name);
    p.as_mut_os_string().push(".json");
    p
}

fn read_failures(spool: &Path, file: &Path) -> Option<Failures> {
    let text = fs::read_to_string(state_path(spool, file)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Notes one more failed pass; returns the count.
pub fn record_failure(spool: &Path, file: &Path, error: &str) -> Result<u32> {
    let mut f = read_failures(spool, file).unwrap_or_default();
    f.count += 1;
    f.last_error = error.into();
    f.last_try = jiff::Timestamp::now().to_string();
    let path = state_path(spool, file);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let json = serde_json::to_vec_pretty(&f).context("encoding the upload state")?;
    fs::write(&path, json).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(f.count)
}

/// Forgets the failures and the checkpoints of a shipped file.
pub fn clear_failures(spool: &Path, file: &Path) {
    let _ = fs::remove_file(state_path(spool, file));
    let _ = fs::remove_file(checkpoint_path(spool, file));
    let _ = fs::remove_file(multipart_checkpoint(spool, file));
}

/// Where the parts of a sealed recording the store confirmed are noted, so that an interrupted
/// upload resumes (`SPOOL/.upload/NAME.multipart`, made when the first part is confirmed).
pub fn multipart_checkpoint(spool: &Path, file: &Path) -> PathBuf {
    let mut path = state_path(spool, file);
    path.set_extension("multipart");
    path
}

fn checkpoint_path(spool: &Path, file: &Path) -> PathBuf {
    let mut p = state_path(spool, file);
    p.set_extension("live");
    p
}

/// How much of a live recording the store confirmed, as last noted here.
pub fn live_checkpoint(spool: &Path, file: &Path) -> Option<u64> {
    fs::read_to_string(checkpoint_path(spool, file))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Notes how much of a live recording the store confirmed.
pub fn set_live_checkpoint(spool: &Path, file: &Path, offset: u64) -> Result<()> {
    let path = checkpoint_path(spool, file);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    fs::write(&path, offset.to_string()).with_context(|| format!("cannot write {}", path.display()))
}

/// Moves a file that cannot be shipped to `SPOOL/quarantine`, with the reason beside it.
pub fn quarantine(spool: &Path, file: &Path, reason: &str) -> Result<PathBuf> {
    let dir = spool.join("quarantine");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = file.file_name().context("a spool file has a name")?;
    let dest = dir.join(name);
    fs::rename(file, &dest)
        .with_context(|| format!("cannot move {} to {}", file.display(), dest.display()))?;
    let mut why = dest.clone().into_os_string();
    why.push(".reason");
    fs::write(&why, format!("{reason}\n"))
        .with_context(|| format!("cannot write {}", Path::new(&why).display()))?;
    clear_failures(spool, file);
    Ok(dest)
}

/// The quarantined files.
pub fn quarantined(spool: &Path) -> Vec<(PathBuf, String)> {
    let Ok(entries) = fs::read_dir(spool.join("quarantine")) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".cast.zst"))
        .map(|p| {
            let mut why = p.clone().into_os_string();
            why.push(".reason");
            let reason = fs::read_to_string(&why).unwrap_or_default();
            (p, reason.trim().to_string())
        })
        .collect();
    out.sort();
    out
}
