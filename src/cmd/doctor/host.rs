//! The host's side of `doctor`: the binary, the shell, the spool, the key, space, the clock and
//! the store.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sessrec_store::Store;

use super::Findings;
use crate::config::Config;
use crate::keyfile::{read_public_keys, read_signing_key};

/// The binary must carry no privilege bit: the login shell is an unprivileged client, and a
/// setuid or setgid bit would hand every subcommand to every user.
pub(super) fn check_binary(f: &mut Findings) {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let Ok(meta) = std::fs::metadata(&exe) else {
        return;
    };
    let shown = exe.display();
    if meta.mode() & 0o6000 != 0 {
        f.fail(
            &format!(
                "{shown} is setuid or setgid (mode {:o})",
                meta.mode() & 0o7777
            ),
            &format!("chmod ug-s {shown} (dist/install.sh installs it mode 0755)"),
        );
    } else if meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        f.fail(
            &format!("{shown} can be changed by someone other than root"),
            &format!("chown root:root {shown}; chmod 0711 {shown}"),
        );
    } else if meta.mode() & 0o044 != 0 {
        f.fail(
            &format!(
                "{shown} is readable by users (mode {:o}): a process of a recorded user can trace a new login client before it protects itself, and run the login unrecorded",
                meta.mode() & 0o7777
            ),
            &format!("chmod 0711 {shown} (execute-only: the kernel makes it untraceable from exec)"),
        );
    } else {
        f.ok(&format!(
            "{shown} is root's, execute-only for users, and carries no privilege bit"
        ));
    }
    match std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope") {
        Ok(v) if v.trim() != "0" => f.ok(&format!("Yama ptrace_scope is {}", v.trim())),
        _ => f.warn(
            "Yama ptrace_scope is 0 or absent: any process may trace another of the same user",
            "sysctl kernel.yama.ptrace_scope=1 (in /etc/sysctl.d/), where the kernel has Yama",
        ),
    }
}

pub(super) fn check_shell(f: &mut Findings, shell: &Path) {
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

/// The spool: the service (root) writes it, the uploader owns it, nobody else may enter.
pub(super) fn check_spool(f: &mut Findings, dir: &Path) {
    let shown = dir.display();
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        f.fail(
            &format!("spool {shown} does not exist"),
            "run dist/install.sh (it makes the spool, owned by the sessrec user, mode 0700)",
        );
        return;
    };
    let uploader = nix::unistd::User::from_name("sessrec")
        .ok()
        .flatten()
        .map(|u| u.uid.as_raw());
    if !meta.is_dir() {
        f.fail(
            &format!("spool {shown} is not a directory"),
            "make it a directory (dist/install.sh)",
        );
    } else if meta.mode() & 0o027 != 0 {
        f.fail(
            &format!(
                "spool {shown} is open to other users (mode {:o})",
                meta.mode() & 0o7777
            ),
            &format!("chmod 0700 {shown}"),
        );
    } else if meta.uid() != 0 && Some(meta.uid()) != uploader {
        f.fail(
            &format!(
                "spool {shown} belongs to uid {}, neither root nor the uploader",
                meta.uid()
            ),
            &format!("chown sessrec:sessrec {shown}"),
        );
    } else {
        f.ok(&format!(
            "spool {shown} is private to the service and the uploader"
        ));
    }
}

/// The audit log: nobody else may write it, and the uploader (group `sessrec`) reads it to tell a
/// cut recording from a crash.
pub(super) fn check_audit_log(f: &mut Findings, path: &Path) {
    let shown = path.display();
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        f.warn(
            &format!("audit log {shown} does not exist yet"),
            "run dist/install.sh (it makes it root:sessrec 0660, append-only)",
        );
        return;
    };
    let group = nix::unistd::Group::from_name("sessrec")
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw());
    if !meta.is_file() || meta.mode() & 0o007 != 0 {
        f.fail(
            &format!(
                "audit log {shown} is not a private file (mode {:o})",
                meta.mode() & 0o7777
            ),
            &format!("chown root:sessrec {shown} && chmod 0660 {shown}"),
        );
    } else if Some(meta.gid()) != group || meta.mode() & 0o060 != 0o060 {
        f.warn(
            &format!("the uploader (group sessrec) cannot read and append to {shown}"),
            &format!(
                "chown root:sessrec {shown} && chmod 0660 {shown} (it alerts on a cut recording \
                 by the service's session.end events)"
            ),
        );
    } else {
        f.ok(&format!(
            "audit log {shown} is root's and the uploader's only"
        ));
    }
    check_audit_head(f, path, group);
}

/// The audit chain's head beside the log: as private as the log, and writable by the uploader,
/// which extends the same chain under its lock.
fn check_audit_head(f: &mut Findings, log: &Path, group: Option<u32>) {
    let mut name = log.as_os_str().to_os_string();
    name.push(".head");
    let path = std::path::PathBuf::from(name);
    let shown = path.display();
    let fix = format!("chown root:sessrec {shown} && chmod 0660 {shown}");
    match std::fs::symlink_metadata(&path) {
        Err(_) => f.warn(
            &format!("the audit chain's head {shown} does not exist yet"),
            "run dist/install.sh (it makes it root:sessrec 0660), or let the service write its first event",
        ),
        Ok(m) if !m.is_file() || m.mode() & 0o007 != 0 => f.fail(
            &format!("the audit chain's head {shown} is not a private file"),
            &fix,
        ),
        Ok(m) if Some(m.gid()) != group || m.mode() & 0o060 != 0o060 => f.warn(
            &format!("the uploader (group sessrec) cannot extend the audit chain at {shown}"),
            &fix,
        ),
        Ok(_) => {}
    }
}

pub(super) fn check_key(f: &mut Findings, config: &Config) {
    let Some(path) = &config.signing_key else {
        f.warn(
            "no signing key: recordings are unsigned",
            "set `signing_key` (dist/install.sh makes one)",
        );
        return;
    };
    let shown = path.display();
    match std::fs::symlink_metadata(path) {
        Err(_) => {
            f.fail(
                &format!("signing key {shown} does not exist"),
                &format!("sessrec keygen -o {shown}; chown root:root {shown}; chmod 0600 {shown}"),
            );
            return;
        }
        Ok(m) if !m.is_file() => f.fail(
            &format!("signing key {shown} is not a regular file"),
            "point signing_key at the key itself",
        ),
        Ok(m) if m.mode() & 0o077 != 0 => f.fail(
            &format!(
                "signing key {shown} is readable by others than root (mode {:o})",
                m.mode() & 0o7777
            ),
            &format!("chmod 0600 {shown}, and make a new key: this one may be known"),
        ),
        Ok(m) if m.uid() != 0 => f.fail(
            &format!("signing key {shown} does not belong to root"),
            &format!("chown root:root {shown}"),
        ),
        Ok(_) => f.ok(&format!("signing key {shown} is root's alone")),
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

pub(super) fn check_space(f: &mut Findings, config: &Config) {
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
pub(super) fn check_clock(f: &mut Findings) {
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
pub(super) fn check_store(f: &mut Findings, config: &Config) {
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
