//! What a session runs, and as whom: the program and its environment, the account the
//! recording service starts it as, and what the service adds around it (the client's socket,
//! the session's containment).

use std::ffi::OsString;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use sessrec_formats::EventData;

use super::ending::KILL_GRACE;
use super::tape::Tape;

/// What to run.
pub struct Child {
    /// The program.
    pub program: PathBuf,
    /// argv[0] as the program sees it (e.g. `-bash` for a login shell).
    pub arg0: Option<OsString>,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Variables set on top of the inherited environment.
    pub env: Vec<(OsString, OsString)>,
    /// The account to start it as (the recording service starts the user's shell); `None`
    /// runs it as the caller.
    pub run_as: Option<RunAs>,
    /// Start with only `env` (a login environment), not the caller's environment.
    pub clear_env: bool,
}

/// Everything a child needs to become the recorded user between fork and exec, computed
/// before the fork.
pub struct RunAs {
    /// User id.
    pub uid: u32,
    /// Primary group.
    pub gid: u32,
    /// Every group.
    pub groups: Vec<nix::libc::gid_t>,
    /// Home directory (the shell starts there).
    pub home: std::ffi::CString,
    /// The session's `cgroup.procs`, to join.
    pub cgroup: Option<std::sync::Arc<std::fs::File>>,
}

impl RunAs {
    /// The function run between fork and exec: join the session's cgroup, then drop to the
    /// user for good.
    pub fn pre_exec(&self) -> impl FnMut() -> std::io::Result<()> + Send + Sync + 'static {
        let (uid, gid, groups, home) = (self.uid, self.gid, self.groups.clone(), self.home.clone());
        let cgroup = self.cgroup.clone();
        move || {
            if let Some(c) = &cgroup {
                // A cgroup that refuses the process leaves the subreaper: not fatal.
                let _ = crate::service::contain::join(c);
            }
            crate::service::account::become_user(uid, gid, &groups, &home)
        }
    }
}

/// What the recording service adds to a session it runs.
pub struct Served<'a> {
    /// The login client's socket: a byte `w` on it means the window changed, its end that the
    /// client is gone.
    pub control: &'a UnixStream,
    /// The session's processes, ended with it.
    pub contain: &'a crate::service::contain::Containment,
}

impl Served<'_> {
    /// Ends what the session left running and says so in the recording, before its exit status.
    pub fn sweep(&self, tape: &mut Tape) {
        let ended = self.contain.end_all(KILL_GRACE);
        if !ended.is_empty() {
            let names: Vec<String> = ended.iter().map(|(p, n)| format!("{p} {n}")).collect();
            // A failure here is kept by the tape and reported by `Tape::finish`.
            let _ = tape.event(EventData::Marker(format!(
                "ended with the session: {}",
                names.join(", ")
            )));
        }
    }
}
