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
            .is_some_and(is_recording_name);
        // lstat: a link is never followed, and is not a recording.
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

/// A recording's name as the service writes it: `SESSION_ID.cast.zst`, the id of letters,
/// digits and `-` only. Anything else (a newline or an escape in a name) is never touched, so
/// no control character from a file name reaches a log, a store key or a terminal.
pub fn is_recording_name(name: &str) -> bool {
    name.strip_suffix(".cast.zst").is_some_and(|id| {
        !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// The name of a recording's sealed manifest (or of one being written): `SESSION_ID.manifest.json`.
fn is_sealed_manifest_name(name: &str) -> bool {
    let stem = name
        .strip_suffix(".manifest.json")
        .or_else(|| name.strip_suffix(".manifest.json.tmp"));
    stem.is_some_and(|id| is_recording_name(&format!("{id}.cast.zst")))
}

/// Where the recording service puts the signed manifest of the sealed recording at `file`.
pub fn sealed_manifest_path(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let id = name.strip_suffix(".cast.zst").unwrap_or(name);
    file.with_file_name(format!("{id}.manifest.json"))
}

/// The sealed manifest beside `file`: `None` when there is none (its recorder died before
/// sealing), else its bytes (read without following a link, at most 1 MiB) or why not.
pub fn read_sealed_manifest(file: &Path) -> Option<Result<Vec<u8>, String>> {
    use std::io::Read;
    let path = sealed_manifest_path(file);
    let f = match open_nofollow(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some(Err(format!("cannot open {}: {e}", path.display()))),
        Ok(f) => f,
    };
    let limit = sessrec_store::sealed::MAX_SEALED;
    let mut bytes = Vec::new();
    Some(match f.take(limit + 1).read_to_end(&mut bytes) {
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        Ok(n) if n as u64 > limit => Err(format!("{} is over 1 MiB", path.display())),
        Ok(_) => Ok(bytes),
    })
}

/// A spool recording opened once, for every later read: never through a link, never a FIFO or
/// device (the open does not block), and from then on reached through its descriptor
/// (`/proc/self/fd/N`), so the file that was checked is the file that is shipped.
pub struct Opened {
    file: fs::File,
    /// The path that reaches this very file.
    pub path: PathBuf,
}

impl Opened {
    /// Removes `name` from the spool if it still is this file (a file put in its place since
    /// is left alone).
    pub fn remove(&self, name: &Path) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let mine = self.file.metadata().context("reading the shipped file")?;
        let there = fs::symlink_metadata(name)
            .with_context(|| format!("cannot read {}", name.display()))?;
        if (there.dev(), there.ino()) != (mine.dev(), mine.ino()) {
            anyhow::bail!(
                "{} is no longer the file that was shipped; it is left in the spool",
                name.display()
            );
        }
        fs::remove_file(name)
            .with_context(|| format!("cannot remove the shipped {}", name.display()))
    }
}

/// Opens the spool recording at `path` (see [`Opened`]).
pub fn open_recording(path: &Path) -> Result<Opened> {
    use std::os::fd::AsRawFd;
    let file = open_nofollow(path).with_context(|| format!("cannot open {}", path.display()))?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        anyhow::bail!("{} is not a regular file", path.display());
    }
    Ok(Opened {
        path: PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd())),
        file,
    })
}

/// Opens `path` for reading without following a link.
fn open_nofollow(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)
}

/// Writes a file of the uploader's own state: in a directory it made (`state_dir`), created
/// mode 0600 and never through a link.
pub(crate) fn write_state(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        state_dir(dir)?;
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Makes (mode 0700) or checks one of the uploader's directories in the spool: it must be a
/// real directory (not a link) owned by the uploader.
fn state_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match fs::symlink_metadata(dir) {
        Err(_) => fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display())),
        Ok(m) if !m.is_dir() => anyhow::bail!(
            "{} is not a directory (a link?); remove it so the uploader can make its own",
            dir.display()
        ),
        Ok(m) if m.uid() != rustix::process::geteuid().as_raw() => anyhow::bail!(
            "{} belongs to uid {}, not to the uploader; remove it",
            dir.display(),
            m.uid()
        ),
        Ok(_) => Ok(()),
    }
}

/// Makes or checks `SPOOL/.upload`, the uploader's state directory.
pub fn prepare(spool: &Path) -> Result<()> {
    state_dir(&spool.join(".upload"))
}

