//! Who is reading the PTY: its foreground process group, and whether that is a shell at its
//! prompt (withheld input read there is a command hidden, not a password). Asked once per
//! withheld run. A shell running a script file is not at its prompt: a deploy script's
//! `read -s` reads a password.

use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

use super::Reader;

/// Shells by name, for a shell copied or linked elsewhere (its inode then differs).
const SHELL_NAMES: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "pdksh", "fish", "csh", "tcsh", "ash",
    "rbash", "busybox", "yash", "posh", "elvish", "nu", "xonsh", "oksh", "loksh",
];

/// The PTY's foreground process group, and whether its leader is a shell (a program named
/// like one, or the same file as one listed in /etc/shells or `extra`) that runs no script
/// file (interactive, or `-c`).
pub fn reader(master: impl AsFd, extra: &[std::path::PathBuf]) -> Reader {
    let Ok(pgid) = rustix::termios::tcgetpgrp(master) else {
        return Reader::default();
    };
    let pgid = pgid.as_raw_nonzero().get();
    Reader {
        pgid,
        shell: is_shell(pgid, extra) && !runs_a_script(pgid),
    }
}

/// Whether the shell's arguments name a script file: an operand after its options (`-c`
/// means the commands are on the command line, as good as typed).
fn runs_a_script(pid: i32) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let Some(operand) = script_operand(cmdline.split(|&b| b == 0).skip(1)) else {
        return false;
    };
    // A script is a regular file: `bash <(echo ...)` reads a pipe, as good as typed.
    let path = std::path::Path::new(std::ffi::OsStr::from_bytes(operand));
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::path::PathBuf::from(format!("/proc/{pid}/cwd")).join(path)
    };
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// The first operand after the options (`None` with `-c`: the commands are on the line).
fn script_operand<'a>(args: impl Iterator<Item = &'a [u8]>) -> Option<&'a [u8]> {
    for arg in args {
        match arg {
            b"-c" => return None,
            [] => continue,
            [b'-' | b'+', ..] => continue,
            _ => return Some(arg),
        }
    }
    None
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

#[cfg(test)]
mod tests {
    use super::script_operand;

    #[test]
    fn a_script_file_is_told_from_a_prompt() {
        let args = |a: &'static str| a.split(' ').map(str::as_bytes).collect::<Vec<_>>();
        assert_eq!(
            script_operand(args("./deploy.sh x").into_iter()),
            Some(&b"./deploy.sh"[..])
        );
        assert!(script_operand(args("-e /opt/run.sh").into_iter()).is_some());
        assert!(script_operand(args("--norc --noprofile -i").into_iter()).is_none());
        assert!(script_operand(args("-c read").into_iter()).is_none());
        assert!(script_operand(std::iter::empty()).is_none());
        // Process substitution is a pipe, not a script file.
        assert!(!super::runs_a_script(std::process::id() as i32));
    }
}
