//! The interactive session: the real shell on a PTY, the user's terminal in raw mode, bytes
//! copied both ways and recorded, window size changes forwarded, signals handled, and the
//! child's exit status returned.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use sessrec_formats::EventData;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::{Instant, sleep_until};

use super::tape::{Failed, Tape};
use super::tty;

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
    /// The group id to run with (the user's own, when sessrec runs setgid).
    pub gid: Option<u32>,
}

/// A warning or the end of the session at a given time (grant expiry).
pub struct Deadline {
    /// When the session ends.
    pub at: Instant,
    /// What to tell the user, and when, before that.
    pub warnings: Vec<(Instant, String)>,
    /// What to tell the user at the end.
    pub final_message: String,
}

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
}

/// The result of a session.
pub struct Outcome {
    /// The shell's exit status (128 + signal for a signal).
    pub exit_code: i32,
    /// Why it ended.
    pub end: End,
}

const BUF: usize = 64 * 1024;
const PENDING_INPUT_LIMIT: usize = 64 * 1024;
/// After the shell exits, output still in flight is read until the PTY is quiet this long; a
/// background process that keeps the PTY open cannot hold the session.
const DRAIN_QUIET: Duration = Duration::from_millis(200);
const KILL_GRACE: Duration = Duration::from_secs(2);

/// Runs `child` on a PTY of the terminal's size, recording into `tape`.
pub async fn run(child: Child, tape: &mut Tape, deadline: Option<Deadline>) -> Result<Outcome> {
    let (cols, rows) = tty::size().unwrap_or((80, 24));
    let (pty, pts) = pty_process::open().context("opening a pseudo-terminal")?;
    pty.resize(pty_process::Size::new(rows, cols))
        .context("sizing the pseudo-terminal")?;
    let mut cmd = pty_process::Command::new(&child.program)
        .args(&child.args)
        .envs(child.env.iter().cloned());
    if let Some(a) = &child.arg0 {
        cmd = cmd.arg0(a);
    }
    if let Some(g) = child.gid {
        cmd = cmd.gid(g);
    }
    let mut proc = cmd
        .spawn(pts)
        .with_context(|| format!("starting {}", child.program.display()))?;
    let pid = proc.id().map(|p| Pid::from_raw(p as i32));

    let _raw = tty::RawMode::enable()?;
    let term = tty::AsyncTerminal::new()?;
    // A second handle on the master, to read the slave's termios (is a secret being read?).
    let master = pty
        .as_fd()
        .try_clone_to_owned()
        .context("duplicating the PTY handle")?;
    let (mut pty_r, mut pty_w) = pty.into_split();
    let mut keys = vec![0u8; 4096];
    let mut winch = signal(SignalKind::window_change())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;

    let mut buf = vec![0u8; BUF];
    let mut pending: VecDeque<u8> = VecDeque::new();
    let mut stdin_open = true;
    // Cleared when the user's terminal is gone: output is still read (and recorded) until the
    // shell exits, but no longer written anywhere.
    let mut term_open = true;
    let mut pty_open = true;
    let mut status = None;
    let mut drain_until: Option<Instant> = None;
    let mut warnings: VecDeque<(Instant, String)> = deadline
        .as_ref()
        .map(|d| d.warnings.clone().into())
        .unwrap_or_default();
    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let expiry = deadline.as_ref().map_or(far, |d| d.at);
    let clock_start = Instant::from_std(tape.started());
    let mut ending = Ending {
        pid,
        end: None,
        kill_at: None,
    };

    loop {
        if status.is_some() && (!pty_open || drain_until.is_some_and(|d| Instant::now() >= d)) {
            break;
        }
        let next_warning = warnings.front().map_or(far, |w| w.0);
        let batch_due = tape
            .batch_due()
            .map(|us| clock_start + Duration::from_micros(us));
        tokio::select! {
            r = pty_r.read(&mut buf), if pty_open => match r {
                Ok(0) => pty_open = false,
                Ok(n) => {
                    // Waits while the terminal is full: a slow client slows the shell.
                    if term_open && term.write_all(&buf[..n]).await.is_err() {
                        term_open = false;
                        ending.stop(End::HungUp);
                    }
                    if let Err(f) = tape.output(&buf[..n]) {
                        ending.recording_failed(f, &term);
                    }
                    if status.is_some() {
                        drain_until = Some(Instant::now() + DRAIN_QUIET);
                    }
                }
                // EIO: every process closed the PTY's other side.
                Err(_) => pty_open = false,
            },
            r = term.read(&mut keys), if stdin_open && pending.len() < PENDING_INPUT_LIMIT && ending.end.is_none() => match r {
                Ok(n) if n > 0 => {
                    // To the shell first, then to the recording: typing latency is the user's.
                    let typed = &keys[..n];
                    let written = if pending.is_empty() { write_now(&master, typed) } else { 0 };
                    pending.extend(&typed[written..]);
                    let secret = tty::reading_secret(&master);
                    if let Err(f) = tape.input(typed, secret) {
                        ending.recording_failed(f, &term);
                    }
                }
                _ => {
                    stdin_open = false;
                    ending.stop(End::HungUp);
                }
            },
            w = write_some(&mut pty_w, &mut pending), if !pending.is_empty() => {
                if w.is_err() { pending.clear(); }
            },
            s = proc.wait(), if status.is_none() => {
                status = Some(s.context("waiting for the shell")?);
                drain_until = Some(Instant::now() + DRAIN_QUIET);
            },
            _ = winch.recv() => {
                if let Some((c, r)) = tty::size() {
                    let _ = pty_w.resize(pty_process::Size::new(r, c));
                    if let Err(f) = tape.event(EventData::Resize { cols: c, rows: r }) {
                        ending.recording_failed(f, &term);
                    }
                }
            },
            _ = hup.recv() => ending.stop(End::HungUp),
            _ = sigterm.recv() => ending.stop(End::Terminated),
            _ = int.recv() => ending.stop(End::Terminated),
            _ = sleep_until(next_warning), if !warnings.is_empty() => {
                if let Some((_, text)) = warnings.pop_front() {
                    notify(&term, &text);
                    let _ = tape.event(EventData::Marker(text));
                }
            },
            _ = sleep_until(expiry), if deadline.is_some() && ending.end.is_none() => {
                if let Some(d) = &deadline {
                    notify(&term, &d.final_message);
                    let _ = tape.event(EventData::Marker(d.final_message.clone()));
                }
                ending.stop(End::GrantExpired);
            },
            _ = sleep_until(ending.kill_at.unwrap_or(far)), if ending.kill_at.is_some() && status.is_none() => {
                ending.kill();
            },
            _ = sleep_until(drain_until.unwrap_or(far)), if drain_until.is_some() => {},
            _ = sleep_until(batch_due.unwrap_or(far)), if batch_due.is_some() => {
                if let Err(f) = tape.flush() {
                    ending.recording_failed(f, &term);
                }
            },
        }
    }
    let status = status.context("the shell did not exit")?;
    let exit_code = exit_code(&status);
    let _ = tape.event(EventData::Exit(exit_code));
    Ok(Outcome {
        exit_code,
        end: ending.end.unwrap_or(End::Exited),
    })
}

