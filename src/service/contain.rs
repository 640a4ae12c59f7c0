//! Keeping every process of a session inside it: a cgroup per session where the host has a
//! writable cgroup v2 hierarchy, and in any case the worker is a child subreaper, so whatever
//! the shell starts (`setsid`, `nohup`, `disown`, a double fork) stays below the worker. At the
//! session's end (or the grant's) what is left is hung up, then killed after a grace period, and
//! each one is named in the recording.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A session's containment.
pub struct Containment {
    /// The session's cgroup, if one could be made.
    cgroup: Option<PathBuf>,
    /// `cgroup.procs` of it, opened before the shell is started, for the child to join.
    pub procs: Option<File>,
    /// Why there is no cgroup (for the note in the recording and the audit log).
    pub without_cgroup: Option<String>,
}

impl Containment {
    /// Makes the worker a subreaper and, where possible, a cgroup `sessrec-SESSION` beside the
    /// service's own (under `base` if given, for a delegated subtree).
    pub fn new(session: &str, base: Option<&Path>) -> Containment {
        let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
        match make_cgroup(session, base) {
            Ok((dir, procs)) => Containment {
                cgroup: Some(dir),
                procs: Some(procs),
                without_cgroup: None,
            },
            Err(why) => Containment {
                cgroup: None,
                procs: None,
                without_cgroup: Some(why),
            },
        }
    }

    /// The session's processes other than the worker itself: the cgroup's members and every
    /// descendant of the worker.
    pub fn members(&self) -> BTreeMap<i32, String> {
        let me = std::process::id() as i32;
        let mut pids: BTreeSet<i32> = descendants(me);
        if let Some(dir) = &self.cgroup
            && let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs"))
        {
            pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        pids.remove(&me);
        pids.into_iter().map(|p| (p, command_name(p))).collect()
    }

    /// Ends what is left of the session: SIGHUP and SIGCONT to each, then SIGKILL to whatever
    /// is still there after `grace`, until nothing is (a process forking as fast as it can is
    /// stopped first, so it cannot outrun the sweep). Returns the processes that were ended.
    pub fn end_all(&self, grace: Duration) -> BTreeMap<i32, String> {
        let found = self.members();
        if found.is_empty() {
            return found;
        }
        for pid in found.keys() {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGHUP);
            let _ = kill(Pid::from_raw(*pid), Signal::SIGCONT);
        }
        let until = Instant::now() + grace;
        let mut ended = found;
        while Instant::now() < until && !self.members().is_empty() {
            reap();
            std::thread::sleep(Duration::from_millis(20));
        }
        for _ in 0..100 {
            let left = self.members();
            if left.is_empty() {
                break;
            }
            self.kill_cgroup();
            for pid in left.keys() {
                let _ = kill(Pid::from_raw(*pid), Signal::SIGSTOP);
            }
            for pid in left.keys() {
                let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            }
            ended.extend(left);
            reap();
            std::thread::sleep(Duration::from_millis(10));
        }
        reap();
        ended
    }

    fn kill_cgroup(&self) {
        if let Some(dir) = &self.cgroup
            && let Ok(mut f) = std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.kill"))
        {
            let _ = f.write_all(b"1");
        }
    }
}

impl Drop for Containment {
    fn drop(&mut self) {
        if let Some(dir) = &self.cgroup {
            // Empty by now (or the kernel refuses, and the directory stays for an operator).
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Reaps whatever children have exited (orphans come to the subreaper).
fn reap() {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    while let Ok(s) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
        if s == WaitStatus::StillAlive {
            break;
        }
    }
}

/// This process's cgroup v2 directory.
fn own_cgroup() -> Result<PathBuf, String> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
    let mount = mounts
        .lines()
        .find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            right
                .starts_with("cgroup2 ")
                .then(|| left.split_whitespace().nth(4).map(PathBuf::from))?
        })
        .ok_or("the host has no cgroup v2 hierarchy")?;
    let own = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| e.to_string())?;
    let path = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or("this process is in no cgroup v2 group")?;
    Ok(mount.join(path.trim_start_matches('/')))
}

/// A cgroup for the session below `base` (default: the service's own cgroup, which a systemd
/// unit with `Delegate=yes` hands over).
fn make_cgroup(session: &str, base: Option<&Path>) -> Result<(PathBuf, File), String> {
    let parent = match base {
        Some(b) => b.to_path_buf(),
        None => own_cgroup()?,
    };
    // Only inside a cgroup hierarchy: a directory elsewhere would contain nothing.
    if !parent.join("cgroup.procs").is_file() {
        return Err(format!("{} is not a cgroup v2 directory", parent.display()));
    }
    let dir = parent.join(format!("sessrec-{session}"));
    std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    match std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.procs"))
    {
        Ok(procs) => Ok((dir, procs)),
        Err(e) => {
            let _ = std::fs::remove_dir(&dir);
            Err(format!("cannot open {}/cgroup.procs: {e}", dir.display()))
        }
    }
}

/// Every descendant of `root`, from `/proc`.
fn descendants(root: i32) -> BTreeSet<i32> {
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                && let Some((_, rest)) = stat.rsplit_once(')')
                && let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok())
            {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut out = BTreeSet::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for c in children.get(&p).into_iter().flatten() {
            if out.insert(*c) {
                todo.push(*c);
            }
        }
    }
    out
}

/// A process's command name, for the recording's note.
fn command_name(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| sessrec_formats::terminal_safe(s.trim()).into_owned())
        .unwrap_or_else(|_| "?".into())
}

/// The child's side: joins the session's cgroup (between fork and exec).
pub fn join(procs: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: one write(2) of a static buffer, allowed between fork and exec.
    let n = unsafe { nix::libc::write(procs.as_raw_fd(), b"0".as_ptr().cast(), 1) };
    if n == 1 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
