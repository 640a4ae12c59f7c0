//! `sessrec unseal`: the escrowed keystrokes of a recording, decrypted with the security team's
//! age identity, shown only from a recording that verifies, and only once the audit log says
//! who unsealed what.

use std::fs::File;
use std::io::Write;

use anyhow::{Context, Result, bail};
use serde_json::json;
use sessrec_formats::container::{Verdict, verify};
use sessrec_formats::tail::SignedEvents;
use sessrec_formats::{ESCROW_CODE, EventData, OpenOptions, open_path};

use crate::audit::{Audit, Level};
use crate::cli::Unseal;
use crate::escrow::{self, OpenError};
use crate::exit::Status;
use crate::keyfile::trusted_keys;
use crate::print;

/// One escrow event of the recording.
struct Sealed {
    time: u64,
    data: String,
}

impl Unseal {
    pub fn run(self) -> Result<Status> {
        let identities = escrow::read_identities(&self.identity)?;
        let (trusted, _) = trusted_keys(&self.keys, &self.config)?;
        let fetched = crate::fetch::resolve(&self.file, self.store.as_deref(), &self.config)?;
        let name = self.file.display().to_string();
        let file = File::open(fetched.path()).with_context(|| format!("cannot open {name}"))?;
        let report = verify(file, trusted).with_context(|| {
            format!("cannot verify {name}: unseal reads only sessrec .cast.zst recordings")
        })?;
        let refused = match report.verdict {
            Verdict::Intact | Verdict::Incomplete | Verdict::Truncated => None,
            Verdict::Altered => Some((Status::Altered, "it was altered after it was signed")),
            Verdict::Unsigned => Some((Status::Unsigned, "it is not signed")),
            Verdict::UntrustedKey => Some((
                Status::UntrustedKey,
                "it is signed by a key not trusted here (pass the recorder's key with --key)",
            )),
        };
        if let Some((status, why)) = refused {
            print::warn(format_args!(
                "{}: {why}; unseal shows escrowed input only from a recording that verifies (sessrec verify says more)",
                print::safe(&name)
            ));
            return Ok(status);
        }
        // Named by session id or key: it must be that session's (exit 4 otherwise).
        fetched.check_verified(report.integrity.meta.as_ref())?;
        let session = report
            .integrity
            .session_id
            .clone()
            .context("the recording has no session id")?;

        let (sealed, unsigned) = escrow_events(fetched.path())?;
        if sealed.is_empty() {
            bail!(
                "{} holds no escrowed input{}",
                print::safe(&name),
                if unsigned > 0 {
                    format!(
                        " that a signature covers (its unsigned tail of {unsigned} events is not read)"
                    )
                } else {
                    " (it was recorded without escrow recipients, or nothing was withheld)".into()
                }
            );
        }
        let mut audit = Audit::open(
            self.audit_log
                .as_deref()
                .unwrap_or(&config_audit_log(&self.config)?),
            false,
        );
        audit.set("session", json!(session));
        audit.set("reviewer", reviewer());
        let opened: Vec<_> = sealed
            .iter()
            .map(|s| escrow::open(&s.data, &identities))
            .collect();
        if opened
            .iter()
            .all(|o| matches!(o, Err(OpenError::NotARecipient)))
        {
            audit.event(
                Level::Warning,
                "escrow.unseal_failed",
                json!({"recording": name, "reason": "not a recipient", "events": sealed.len()}),
            );
            bail!(
                "none of the identities in {} is a recipient of this recording's escrowed input ({} runs); the recording names its recipients in its header (sessrec info)",
                self.identity.display(),
                sealed.len()
            );
        }
        let recipients: Vec<String> = identities
            .iter()
            .map(|i| i.to_public().to_string())
            .collect();
        audit
            .must(
                Level::Warning,
                "escrow.unsealed",
                json!({
                    "recording": name,
                    "identity": recipients,
                    "events": sealed.len(),
                    "times_ms": sealed.iter().map(|s| s.time / 1000).collect::<Vec<_>>(),
                }),
            )
            .map_err(|why| {
                anyhow::anyhow!(
                    "the escrow.unsealed audit event cannot be written ({why}); nothing is shown without it (pass --audit-log FILE)"
                )
            })?;
        self.show(&session, &sealed, opened, unsigned)
    }

    fn show(
        &self,
        session: &str,
        sealed: &[Sealed],
        opened: Vec<Result<escrow::Payload, OpenError>>,
        unsigned: u64,
    ) -> Result<Status> {
        let mut out = print::stdout();
        let mut status = Status::Ok;
        for (s, o) in sealed.iter().zip(opened) {
            let at = sessrec_formats::time::clock(s.time);
            let text = match o {
                Ok(p) if p.session != session => {
                    status = Status::Altered;
                    format!(
                        "{at}  not shown: this escrowed input belongs to session {}, not to this one",
                        print::safe(&p.session)
                    )
                }
                Ok(p) => {
                    // The run's keys on one line, from its first keystroke to its last.
                    let keys = p.keystrokes()?;
                    let bytes: Vec<u8> = keys.iter().flat_map(|(_, k)| k.iter().copied()).collect();
                    let bytes = zeroize::Zeroizing::new(bytes);
                    let (first, last) = (
                        keys.first().map_or(0, |k| k.0),
                        keys.last().map_or(0, |k| k.0),
                    );
                    format!(
                        "{at}  {}\n  typed {} to {}: {}",
                        print::safe(&p.marker),
                        sessrec_formats::time::clock(first),
                        sessrec_formats::time::clock(last),
                        sessrec_player::time::keys(&bytes)
                    )
                }
                Err(e) => {
                    status = Status::Error;
                    format!("{at}  not shown: {e}")
                }
            };
            print::unless_closed(writeln!(out, "{text}")).context("printing")?;
        }
        if unsigned > 0 {
            print::warn(format_args!(
                "the recording's unsigned tail ({unsigned} events) is not read: escrowed input in it is not shown"
            ));
        }
        Ok(status)
    }
}

/// The escrow events a signature covers, and how many events of the unsigned tail (which
/// may hold more) are left out.
fn escrow_events(path: &std::path::Path) -> Result<(Vec<Sealed>, u64)> {
    let mut reader = open_path(path, &OpenOptions::default())?;
    let mut sealed = Vec::new();
    let mut signed = SignedEvents::new(&mut reader, false);
    for event in signed.by_ref() {
        let event = event?;
        if let EventData::Other { code, data } = event.data
            && code == ESCROW_CODE
        {
            sealed.push(Sealed {
                time: event.time,
                data,
            });
        }
    }
    Ok((sealed, signed.tail().map_or(0, |t| t.events)))
}

fn config_audit_log(config: &std::path::Path) -> Result<std::path::PathBuf> {
    Ok(crate::config::Config::load(config)?.audit_log)
}

/// Who runs this: the account (as `rec` names its user), and who became it through sudo
/// (the environment says so; the uid is what the kernel says).
fn reviewer() -> serde_json::Value {
    let mut who = crate::identity::os_identity();
    if let (serde_json::Value::Object(map), Ok(sudo)) = (&mut who, std::env::var("SUDO_USER")) {
        map.insert("sudo_user".into(), json!(sudo));
    }
    who
}
