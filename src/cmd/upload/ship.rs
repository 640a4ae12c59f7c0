//! Shipping one sealed spool recording, as someone who can write the spool would try to abuse
//! it: the file must be the session it is named for, match the manifest the recording service
//! signed when it sealed it, and never replace what the store already holds; live parts are
//! removed only for a session whose whole, signed recording was just stored.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use sessrec_formats::keys::PublicKey;
use sessrec_store::guard::{self, Existing};
use sessrec_store::manifest::{Checked, Shipping, StoredManifest, check, from_header};
use sessrec_store::upload::{self, Confirmed, Resumed, Shipped};
use sessrec_store::{
    Attestation, Attested, Sealed, SealedState, ShippedVerdict, Store, StoreError,
};

use super::{give_up_or_wait, retried};
use crate::audit::{self, Audit, Ending, Level};
use crate::config::Config;
use crate::print;
use crate::spool;

/// Ships one sealed recording; `Ok(false)` when it could not be shipped (and that is recorded).
pub(super) async fn ship_file(
    store: &Store,
    config: &Config,
    trusted: &[PublicKey],
    audit: &mut Audit,
    path: &Path,
) -> Result<bool> {
    // One open for every read below: the file checked is the file shipped.
    let opened = match spool::open_recording(path) {
        Ok(o) => o,
        Err(e) => {
            give_up_or_wait(config, path, &format!("{e:#}"), audit)?;
            return Ok(false);
        }
    };
    let source = opened.path.as_path();
    // A file that cannot be read as a recording will not get better by retrying.
    let header = match from_header(source) {
        Ok(m) => m,
        Err(e) => {
            give_up_or_wait(config, path, &format!("{e}"), audit)?;
            return Ok(false);
        }
    };
    let named = spool_id(path);
    if header.session_id != named {
        let why = format!(
            "it is named for session {named} but holds session {}",
            header.session_id
        );
        return refuse(config, path, audit, "upload.misnamed", &why);
    }
    let checked = {
        let (p, t) = (source.to_path_buf(), trusted.to_vec());
        tokio::task::spawn_blocking(move || check(&p, &t))
            .await
            .context("the verification thread failed")?
    };
    let checked = match checked {
        Ok(c) => c,
        Err(e) => {
            give_up_or_wait(config, path, &format!("{e}"), audit)?;
            return Ok(false);
        }
    };
    let attested = match sealed_manifest(path, &header.session_id, &header.key, &checked, trusted) {
        Ok(Some(a)) => a,
        Ok(None) => {
            if matches!(
                checked.verdict,
                ShippedVerdict::Intact | ShippedVerdict::Incomplete
            ) {
                // Sealed by its recorder, yet nothing vouches for its manifest: it will be
                // listed as unverified. Removed from the spool, or from an older sessrec.
                audit.event(
                    Level::Warning,
                    "upload.manifest_missing",
                    json!({"file": path, "session": header.session_id}),
                );
            }
            describe_unsealed(source, &checked)?
        }
        Err(why) => return refuse(config, path, audit, "upload.not_as_sealed", &why),
    };
    let key = header.key.clone();
    let shipped = match retried(|| guard::compare_with_file(store, &key, source)).await {
        Ok(Existing::Absent) => {
            let checkpoint = spool::multipart_checkpoint(&config.spool, path);
            let put = retried(|| upload::put_and_confirm(store, source, &key, &checkpoint)).await;
            // A link planted in a `file://` store while the upload ran: the bytes may have gone
            // outside it. Said loudly; the spool copy stays.
            if let Err(e) = guard::no_links(store, &key) {
                let why = format!("{e}; the recording may have been written outside the store");
                audit.event(
                    Level::Alert,
                    "upload.link",
                    json!({"file": path, "error": why}),
                );
                return failed(config, path, audit, json!({"key": key}), &e);
            }
            put
        }
        // An earlier attempt stored these very bytes.
        Ok(Existing::Same(sha256)) => Ok(Shipped {
            size: checked.size,
            sha256,
            confirmed: Confirmed::ReadBack,
            resumed: Resumed::default(),
        }),
        Ok(Existing::Different(why)) => {
            let why = format!(
                "session {named} is already in the store with other bytes ({why}); the stored \
                 recording is kept"
            );
            return refuse(config, path, audit, "upload.conflict", &why);
        }
        Err(e) => Err(e),
    };
    let mut fields = json!({
        "session": header.session_id, "user": header.user, "grant": header.grant,
        "host": header.host, "key": key, "size": checked.size, "sha256": checked.sha256,
        "verdict": checked.verdict, "store": store.url(),
    });
    let shipped = match shipped {
        Ok(s) if s.sha256 != checked.sha256 => {
            let why = "the spool file changed while it was shipped";
            give_up_or_wait(config, path, why, audit)?;
            return Ok(false);
        }
        Ok(s) => s,
        Err(e) => return failed(config, path, audit, fields, &e),
    };
    let signed = matches!(attested.check(trusted), Attestation::Signed { .. });
    let stored = StoredManifest::new(
        attested,
        Shipping {
            uploaded: jiff::Timestamp::now().to_string(),
            verdict: checked.verdict,
        },
    );
    // Live parts are the only other copy of a cut or damaged recording: kept unless this one
    // is whole and vouched for.
    let whole = matches!(
        checked.verdict,
        ShippedVerdict::Intact | ShippedVerdict::Incomplete
    ) && (signed || trusted.is_empty());
    match retried(|| upload::finish(store, &stored, whole)).await {
        Ok(()) => {}
        Err(StoreError::Exists(why)) => {
            return refuse(config, path, audit, "upload.conflict", &why);
        }
        Err(e) => return failed(config, path, audit, fields, &e),
    }
    fields["confirmed"] = json!(match shipped.confirmed {
        Confirmed::ETag => "etag",
        Confirmed::ReadBack => "read-back",
    });
    if shipped.resumed.parts_kept > 0 {
        fields["resumed_parts"] = json!(shipped.resumed.parts_kept);
        fields["parts"] = json!(shipped.resumed.parts);
    }
    if checked.verdict == ShippedVerdict::Truncated {
        check_ending(config, audit, &header.session_id, &fields);
    }
    // This host signs its recordings: one that is not signed by its key was replaced in the
    // spool (or made without the service), however consistent it is.
    let level = match checked.verdict {
        ShippedVerdict::Altered => Level::Alert,
        ShippedVerdict::Unsigned | ShippedVerdict::UntrustedKey if !trusted.is_empty() => {
            Level::Alert
        }
        _ => Level::Info,
    };
    audit.event(level, "upload.ok", fields);
    // Stored and described: the spool copy goes, and only if it still is the file shipped (a
    // file put in its place since stays, and is looked at on the next pass).
    opened.remove(path)?;
    let _ = std::fs::remove_file(spool::sealed_manifest_path(path));
    spool::clear_failures(&config.spool, path);
    let kept = match shipped.resumed.parts_kept {
        0 => String::new(),
        n => format!(
            "; resumed, {n} of {} parts were already stored",
            shipped.resumed.parts
        ),
    };
    print::note(format_args!(
        "shipped {} ({} bytes, {}) to {key}{kept}",
        path.display(),
        checked.size,
        checked.verdict,
    ));
    Ok(true)
}

