//! Shipping the host's audit chain: the lines the store does not hold yet, up to the last
//! signed one, as segments `audit/HOST/FIRST-LAST.jsonl` that are never replaced. Lines after
//! the last signature wait: no key vouches for them yet.
//!
//! Where shipping stands is kept in `SPOOL/.upload/audit.shipped` (the last shipped seq, and
//! the log's inode and offset to read on from). A rotated log is read on from `AUDIT_LOG.1`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;
use sessrec_formats::audit::MAX_AUDIT_LINE;
use sessrec_store::{Store, guard, layout};

use crate::config::Config;

/// A segment holds at most this much (a stored object the guard compares whole).
const SEGMENT_BYTES: usize = 512 * 1024;
/// At most this much is read in one pass; the rest follows in the next.
const PASS_BYTES: usize = 8 * 1024 * 1024;

/// Where shipping stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Shipped {
    seq: u64,
    inode: u64,
    offset: u64,
}

/// One chain line read from the log.
struct Line {
    seq: u64,
    signed: bool,
    bytes: Vec<u8>,
    /// Where the line ends in the file it came from, and that file's inode.
    end: (u64, u64),
}

/// Ships the signed lines not yet in the store; returns how many lines went.
pub async fn ship(store: &Store, config: &Config, host: &str) -> Result<u64> {
    let state = state_path(&config.spool);
    let shipped = read_state(&state);
    let lines = unshipped(&config.audit_log, shipped)?;
    let Some(last_signed) = lines.iter().rposition(|l| l.signed) else {
        return Ok(0);
    };
    crate::spool::prepare(&config.spool)?;
    let mut sent = 0;
    for segment in segments(&lines[..=last_signed]) {
        let (first, last) = (segment[0].seq, segment[segment.len() - 1].seq);
        let key = layout::audit_segment_key(host, first, last);
        let mut bytes = Vec::new();
        for l in segment {
            bytes.extend_from_slice(&l.bytes);
            bytes.push(b'\n');
        }
        guard::put_new(store, &key, bytes, |_| false)
            .await
            .with_context(|| format!("cannot store the audit chain segment {key}"))?;
        let end = segment[segment.len() - 1].end;
        let now = Shipped {
            seq: last,
            inode: end.0,
            offset: end.1,
        };
        crate::spool::write_state(
            &state,
            format!("{} {} {}\n", now.seq, now.inode, now.offset).as_bytes(),
        )?;
        sent += segment.len() as u64;
    }
    Ok(sent)
}

fn state_path(spool: &Path) -> PathBuf {
    spool.join(".upload").join("audit.shipped")
}

fn read_state(path: &Path) -> Shipped {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Shipped::default();
    };
    let n: Vec<u64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    match n[..] {
        [seq, inode, offset] => Shipped { seq, inode, offset },
        _ => Shipped::default(),
    }
}

/// The chain lines after `shipped`, from the rotated log (if the current one is new since) and
/// the current one, at most [`PASS_BYTES`] of them.
fn unshipped(log: &Path, shipped: Shipped) -> Result<Vec<Line>> {
    let mut out = Vec::new();
    let mut budget = PASS_BYTES;
    let current = std::fs::metadata(log).ok();
    let rotated = {
        let mut p = log.as_os_str().to_os_string();
        p.push(".1");
        PathBuf::from(p)
    };
    let same_file = current.as_ref().is_some_and(|m| m.ino() == shipped.inode);
    if !same_file && shipped.inode != 0 {
        // The log was rotated since: what is left of the old one comes first.
        if let Ok(m) = std::fs::metadata(&rotated)
            && m.ino() == shipped.inode
        {
            read_lines(&rotated, shipped.offset, shipped.seq, &mut budget, &mut out)?;
        }
    }
    if current.is_some() {
        let from = if same_file { shipped.offset } else { 0 };
        read_lines(log, from, shipped.seq, &mut budget, &mut out)?;
    }
    Ok(out)
}

fn read_lines(
    path: &Path,
    from: u64,
    after_seq: u64,
    budget: &mut usize,
    out: &mut Vec<Line>,
) -> Result<()> {
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let inode = file.metadata()?.ino();
    let from = if file.metadata()?.len() < from {
        0
    } else {
        from
    };
    file.seek(SeekFrom::Start(from))?;
    let mut reader = BufReader::new(file);
    let mut at = from;
    let mut buf = Vec::new();
    while *budget > 0 {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_AUDIT_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        // A line still being written (no newline yet) is read next pass.
        if n == 0 || buf.last() != Some(&b'\n') {
            break;
        }
        at += n as u64;
        buf.pop();
        let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&buf) else {
            continue;
        };
        // Lines from before the chain (no seq) are not part of it.
        let Some(seq) = fields.get("seq").and_then(Value::as_u64) else {
            continue;
        };
        if seq <= after_seq {
            continue;
        }
        *budget = budget.saturating_sub(buf.len());
        out.push(Line {
            seq,
            signed: fields.contains_key("sig"),
            bytes: buf.clone(),
            end: (inode, at),
        });
    }
    Ok(())
}

/// Runs of lines of at most [`SEGMENT_BYTES`] (a longer line is a segment alone).
fn segments(lines: &[Line]) -> Vec<&[Line]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (i, l) in lines.iter().enumerate() {
        if i > start && size + l.bytes.len() + 1 > SEGMENT_BYTES {
            out.push(&lines[start..i]);
            start = i;
            size = 0;
        }
        size += l.bytes.len() + 1;
    }
    if start < lines.len() {
        out.push(&lines[start..]);
    }
    out
}
