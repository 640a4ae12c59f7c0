//! The relay itself: keystrokes from the user's terminal to the PTY, output from the PTY to
//! the terminal, each recorded on the way.

use std::os::fd::AsFd;

use rustix::io::Errno;

use super::{DRAIN_QUIET, End, Loop, SHORT_READ};
use crate::record::tty;
use std::time::Instant;

impl Loop<'_> {
    /// Keystrokes go to the recording first, then to the shell: the line that ends something
    /// (the recorder, before the service) is never lost. Recording is a copy into memory.
    pub(super) fn read_keys(&mut self, keys: &mut [u8]) {
        match self.term.read(keys) {
            Ok(n) if n > 0 => {
                let typed = &keys[..n];
                let probe = tty::PtyProbe {
                    master: self.master.as_fd(),
                    shells: &self.shells,
                };
                if let Err(f) = self.tape.input(typed, &probe) {
                    self.ending.recording_failed(f, &self.term);
                }
                let written = if self.pending.is_empty() {
                    rustix::io::write(&self.master, typed).unwrap_or(0)
                } else {
                    0
                };
                self.pending.extend(&typed[written..]);
            }
            Err(Errno::AGAIN | Errno::INTR) => {}
            _ => {
                self.stdin_open = false;
                self.ending.stop(End::HungUp);
            }
        }
    }

    pub(super) fn write_pending(&mut self) {
        let (front, _) = self.pending.as_slices();
        match rustix::io::write(&self.master, front) {
            Ok(n) => {
                self.pending.drain(..n);
            }
            Err(Errno::AGAIN | Errno::INTR) => {}
            Err(_) => self.pending.clear(),
        }
    }

    /// Reads what the PTY has, up to the free room, recording it as it comes.
    pub(super) fn read_output(&mut self) {
        loop {
            if self.filled == self.out.len() && self.written > 0 {
                self.out.copy_within(self.written..self.filled, 0);
                self.filled -= self.written;
                self.written = 0;
            }
            if self.filled == self.out.len() {
                return;
            }
            match rustix::io::read(&self.master, &mut self.out[self.filled..]) {
                Ok(0) => self.pty_open = false,
                Ok(n) => {
                    let read = &self.out[self.filled..self.filled + n];
                    let probe = tty::PtyProbe {
                        master: self.master.as_fd(),
                        shells: &self.shells,
                    };
                    if let Err(f) = self.tape.output(read, &probe) {
                        self.ending.recording_failed(f, &self.term);
                    }
                    self.filled += n;
                    if self.status.is_some() {
                        let quiet = Instant::now() + DRAIN_QUIET;
                        self.drain_until = Some(self.drain_cap.map_or(quiet, |c| quiet.min(c)));
                    }
                    if n >= SHORT_READ {
                        continue;
                    }
                }
                Err(Errno::AGAIN) => {}
                Err(Errno::INTR) => continue,
                // EIO: every process closed the PTY's other side.
                Err(_) => self.pty_open = false,
            }
            return;
        }
    }

    /// Writes owed output to the terminal, as much as it takes now.
    pub(super) fn write_output(&mut self) {
        while self.term_open && self.written < self.filled {
            match self.term.write(&self.out[self.written..self.filled]) {
                Ok(n) if n > 0 => self.written += n,
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => break,
                _ => {
                    self.term_open = false;
                    self.ending.stop(End::HungUp);
                }
            }
        }
        if self.written == self.filled || !self.term_open {
            self.written = 0;
            self.filled = 0;
        }
    }
}