/// The session id a spool file is named for.
fn spool_id(path: &Path) -> String {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.strip_suffix(".cast.zst").unwrap_or(name).to_string()
}

/// The recording service's signed manifest of this file, checked: signed by the host's key,
/// naming this session and key, and describing exactly these bytes. `Ok(None)` when there is
/// none (the recorder died before sealing).
fn sealed_manifest(
    path: &Path,
    session: &str,
    key: &str,
    checked: &Checked,
    trusted: &[PublicKey],
) -> Result<Option<Attested>, String> {
    let Some(bytes) = spool::read_sealed_manifest(path) else {
        return Ok(None);
    };
    let attested: Attested = serde_json::from_slice(&bytes?)
        .map_err(|e| format!("its sealed manifest is not valid: {e}"))?;
    match attested.check(trusted) {
        Attestation::Signed { .. } => {}
        Attestation::Unsigned if trusted.is_empty() => {}
        other => {
            return Err(format!(
                "its sealed manifest is not signed by this host's key ({other:?})"
            ));
        }
    }
    let body = attested.body().map_err(|e| e.to_string())?;
    if body.session_id != session || body.key != key {
        return Err(format!(
            "its sealed manifest describes session {} at {}",
            body.session_id, body.key
        ));
    }
    if body.sha256 != checked.sha256 || body.size != checked.size {
        return Err(format!(
            "it is not the recording the service sealed ({} bytes, SHA-256 {}; the spool file \
             has {} bytes, SHA-256 {}): it was cut, extended or edited in the spool",
            body.size, body.sha256, checked.size, checked.sha256
        ));
    }
    Ok(Some(attested))
}

