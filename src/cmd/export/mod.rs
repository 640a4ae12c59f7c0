//! `sessrec export`: the sessions an auditor asks for (by grant, user, host, time or id), from
//! any store, as a directory that proves itself offline: the recordings and their manifests
//! exactly as stored, the hosts' audit chains and public keys, `manifest.json` and
//! `manifest.csv`, a transcript and a plain asciicast per session, `README.txt`, and
//! `SHA256SUMS` signed in minisign's format. docs/export.md describes the bundle.

mod files;
mod progress;
mod report;
mod rows;
pub(super) mod sums;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use sessrec_formats::asciicast::V3Encoder;
use sessrec_formats::audit::{ChainVerdict, check_pieces};
use sessrec_formats::container::{Verdict, verify};
use sessrec_formats::keys::PublicKey;
use sessrec_formats::tail::SignedEvents;
use sessrec_formats::{OpenOptions, open_path};
use sessrec_store::{Catalog, Filter, Manifest, ShippedVerdict, Store, guard, layout, upload};

use crate::cli::Export;
use crate::exit::Status;
use crate::keyfile::read_signing_key;
use crate::print;
use rows::Row;

/// The bundle format, in `bundle.json`.
pub const BUNDLE_FORMAT: &str = "sessrec-bundle-1";

impl Export {
    pub fn run(self) -> Result<Status> {
        let signer = self.sign_key.as_deref().map(read_signing_key).transpose()?;
        let (store, _) = self.store.open()?;
        let trusted = self.store.trusted()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the runtime")?;
        check_bundle_dir(&self.output)?;
        let selected = self.select(&runtime, &store, &trusted)?;
        let out = create_bundle_dir(&self.output)?;
        // SHA256SUMS is written last: a bundle without it is one whose export failed.
        self.write_bundle(&runtime, &store, &trusted, signer.as_ref(), &selected, &out)
            .with_context(|| {
                format!(
                    "the bundle in {} is incomplete (no SHA256SUMS); remove it and export again",
                    out.display()
                )
            })
    }

