//! Who is reading the PTY: its foreground process group, and whether that is a shell (echo
//! turned off at a shell prompt is evasion, not a password). Asked once per withheld run.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use super::Reader;

/// Shells by name, for a shell copied or linked elsewhere (its inode then differs).
const SHELL_NAMES: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "pdksh", "fish", "csh", "tcsh", "ash",
    "rbash", "busybox", "yash", "posh", "elvish", "nu", "xonsh", "oksh", "loksh",
];

/// The PTY's foreground process group, and whether its leader runs a shell (a program named
/// like one, or the same file as one listed in /etc/shells or `extra`).
pub fn reader(master: impl AsFd, extra: &[std::path::PathBuf]) -> Reader {
    let Ok(pgid) = rustix::termios::tcgetpgrp(master) else {
        return Reader::default();
    };
    let pgid = pgid.as_raw_nonzero().get();
    Reader {
        pgid,
        shell: is_shell(pgid, extra),
    }
}

fn is_shell(pid: i32, extra: &[std::path::PathBuf]) -> bool {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let comm = comm.trim_end();
    if SHELL_NAMES.contains(&comm)
        || comm
            .strip_prefix('-')
            .is_some_and(|c| SHELL_NAMES.contains(&c))
    {
        return true;
    }
    let Ok(exe) = std::fs::metadata(format!("/proc/{pid}/exe")) else {
        return false;
    };
    let listed = std::fs::read_to_string("/etc/shells").unwrap_or_default();
    listed
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('/') && !l.ends_with("/tmux") && !l.ends_with("/screen"))
        .map(std::path::PathBuf::from)
        .chain(extra.iter().cloned())
        .filter_map(|p| std::fs::metadata(p).ok())
        .any(|m| m.dev() == exe.dev() && m.ino() == exe.ino())
}
