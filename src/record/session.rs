//! The interactive session: the real shell on a PTY, the user's terminal in raw mode, bytes
//! copied both ways and recorded, window size changes forwarded, signals handled, and the
//! child's exit status returned.
//!
//! One thread runs a `poll(2)` loop: no runtime, no timer and no thread hand-off sit between a
//! keystroke and its echo. Output is read in bursts of up to 64 KiB and written to the terminal
//! in one call; while the terminal cannot take it, the PTY is not read, so a slow client slows
//! the shell and memory stays bounded.

use std::collections::VecDeque;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::unistd::Pid;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use sessrec_formats::EventData;

use crate::deadline::Deadline;

mod relay;

pub use super::child::{Child, RunAs, Served};
use super::ending::{Ending, exit_code, notify};
use super::signals::SessionSignals;
use super::tape::Tape;
use super::tty;

/// How the session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The shell exited by itself.
    Exited,
    /// The user's connection went away (SIGHUP, or the terminal closed).
    HungUp,
    /// sessrec was told to stop (SIGTERM, SIGINT).
    Terminated,
    /// The grant expired.
    GrantExpired,
    /// The recording failed under the strict policy.
    RecordingFailed(String),
    /// The login client went away while the session ran (killed, or its connection dropped):
    /// the recording service hung the session up.
    ClientGone,
}

/// The result of a session.
pub struct Outcome {
    /// The shell's exit status (128 + signal for a signal).
    pub exit_code: i32,
    /// Why it ended.
    pub end: End,
}

/// The marker a session hung up by the service gets.
pub const CLIENT_GONE: &str =
    "the login client went away (killed, or its connection dropped): the session was hung up";

/// Output read from the PTY and not yet taken by the terminal.
const OUT_LIMIT: usize = 64 * 1024;
/// A read shorter than this means the PTY had no more for now (the kernel hands out at most
/// 4095 bytes per read): poll instead of a read that would fail, on every keystroke echo.
const SHORT_READ: usize = 1024;
const PENDING_INPUT_LIMIT: usize = 64 * 1024;
/// After the shell exits, output still in flight is read until the PTY is quiet this long; a
/// background process that keeps the PTY open cannot hold the session.
const DRAIN_QUIET: Duration = Duration::from_millis(200);
/// ... and for at most this long in all.
const DRAIN_MAX: Duration = Duration::from_secs(2);
/// How often to ask for the shell's status once the PTY closed (belt and braces for SIGCHLD).
const REAP_EVERY: Duration = Duration::from_millis(50);

