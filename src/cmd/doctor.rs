//! `sessrec doctor`: checks a bastion's setup and says exactly what to fix.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use std::io::Write;

use anyhow::{Context, Result};
use sessrec_store::Store;

use crate::cli::Doctor;
use crate::config::Config;
use crate::exit::Status;
use crate::keyfile::{read_public_keys, read_signing_key};
use crate::print;

/// The findings, printed as they come (paths and messages made terminal-safe: they may come
/// from a policy file or a store).
struct Findings {
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
    fn ok(&mut self, what: &str) {
        self.line("ok", what, None);
    }
    fn warn(&mut self, what: &str, fix: &str) {
        self.warnings += 1;
        self.line("warn", what, Some(fix));
    }
    fn fail(&mut self, what: &str, fix: &str) {
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
        let sessrec_gid = nix::unistd::Group::from_name("sessrec")
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw());
        check_binary(&mut f, sessrec_gid);
        check_shell(&mut f, &config.shell);
        check_private_dir(&mut f, "spool", &config.spool, sessrec_gid);
        check_key(&mut f, &config, sessrec_gid);
        check_space(&mut f, &config);
        check_clock(&mut f);
        check_store(&mut f, &config);
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

fn check_binary(f: &mut Findings, gid: Option<u32>) {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let Ok(meta) = std::fs::metadata(&exe) else {
        return;
    };
    let setgid = meta.mode() & 0o2000 != 0;
    match gid {
        None => f.fail(
            "there is no sessrec group",
            "run dist/install.sh (it creates the group and installs the binary setgid to it)",
        ),
        Some(g) if setgid && meta.gid() == g => {
            f.ok(&format!("{} is setgid sessrec", exe.display()))
        }
        Some(_) => f.warn(
            &format!(
                "{} is not setgid sessrec: recorded users' shells could not write the spool",
                exe.display()
            ),
            "install it with dist/install.sh (chgrp sessrec; chmod 2755)",
        ),
    }
}

fn check_shell(f: &mut Findings, shell: &Path) {
    match std::fs::metadata(shell) {
        Ok(m) if m.is_file() && m.mode() & 0o111 != 0 => {
            f.ok(&format!("shell {} is executable", shell.display()))
        }
        _ => f.fail(
            &format!("shell {} is missing or not executable", shell.display()),
            "set `shell` in the policy to an installed shell",
        ),
    }
}

/// The spool must be a directory only root and the sessrec group can enter.
fn check_private_dir(f: &mut Findings, what: &str, dir: &Path, gid: Option<u32>) {
    let shown = dir.display();
    let Ok(meta) = std::fs::metadata(dir) else {
        f.fail(
            &format!("{what} {shown} does not exist"),
            &format!("mkdir -m 0770 {shown} && chgrp sessrec {shown}"),
        );
        return;
    };
    if meta.mode() & 0o007 != 0 {
        f.fail(
            &format!(
                "{what} {shown} is open to other users (mode {:o})",
                meta.mode() & 0o7777
            ),
            &format!("chmod o-rwx {shown}"),
        );
    } else if gid.is_some_and(|g| g != meta.gid()) {
        f.fail(
            &format!("{what} {shown} does not belong to the sessrec group"),
            &format!("chgrp sessrec {shown}"),
        );
    } else {
        f.ok(&format!("{what} {shown} is private to the sessrec group"));
    }
    if rustix::fs::access(dir, rustix::fs::Access::WRITE_OK).is_err() {
        f.fail(
            &format!("{what} {shown} is not writable by this user"),
            "run doctor as root or a member of the sessrec group",
        );
    }
}

fn check_key(f: &mut Findings, config: &Config, gid: Option<u32>) {
    let Some(path) = &config.signing_key else {
        f.warn(
            "no signing key: recordings are unsigned",
            "set `signing_key` (dist/install.sh makes one)",
        );
        return;
    };
    let shown = path.display();
    match std::fs::metadata(path) {
        Err(_) => {
            f.fail(
                &format!("signing key {shown} does not exist"),
                &format!("sessrec keygen -o {shown}; chgrp sessrec {shown}; chmod 0640 {shown}"),
            );
            return;
        }
        Ok(m) if m.mode() & 0o007 != 0 => f.fail(
            &format!(
                "signing key {shown} is readable by every user (mode {:o})",
                m.mode() & 0o7777
            ),
            &format!("chmod 0640 {shown}, and make a new key: this one may be known"),
        ),
        Ok(m) if gid.is_some_and(|g| g != m.gid()) => f.fail(
            &format!("signing key {shown} does not belong to the sessrec group"),
            &format!("chgrp sessrec {shown}"),
        ),
        Ok(_) => f.ok(&format!(
            "signing key {shown} is private to the sessrec group"
        )),
    }
    let key = match read_signing_key(path) {
        Ok(k) => k,
        Err(e) => {
            f.fail(
                &format!("{e:#}"),
                "restore the key or make a new one with `sessrec keygen`",
            );
            return;
        }
    };
    let mut pub_path = path.clone().into_os_string();
    pub_path.push(".pub");
    match read_public_keys(&[pub_path.clone().into()]) {
        Ok(p) if p.first() == Some(&key.public()) => f.ok("the public key beside it matches"),
        Ok(_) => f.fail(
            &format!(
                "{} does not match the signing key",
                Path::new(&pub_path).display()
            ),
            "give auditors the public key of the key in use (sessrec keygen writes both)",
        ),
        Err(_) => f.warn(
            &format!("no public key at {}", Path::new(&pub_path).display()),
            "keep the .pub file beside the key: auditors need it to verify",
        ),
    }
}

fn check_space(f: &mut Findings, config: &Config) {
    match crate::space::available(&config.spool) {
        Ok(free) if config.min_free_mb > 0 && free < config.min_free_mb << 20 => f.fail(
            &format!(
                "the spool has {} MiB free, below min_free_mb = {}",
                free >> 20,
                config.min_free_mb
            ),
            "free space, or check that `sessrec upload` runs and ships",
        ),
        Ok(free) => f.ok(&format!("the spool has {} MiB free", free >> 20)),
        Err(_) => {}
    }
}

/// Recording times come from this clock: it should be synchronised (NTP).
fn check_clock(f: &mut Findings) {
    let now = jiff::Timestamp::now();
    if now.as_second() < 1_735_689_600 {
        f.fail(
            &format!("the clock says {now}, before 2025"),
            "set the time and enable NTP (timedatectl set-ntp true)",
        );
    } else if clock_synchronised() == Some(false) {
        f.warn(
            &format!("the clock ({now}) is not marked synchronised by NTP"),
            "enable NTP (timedatectl set-ntp true, or chrony): recording times are evidence",
        );
    } else {
        f.ok(&format!("the clock says {now}"));
    }
}

/// What systemd-timedated says, when it is there; `None` when it cannot tell.
fn clock_synchronised() -> Option<bool> {
    let text = std::process::Command::new("timedatectl")
        .args(["show", "-p", "NTPSynchronized", "--value"])
        .output()
        .ok()?;
    match String::from_utf8_lossy(&text.stdout).trim() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// Writes, reads back and removes a probe object: reachability, credentials and rights at once.
fn check_store(f: &mut Findings, config: &Config) {
    let store = match Store::open(&config.storage, &config.store_settings()) {
        Ok(s) => s,
        Err(e) => {
            f.fail(
                &format!("{e}"),
                "set `storage` to file:///DIR, s3://, az:// or gs://BUCKET/PREFIX",
            );
            return;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            f.fail(
                &format!("cannot start the runtime: {e}"),
                "check the system's limits",
            );
            return;
        }
    };
    match runtime.block_on(sessrec_store::probe(&store)) {
        Ok(()) => f.ok(&format!("store {} takes, returns and deletes an object", store.url())),
        Err(e) => f.fail(
            &format!("store {}: {e}", store.url()),
            "check the endpoint, the bucket, the credentials (AWS_* in /etc/sessrec/uploader.env) and that this host may write",
        ),
    }
}