/// The uploader's own, unsigned description of a recording its recorder did not seal.
fn describe_unsealed(path: &Path, checked: &Checked) -> Result<Attested> {
    let reader = sessrec_formats::open_path(path, &sessrec_formats::OpenOptions::default())
        .with_context(|| format!("cannot read {}", path.display()))?;
    let body = Sealed::new(
        reader.header(),
        checked.size,
        checked.sha256.clone(),
        checked.duration_ms,
        SealedState::Unsealed,
    )?;
    Ok(body.attest(None))
}

/// A truncated recording: a crash, or a cut. The audit trail tells which: a session that ended
/// normally had its recording sealed, so truncation means someone cut it; no end at all means
/// the recording service itself died. Either way, an alert.
fn check_ending(config: &Config, audit: &mut Audit, session: &str, fields: &Value) {
    let mut fields = fields.clone();
    let (event, why) = match audit::session_ending(&config.audit_log, session) {
        Ok(Ending::Ended(Some(recording))) => {
            fields["sealed"] = recording;
            (
                "upload.cut",
                "the audit trail shows the session ended and its recording sealed, yet the \
                 recording is truncated: it was cut after sealing",
            )
        }
        Ok(Ending::Ended(None)) => return,
        Ok(Ending::NoEnd) => (
            "upload.no_end",
            "the recording is truncated and the audit trail shows no end of the session: the \
             recording service died, or the trail was cut",
        ),
        Err(e) => {
            fields["error"] = json!(e.to_string());
            (
                "upload.no_end",
                "the recording is truncated and the audit trail cannot be read to tell a crash \
                 from a cut",
            )
        }
    };
    fields["reason"] = json!(why);
    audit.event(Level::Alert, event, fields);
    print::warn(format_args!("session {session}: {why}"));
}

/// A spool file that must not be shipped as it is: quarantined at once, with an alert.
fn refuse(config: &Config, path: &Path, audit: &mut Audit, event: &str, why: &str) -> Result<bool> {
    let dest = spool::quarantine(&config.spool, path, why)?;
    audit.event(
        Level::Alert,
        event,
        json!({"file": path, "quarantine": dest, "error": why}),
    );
    print::note(format_args!(
        "moved {} to {}: {why}; inspect it with `sessrec verify`",
        path.display(),
        dest.display()
    ));
    Ok(false)
}

/// The store failed: the file stays in the spool and is retried.
fn failed(
    config: &Config,
    path: &Path,
    audit: &mut Audit,
    mut fields: Value,
    error: &StoreError,
) -> Result<bool> {
    let message = format!("{error}");
    fields["error"] = json!(message);
    audit.event(Level::Warning, "upload.failed", fields);
    print::note(format_args!(
        "cannot ship {} yet: {message}; it stays in the spool and is retried",
        path.display()
    ));
    spool::record_failure(&config.spool, path, &message)?;
    Ok(false)
}