/// Files in the spool that are not recordings by name (left alone by the uploader, shown by
/// `upload --status` so that nothing in the spool goes unseen).
pub fn strays(spool: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(spool)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.starts_with('.')
                && name != "quarantine"
                && !is_recording_name(&name)
                && !is_sealed_manifest_name(&name)
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// Whether a recorder holds the file's lock.
pub fn is_live(path: &Path) -> bool {
    let Ok(f) = open_nofollow(path) else {
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
    let json = serde_json::to_vec_pretty(&f).context("encoding the upload state")?;
    write_state(&path, &json)?;
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
    write_state(&checkpoint_path(spool, file), offset.to_string().as_bytes())
}

/// Moves a file that cannot be shipped to `SPOOL/quarantine`, with the reason beside it.
pub fn quarantine(spool: &Path, file: &Path, reason: &str) -> Result<PathBuf> {
    let dir = spool.join("quarantine");
    state_dir(&dir)?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .context("a spool file has a name")?;
    // Never over an earlier quarantined file (it is evidence): the first free NAME or NAME.N.
    let mut n = 0;
    let (dest, suffix) = loop {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!(".{n}")
        };
        let dest = dir.join(format!("{name}{suffix}"));
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            file,
            rustix::fs::CWD,
            &dest,
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            Ok(()) => break (dest, suffix),
            Err(rustix::io::Errno::EXIST) if n < 1000 => n += 1,
            Err(e) => {
                return Err(std::io::Error::from(e)).with_context(|| {
                    format!("cannot move {} to {}", file.display(), dest.display())
                });
            }
        }
    };
    let mut why = dest.clone().into_os_string();
    why.push(".reason");
    write_state(Path::new(&why), format!("{reason}\n").as_bytes())?;
    // Its sealed manifest goes with it (evidence of what the service sealed).
    let sealed = sealed_manifest_path(file);
    if fs::symlink_metadata(&sealed).is_ok_and(|m| m.is_file()) {
        let to = dir.join(format!(
            "{}{suffix}",
            sealed.file_name().unwrap_or_default().to_string_lossy()
        ));
        let _ = rustix::fs::renameat_with(
            rustix::fs::CWD,
            &sealed,
            rustix::fs::CWD,
            &to,
            rustix::fs::RenameFlags::NOREPLACE,
        );
    }
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
        .filter(|p| {
            let name = p.to_string_lossy();
            !name.ends_with(".reason") && name.contains(".cast.zst")
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_session_names_are_recordings() {
        assert!(is_recording_name(
            "01a2319d-22be-76b8-8356-c97d62f01ac2.cast.zst"
        ));
        for bad in [
            ".cast.zst",
            "x\n* * * * * root sh.cast.zst",
            "a\u{1b}]0;t\u{7}.cast.zst",
            "../x.cast.zst",
            ".hidden.cast.zst",
            "x.cast",
        ] {
            assert!(!is_recording_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_fifo_in_place_of_a_recording_is_refused_without_blocking() {
        let dir = tempfile::TempDir::new().unwrap();
        let fifo = dir.path().join("01a2.cast.zst");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = open_recording(&fifo).err().unwrap();
        assert!(format!("{err:#}").contains("not a regular file"), "{err:#}");
        let link = dir.path().join("02b3.cast.zst");
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        assert!(open_recording(&link).is_err(), "never through a link");
        let rec = dir.path().join("03c4.cast.zst");
        fs::write(&rec, b"bytes").unwrap();
        let opened = open_recording(&rec).unwrap();
        fs::remove_file(&rec).unwrap();
        assert_eq!(
            fs::read(&opened.path).unwrap(),
            b"bytes",
            "the file opened, not the name"
        );
    }

    #[test]
    fn a_quarantined_file_is_never_replaced() {
        let dir = tempfile::TempDir::new().unwrap();
        let spool = dir.path();
        let rec = spool.join("01a2.cast.zst");
        fs::write(&rec, b"genuine").unwrap();
        fs::write(sealed_manifest_path(&rec), b"sealed").unwrap();
        let first = quarantine(spool, &rec, "first").unwrap();
        fs::write(&rec, b"planted").unwrap();
        fs::write(sealed_manifest_path(&rec), b"{}").unwrap();
        let second = quarantine(spool, &rec, "second").unwrap();
        assert_ne!(first, second);
        assert_eq!(fs::read(&first).unwrap(), b"genuine");
        assert_eq!(fs::read(&second).unwrap(), b"planted");
        let q = spool.join("quarantine");
        assert_eq!(fs::read(q.join("01a2.manifest.json")).unwrap(), b"sealed");
        assert_eq!(fs::read(q.join("01a2.manifest.json.1")).unwrap(), b"{}");
        let listed: Vec<String> = quarantined(spool).into_iter().map(|(_, r)| r).collect();
        assert_eq!(listed, ["first", "second"]);
    }

    #[test]
    fn links_in_the_spool_are_never_followed() {
        let dir = tempfile::TempDir::new().unwrap();
        let spool = dir.path();
        let target = spool.join("elsewhere");
        fs::create_dir(&target).unwrap();
        std::os::unix::fs::symlink(&target, spool.join(".upload")).unwrap();
        assert!(prepare(spool).is_err(), "a planted .upload link");
        std::os::unix::fs::symlink(&target, spool.join("quarantine")).unwrap();
        let rec = spool.join("01a2.cast.zst");
        fs::write(&rec, b"x").unwrap();
        assert!(
            quarantine(spool, &rec, "r").is_err(),
            "a planted quarantine link"
        );
        assert!(
            fs::read_dir(&target).unwrap().next().is_none(),
            "nothing written through it"
        );
        std::os::unix::fs::symlink("/etc/passwd", spool.join("02b3.cast.zst")).unwrap();
        let found: Vec<_> = scan(spool).unwrap().into_iter().map(|f| f.path).collect();
        assert_eq!(found, vec![rec]);
    }
}
