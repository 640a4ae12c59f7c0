//! The user's terminal: raw mode for the session, restored on every way out.

use std::os::fd::AsFd;

use anyhow::{Context, Result};
use rustix::termios::{self, LocalModes, OptionalActions, Termios};

/// Raw mode on standard input while alive; the saved settings come back on drop (normal exit,
/// error, panic unwinding).
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Puts the terminal on standard input into raw mode.
    pub fn enable() -> Result<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).context("reading the terminal's settings")?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &raw)
            .context("setting the terminal to raw mode")?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), OptionalActions::Now, &self.saved);
    }
}

/// Whether standard input and standard output are terminals.
pub fn interactive() -> bool {
    termios::isatty(std::io::stdin().as_fd()) && termios::isatty(std::io::stdout().as_fd())
}

/// The size of the terminal on standard input, as (cols, rows).
pub fn size() -> Option<(u16, u16)> {
    let ws = termios::tcgetwinsize(std::io::stdin().as_fd()).ok()?;
    (ws.ws_col > 0 && ws.ws_row > 0).then_some((ws.ws_col, ws.ws_row))
}

/// The mode of the terminal behind `fd` (the PTY master reports its slave's settings).
pub fn mode(fd: impl AsFd) -> crate::record::withhold::Mode {
    match termios::tcgetattr(fd) {
        Ok(t) => crate::record::withhold::Mode {
            canonical: t.local_modes.contains(LocalModes::ICANON),
            echo: t.local_modes.contains(LocalModes::ECHO),
        },
        // Unknown: neither a secret nor raw.
        Err(_) => crate::record::withhold::Mode {
            canonical: true,
            echo: true,
        },
    }
}

/// What the withholder asks of the session's PTY.
pub struct PtyProbe<'a> {
    /// The PTY's master side.
    pub master: std::os::fd::BorrowedFd<'a>,
    /// Shells beyond /etc/shells (the policy's shell).
    pub shells: &'a [std::path::PathBuf],
}

impl crate::record::withhold::Probe for PtyProbe<'_> {
    fn mode(&self) -> crate::record::withhold::Mode {
        mode(self.master)
    }

    fn reader(&self) -> crate::record::withhold::Reader {
        crate::record::withhold::reader(self.master, self.shells)
    }

    fn foreground(&self) -> i32 {
        termios::tcgetpgrp(self.master).map_or(0, |p| p.as_raw_nonzero().get())
    }
}

/// The user's terminal as the session loop uses it: non-blocking while the session runs
/// (sessrec is then its only user; standard input and output share one open file, so both
/// change), blocking again on drop.
pub struct Terminal {
    fd: std::os::fd::OwnedFd,
    saved: rustix::fs::OFlags,
}

impl Terminal {
    /// Wraps standard input (and so the terminal behind standard output).
    pub fn new() -> Result<Terminal> {
        let fd = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .context("duplicating standard input")?;
        let saved = rustix::fs::fcntl_getfl(&fd).context("reading the terminal's flags")?;
        rustix::fs::fcntl_setfl(&fd, saved | rustix::fs::OFlags::NONBLOCK)
            .context("setting the terminal non-blocking")?;
        Ok(Terminal { fd, saved })
    }

    /// The terminal's descriptor, for `poll`.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Reads what was typed; `Ok(0)` when the terminal is gone.
    pub fn read(&self, buf: &mut [u8]) -> rustix::io::Result<usize> {
        rustix::io::read(&self.fd, buf)
    }

    /// Writes what the terminal takes now.
    pub fn write(&self, bytes: &[u8]) -> rustix::io::Result<usize> {
        rustix::io::write(&self.fd, bytes)
    }

    /// Writes a short notice outside the loop's flow, waiting at most a second for room.
    pub fn notice(&self, mut bytes: &[u8]) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        while !bytes.is_empty() && std::time::Instant::now() < deadline {
            match rustix::io::write(&self.fd, bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(rustix::io::Errno::AGAIN) => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                Err(_) => return,
            }
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = rustix::fs::fcntl_setfl(&self.fd, self.saved);
    }
}
