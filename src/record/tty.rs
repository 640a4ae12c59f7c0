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

/// Whether the terminal behind `fd` (the PTY master reports its slave's settings) is in
/// canonical mode with echo off: a program is reading a secret.
pub fn reading_secret(fd: impl AsFd) -> bool {
    termios::tcgetattr(fd).is_ok_and(|t| {
        t.local_modes.contains(LocalModes::ICANON) && !t.local_modes.contains(LocalModes::ECHO)
    })
}
