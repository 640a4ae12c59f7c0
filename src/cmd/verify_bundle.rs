//! `sessrec verify BUNDLE`: an export bundle checked offline. Every file against `SHA256SUMS`
//! and nothing unlisted; `SHA256SUMS` against its signature; every recording's chain and
//! signatures, bound to its row (session id, size, SHA-256, verdict); every audit chain; and
//! completeness: each session the hosts' signed audit chains started that matches the export's
//! selection is in the bundle, or is named as missing with what the chain says of it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::BufReader;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};
use sessrec_formats::audit::{ChainVerdict, check_pieces};
use sessrec_formats::container::{Verdict, verify};
use sessrec_formats::keys::PublicKey;
use sessrec_store::ShippedVerdict;

use super::export::sums;
use crate::cli::Verify;
use crate::exit::Status;

/// The most `SHA256SUMS` or a table may hold (100 000 sessions take about 20 MB).
const MAX_TABLE: u64 = 256 * 1024 * 1024;

/// Whether `path` is an export bundle.
pub(super) fn is_bundle(path: &Path) -> bool {
    path.join("SHA256SUMS").is_file() && path.join("bundle.json").is_file()
}

/// What is wrong, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Altered,
    UntrustedKey,
    Unsigned,
    Incomplete,
}

#[derive(Default)]
struct Findings {
    list: Vec<(Kind, String)>,
}

impl Findings {
    fn add(&mut self, kind: Kind, what: impl Into<String>) {
        self.list.push((kind, what.into()));
    }

    fn label(kind: Kind) -> &'static str {
        match kind {
            Kind::Altered => "altered",
            Kind::UntrustedKey => "untrusted key",
            Kind::Unsigned => "unsigned",
            Kind::Incomplete => "incomplete",
        }
    }

    fn worst(&self) -> Option<Kind> {
        self.list.iter().map(|(k, _)| *k).min()
    }
}

impl Verify {
    /// Verifies the bundle at `self.file`.
    pub(super) fn run_bundle(&self, trusted: Vec<PublicKey>) -> Result<Status> {
        let root = self.file.as_path();
        let mut f = Findings::default();
        let sums_text = read_bounded(&root.join("SHA256SUMS"))?;
        let summed = check_sums(root, &sums_text, &mut f)?;
        match std::fs::read_to_string(root.join("SHA256SUMS.minisig")) {
            Err(_) => f.add(
                Kind::Unsigned,
                "SHA256SUMS is not signed (no SHA256SUMS.minisig)",
            ),
            Ok(sig) => match sums::check_minisign(&sig, sums_text.as_bytes(), &trusted) {
                Ok(_) => {}
                Err(e) if e.contains("not trusted") => f.add(
                    Kind::UntrustedKey,
                    format!("{e} (pass the exporter's public key with --key)"),
                ),
                Err(e) => f.add(Kind::Altered, e),
            },
        }
        let rows: Vec<Map<String, Value>> =
            serde_json::from_str(&read_bounded(&root.join("manifest.json"))?)
                .context("manifest.json is not the bundle's table of sessions")?;
        let bundle: Value = serde_json::from_str(&read_bounded(&root.join("bundle.json"))?)
            .context("bundle.json is not a bundle description")?;
        let in_bundle = check_recordings(root, &rows, &summed, &trusted, &mut f)?;
        let started = check_chains(root, &trusted, &mut f)?;
        let missing = completeness(&bundle["selection"], &started, &in_bundle);
        let left_out = |id: &str| {
            bundle["left_out"].as_array().and_then(|l| {
                l.iter()
                    .find(|e| e["session"] == id)
                    .and_then(|e| e["why"].as_str())
            })
        };
        for (id, why) in &missing {
            match left_out(id) {
                Some(how) => f.add(
                    Kind::Incomplete,
                    format!("session {id} is missing: the export could not copy it ({how})"),
                ),
                None => f.add(Kind::Incomplete, format!("session {id} is missing: {why}")),
            }
        }
        self.print_bundle(&f, rows.len(), started.len())
    }

    fn print_bundle(&self, f: &Findings, sessions: usize, started: usize) -> Result<Status> {
        let (status, verdict) = match f.worst() {
            None => (Status::Ok, "intact and complete"),
            Some(Kind::Altered) => (Status::Altered, "altered"),
            Some(Kind::UntrustedKey) => (Status::UntrustedKey, "signed by an untrusted key"),
            Some(Kind::Unsigned) => (Status::Unsigned, "unsigned"),
            Some(Kind::Incomplete) => (Status::Incomplete, "incomplete"),
        };
        let line = format!(
            "bundle {verdict}: {sessions} session{}, {started} started in the audit chains{}",
            if sessions == 1 { "" } else { "s" },
            match f.list.len() {
                0 => String::new(),
                n => format!("; {n} problem{}", if n == 1 { "" } else { "s" }),
            }
        );
        let doc = json!({
            "file": self.file, "kind": "bundle", "verdict": verdict,
            "exit_status": status.code(), "message": line,
            "problems": f.list.iter().map(|(k, w)| json!({"kind": Findings::label(*k), "what": w})).collect::<Vec<_>>(),
        });
        let detail: Vec<String> = f
            .list
            .iter()
            .map(|(k, what)| format!("{:<13} {what}", Findings::label(*k)))
            .collect();
        self.print_result(doc, &line, &detail)?;
        Ok(status)
    }
}

