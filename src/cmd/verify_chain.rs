//! `sessrec verify` of a host's audit chain: its log (`audit.log`), one shipped segment, or a
//! directory of segments (`audit/HOST/` of a `file://` store or a bundle), read in name order.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{Value, json};
use sessrec_formats::audit::{ChainReport, ChainVerdict, MAX_AUDIT_LINE, check_pieces};
use sessrec_formats::keys::PublicKey;

use crate::cli::Verify;
use crate::exit::Status;

/// Whether `path` is an audit chain: a directory, or a file whose first line is a chain line.
pub(super) fn is_chain(path: &Path) -> bool {
    if path.is_dir() {
        return true;
    }
    let Ok(file) = File::open(path) else {
        return false;
    };
    let mut first = Vec::new();
    // The first line may be as long as any chain line.
    if std::io::Read::take(BufReader::new(file), MAX_AUDIT_LINE as u64 + 1)
        .read_until(b'\n', &mut first)
        .is_err()
    {
        return false;
    }
    serde_json::from_slice::<Value>(first.trim_ascii_end()).is_ok_and(|v| {
        v.get("seq").is_some_and(Value::is_u64)
            && v.get("prev").is_some_and(Value::is_string)
            && v.get("event").is_some()
    })
}

/// The chain's pieces: the file, or the directory's `*.jsonl` files in name order.
pub(super) fn pieces(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot read the directory {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl") && p.is_file())
        .collect();
    if files.is_empty() {
        anyhow::bail!(
            "{} holds no audit chain segments (*.jsonl); name a host's audit/HOST/ directory",
            path.display()
        );
    }
    files.sort();
    Ok(files)
}

/// Checks the chain in `paths`.
pub(super) fn check(paths: &[PathBuf], trusted: Vec<PublicKey>) -> Result<ChainReport> {
    let mut readers = Vec::new();
    for p in paths {
        let f = File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        readers.push((name, BufReader::new(f)));
    }
    let mut report =
        check_pieces(readers, trusted, |_, _| {}).context("reading the audit chain")?;
    // A live log has its head beside it: a log cut back to an earlier line shows against it.
    if let [log] = paths
        && let Some(head) = read_head(log)
        && matches!(
            report.verdict,
            ChainVerdict::Intact | ChainVerdict::UnsignedTail
        )
        && report.summary.seqs.is_some_and(|(_, last)| last < head)
    {
        let last = report.summary.seqs.map_or(0, |s| s.1);
        report.verdict = ChainVerdict::Cut;
        report.problem = Some(format!(
            "the log ends at seq {last}, but its head ({}.head) says the chain reached seq {head}",
            log.display()
        ));
    }
    Ok(report)
}

/// The seq in `LOG.head`, if the log has one.
fn read_head(log: &Path) -> Option<u64> {
    let mut name = log.as_os_str().to_os_string();
    name.push(".head");
    let text = std::fs::read_to_string(PathBuf::from(name)).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

impl Verify {
    /// Verifies the audit chain at `self.file`.
    pub(super) fn run_chain(&self, trusted: Vec<PublicKey>, keys_named: bool) -> Result<Status> {
        let paths = pieces(&self.file)?;
        let report = check(&paths, trusted)?;
        let (status, line) = describe(&report, keys_named);
        let s = &report.summary;
        let doc = json!({
            "file": self.file,
            "kind": "audit chain",
            "verdict": verdict_name(report.verdict),
            "exit_status": status.code(),
            "message": line,
            "pieces": report.pieces,
            "lines": report.lines,
            "first_seq": s.seqs.map(|x| x.0),
            "last_seq": s.seqs.map(|x| x.1),
            "last_signed_seq": s.last_signed,
            "unsigned_tail": s.unsigned_tail,
            "signers": s.signers.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
            "untrusted_signers": s.untrusted.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
            "problem": report.problem,
        });
        self.print_result(doc, &line, &[])?;
        Ok(status)
    }
}

/// The verdict's name, as `--json` gives it.
pub(super) fn verdict_name(v: ChainVerdict) -> &'static str {
    match v {
        ChainVerdict::Intact => "intact",
        ChainVerdict::UnsignedTail => "unsigned tail",
        ChainVerdict::Cut => "cut",
        ChainVerdict::Altered => "altered",
        ChainVerdict::UntrustedKey => "untrusted key",
        ChainVerdict::Unsigned => "unsigned",
    }
}

fn describe(r: &ChainReport, keys_named: bool) -> (Status, String) {
    let s = &r.summary;
    let signers = s
        .signers
        .iter()
        .map(|k| k.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let span = match s.seqs {
        Some((a, b)) => format!(
            "seq {a}-{b} ({} event{}, {} piece{})",
            r.lines,
            plural(r.lines),
            r.pieces,
            plural(r.pieces)
        ),
        None => "no events".into(),
    };
    let problem = r.problem.as_deref().unwrap_or("");
    match r.verdict {
        ChainVerdict::Intact => (
            Status::Ok,
            format!("audit chain intact and signed by trusted key {signers}: {span}"),
        ),
        ChainVerdict::UnsignedTail => (
            Status::Truncated,
            format!(
                "audit chain intact and signed by trusted key {signers} up to seq {}; the last {} \
                 not signed yet (the recording service signs its next event): {span}",
                s.last_signed.unwrap_or(0),
                match s.unsigned_tail {
                    1 => "line is".to_string(),
                    n => format!("{n} lines are"),
                }
            ),
        ),
        ChainVerdict::Cut => (Status::Truncated, format!("audit chain cut: {problem}")),
        ChainVerdict::Altered => (Status::Altered, format!("audit chain altered: {problem}")),
        ChainVerdict::UntrustedKey => {
            let keys = s
                .untrusted
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let hint = if keys_named {
                "none of the trusted keys is that key"
            } else {
                "pass --key with the host's public key, or list it in trusted_keys"
            };
            (
                Status::UntrustedKey,
                format!("audit chain signed by untrusted key {keys} ({hint}): {span}"),
            )
        }
        ChainVerdict::Unsigned => (
            Status::Unsigned,
            format!("audit chain not signed: no line carries a signature: {span}"),
        ),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
