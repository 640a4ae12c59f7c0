//! Who is on the other end of the socket, and who started them. The peer's uid comes from the
//! kernel (`SO_PEERCRED`); `/proc` says whether the client was started by sshd or login running
//! as root (a real login), or from inside a session this service records (a nested session,
//! which inherits that session's identity and grant). Anything else is refused: a program run
//! by a user cannot open a "new login" with claims of its own.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// One process, as `/proc` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// Its pid.
    pub pid: i32,
    /// Its parent's.
    pub ppid: i32,
    /// Real uid.
    pub uid: u32,
    /// Start time (clock ticks after boot): with the pid, names a process for good.
    pub start: u64,
    /// The program it runs (`/proc/PID/exe`).
    pub exe: Option<PathBuf>,
}

impl Process {
    /// Reads `/proc/PID`.
    pub fn read(pid: i32) -> Result<Process> {
        let dir = PathBuf::from(format!("/proc/{pid}"));
        let stat = std::fs::read_to_string(dir.join("stat"))
            .with_context(|| format!("process {pid} is gone"))?;
        // The command name is in parentheses and may hold anything: parse after the last ')'.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .with_context(|| format!("cannot parse /proc/{pid}/stat"))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // After the name: state(0) ppid(1) ... starttime is field 22 of stat, index 19 here.
        let ppid = fields.get(1).and_then(|f| f.parse().ok());
        let start = fields.get(19).and_then(|f| f.parse().ok());
        let (Some(ppid), Some(start)) = (ppid, start) else {
            bail!("cannot parse /proc/{pid}/stat");
        };
        let status = std::fs::read_to_string(dir.join("status"))
            .with_context(|| format!("process {pid} is gone"))?;
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|u| u.parse().ok())
            .with_context(|| format!("cannot parse /proc/{pid}/status"))?;
        let exe = std::fs::read_link(dir.join("exe")).ok();
        Ok(Process {
            pid,
            ppid,
            uid,
            start,
            exe,
        })
    }

    /// Whether it runs one of `programs`.
    fn runs(&self, programs: &[PathBuf]) -> bool {
        self.exe.as_ref().is_some_and(|e| programs.contains(e))
    }
}

/// How a client came to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Started by a trusted launcher (sshd, login) running as root.
    Login {
        /// The launcher's program.
        launcher: PathBuf,
    },
    /// Started inside a session this service records: that session's worker process.
    Nested {
        /// The worker's pid and start time.
        worker: (i32, u64),
    },
}

/// How many ancestors are looked at, at most.
const MAX_DEPTH: usize = 128;

/// Decides where the client `peer` comes from. `is_worker` says whether a process is one of
/// this service's session workers. A worker anywhere above the client makes it nested; else its
/// parent must run a launcher, and that parent or the one above it must be root (OpenSSH's
/// per-connection process runs as the user, its parent as root).
pub fn origin(
    peer: i32,
    uid: u32,
    launchers: &[PathBuf],
    read: impl Fn(i32) -> Result<Process>,
    is_worker: impl Fn(&Process) -> bool,
) -> Result<Origin> {
    let client = read(peer)?;
    if client.uid != uid {
        bail!(
            "process {peer} is not the one that connected (uid {} there, {uid} on the socket)",
            client.uid
        );
    }
    let mut chain = Vec::new();
    let mut pid = client.ppid;
    while pid > 0 && chain.len() < MAX_DEPTH {
        let p = read(pid)?;
        if is_worker(&p) {
            return Ok(Origin::Nested {
                worker: (p.pid, p.start),
            });
        }
        pid = p.ppid;
        chain.push(p);
    }
    let Some(parent) = chain.first() else {
        bail!("the client has no parent process");
    };
    if !parent.runs(launchers) {
        bail!(
            "the client was started by {}, which is not a login program (sshd, login)",
            shown(parent.exe.as_deref())
        );
    }
    let root = chain
        .iter()
        .take(2)
        .take_while(|p| p.runs(launchers))
        .any(|p| p.uid == 0);
    if !root {
        bail!(
            "the client was started by {} not running as root",
            shown(parent.exe.as_deref())
        );
    }
    Ok(Origin::Login {
        launcher: parent.exe.clone().unwrap_or_default(),
    })
}

fn shown(exe: Option<&Path>) -> String {
    exe.map_or("an unknown program".into(), |e| {
        sessrec_formats::terminal_safe(&e.display().to_string()).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: i32, ppid: i32, uid: u32, exe: &str) -> Process {
        Process {
            pid,
            ppid,
            uid,
            start: pid as u64,
            exe: Some(PathBuf::from(exe)),
        }
    }

    fn tree(ps: Vec<Process>) -> impl Fn(i32) -> Result<Process> {
        move |pid| {
            ps.iter()
                .find(|p| p.pid == pid)
                .cloned()
                .context("no such process")
        }
    }

    const SSHD: &str = "/usr/sbin/sshd";

    fn launchers() -> Vec<PathBuf> {
        vec![PathBuf::from(SSHD)]
    }

    #[test]
    fn openssh_privsep_is_a_login() {
        let t = tree(vec![
            p(1, 0, 0, "/sbin/init"),
            p(10, 1, 0, SSHD),
            p(20, 10, 0, SSHD),
            p(30, 20, 1000, SSHD),
            p(40, 30, 1000, "/usr/local/bin/sessrec"),
        ]);
        let o = origin(40, 1000, &launchers(), t, |_| false).unwrap();
        assert_eq!(
            o,
            Origin::Login {
                launcher: SSHD.into()
            }
        );
    }

    #[test]
    fn a_users_own_sshd_or_a_shell_is_refused() {
        // The user runs /usr/sbin/sshd themselves (it runs without root).
        let t = tree(vec![
            p(1, 0, 0, "/sbin/init"),
            p(30, 1, 1000, SSHD),
            p(31, 30, 1000, SSHD),
            p(40, 31, 1000, "/usr/local/bin/sessrec"),
        ]);
        assert!(origin(40, 1000, &launchers(), t, |_| false).is_err());
        let t = tree(vec![
            p(1, 0, 0, "/sbin/init"),
            p(10, 1, 0, SSHD),
            p(30, 10, 1000, "/bin/bash"),
            p(40, 30, 1000, "/usr/local/bin/sessrec"),
        ]);
        let e = origin(40, 1000, &launchers(), t, |_| false).unwrap_err();
        assert!(e.to_string().contains("/bin/bash"), "{e}");
    }

    #[test]
    fn a_worker_above_makes_it_nested_whatever_else_is_there() {
        // Inside a session the user starts sshd as root-looking names; the worker still wins.
        let t = tree(vec![
            p(1, 0, 0, "/sbin/init"),
            p(5, 1, 0, "/usr/local/bin/sessrec"),
            p(6, 5, 1000, "/bin/bash"),
            p(7, 6, 1000, SSHD),
            p(8, 7, 1000, "/usr/local/bin/sessrec"),
        ]);
        let o = origin(8, 1000, &launchers(), &t, |p| p.pid == 5).unwrap();
        assert_eq!(o, Origin::Nested { worker: (5, 5) });
        // The pid now runs as someone else than the uid that connected: not that client.
        assert!(origin(8, 1001, &launchers(), &t, |p| p.pid == 5).is_err());
    }
}
