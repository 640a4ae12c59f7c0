//! Adding a line to the host's audit chain. The chain's head (the last line's seq and hash)
//! is kept beside the log, in `AUDIT_LOG.head`, and locked while a line is added, so every
//! writer on the host (the service's sessions, the uploader, `unseal`) extends one chain, and
//! the chain goes on across a rotated log.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, OFlags, flock};
use serde_json::{Map, Value};
use sessrec_formats::audit::{Head, link};
use sessrec_formats::keys::SigningKey;

/// How much of the log's end is read to find its last line.
const TAIL: u64 = 64 * 1024;

/// The head file of the log at `log`.
fn head_path(log: &Path) -> PathBuf {
    let mut name = log.file_name().unwrap_or_default().to_os_string();
    name.push(".head");
    log.with_file_name(name)
}

/// Appends `fields` to the log (`file`, opened for appending at `path`) as the chain's next
/// line, signed when `signer` is given, and returns the line.
pub fn append(
    file: &mut File,
    path: &Path,
    fields: Map<String, Value>,
    signer: Option<&SigningKey>,
) -> io::Result<String> {
    // A log that is not a file (a terminal, /dev/full in a test) has no chain to read back.
    let regular = file.metadata().is_ok_and(|m| m.is_file());
    // Without a head file we may write (a reviewer's own log), the log's last line is the head.
    let mut head_file = regular.then(|| open_head(path).ok()).flatten();
    if let Some(h) = &head_file {
        flock(h, FlockOperation::LockExclusive)?;
    }
    let kept = head_file.as_mut().and_then(|h| read_head(h).ok().flatten());
    let last = regular
        .then(|| last_line(path))
        .flatten()
        .and_then(|l| Head::after(&l));
    let head = match (kept, last) {
        // The log got a line whose head was not saved (a crash in between): it follows on.
        (Some(k), Some(l)) if l.seq == k.seq + 1 => l,
        (Some(k), _) => k,
        (None, Some(l)) => l,
        (None, None) => Head::START,
    };
    let (line, next) = link(&head, fields, signer);
    // One write, so concurrent appenders cannot interleave inside a line.
    file.write_all(format!("{line}\n").as_bytes())?;
    if let Some(h) = &mut head_file {
        h.set_len(0)?;
        h.seek(SeekFrom::Start(0))?;
        h.write_all(
            format!("{} {}\n", next.seq, sessrec_formats::audit::hex(&next.hash)).as_bytes(),
        )?;
    }
    Ok(line)
}

fn open_head(log: &Path) -> io::Result<File> {
    let path = head_path(log);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o660)
        .custom_flags(OFlags::NOFOLLOW.bits() as i32)
        .open(&path)?;
    // The same group as the log, and writable by it whatever the umask, so the uploader (group
    // sessrec) extends the same chain under the same lock.
    if let Ok(meta) = std::fs::metadata(log) {
        use std::os::unix::fs::MetadataExt;
        if file
            .metadata()
            .is_ok_and(|m| m.uid() == rustix::process::geteuid().as_raw())
        {
            let _ = rustix::fs::fchown(&file, None, Some(rustix::fs::Gid::from_raw(meta.gid())));
            let _ = rustix::fs::fchmod(&file, rustix::fs::Mode::from_raw_mode(0o660));
        }
    }
    Ok(file)
}

fn read_head(file: &mut File) -> io::Result<Option<Head>> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0))?;
    file.take(256).read_to_string(&mut text)?;
    let mut parts = text.split_whitespace();
    let (Some(seq), Some(hash)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (Ok(seq), Some(hash)) = (seq.parse::<u64>(), sessrec_formats::audit::unhex(hash)) else {
        return Ok(None);
    };
    Ok(Some(Head { seq, hash }))
}

/// The log's last whole line, if it can be read.
fn last_line(path: &Path) -> Option<Vec<u8>> {
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let start = len.saturating_sub(TAIL);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut tail = Vec::new();
    f.take(TAIL).read_to_end(&mut tail).ok()?;
    let body = tail.strip_suffix(b"\n")?;
    match memchr::memrchr(b'\n', body) {
        Some(i) => Some(body[i + 1..].to_vec()),
        None if start == 0 => Some(body.to_vec()),
        None => None,
    }
}