/// Runs `child` on a PTY of the terminal's size, recording into `tape`; `served` when the
/// recording service runs the session.
pub fn run(
    child: Child,
    tape: &mut Tape,
    deadline: Option<Deadline>,
    served: Option<&Served<'_>>,
) -> Result<Outcome> {
    let control = served.map(|s| s.control);
    let signals = SessionSignals::install()?;
    let (cols, rows) = tty::size().unwrap_or((80, 24));
    let (pty, pts) = pty_process::blocking::open().context("opening a pseudo-terminal")?;
    pty.resize(pty_process::Size::new(rows, cols))
        .context("sizing the pseudo-terminal")?;
    let mut cmd = pty_process::blocking::Command::new(&child.program);
    if child.clear_env {
        cmd = cmd.env_clear();
    }
    cmd = cmd.args(&child.args).envs(child.env.iter().cloned());
    if let Some(a) = &child.arg0 {
        cmd = cmd.arg0(a);
    }
    if let Some(r) = &child.run_as {
        // SAFETY: the closure makes only async-signal-safe system calls (RunAs::pre_exec).
        cmd = unsafe { cmd.pre_exec(r.pre_exec()) };
    }
    if let Some(r) = &child.run_as {
        // The user's terminal, as login makes it: theirs, writable by the tty group.
        let tty_gid = nix::unistd::Group::from_name("tty")
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw());
        let _ = rustix::fs::fchown(
            &pts,
            Some(rustix::fs::Uid::from_raw(r.uid)),
            tty_gid.map(rustix::fs::Gid::from_raw),
        );
        let _ = rustix::fs::fchmod(&pts, rustix::fs::Mode::from_raw_mode(0o620));
    }
    let mut proc = cmd
        .spawn(pts)
        .with_context(|| format!("starting {}", child.program.display()))?;
    let master: OwnedFd = pty.into();
    let flags = rustix::fs::fcntl_getfl(&master).context("reading the PTY's flags")?;
    rustix::fs::fcntl_setfl(&master, flags | rustix::fs::OFlags::NONBLOCK)
        .context("setting the PTY non-blocking")?;

    let _raw = tty::RawMode::enable()?;
    let term = tty::Terminal::new()?;
    let mut s = Loop {
        shells: vec![child.program.clone()],
        master,
        term,
        tape,
        out: vec![0u8; OUT_LIMIT].into_boxed_slice(),
        filled: 0,
        written: 0,
        pending: VecDeque::new(),
        stdin_open: true,
        term_open: true,
        pty_open: true,
        status: None,
        drain_until: None,
        drain_cap: None,
        control_open: control.is_some(),
        reap_all: served.is_some(),
        warnings: deadline
            .as_ref()
            .map(|d| d.warnings.clone().into())
            .unwrap_or_default(),
        deadline,
        ending: Ending {
            pid: Pid::from_raw(proc.id() as i32),
            end: None,
            kill_at: None,
        },
    };
    let mut keys = [0u8; 4096];
    while !s.done() {
        let timeout = s.next_timer().map(|at| {
            let d = at.saturating_duration_since(Instant::now());
            Timespec {
                tv_sec: d.as_secs() as _,
                tv_nsec: d.subsec_nanos() as _,
            }
        });
        let mut fds = Vec::with_capacity(4);
        fds.push(PollFd::from_borrowed_fd(signals.fd(), PollFlags::IN));
        let control_at = control.filter(|_| s.control_open).map(|c| {
            fds.push(PollFd::from_borrowed_fd(c.as_fd(), PollFlags::IN));
            fds.len() - 1
        });
        let (term_interest, pty_interest) = s.interest();
        let term_at = (!term_interest.is_empty()).then(|| {
            fds.push(PollFd::from_borrowed_fd(s.term.fd(), term_interest));
            fds.len() - 1
        });
        let pty_at = (!pty_interest.is_empty()).then(|| {
            fds.push(PollFd::from_borrowed_fd(s.master.as_fd(), pty_interest));
            fds.len() - 1
        });
        match poll(&mut fds, timeout.as_ref()) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e).context("waiting for the terminal and the PTY"),
        }
        let ready = |at: Option<usize>| at.is_some_and(|i| !fds[i].revents().is_empty());
        let (term_ready, pty_ready) = (ready(term_at), ready(pty_at));
        let signals_ready = !fds[0].revents().is_empty();
        let control_ready = ready(control_at);
        drop(fds);

        if control_ready && let Some(c) = control {
            s.on_control(c);
        }
        if signals_ready {
            s.on_signals(&signals, &mut proc);
        }
        if term_ready && term_interest.contains(PollFlags::IN) {
            s.read_keys(&mut keys);
        }
        if pty_ready {
            if pty_interest.contains(PollFlags::OUT) {
                s.write_pending();
            }
            if pty_interest.contains(PollFlags::IN) {
                s.read_output();
            }
        }
        s.write_output();
        if !s.pty_open && s.status.is_none() {
            s.reap(&mut proc);
        }
        s.on_timers();
    }
    let status = s.status.context("the shell did not exit")?;
    let exit_code = exit_code(&status);
    if let Some(served) = served {
        served.sweep(s.tape);
    }
    // The session is over: a failure here is kept by the tape and reported by `Tape::finish`.
    let _ = s.tape.event(EventData::Exit(exit_code));
    Ok(Outcome {
        exit_code,
        end: s.ending.end.unwrap_or(End::Exited),
    })
}

/// The session loop's state.
struct Loop<'t> {
    master: OwnedFd,
    /// The session's shell, for telling a shell prompt from a program asking for a secret.
    shells: Vec<std::path::PathBuf>,
    term: tty::Terminal,
    tape: &'t mut Tape,
    /// Output read from the PTY; `out[written..filled]` is still owed to the terminal.
    out: Box<[u8]>,
    filled: usize,
    written: usize,
    /// Typed input the PTY has not taken yet.
    pending: VecDeque<u8>,
    stdin_open: bool,
    /// Cleared when the user's terminal is gone: output is still read (and recorded) until the
    /// shell exits, but no longer written anywhere.
    term_open: bool,
    pty_open: bool,
    status: Option<std::process::ExitStatus>,
    drain_until: Option<Instant>,
    /// However much output still comes, draining ends here (a process elsewhere writing into
    /// the PTY cannot hold the session open).
    drain_cap: Option<Instant>,
    /// The login client's socket is still open.
    control_open: bool,
    /// Reap every child, not only the shell (the service's worker is a subreaper).
    reap_all: bool,
    warnings: VecDeque<(Instant, String)>,
    deadline: Option<Deadline>,
    ending: Ending,
}

