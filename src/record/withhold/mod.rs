//! Keeps secrets typed at password prompts out of the recording, without giving the recorded
//! user a place to hide commands.
//!
//! Input is withheld while the PTY reads in canonical mode with echo off (`read -s`, sudo,
//! ssh, getpass, psql), or after output whose text left of the cursor is a secret prompt (echo
//! on, raw-mode dialogs such as pinentry, masked prompts, `vim -x`), until Enter. Keystrokes
//! typed ahead (after an Enter in the same read) are decided once the program's reaction is
//! seen: withheld if it turns echo off or shows a secret prompt, recorded once they are echoed
//! (or after [`TYPEAHEAD_WAIT`]). A run that looks like work rather than a password is
//! suspicious: its own marker, an alert, and the policy's treatment (record, escrow, drop).
//! A run's keystrokes are escrowed (encrypted to the policy's recipients) or dropped.

mod foreground;
mod mask;
mod prompt;
mod runs;
mod screen;
mod typeahead;

pub use foreground::reader;
pub use prompt::Prompts;
pub use runs::{Reason, SuspiciousRun};

use mask::Mask;
use runs::Run;
use screen::Screen;
#[cfg(test)]
use typeahead::TYPEAHEAD_WAIT;
use typeahead::{Settled, Window};

/// The PTY's line discipline settings that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    /// Canonical (line-by-line) input.
    pub canonical: bool,
    /// The terminal echoes what is typed.
    pub echo: bool,
}

impl Mode {
    /// Canonical mode with echo off: a program is reading a secret.
    pub fn secret(self) -> bool {
        self.canonical && !self.echo
    }
}

/// The process group reading the PTY.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reader {
    /// Its id (0: unknown).
    pub pgid: i32,
    /// Its leader is a shell.
    pub shell: bool,
}

/// What the withholder asks of the PTY, only when it needs to.
pub trait Probe {
    /// The PTY's mode now (a system call).
    fn mode(&self) -> Mode;
    /// Who reads the PTY now (a few system calls; once per withheld run).
    fn reader(&self) -> Reader;
    /// The PTY's foreground process group now (one system call; at each Enter).
    fn foreground(&self) -> i32;
}

/// What suspicious runs get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuspiciousPolicy {
    /// Recorded in the clear, like any input.
    Record,
    /// Escrowed (where escrow recipients are configured; else dropped).
    Escrow,
    /// Dropped, leaving the marker.
    Drop,
}

/// How withheld input is treated.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Escrow recipients are configured.
    pub escrow: bool,
    /// What suspicious runs get.
    pub suspicious: SuspiciousPolicy,
}

/// What the recording gets, in order.
#[derive(Debug)]
pub enum Out {
    /// Keystrokes to record as they are, typed at this time.
    Input(u64, Vec<u8>),
    /// A marker.
    Marker(u64, String),
    /// Keystrokes to escrow (with their times), next to the marker `marker`.
    Escrow {
        /// When the run ended.
        time: u64,
        /// The run's marker.
        marker: String,
        /// The keystrokes.
        keys: Vec<(u64, Vec<u8>)>,
    },
    /// A suspicious run, for the audit log.
    Alert(SuspiciousRun),
}

/// Decides, chunk by chunk, which input may be recorded.
pub struct Withholder {
    prompts: Prompts,
    screen: Screen,
    /// Output not drawn on the screen yet, and whether its newest chunk was an echo.
    unseen: Vec<u8>,
    unseen_echo: bool,
    /// The screen's draw count at the last keystroke: a prompt must be drawn after it.
    typed_at: u64,
    /// The last keystroke was an Enter (or none was typed yet).
    after_enter: bool,
    /// The last printable keys typed: a "prompt" that ends with them is their echo (a
    /// paste of `password:` into vim), not a program asking.
    typed_tail: Vec<u8>,
    mask: Mask,
    policy: Policy,
    /// The text left of the cursor is a secret prompt.
    armed: bool,
    run: Option<Run>,
    runs: runs::History,
    /// After an Enter: keystrokes typed ahead of the program's reaction.
    ahead: Option<Window>,
    /// The last input chunk: output that ends with it is the terminal echoing what was typed,
    /// not a program asking for a password.
    last_input: Vec<u8>,
    out: Vec<Out>,
}

/// Output kept for the screen before it is drawn; more is cut to the model's tail.
const UNSEEN_LIMIT: usize = 4 * screen::MODEL_TAIL;

/// How many printable keys [`Withholder::typed_it`] compares.
const TYPED_TAIL: usize = 8;

/// A prompt line with no words (`> `, `: `): the question is on the line above.
fn is_bare_prompt(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && t.len() <= 2 && t.chars().all(|c| matches!(c, '>' | ':' | '?' | '$' | '#'))
}

