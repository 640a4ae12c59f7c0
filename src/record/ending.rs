//! Ending a session: hanging up the shell (SIGKILL after a grace period), telling the user why,
//! and the exit status as shells report it.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::session::End;
use super::tape::Failed;
use super::tty;

pub(super) const KILL_GRACE: Duration = Duration::from_secs(2);

/// Ending the session: why, and when to stop asking the shell nicely.
pub(super) struct Ending {
    pub(super) pid: Pid,
    pub(super) end: Option<End>,
    pub(super) kill_at: Option<Instant>,
}

impl Ending {
    /// Hangs up the shell's process group (as a terminal would); SIGKILL follows after a grace
    /// period if it does not exit. The first reason given is the one reported.
    pub(super) fn stop(&mut self, why: End) {
        self.end.get_or_insert(why);
        let _ = killpg(self.pid, Signal::SIGHUP);
        self.kill_at.get_or_insert(Instant::now() + KILL_GRACE);
    }

    pub(super) fn kill(&mut self) {
        let _ = killpg(self.pid, Signal::SIGKILL);
        self.kill_at = None;
    }

    /// The recording failed: the user is told; under the strict policy the session ends.
    pub(super) fn recording_failed(&mut self, f: Failed, out: &tty::Terminal) {
        if f.end_session {
            notify(
                out,
                &format!("the recording failed ({}): ending the session", f.message),
            );
            self.stop(End::RecordingFailed(f.message));
        } else {
            notify(
                out,
                &format!(
                    "the recording failed ({}): this session is no longer recorded; an alert was raised",
                    f.message
                ),
            );
        }
    }
}

/// Shows a sessrec notice on the user's terminal (raw mode: explicit CR LF).
pub(super) fn notify(term: &tty::Terminal, text: &str) {
    term.notice(format!("\r\n\x1b[1m[sessrec] {text}\x1b[0m\r\n").as_bytes());
}

/// `128 + signal` for a signal, as shells report it.
pub fn exit_code(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}
