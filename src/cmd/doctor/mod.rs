//! `sessrec doctor`: checks a bastion's setup and says exactly what to fix.

use std::os::unix::fs::MetadataExt;

use std::io::Write;

use anyhow::{Context, Result};

use crate::cli::Doctor;
use crate::config::Config;
use crate::exit::Status;
use crate::print;

mod host;
mod sshd;

/// The findings, printed as they come (paths and messages made terminal-safe: they may come
/// from a policy file or a store).
pub(super) struct Findings {
    out: print::Stdout,
    /// The first write to standard output that failed, reported at the end.
    write_error: Option<std::io::Error>,
    failures: usize,
    warnings: usize,
}

impl Findings {
    fn new() -> Findings {
        Findings {
            out: print::stdout(),
            write_error: None,
            failures: 0,
            warnings: 0,
        }
    }
    fn line(&mut self, verdict: &str, what: &str, fix: Option<&str>) {
        let mut text = format!("{verdict:<5} {}", print::safe(what));
        if let Some(fix) = fix {
            text.push_str(&format!("\n      fix: {}", print::safe(fix)));
        }
        if let Err(e) = writeln!(self.out, "{text}") {
            self.write_error.get_or_insert(e);
        }
    }
    pub(super) fn ok(&mut self, what: &str) {
        self.line("ok", what, None);
    }
    pub(super) fn warn(&mut self, what: &str, fix: &str) {
        self.warnings += 1;
        self.line("warn", what, Some(fix));
    }
    pub(super) fn fail(&mut self, what: &str, fix: &str) {
        self.failures += 1;
        self.line("FAIL", what, Some(fix));
    }
}

impl Doctor {
    pub fn run(self) -> Result<Status> {
        let mut f = Findings::new();
        let config = match Config::load(&self.config) {
            Ok(c) => {
                if self.config.exists() {
                    f.ok(&format!("policy {} is valid", self.config.display()));
                } else {
                    f.warn(
                        &format!("no policy at {}: defaults apply", self.config.display()),
                        "run dist/install.sh, or write the file",
                    );
                }
                c
            }
            Err(e) => {
                f.fail(
                    &format!("{e:#}"),
                    "correct the file (unknown keys are refused)",
                );
                return summary(f);
            }
        };
        let world_readable = std::fs::metadata(&self.config).is_ok_and(|m| m.mode() & 0o004 != 0);
        let secrets = [
            (
                config.s3.secret_access_key.is_some(),
                "an S3 secret key",
                "AWS_SECRET_ACCESS_KEY",
            ),
            (
                config.azure.access_key.is_some(),
                "an Azure access key",
                "AZURE_STORAGE_ACCOUNT_KEY",
            ),
        ];
        for (_, what, variable) in secrets.iter().filter(|s| s.0 && world_readable) {
            f.fail(
                &format!(
                    "{} holds {what} and every user can read it",
                    self.config.display()
                ),
                &format!(
                    "move it to /etc/sessrec/uploader.env (mode 0600, {variable}=...) and rotate it"
                ),
            );
        }
        // The policy parsed, so the recipients are valid age keys.
        match config.escrow_recipients.len() {
            0 => f.ok(
                "withheld keystrokes are dropped (no escrow_recipients: nobody can recover them)",
            ),
            n => f.ok(&format!(
                "withheld keystrokes are escrowed to {n} age recipient(s), for sessrec unseal"
            )),
        }
        host::check_binary(&mut f);
        host::check_shell(&mut f, &config.shell);
        host::check_spool(&mut f, &config.spool);
        host::check_audit_log(&mut f, &config.audit_log);
        host::check_key(&mut f, &config);
        host::check_space(&mut f, &config);
        host::check_clock(&mut f);
        sshd::check_service(&mut f, &config);
        match &self.user {
            Some(user) => sshd::check_user(&mut f, &config, user, self.sshd_config.as_deref()),
            None => f.warn(
                "no recorded user given: sshd's settings for them and their shell were not checked",
                "run sessrec doctor --user USER for a recorded user",
            ),
        }
        host::check_store(&mut f, &config);
        summary(f)
    }
}

fn summary(mut f: Findings) -> Result<Status> {
    let line = format!("{} problem(s), {} warning(s)", f.failures, f.warnings);
    if let Some(e) = f.write_error.take() {
        return Err(e).context("printing the findings");
    }
    writeln!(f.out, "{line}").context("printing the findings")?;
    Ok(if f.failures == 0 {
        Status::Ok
    } else {
        Status::Error
    })
}
