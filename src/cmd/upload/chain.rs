//! Shipping the host's audit chain: the lines the store does not hold yet, up to the last
//! signed one, as segments `audit/HOST/FIRST-LAST.jsonl` that are never replaced. Lines after
//! the last signature wait: no key vouches for them yet.
//!
//! Where shipping stands is kept in `SPOOL/.upload/audit.shipped` (the last shipped seq, the
//! log's inode and offset to read on from, and the last line's hash). A rotated log is read on from `AUDIT_LOG.1`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;
use sessrec_formats::audit::{ChainCheck, Head, MAX_AUDIT_LINE};
use sessrec_formats::keys::PublicKey;
use sessrec_store::{Store, guard, layout};
use sha2::{Digest, Sha256};

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
    /// SHA-256 of the last line shipped: the next one must follow from it.
    hash: Option<[u8; 32]>,
}

impl Shipped {
    fn head(&self) -> Option<Head> {
        Some(Head {
            seq: self.seq,
            hash: self.hash?,
        })
    }
}

/// One chain line read from the log.
struct Line {
    seq: u64,
    bytes: Vec<u8>,
    /// Where the line ends in the file it came from, and that file's inode.
    end: (u64, u64),
}

/// Ships the lines not yet in the store, up to the last one a trusted key signed; returns how
/// many went. Lines are checked as they go: at a line that does not follow on (edited,
/// forged, over 1 MiB), shipping stops before it and the error says where; the lines stay in
/// the log as the evidence.
pub async fn ship(
    store: &Store,
    config: &Config,
    trusted: &[PublicKey],
    host: &str,
) -> Result<u64> {
    let state = state_path(&config.spool);
    let shipped = read_state(&state);
    let (lines, unreadable) = unshipped(&config.audit_log, shipped)?;
    let mut check = match shipped.head() {
        Some(head) => ChainCheck::starting_at(trusted.to_vec(), head),
        None => ChainCheck::new(trusted.to_vec()),
    };
    let mut last_signed = None;
    let mut broken = unreadable;
    for (i, l) in lines.iter().enumerate() {
        match check.feed(&l.bytes) {
            Ok(fed) if fed.signed => last_signed = Some(i),
            Ok(_) => {}
            Err(e) => {
                broken = Some(format!("the audit chain breaks at seq {}: {e}", l.seq));
                break;
            }
        }
    }
    let mut sent = 0;
    if let Some(last_signed) = last_signed {
        crate::spool::prepare(&config.spool)?;
        for segment in segments(&lines[..=last_signed]) {
            sent += ship_segment(store, host, segment, &state).await?;
        }
    }
    match broken {
        Some(why) => anyhow::bail!(
            "{why}; the lines from there on are not shipped (sessrec verify {} says more)",
            config.audit_log.display()
        ),
        None => Ok(sent),
    }
}

async fn ship_segment(store: &Store, host: &str, segment: &[Line], state: &Path) -> Result<u64> {
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
    let end = &segment[segment.len() - 1];
    let hash = sessrec_formats::audit::hex(&Sha256::digest(&end.bytes));
    crate::spool::write_state(
        state,
        format!("{} {} {} {hash}\n", end.seq, end.end.0, end.end.1).as_bytes(),
    )?;
    Ok(segment.len() as u64)
}

fn state_path(spool: &Path) -> PathBuf {
    spool.join(".upload").join("audit.shipped")
}

fn read_state(path: &Path) -> Shipped {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Shipped::default();
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    let n: Vec<u64> = words
        .iter()
        .take(3)
        .filter_map(|w| w.parse().ok())
        .collect();
    match n[..] {
        [seq, inode, offset] => Shipped {
            seq,
            inode,
            offset,
            hash: words.get(3).and_then(|h| sessrec_formats::audit::unhex(h)),
        },
        _ => Shipped::default(),
    }
}

/// The chain lines after `shipped`, from the rotated log (if the current one is new since) and
/// the current one, at most [`PASS_BYTES`] of them.
fn unshipped(log: &Path, shipped: Shipped) -> Result<(Vec<Line>, Option<String>)> {
    let mut out = Vec::new();
    let mut problem = None;
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
            problem = read_lines(&rotated, shipped.offset, shipped.seq, &mut budget, &mut out)?;
        }
    }
    if current.is_some() && problem.is_none() {
        let from = if same_file { shipped.offset } else { 0 };
        problem = read_lines(log, from, shipped.seq, &mut budget, &mut out)?;
    }
    Ok((out, problem))
}

fn read_lines(
    path: &Path,
    from: u64,
    after_seq: u64,
    budget: &mut usize,
    out: &mut Vec<Line>,
) -> Result<Option<String>> {
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
        if n > MAX_AUDIT_LINE {
            return Ok(Some(format!(
                "a line of {} over 1 MiB at byte {at}",
                path.display()
            )));
        }
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
            bytes: buf.clone(),
            end: (inode, at),
        });
    }
    Ok(None)
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
