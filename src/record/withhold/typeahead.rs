//! Keystrokes typed ahead: after an Enter, whatever is typed before the program that Enter
//! started has shown what it does (turned echo off or shown a secret prompt: withheld; answered
//! otherwise and kept echo on for a moment: recorded) waits here. Each time the shell gets
//! the terminal back, the watch starts again: it may start the next program from the keys. Their echo proves nothing: the terminal echoes
//! type-ahead as the shell hands it over, before the next program turns echo off.

use std::collections::VecDeque;

use super::{Mode, is_enter};

/// Keystrokes typed ahead wait at most this long (µs) for a program that shows nothing
/// (`sleep 2; sudo ...`): it may still ask for a secret.
pub const TYPEAHEAD_WAIT: u64 = 30_000_000;
/// At most this much waits; more is recorded (a paste that long is not a password).
pub const TYPEAHEAD_LIMIT: usize = 64 * 1024;
/// While a window is open, the terminal is looked at this often (µs).
pub const TYPEAHEAD_POLL: u64 = 10_000;
/// A reader that answered (a prompt, a builtin's output, the next question) and this long (µs)
/// after the Enter showed no secret prompt and kept echo on is not asking for a secret.
const SETTLE: u64 = 300_000;

/// The time after an Enter until the program it started has shown what it does.
pub struct Window {
    since: u64,
    from: (i32, Mode),
    /// Output other than an echo came since the Enter.
    answered: bool,
    /// The keystrokes waiting.
    pub keys: VecDeque<(u64, Vec<u8>)>,
}

/// What is known now.
pub enum Settled {
    /// Not yet.
    No,
    /// A program other than a secret reader has it, or the shell is back: record them.
    Record,
}

impl Window {
    /// A window opened by an Enter at `since`, while the process group `pgid` read in `mode`.
    pub fn open(since: u64, pgid: i32, mode: Mode) -> Window {
        Window {
            since,
            from: (pgid, mode),
            answered: false,
            keys: VecDeque::new(),
        }
    }

    /// Output other than an echo arrived.
    pub fn answered(&mut self) {
        self.answered = true;
    }

    /// Whether the keystrokes waiting may be recorded, given the PTY's foreground process
    /// group and mode now (not a secret reader: the caller checked that first). `is_shell` is
    /// asked (it reads /proc) only when the reader or mode changed.
    pub fn settle(
        &mut self,
        now: u64,
        pgid: i32,
        mode: Mode,
        is_shell: impl FnOnce() -> bool,
    ) -> Settled {
        if (pgid, mode) != self.from {
            if is_shell() {
                // The shell has the terminal back: the keys may still be for the next program
                // it starts from them. Watch again from here.
                *self = Window {
                    keys: std::mem::take(&mut self.keys),
                    ..Window::open(now, pgid, mode)
                };
                return Settled::No;
            }
            // Another program has it: only what it answers counts, and the wait starts again.
            self.from = (pgid, mode);
            self.since = now;
            self.answered = false;
        }
        let elapsed = now.saturating_sub(self.since);
        let held: usize = self.keys.iter().map(|(_, k)| k.len()).sum();
        if (self.answered && elapsed >= SETTLE)
            || elapsed >= TYPEAHEAD_WAIT
            || held >= TYPEAHEAD_LIMIT
        {
            Settled::Record
        } else {
            Settled::No
        }
    }

    /// Takes the keystrokes up to and including the first Enter.
    pub fn pop_line(&mut self) -> Vec<(u64, Vec<u8>)> {
        let mut line = Vec::new();
        while let Some((t, mut b)) = self.keys.pop_front() {
            if let Some(i) = b.iter().position(is_enter) {
                let rest = b.split_off(i + 1);
                line.push((t, b));
                if !rest.is_empty() {
                    self.keys.push_front((t, rest));
                }
                break;
            }
            line.push((t, b));
        }
        line
    }
}