impl Loop<'_> {
    /// The shell exited, its output is read, and the terminal has all of it.
    fn done(&self) -> bool {
        let drained = !self.pty_open || self.drain_until.is_some_and(|d| Instant::now() >= d);
        let shown = self.written == self.filled || !self.term_open;
        self.status.is_some() && drained && shown
    }

    /// What to wait for on the terminal and on the PTY. A descriptor that cannot be served is
    /// left out of the poll, so a hung-up one cannot spin the loop.
    fn interest(&self) -> (PollFlags, PollFlags) {
        let mut term = PollFlags::empty();
        if self.stdin_open && self.pending.len() < PENDING_INPUT_LIMIT && self.ending.end.is_none()
        {
            term |= PollFlags::IN;
        }
        if self.term_open && self.written < self.filled {
            term |= PollFlags::OUT;
        }
        let mut pty = PollFlags::empty();
        if self.pty_open && self.filled < self.out.len() {
            pty |= PollFlags::IN;
        }
        if self.pty_open && !self.pending.is_empty() {
            pty |= PollFlags::OUT;
        }
        (term, pty)
    }

    /// The next moment something is due: a batch for the writer, a grant warning or expiry,
    /// the kill after the grace period, the end of draining.
    fn next_timer(&self) -> Option<Instant> {
        let batch = self
            .tape
            .handoff_due()
            .map(|us| self.tape.started() + Duration::from_micros(us));
        let warning = self.warnings.front().map(|w| w.0);
        let expiry = self
            .deadline
            .as_ref()
            .filter(|_| self.ending.end.is_none())
            .map(|d| d.at);
        let kill = self.ending.kill_at.filter(|_| self.status.is_none());
        let reap = (!self.pty_open && self.status.is_none()).then(|| Instant::now() + REAP_EVERY);
        [batch, warning, expiry, kill, self.drain_until, reap]
            .into_iter()
            .flatten()
            .min()
    }

    fn on_signals(&mut self, signals: &SessionSignals, proc: &mut std::process::Child) {
        let arrived = signals.take();
        if arrived.child {
            self.reap(proc);
        }
        if arrived.resize {
            self.resize();
        }
        if arrived.hangup {
            self.ending.stop(End::HungUp);
        }
        if arrived.terminate {
            self.ending.stop(End::Terminated);
        }
    }

    /// The user's terminal changed size: the PTY follows, and the recording notes it.
    fn resize(&mut self) {
        if let Some((c, r)) = tty::size() {
            let size = rustix::termios::Winsize {
                ws_row: r,
                ws_col: c,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            let _ = rustix::termios::tcsetwinsize(&self.master, size);
            if let Err(f) = self.tape.event(EventData::Resize { cols: c, rows: r }) {
                self.ending.recording_failed(f, &self.term);
            }
        }
    }

    /// The login client wrote (a window change) or went away (the session is hung up). The
    /// size is read from the terminal itself, not taken from the client.
    fn on_control(&mut self, control: &UnixStream) {
        let mut buf = [0u8; 64];
        match rustix::io::read(control, &mut buf) {
            Ok(0) | Err(Errno::CONNRESET) => {
                self.control_open = false;
                if self.ending.end.is_none() {
                    if let Err(f) = self.tape.event(EventData::Marker(CLIENT_GONE.into())) {
                        self.ending.recording_failed(f, &self.term);
                    }
                    self.ending.stop(End::ClientGone);
                }
            }
            Ok(n) => {
                if buf[..n].contains(&crate::service::protocol::WINDOW_CHANGED) {
                    self.resize();
                }
            }
            Err(_) => {}
        }
    }

    fn reap(&mut self, proc: &mut std::process::Child) {
        if self.reap_all {
            // A subreaper: orphans of the session come here, and are reaped as they exit
            // (else they stay zombies, counted against the user's processes).
            self.reap_orphans(proc.id() as i32);
        } else if self.status.is_none()
            && let Ok(Some(status)) = proc.try_wait()
        {
            self.shell_exited(status);
        }
    }

    fn reap_orphans(&mut self, shell: i32) {
        use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
        use std::os::unix::process::ExitStatusExt;
        while let Ok(w) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            let raw = match w {
                WaitStatus::StillAlive => break,
                WaitStatus::Exited(p, code) if p.as_raw() == shell => code << 8,
                WaitStatus::Signaled(p, sig, _) if p.as_raw() == shell => sig as i32,
                _ => continue,
            };
            self.shell_exited(std::process::ExitStatus::from_raw(raw));
        }
    }

    fn shell_exited(&mut self, status: std::process::ExitStatus) {
        if self.status.is_none() {
            self.status = Some(status);
            let now = Instant::now();
            self.drain_until = Some(now + DRAIN_QUIET);
            self.drain_cap = Some(now + DRAIN_MAX);
        }
    }

    fn on_timers(&mut self) {
        let probe = tty::PtyProbe {
            master: self.master.as_fd(),
            shells: &self.shells,
        };
        self.tape.tick(&probe);
        let now = Instant::now();
        if self
            .tape
            .handoff_due()
            .is_some_and(|us| self.tape.started() + Duration::from_micros(us) <= now)
            && let Err(f) = self.tape.flush()
        {
            self.ending.recording_failed(f, &self.term);
        }
        while self.warnings.front().is_some_and(|w| w.0 <= now) {
            if let Some((_, text)) = self.warnings.pop_front() {
                notify(&self.term, &text);
                if let Err(f) = self.tape.event(EventData::Marker(text)) {
                    self.ending.recording_failed(f, &self.term);
                }
            }
        }
        let expired = self.deadline.as_ref().filter(|d| d.at <= now);
        if let (Some(d), None) = (expired, &self.ending.end) {
            let message = d.final_message.clone();
            notify(&self.term, &message);
            if let Err(f) = self.tape.event(EventData::Marker(message)) {
                self.ending.recording_failed(f, &self.term);
            }
            self.ending.stop(End::GrantExpired);
        }
        if self.status.is_none() && self.ending.kill_at.is_some_and(|k| k <= now) {
            self.ending.kill();
        }
    }
}