fn is_enter(b: &u8) -> bool {
    matches!(b, b'\r' | b'\n' | 3 | 4)
}

impl Withholder {
    /// A withholder matching `prompts` on a screen `rows` high.
    pub fn new(prompts: Prompts, policy: Policy, rows: u16) -> Self {
        Withholder {
            prompts,
            screen: Screen::new(rows),
            unseen: Vec::new(),
            unseen_echo: false,
            typed_at: 0,
            after_enter: true,
            typed_tail: Vec::new(),
            mask: Mask::new(),
            policy,
            armed: false,
            run: None,
            runs: runs::History::default(),
            ahead: None,
            last_input: Vec::new(),
            out: Vec::new(),
        }
    }

    /// What the recording gets since the last call.
    pub fn take(&mut self) -> std::vec::Drain<'_, Out> {
        self.out.drain(..)
    }

    /// Whether [`Withholder::take`] has anything (cheap; checked on every chunk).
    pub fn has_out(&self) -> bool {
        !self.out.is_empty()
    }

    /// The terminal changed size.
    pub fn resize(&mut self, rows: u16) {
        self.screen.resize(rows);
    }

    /// When [`Withholder::tick`] is due (µs), while keystrokes typed ahead wait.
    pub fn due(&self) -> Option<u64> {
        self.ahead.as_ref().map(|_| typeahead::TYPEAHEAD_POLL)
    }

    /// Notes output from the session at `now`. Returns the form to record when it differs (an
    /// echoed secret, masked).
    pub fn output(&mut self, bytes: &[u8], now: u64, probe: &dyn Probe) -> Option<Vec<u8>> {
        let masked = self.mask.on().then(|| self.mask.apply(bytes));
        // The screen is brought up to date only when it matters (the next keystroke): of bulk
        // output, only the end is ever drawn on it.
        self.unseen.extend_from_slice(bytes);
        if self.unseen.len() > UNSEEN_LIMIT {
            self.unseen
                .drain(..self.unseen.len() - screen::MODEL_TAIL - 1);
        }
        let echo = !self.last_input.is_empty() && bytes.ends_with(&self.last_input);
        self.unseen_echo = echo;
        if echo
            && self.last_input.iter().any(u8::is_ascii_alphanumeric)
            && let Some(run) = &mut self.run
        {
            run.echoed();
        }
        if !echo && bytes.iter().any(u8::is_ascii_graphic) {
            self.runs.output_seen(now);
            if let Some(w) = &mut self.ahead {
                w.answered();
            }
        }
        if self.ahead.is_some() {
            self.catch_up();
            if self.armed {
                self.resolve(now, probe);
            }
        }
        masked
    }

    /// Draws the output not yet drawn, and looks at the text left of the cursor: a secret
    /// prompt arms the withholding (unless the newest output was the echo of a keystroke).
    fn catch_up(&mut self) {
        if self.unseen.is_empty() {
            return;
        }
        self.screen.feed(&self.unseen);
        self.unseen.clear();
        if !self.unseen_echo {
            // A prompt comes after an Enter (a command started, an answer was given): text
            // next to the cursor after any other key is the user's own editing (vim's insert
            // mode, a cursor moved to the end of a line that says "password:").
            let (line, fresh) = self.screen.before_cursor(self.typed_at);
            self.armed = self.after_enter
                && fresh
                && !self.typed_it(&line)
                && (self.prompts.is_secret(&line)
                    || (is_bare_prompt(&line)
                        && self
                            .prompts
                            .is_secret(&self.screen.row_above_text(self.typed_at))));
        }
    }

    /// Whether `line` ends with what the user typed last (three characters or more).
    fn typed_it(&self, line: &str) -> bool {
        let typed = String::from_utf8_lossy(&self.typed_tail);
        let typed = typed.trim();
        typed.len() >= 3 && line.trim_end().ends_with(typed)
    }

    /// Looks again at keystrokes typed ahead (the program may have turned echo off).
    pub fn tick(&mut self, now: u64, probe: &dyn Probe) {
        self.catch_up();
        if self.ahead.is_some() {
            self.resolve(now, probe);
        }
    }

    /// Classifies an input chunk typed at `now`.
    pub fn input(&mut self, bytes: &[u8], now: u64, probe: &dyn Probe) {
        self.catch_up();
        self.typed_at = self.screen.drawn();
        // Keys typed ahead wait for what comes next, a prompt included.
        self.after_enter = bytes.iter().any(is_enter) || self.ahead.is_some();
        for &b in bytes.iter().filter(|b| (0x20..0x7f).contains(*b)) {
            if self.typed_tail.len() == TYPED_TAIL {
                self.typed_tail.remove(0);
            }
            self.typed_tail.push(b);
        }
        self.last_input.clear();
        self.last_input
            .extend_from_slice(&bytes[..bytes.len().min(64)]);
        if let Some(w) = &mut self.ahead {
            w.keys.push_back((now, bytes.to_vec()));
            self.resolve(now, probe);
            return;
        }
        let mode = probe.mode();
        self.classify(now, bytes, mode, probe, false);
    }

    /// The session ended: an open run leaves its marker, keystrokes still waiting are recorded.
    pub fn finish(&mut self, now: u64) {
        self.end_run(now);
        if let Some(mut w) = self.ahead.take() {
            self.out
                .extend(w.keys.drain(..).map(|(t, b)| Out::Input(t, b)));
        }
    }

    /// Classifies `bytes` (typed at `time`), segment by segment: what follows an Enter is typed
    /// ahead and waits.
    fn classify(&mut self, time: u64, bytes: &[u8], mode: Mode, probe: &dyn Probe, ahead: bool) {
        let cut = bytes
            .iter()
            .position(is_enter)
            .map_or(bytes.len(), |i| i + 1);
        let (seg, rest) = bytes.split_at(cut);
        let enter = seg.last().is_some_and(is_enter);
        // An echo-off run whose terminal echoes again without an Enter (the program gave up).
        if self
            .run
            .as_ref()
            .is_some_and(|r| r.reason == Reason::EchoOff && !mode.secret() && !self.armed)
        {
            self.end_run(time);
        }
        if self.run.is_some() || mode.secret() || self.armed {
            if self.run.is_none() {
                let reason = if mode.secret() {
                    Reason::EchoOff
                } else {
                    Reason::Prompt
                };
                self.mask.set(reason == Reason::Prompt);
                self.run = Some(Run::new(time, reason, probe.reader(), mode, ahead));
            }
            let run = self.run.as_mut().expect("a run was started above");
            run.push(time, seg);
            if enter {
                self.end_run(time);
            } else if run.full() {
                let reason = run.reason;
                self.end_run(time);
                // A secret longer than a run holds goes on being withheld.
                self.armed = reason == Reason::Prompt;
            }
        } else {
            self.out.push(Out::Input(time, seg.to_vec()));
            if enter {
                // What is typed next waits until the program this Enter started shows what
                // it does.
                if self.ahead.is_none() {
                    self.ahead = Some(Window::open(time, probe.foreground(), mode));
                }
            }
        }
        if !rest.is_empty() {
            let w = self
                .ahead
                .get_or_insert_with(|| Window::open(time, probe.foreground(), mode));
            w.keys.push_front((time, rest.to_vec()));
        }
    }

    /// Decides keystrokes typed ahead, a line at a time, as far as what is known allows.
    fn resolve(&mut self, now: u64, probe: &dyn Probe) {
        while let Some(w) = &mut self.ahead {
            let mode = probe.mode();
            if mode.secret() || self.armed {
                // The program now reads a secret: the next line typed ahead was for it. What
                // follows it waits for what the program does next.
                if w.keys.is_empty() {
                    self.ahead = None;
                    return;
                }
                let line = w.pop_line();
                let rest_waits = !w.keys.is_empty();
                let prompted = self.armed;
                for (t, b) in line {
                    self.classify(t, &b, mode, probe, true);
                }
                // The line typed ahead may have been the command that asked (`sudo -i` as the
                // first line into ssh), not the answer: the prompt stays armed for what is
                // typed next, until new output says otherwise.
                if prompted && self.run.is_none() {
                    self.armed = true;
                }
                if rest_waits && self.run.is_none() {
                    return;
                }
                if self.ahead.as_ref().is_some_and(|w| w.keys.is_empty()) {
                    self.ahead = None;
                }
                continue;
            }
            match w.settle(now, probe.foreground(), mode, || probe.reader().shell) {
                Settled::No => return,
                Settled::Record => {
                    let keys = std::mem::take(&mut w.keys);
                    self.ahead = None;
                    self.out
                        .extend(keys.into_iter().map(|(t, b)| Out::Input(t, b)));
                    return;
                }
            }
        }
    }

    /// Ends the open run, if any: its marker, and its keystrokes escrowed, recorded or dropped.
    fn end_run(&mut self, now: u64) {
        let Some(run) = self.run.take() else {
            return;
        };
        self.mask.set(false);
        self.armed = false;
        let verdict = self.runs.judge(&run, now);
        self.out.extend(run.into_out(now, verdict, self.policy));
    }
}

#[cfg(test)]
mod tests;