    fn write_bundle(
        &self,
        runtime: &tokio::runtime::Runtime,
        store: &Store,
        trusted: &[PublicKey],
        signer: Option<&sessrec_formats::keys::SigningKey>,
        selected: &[Manifest],
        out: &Path,
    ) -> Result<Status> {
        // Every host's chain (or the one host asked for): completeness is checked against the
        // chains, so a host whose sessions under the grant were all lost must be there too.
        let hosts: BTreeSet<String> = match &self.host {
            Some(h) => BTreeSet::from([h.clone()]),
            None => runtime
                .block_on(upload::list_keys(store, "audit/"))
                .with_context(|| format!("cannot list the audit chains in {}", store.url()))?
                .iter()
                .filter_map(|k| k.strip_prefix("audit/")?.split_once('/').map(|(h, _)| h))
                .map(sessrec_store::location::percent_decoded)
                .chain(selected.iter().filter_map(|m| m.host.clone()))
                .collect(),
        };
        let mut ends = HashMap::new();
        let mut chains = Vec::new();
        for host in &hosts {
            let verdict =
                runtime.block_on(copy_audit_chain(store, host, out, trusted, &mut ends))?;
            chains.push(format!("{host}: {verdict}"));
        }

        let mut rows = Vec::new();
        let mut bytes = 0u64;
        let total = selected.iter().map(|m| m.size).sum();
        let mut progress = progress::Progress::new(selected.len(), total);
        let mut left_out = Vec::new();
        for m in selected {
            match runtime.block_on(copy_session(store, m, out, trusted, &ends, &mut progress)) {
                Ok(row) => {
                    bytes += row.bytes;
                    rows.push(row);
                }
                Err(e) => {
                    // One bad object costs its session, named, not the whole bundle.
                    let why = format!("{e:#}");
                    print::warn(format_args!(
                        "session {} left out of the bundle: {}",
                        print::safe(&m.session_id),
                        print::safe(&why)
                    ));
                    let dir = out.join("sessions").join(layout::component(&m.session_id));
                    let _ = std::fs::remove_dir_all(&dir);
                    left_out.push(serde_json::json!({"session": m.session_id, "why": why}));
                }
            }
            progress.session_done();
        }
        progress.finish();
        write_tables(out, &rows)?;
        let bundle = serde_json::json!({
            "bundle": BUNDLE_FORMAT,
            "made": jiff::Timestamp::now().to_string(),
            "by": format!("sessrec {}", env!("CARGO_PKG_VERSION")),
            "store": store.url(),
            "selection": {
                "grant": self.grant, "user": self.user, "host": self.host,
                "since": self.since, "until": self.until, "sessions": self.sessions,
            },
            "sessions": rows.len(),
            "left_out": left_out,
            "hosts": hosts,
        });
        files::write_new(
            out.join("bundle.json"),
            serde_json::to_string_pretty(&bundle)? + "\n",
        )
        .context("writing bundle.json")?;
        let asked: Vec<String> = [
            ("grant", &self.grant),
            ("user", &self.user),
            ("host", &self.host),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
        .collect();
        let title = match asked.is_empty() {
            true => "Sessions".to_string(),
            false => format!("Sessions: {}", asked.join(", ")),
        };
        report::write(out, &rows, &title)?;
        write_keys(out, trusted, signer.map(|k| k.public()))?;
        files::write_new(out.join("README.txt"), readme(&rows, signer.is_some()))
            .context("writing README.txt")?;
        let files = sums::write(out, signer)?;
        let signed = match signer {
            Some(k) => format!("SHA256SUMS signed by key {}", k.id()),
            None => "SHA256SUMS not signed (no --sign-key)".into(),
        };
        print::note(format_args!(
            "exported {} session{} ({:.1} MB) from {} to {}: {files} files, {signed}; audit chains: {}",
            rows.len(),
            if rows.len() == 1 { "" } else { "s" },
            bytes as f64 / 1e6,
            store.url(),
            out.display(),
            if chains.is_empty() {
                "none".into()
            } else {
                chains.join(", ")
            }
        ));
        Ok(Status::Ok)
    }

    /// The sessions asked for, oldest first.
    fn select(
        &self,
        runtime: &tokio::runtime::Runtime,
        store: &Store,
        trusted: &[PublicKey],
    ) -> Result<Vec<Manifest>> {
        let listing = runtime
            .block_on(upload::manifests(store, trusted))
            .with_context(|| format!("cannot list the sessions in {}", store.url()))?;
        for u in &listing.unreadable {
            print::warn(u);
        }
        // The same filters as `sessrec ls`, on a catalog of this listing alone.
        let mut catalog = Catalog::open(Path::new(":memory:"))?;
        catalog.replace_all(&listing.manifests)?;
        let mut selected = catalog.query(&Filter {
            user: self.user.clone(),
            host: self.host.clone(),
            grant: self.grant.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
        })?;
        if !self.sessions.is_empty() {
            let found: BTreeSet<&str> = selected.iter().map(|m| m.session_id.as_str()).collect();
            let missing: Vec<&String> = self
                .sessions
                .iter()
                .filter(|s| !found.contains(s.as_str()))
                .collect();
            if !missing.is_empty() {
                bail!(
                    "no such session in {} (with the other filters given): {}",
                    store.url(),
                    missing
                        .iter()
                        .map(|s| print::safe(s))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            selected.retain(|m| self.sessions.contains(&m.session_id));
        }
        if selected.is_empty() {
            bail!(
                "no session in {} matches the filters; `sessrec ls` with the same filters shows what there is",
                store.url()
            );
        }
        Ok(selected)
    }
}

/// Refuses a bundle directory that holds anything.
fn check_bundle_dir(path: &Path) -> Result<()> {
    match std::fs::read_dir(path).map(|mut entries| entries.next().is_some()) {
        Ok(true) => bail!(
            "{} exists and is not empty; name a new directory for the bundle",
            path.display()
        ),
        Ok(false) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot use {}", path.display())),
    }
}

/// Makes the bundle directory (new, or empty).
fn create_bundle_dir(path: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    check_bundle_dir(path)?;
    match std::fs::symlink_metadata(path) {
        // An empty directory someone else could write to: they could plant links in it.
        Ok(m)
            if !m.is_dir()
                || m.uid() != rustix::process::geteuid().as_raw()
                || m.mode() & 0o022 != 0 =>
        {
            bail!(
                "{} is not a directory of yours that only you can write; name a new directory for the bundle",
                path.display()
            )
        }
        Ok(_) => {}
        Err(_) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            files::new_dir(path)?;
        }
    }
    files::new_dir(&path.join("sessions"))?;
    files::new_dir(&path.join("audit"))?;
    Ok(path.to_path_buf())
}

/// Whether a store object's name is one the uploader gives a chain segment
/// (`FIRST-LAST.jsonl`, 20 digits each): anything else under `audit/` is not copied.
fn is_segment_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 47
        && name.ends_with(".jsonl")
        && b[20] == b'-'
        && b[..20].iter().chain(&b[21..41]).all(u8::is_ascii_digit)
}

/// Copies every segment of `host`'s audit chain, checks it, and notes the exit status of each
/// session the service's own signed `session.end` gives.
async fn copy_audit_chain(
    store: &Store,
    host: &str,
    out: &Path,
    trusted: &[PublicKey],
    ends: &mut HashMap<String, i64>,
) -> Result<String> {
    let prefix = layout::audit_prefix(host);
    let dir = out.join(prefix.trim_end_matches('/'));
    files::new_dir(&dir)?;
    let keys = upload::list_keys(store, &prefix)
        .await
        .with_context(|| format!("cannot list {prefix} in {}", store.url()))?;
    let mut paths = Vec::new();
    for key in &keys {
        let name = key.strip_prefix(&prefix).unwrap_or(key);
        if !is_segment_name(name) {
            print::warn(format_args!(
                "{}: not an audit chain segment's name; left out of the bundle",
                print::safe(key)
            ));
            continue;
        }
        // A link planted in a file:// store would copy a file from outside it.
        if let Err(e) = guard::no_links(store, key) {
            print::warn(format_args!(
                "{}; left out of the bundle",
                print::safe(&e.to_string())
            ));
            continue;
        }
        let path = dir.join(name);
        let mut file = files::new_file(&path)?;
        upload::fetch_to(store, key, &mut file)
            .await
            .with_context(|| format!("cannot fetch {key}"))?;
        paths.push(path);
    }
    if paths.is_empty() {
        return Ok("no audit chain in the store".into());
    }
    paths.sort();
    let mut readers = Vec::new();
    for p in &paths {
        readers.push((p.display().to_string(), BufReader::new(File::open(p)?)));
    }
    // Only the service's own statements count: lines a trusted key signed.
    let report = check_pieces(readers, trusted.to_vec(), |line, signed| {
        if signed
            && line.get("event").and_then(Value::as_str) == Some("session.end")
            && let (Some(s), Some(code)) = (
                line.get("session").and_then(Value::as_str),
                line.get("exit_status").and_then(Value::as_i64),
            )
        {
            ends.insert(s.to_string(), code);
        }
    })?;
    let name = super::verify_chain::verdict_name(report.verdict);
    Ok(match (report.verdict, report.problem) {
        (ChainVerdict::Intact, _) => format!("intact, {} events", report.lines),
        (_, Some(p)) => format!("{name} ({})", print::safe(&p)),
        (_, None) => name.to_string(),
    })
}

/// Whether the recording's signed header is the session its manifest describes: a store
/// writer may have put another session's recording, or a manifest of its own, in its place.
fn bound_to(m: &Manifest, meta: Option<&sessrec_formats::SessrecMeta>) -> Result<(), String> {
    let Some(meta) = meta else {
        return Err("the recording is not a sessrec recording".into());
    };
    let held = sessrec_store::manifest::from_meta(meta);
    let pairs = [
        ("session", Some(&held.session_id), Some(&m.session_id)),
        ("host", held.host.as_ref(), m.host.as_ref()),
        ("user", held.user.as_ref(), m.user.as_ref()),
        ("grant", held.grant.as_ref(), m.grant.as_ref()),
        ("start", held.start.as_ref(), m.start.as_ref()),
    ];
    for (what, got, claimed) in pairs {
        if got != claimed {
            return Err(format!(
                "the recording's signed header has {what} {}, its manifest {}",
                got.map_or("(none)", |s| s.as_str()),
                claimed.map_or("(none)", |s| s.as_str())
            ));
        }
    }
    Ok(())
}

/// Copies one session (recording and manifest as stored) and verifies the copy; an error is
/// the session's alone (it is left out, and named).
async fn copy_session(
    store: &Store,
    m: &Manifest,
    out: &Path,
    trusted: &[PublicKey],
    ends: &HashMap<String, i64>,
    progress: &mut progress::Progress,
) -> Result<Row> {
    let id = layout::component(&m.session_id);
    let dir = out.join("sessions").join(&id);
    files::new_dir(&dir)?;
    let recording = dir.join("recording.cast.zst");
    guard::no_links(store, &m.key)?;
    let mut file = progress::Counted {
        inner: BufWriter::new(files::new_file(&recording)?),
        progress,
    };
    upload::fetch_to(store, &m.key, &mut file)
        .await
        .with_context(|| format!("cannot fetch {}", m.key))?;
    file.inner.into_inner()?.sync_all()?;
    // The manifest as stored, at most what a manifest may be (it may have been replaced since
    // the listing read it).
    let manifest_key = m.keys().manifest;
    guard::no_links(store, &manifest_key)?;
    match upload::read_small(store, &manifest_key).await {
        Ok(Some(bytes)) => files::write_new(dir.join("manifest.json"), &bytes)?,
        Ok(None) => print::warn(format_args!(
            "session {}: no manifest at {manifest_key}; the bundle has its recording only",
            print::safe(&m.session_id)
        )),
        Err(e) => return Err(e).with_context(|| format!("cannot read {manifest_key}")),
    }
    let mut row = Row::of(m, format!("sessions/{id}/recording.cast.zst"));
    row.exit_status = ends.get(&m.session_id).copied();
    let report = verify(File::open(&recording)?, trusted.to_vec())?;
    row.verdict = ShippedVerdict::from(report.verdict).name().to_string();
    row.bytes = std::fs::metadata(&recording)?.len();
    row.sha256 = sums::sha256_file(&recording)?;
    if report.verdict != Verdict::Altered
        && let Err(why) = bound_to(m, report.integrity.meta.as_ref())
    {
        print::warn(format_args!(
            "session {}: substituted: {}",
            print::safe(&m.session_id),
            print::safe(&why)
        ));
        row.verdict = ShippedVerdict::Altered.name().to_string();
    }
    Ok(row)
}

/// The transcript and the plain asciicast of what the signatures cover (an unsigned tail is
/// not evidence). A recording that cannot be read to its end gives what could be read, and
/// says where it stopped.
fn derived_files(recording: &Path, dir: &Path) {
    let made = (|| -> Result<()> {
        let opts = OpenOptions::default();
        let mut reader = open_path(recording, &opts)?;
        let header = reader.header().clone();
        let mut txt = BufWriter::new(files::new_file(dir.join("transcript.txt"))?);
        let done = sessrec_player::write_transcript(
            SignedEvents::new(&mut reader, false),
            header.cols,
            header.rows,
            &mut txt,
        );
        if let Err(e) = done {
            writeln!(txt, "\n[the transcript stops here: {e}]")?;
        }
        txt.flush()?;
        let mut reader = open_path(recording, &opts)?;
        let mut cast = BufWriter::new(files::new_file(dir.join("session.cast"))?);
        let done = super::convert::write_asciicast(
            V3Encoder::new(),
            &header,
            &mut SignedEvents::new(&mut reader, false),
            &mut cast,
        );
        cast.flush()?;
        done
    })();
    if let Err(e) = made {
        print::warn(format_args!(
            "{}: {}; the transcript or asciicast beside it stops there",
            recording.display(),
            print::safe(&format!("{e:#}"))
        ));
    }
}

fn write_tables(out: &Path, rows: &[Row]) -> Result<()> {
    let json = serde_json::to_string_pretty(rows)?;
    files::write_new(out.join("manifest.json"), json + "\n").context("writing manifest.json")?;
    files::write_new(out.join("manifest.csv"), rows::csv(rows)).context("writing manifest.csv")
}

/// The public keys the bundle is checked with: the hosts' (those trusted here) and the
/// exporter's.
fn write_keys(out: &Path, trusted: &[PublicKey], exporter: Option<PublicKey>) -> Result<()> {
    let dir = out.join("keys");
    files::new_dir(&dir)?;
    for k in trusted {
        files::write_new(dir.join(format!("host-{}.pub", k.id())), k.to_file_text())?;
    }
    if let Some(k) = exporter {
        files::write_new(dir.join("exporter.pub"), k.to_file_text())?;
    }
    Ok(())
}

/// README.txt: what the bundle holds and how to check it.
fn readme(rows: &[Row], signed: bool) -> String {
    let mut by_verdict = BTreeMap::new();
    for r in rows {
        *by_verdict.entry(r.verdict.as_str()).or_insert(0) += 1;
    }
    let verdicts: Vec<String> = by_verdict.iter().map(|(v, n)| format!("{n} {v}")).collect();
    let sig = if signed {
        "   minisign -V -p keys/exporter.pub -m SHA256SUMS\n"
    } else {
        "   (SHA256SUMS is not signed: the export was made without --sign-key)\n"
    };
    format!(
        "sessrec export bundle\n\
         =====================\n\n\
         {n} sessions ({verdicts}), made {now} by sessrec {version}.\n\n\
         What is here\n\
         - manifest.csv, manifest.json: one row per session (who, grant, host, when, exit status,\n\
         \x20 size, SHA-256, verdict, signing key).\n\
         - sessions/ID/recording.cast.zst: the recording exactly as stored, hash-chained and signed\n\
         \x20 by its host; manifest.json beside it is its manifest as stored.\n\
         - sessions/ID/transcript.txt: the text as it was seen; session.cast: the plain asciicast\n\
         \x20 (asciinema play session.cast). Both hold only what the host's signatures cover.\n\
         - audit/HOST/: the host's audit chain, hash-chained and signed by the host.\n\
         - keys/: the hosts' public keys and the exporter's.\n\
         - SHA256SUMS, SHA256SUMS.minisig: every file's SHA-256, signed by the exporter.\n\n\
         How to check it\n\
         1. With stock tools, in this directory:\n\
         \x20  sha256sum -c SHA256SUMS\n\
         {sig}\
         2. With sessrec (any machine, no network):\n\
         \x20  sessrec verify sessions/ID/recording.cast.zst --key keys/host-KEYID.pub\n\
         \x20  sessrec verify audit/HOST/ --key keys/host-KEYID.pub\n\
         3. Read manifest.csv in a spreadsheet, transcripts in any editor.\n\n\
         The public keys in keys/ came with this bundle: compare their ids with the ones you\n\
         received from the operator out of band before you trust them.\n",
        n = rows.len(),
        verdicts = verdicts.join(", "),
        now = jiff::Timestamp::now(),
        version = env!("CARGO_PKG_VERSION"),
    )
}