/// Ending the session: why, and when to stop asking the shell nicely.
struct Ending {
    pid: Option<Pid>,
    end: Option<End>,
    kill_at: Option<Instant>,
}

impl Ending {
    /// Hangs up the shell's process group (as a terminal would); SIGKILL follows after a grace
    /// period if it does not exit. The first reason given is the one reported.
    fn stop(&mut self, why: End) {
        self.end.get_or_insert(why);
        if let Some(pid) = self.pid {
            let _ = killpg(pid, Signal::SIGHUP);
        }
        self.kill_at.get_or_insert(Instant::now() + KILL_GRACE);
    }

    fn kill(&mut self) {
        if let Some(pid) = self.pid {
            let _ = killpg(pid, Signal::SIGKILL);
        }
        self.kill_at = None;
    }

    /// The recording failed: the user is told; under the strict policy the session ends.
    fn recording_failed(&mut self, f: Failed, out: &tty::AsyncTerminal) {
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

/// Writes as much pending input to the PTY as it takes.
async fn write_some(
    pty: &mut pty_process::OwnedWritePty,
    pending: &mut VecDeque<u8>,
) -> std::io::Result<()> {
    let (front, _) = pending.as_slices();
    let n = pty.write(front).await?;
    pending.drain(..n);
    Ok(())
}

/// Shows a sessrec notice on the user's terminal (raw mode: explicit CR LF).
fn notify(term: &tty::AsyncTerminal, text: &str) {
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

/// Writes to the PTY without waiting; returns how much it took.
fn write_now(master: &std::os::fd::OwnedFd, bytes: &[u8]) -> usize {
    rustix::io::write(master, bytes).unwrap_or(0)
}
