use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use anyhow::{Context, Result, bail};
use serde_json::json;
use sessrec_formats::container::{
    FORMAT, Stopped, Verdict, VerifyReport, starts_a_container, verify,
};
use sessrec_formats::time::clock;
use sessrec_store::ShippedVerdict;

use crate::cli::Verify;
use crate::exit::Status;
use crate::fetch::Substituted;
use crate::keyfile::trusted_keys;
use crate::print;

impl Verify {
    pub fn run(self) -> Result<Status> {
        if self.file.as_os_str() == "-" {
            bail!("verify needs a file it can seek in; save standard input to a file first");
        }
        let (trusted, keys_named) = trusted_keys(&self.keys, &self.config)?;
        if super::verify_bundle::is_bundle(&self.file) {
            return self.run_bundle(trusted);
        }
        if super::verify_chain::is_chain(&self.file) {
            return self.run_chain(trusted, keys_named);
        }
        let fetched = match crate::fetch::resolve(&self.file, self.store.as_deref(), &self.config) {
            Err(e) if e.downcast_ref::<Substituted>().is_some() => {
                return self.print_verdict(ShippedVerdict::Altered, Status::Altered, &e);
            }
            fetched => fetched?,
        };
        let mut file = File::open(fetched.path())
            .with_context(|| format!("cannot open {}", self.file.display()))?;
        if !is_container(&mut file)? {
            let line = "unsigned: not a .cast.zst, so there is nothing to verify (sessrec convert IN \
                        OUT.cast.zst --sign-key KEY makes a signed copy)";
            return self.print_verdict(ShippedVerdict::Unsigned, Status::Unsigned, &line);
        }
        let report = verify(file, trusted)
            .with_context(|| format!("cannot verify {}", self.file.display()))?;
        // Named by session id or key: the header this very pass read must be that session's
        // (an altered file already has its verdict, with the reason).
        if report.verdict != Verdict::Altered
            && let Err(s) = fetched.check_verified(report.integrity.meta.as_ref())
        {
            return self.print_verdict(ShippedVerdict::Altered, Status::Altered, &s);
        }
        let (status, line) = describe(&report, keys_named);
        // The exit status is the verdict: kept when the reader of the output went away.
        let i = &report.integrity;
        let doc = json!({
            "file": self.file,
            "verdict": ShippedVerdict::from(report.verdict).name(),
            "exit_status": status.code(),
            "message": line,
            "session_id": i.session_id,
            "signer": i.signer,
            "frames": i.data_frames,
            "verified_frames": i.verified_frames,
            "verified_until_ms": i.verified_end_ms,
            "unverified_tail_ms": report.unverified_tail_ms(),
            "unverified_tail_events": report.unverified_tail_events(),
            "format": i.format(),
            "stopped": i.stopped().map(|s| json!({"at_ms": s.at_ms, "reason": s.reason, "session_continued": s.session_continued})),
            "events": report.events,
            "last_event_ms": report.last_event_ms,
            "altered": i.damage.as_ref().map(|d| json!({"frame": d.frame, "offset": d.offset, "reason": d.reason})),
            "cut_at_byte": i.cut.as_ref().map(|c| c.offset),
            "trailer": i.trailer.is_some(),
        });
        self.print_result(doc, &line, &[])?;
        Ok(status)
    }
}

impl Verify {
    /// Prints a verdict: `doc` with `--json`, else `FILE: line` and the `detail` lines, indented.
    /// Everything but the file name may come from the file or the store, so all of it is
    /// escaped. The exit status is the caller's: it stands when the reader went away.
    pub(super) fn print_result(
        &self,
        doc: serde_json::Value,
        line: &str,
        detail: &[String],
    ) -> Result<()> {
        let mut out = print::stdout();
        print::unless_closed(if self.json {
            writeln!(
                out,
                "{}",
                print::json_safe(serde_json::to_string_pretty(&doc)?)
            )
        } else {
            let mut text = format!(
                "{}: {}\n",
                print::safe(&self.file.display().to_string()),
                print::safe(line)
            );
            for d in detail {
                text.push_str(&format!("  {}\n", print::safe(d)));
            }
            write!(out, "{text}")
        })
        .context("printing the verdict")
    }