fn read_bounded(path: &Path) -> Result<String> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    anyhow::ensure!(
        len <= MAX_TABLE,
        "{} is {len} bytes, more than a bundle's table holds",
        path.display()
    );
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// A bundle-relative path that stays inside the bundle.
fn inside(rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    p.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| p.to_path_buf())
}

/// Every listed file matches; nothing is unlisted; no link.
/// Returns the SHA-256 of each file that matched its line, by bundle path (so no file is
/// hashed twice).
fn check_sums(root: &Path, text: &str, f: &mut Findings) -> Result<BTreeMap<PathBuf, String>> {
    let mut listed = BTreeSet::new();
    let mut matched = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let Some((sum, rel)) = line.split_once("  ") else {
            f.add(
                Kind::Altered,
                format!("SHA256SUMS line {} is not `HASH  FILE`", n + 1),
            );
            continue;
        };
        let Some(path) = inside(rel) else {
            f.add(
                Kind::Altered,
                format!("SHA256SUMS names {rel}, outside the bundle"),
            );
            continue;
        };
        let full = root.join(&path);
        match std::fs::symlink_metadata(&full) {
            Ok(m) if m.is_file() => match sums::sha256_file(&full) {
                Ok(actual) if actual == sum => {
                    matched.insert(path.clone(), actual);
                }
                Ok(_) => f.add(
                    Kind::Altered,
                    format!("{rel} differs from its SHA256SUMS line"),
                ),
                Err(e) => f.add(Kind::Altered, format!("{rel} cannot be read: {e}")),
            },
            Ok(_) => f.add(Kind::Altered, format!("{rel} is not a plain file")),
            Err(_) => f.add(
                Kind::Altered,
                format!("{rel} is listed in SHA256SUMS but not in the bundle"),
            ),
        }
        listed.insert(path);
    }
    for file in sums::files(root)? {
        if !listed.contains(&file) {
            f.add(
                Kind::Altered,
                format!("{} is in the bundle but not in SHA256SUMS", file.display()),
            );
        }
    }
    Ok(matched)
}