    /// Prints a verdict reached without reading the recording through (a substitution).
    fn print_verdict(
        &self,
        verdict: ShippedVerdict,
        status: Status,
        why: &impl std::fmt::Display,
    ) -> Result<Status> {
        let line = why.to_string();
        let doc = json!({
            "file": self.file, "verdict": verdict.name(),
            "exit_status": status.code(), "message": line,
        });
        self.print_result(doc, &line, &[])?;
        Ok(status)
    }
}

/// Whether the file starts like a zstd stream.
pub(super) fn is_container(file: &mut File) -> Result<bool> {
    let mut magic = [0u8; 4];
    let n = file.read(&mut magic).context("reading the file")?;
    file.seek(SeekFrom::Start(0)).context("reading the file")?;
    Ok(starts_a_container(&magic[..n]))
}

/// The exit status and the one-line verdict.
fn describe(r: &VerifyReport, keys_given: bool) -> (Status, String) {
    let i = &r.integrity;
    let older = match i.format() {
        Some(f) if f < FORMAT => format!(" (container format {f}, an older recording)"),
        _ => String::new(),
    };
    let state = || match (&i.trailer, i.verified_frames) {
        (Some(t), _) if t.stopped.is_some() => format!(
            "sealed early: {}, {} frames, {} events{older}",
            stopped_text(t.stopped.as_ref()),
            i.data_frames,
            r.events,
        ),
        (Some(_), _) => format!(
            "complete, {} frames, {} events, {}{older}",
            i.data_frames,
            r.events,
            clock(r.last_event_ms * 1000)
        ),
        (None, _) => truncation(r),
    };
    match r.verdict {
        Verdict::Intact => (
            Status::Ok,
            format!(
                "intact and signed by trusted key {}: {}",
                i.signer.as_deref().unwrap_or("?"),
                state()
            ),
        ),
        Verdict::Incomplete => (
            Status::Incomplete,
            format!(
                "incomplete: {}; what was recorded is intact and signed by trusted key {}{older}",
                stopped_text(i.stopped()),
                i.signer.as_deref().unwrap_or("?"),
            ),
        ),
        Verdict::Altered => {
            let d = i.damage.as_ref();
            (
                Status::Altered,
                format!(
                    "altered at frame {} (byte {}): {}",
                    d.map_or(0, |d| d.frame),
                    d.map_or(0, |d| d.offset),
                    d.map_or("", |d| d.reason.as_str())
                ),
            )
        }
        Verdict::Unsigned if i.session_id.is_none() => (
            Status::Unsigned,
            "unsigned: not a sessrec recording (no session id in its header), nothing to verify"
                .into(),
        ),
        Verdict::Unsigned => (
            Status::Unsigned,
            format!("unsigned: the recording carries no signatures; {}", state()),
        ),
        Verdict::UntrustedKey => {
            let hint = if keys_given {
                "none of the trusted keys (--key, or trusted_keys in the policy) is that key"
            } else {
                "pass --key with the recording host's public key, or list it in trusted_keys"
            };
            (
                Status::UntrustedKey,
                format!(
                    "signed by untrusted key {} ({hint}); {}",
                    i.signer.as_deref().unwrap_or("?"),
                    state()
                ),
            )
        }
        Verdict::Truncated => (Status::Truncated, truncation(r)),
    }
}

/// "recording stopped at T (reason); the session continued unrecorded".
fn stopped_text(stopped: Option<&Stopped>) -> String {
    let Some(s) = stopped else {
        return "recording stopped early".into();
    };
    let after = if s.session_continued {
        "the session continued unrecorded"
    } else {
        "the session was ended"
    };
    format!(
        "recording stopped at {} ({}); {after}",
        clock(s.at_ms * 1000),
        s.reason
    )
}

/// "truncated at T; unsigned tail of S s (N events)": where the signed part ends, and what
/// follows it that no signature covers (a crash leaves a short one; a cut copy with invented
/// events appended looks the same, so the tail is never presented as part of the evidence).
fn truncation(r: &VerifyReport) -> String {
    let i = &r.integrity;
    let at = match i.verified_frames {
        0 => "truncated before its first checkpoint".to_string(),
        n => format!(
            "truncated at {} (after frame {})",
            clock(i.verified_end_ms.unwrap_or(0) * 1000),
            n - 1
        ),
    };
    match (r.unverified_tail_events(), r.unverified_tail_ms()) {
        (0, _) => format!("{at}; no unsigned tail"),
        (events, ms) => format!(
            "{at}; unsigned tail of {:.3} s ({events} event{})",
            ms as f64 / 1000.0,
            if events == 1 { "" } else { "s" }
        ),
    }
}