/// Each row's recording verifies and is the row's session; returns the session ids present.
fn check_recordings(
    root: &Path,
    rows: &[Map<String, Value>],
    summed: &BTreeMap<PathBuf, String>,
    trusted: &[PublicKey],
    f: &mut Findings,
) -> Result<BTreeSet<String>> {
    let mut ids = BTreeSet::new();
    for row in rows {
        let id = row
            .get("session_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let rel = row.get("recording").and_then(Value::as_str).unwrap_or("");
        let Some(path) = inside(rel).map(|p| root.join(p)).filter(|p| p.is_file()) else {
            f.add(
                Kind::Altered,
                format!("session {id}: its recording {rel} is not in the bundle"),
            );
            continue;
        };
        ids.insert(id.clone());
        let report = verify(File::open(&path)?, trusted.to_vec())
            .with_context(|| format!("cannot verify {rel}"))?;
        let verdict = ShippedVerdict::from(report.verdict).name();
        match report.verdict {
            Verdict::Intact => {}
            Verdict::Altered => f.add(Kind::Altered, format!("{rel}: altered")),
            Verdict::UntrustedKey => f.add(
                Kind::UntrustedKey,
                format!("{rel}: signed by a key not trusted here"),
            ),
            Verdict::Unsigned => f.add(Kind::Unsigned, format!("{rel}: not signed")),
            _ => f.add(Kind::Incomplete, format!("{rel}: {verdict}")),
        }
        let named = report
            .integrity
            .meta
            .as_ref()
            .map(|m| m.session_id.as_str());
        if report.verdict != Verdict::Altered && named != Some(id.as_str()) {
            f.add(
                Kind::Altered,
                format!(
                    "{rel} holds session {}, not the row's {id}",
                    named.unwrap_or("(none)")
                ),
            );
        }
        let size = std::fs::metadata(&path)?.len();
        // Hashed already if it matched SHA256SUMS (if not, that is reported already).
        let sha = match inside(rel).and_then(|p| summed.get(&p).cloned()) {
            Some(sha) => sha,
            None => sums::sha256_file(&path)?,
        };
        if row.get("bytes").and_then(Value::as_u64) != Some(size)
            || row.get("sha256").and_then(Value::as_str) != Some(sha.as_str())
        {
            f.add(
                Kind::Altered,
                format!("session {id}: the row's size or SHA-256 is not its recording's"),
            );
        }
        if row.get("verdict").and_then(Value::as_str) != Some(verdict) {
            f.add(
                Kind::Altered,
                format!(
                    "session {id}: the row says {}, the recording is {verdict}",
                    row.get("verdict").unwrap_or(&Value::Null)
                ),
            );
        }
    }
    Ok(ids)
}

/// A session the service's signed audit chain started: its fields, and whether it ended.
struct Started {
    fields: Map<String, Value>,
    ended: bool,
}

/// Checks every host's chain in `audit/`; returns the sessions their signed lines started.
fn check_chains(
    root: &Path,
    trusted: &[PublicKey],
    f: &mut Findings,
) -> Result<BTreeMap<String, Started>> {
    let mut started = BTreeMap::new();
    let Ok(hosts) = std::fs::read_dir(root.join("audit")) else {
        f.add(
            Kind::Incomplete,
            "no audit chain in the bundle: completeness cannot be shown",
        );
        return Ok(started);
    };
    for host in hosts.flatten() {
        let dir = host.path();
        let name = host.file_name().to_string_lossy().into_owned();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        if files.is_empty() {
            f.add(
                Kind::Incomplete,
                format!("no audit chain of {name} in the bundle: its completeness cannot be shown"),
            );
            continue;
        }
        let mut readers = Vec::new();
        for p in &files {
            let shown = format!(
                "audit/{name}/{}",
                p.file_name().unwrap_or_default().to_string_lossy()
            );
            readers.push((shown, BufReader::new(File::open(p)?)));
        }
        let mut ends = BTreeSet::new();
        let report = check_pieces(readers, trusted.to_vec(), |line, signed| {
            // Only the service's own statements count: lines a trusted key signed.
            if !signed {
                return;
            }
            let session = line
                .get("session")
                .and_then(Value::as_str)
                .map(str::to_string);
            match (line.get("event").and_then(Value::as_str), session) {
                (Some("session.start"), Some(s)) => {
                    started.insert(
                        s,
                        Started {
                            fields: line.clone(),
                            ended: false,
                        },
                    );
                }
                (Some("session.end"), Some(s)) => {
                    ends.insert(s);
                }
                _ => {}
            }
        })?;
        for s in ends {
            if let Some(st) = started.get_mut(&s) {
                st.ended = true;
            }
        }
        let problem = report.problem.unwrap_or_default();
        match report.verdict {
            ChainVerdict::Intact | ChainVerdict::UnsignedTail => {}
            ChainVerdict::Cut => f.add(
                Kind::Incomplete,
                format!("the audit chain of {name} is cut: {problem}"),
            ),
            ChainVerdict::Altered => f.add(
                Kind::Altered,
                format!("the audit chain of {name} is altered: {problem}"),
            ),
            ChainVerdict::UntrustedKey => f.add(
                Kind::UntrustedKey,
                format!("the audit chain of {name} is signed by a key not trusted here"),
            ),
            ChainVerdict::Unsigned => f.add(
                Kind::Unsigned,
                format!("the audit chain of {name} is not signed"),
            ),
        }
    }
    Ok(started)
}

/// The sessions the chains started that the selection takes but the bundle lacks, with why.
fn completeness(
    selection: &Value,
    started: &BTreeMap<String, Started>,
    present: &BTreeSet<String>,
) -> Vec<(String, String)> {
    let want = |k: &str| selection.get(k).and_then(Value::as_str);
    let time = |k: &str| want(k).and_then(sessrec_store::catalog::parse_time);
    let (since, until) = (time("since"), time("until"));
    let ids: Vec<&str> = selection
        .get("sessions")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (id, s) in started {
        let field = |k: &str| s.fields.get(k).and_then(Value::as_str);
        let matches = ["grant", "user", "host"]
            .iter()
            .all(|k| want(k).is_none() || want(k) == field(k))
            && (ids.is_empty() || ids.contains(&id.as_str()))
            && field("time")
                .and_then(sessrec_store::catalog::parse_time)
                .is_some_and(|t| since.is_none_or(|a| t >= a) && until.is_none_or(|b| t < b));
        if !matches || present.contains(id) {
            continue;
        }
        let why = if s.fields.get("recorded") == Some(&Value::Bool(false)) {
            "the host let it run unrecorded (session.start says recorded: false)"
        } else if !s.ended {
            "no session.end in the chain: still running when the chain was shipped, or the host stopped"
        } else {
            "the chain started and ended it, but the store had no recording of it when this was exported (deleted, or never shipped)"
        };
        out.push((id.clone(), why.to_string()));
    }
    out
}
