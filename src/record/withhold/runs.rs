//! Withheld runs: what one holds, whether it looks like a password or like work, and what the
//! recording gets for it.

use sessrec_formats::MarkerKind;
use zeroize::Zeroize;

use super::{Mode, Out, Policy, Reader, SuspiciousPolicy};

/// A run holds at most this many bytes; a longer one is ended and the next begins.
const RUN_LIMIT: usize = 64 * 1024;
/// A password is shorter than this.
const SUSPICIOUS_BYTES: usize = 256;
/// ... typed faster than this (µs).
const SUSPICIOUS_US: u64 = 60_000_000;
/// One program asking for this many secrets is reading commands, not passwords (sudo and
/// passwd ask 3 times at most; an ssh client reads every remote prompt of its session, so
/// the bar is well above a few sudo and passwd rounds).
const SAME_READER_RUNS: u32 = 8;

/// Why input is being withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The terminal is in canonical mode with echo off.
    EchoOff,
    /// The text left of the cursor is a secret prompt.
    Prompt,
}

/// One withheld run of keystrokes, up to its Enter.
pub struct Run {
    /// Why.
    pub reason: Reason,
    first: u64,
    /// When its last keystroke was typed.
    last: u64,
    keys: Vec<(u64, Vec<u8>)>,
    bytes: usize,
    enters: u32,
    reader: Reader,
    /// Raw mode: a line editor or a full-screen program reads it.
    raw: bool,
    /// Typed ahead of the program that read it.
    ahead: bool,
    /// The program showed what was typed, character for character, in raw mode: a line
    /// editor, not a password dialog (which shows nothing or `*`).
    echoed: bool,
}

impl Drop for Run {
    fn drop(&mut self) {
        for (_, k) in &mut self.keys {
            k.zeroize();
        }
    }
}

/// A suspicious run, as the audit log gets it (never its keystrokes).
#[derive(Debug, Clone)]
pub struct SuspiciousRun {
    /// When it ended (µs since the session started).
    pub time: u64,
    /// How many bytes were typed.
    pub keystrokes: usize,
    /// How many lines (Enters) in a row were withheld.
    pub lines: u32,
    /// How long it took (s).
    pub seconds: f64,
    /// Why it is suspicious.
    pub why: Vec<&'static str>,
    /// What the recording got: "recorded in the clear", "escrowed" or "dropped".
    pub action: &'static str,
}

/// What a run looked like.
pub struct Verdict {
    why: Vec<&'static str>,
    lines: u32,
}

impl Run {
    /// A run starting at `time`.
    pub fn new(time: u64, reason: Reason, reader: Reader, mode: Mode, ahead: bool) -> Run {
        Run {
            reason,
            first: time,
            last: time,
            keys: Vec::new(),
            bytes: 0,
            enters: 0,
            reader,
            raw: !mode.canonical,
            ahead,
            echoed: false,
        }
    }

    /// Adds keystrokes typed at `time`.
    pub fn push(&mut self, time: u64, bytes: &[u8]) {
        self.bytes += bytes.len();
        self.last = time;
        self.enters += bytes.iter().filter(|b| super::is_enter(b)).count() as u32;
        self.keys.push((time, bytes.to_vec()));
    }

    /// The output echoed a keystroke of this run verbatim.
    pub fn echoed(&mut self) {
        self.echoed = true;
    }

    /// The run holds as much as a run may.
    pub fn full(&self) -> bool {
        self.bytes >= RUN_LIMIT
    }

    /// The events for this run, ended at `now`.
    pub fn into_out(mut self, now: u64, verdict: Verdict, policy: Policy) -> Vec<Out> {
        let keys = std::mem::take(&mut self.keys);
        let seconds = now.saturating_sub(self.first) as f64 / 1e6;
        let suspicious = !verdict.why.is_empty();
        let treatment = if suspicious {
            policy.suspicious
        } else {
            SuspiciousPolicy::Escrow
        };
        let action = match treatment {
            SuspiciousPolicy::Record => "recorded in the clear",
            SuspiciousPolicy::Escrow if policy.escrow => "escrowed",
            _ => "dropped",
        };
        let why = match (self.reason, self.ahead) {
            (Reason::EchoOff, false) => "echo off",
            (Reason::EchoOff, true) => "echo off, typed ahead",
            (Reason::Prompt, false) => "password prompt",
            (Reason::Prompt, true) => "password prompt, typed ahead",
        };
        let label = if suspicious {
            MarkerKind::Suspicious.label(&format!(
                "{} keystrokes, {} line{} over {seconds:.3} s ({why}; {}); {action}",
                self.bytes,
                verdict.lines,
                if verdict.lines == 1 { "" } else { "s" },
                verdict.why.join(", ")
            ))
        } else {
            let escrowed = if action == "escrowed" {
                ", escrowed"
            } else {
                ""
            };
            MarkerKind::Withheld.label(&format!(
                "{} keystrokes over {seconds:.3} s ({why}){escrowed}",
                self.bytes
            ))
        };
        let mut out = Vec::with_capacity(keys.len() + 3);
        match action {
            "recorded in the clear" => {
                out.extend(keys.into_iter().map(|(t, b)| Out::Input(t, b)));
                out.push(Out::Marker(now, label));
            }
            "escrowed" => {
                out.push(Out::Marker(now, label.clone()));
                out.push(Out::Escrow {
                    time: now,
                    marker: label,
                    keys,
                });
            }
            _ => {
                let mut keys = keys;
                keys.iter_mut().for_each(|(_, k)| k.zeroize());
                out.push(Out::Marker(now, label));
            }
        }
        if suspicious {
            out.push(Out::Alert(SuspiciousRun {
                time: now,
                keystrokes: self.bytes,
                lines: verdict.lines,
                seconds,
                why: verdict.why,
                action,
            }));
        }
        out
    }
}

/// What recent runs were like: evasion shows over several of them.
#[derive(Default)]
pub struct History {
    /// Lines withheld since the last output that was not an echo.
    lines: u32,
    /// When that output came (µs).
    last_output: u64,
    /// Secrets read per process group (the most recent groups), however much was typed in
    /// the clear between them.
    readers: Vec<(i32, u32)>,
}

impl History {
    /// Output other than an echo arrived (a program answered, a prompt was shown).
    pub fn output_seen(&mut self, now: u64) {
        self.lines = 0;
        self.last_output = now;
    }

    /// Judges `run`, ended at `now`.
    pub fn judge(&mut self, run: &Run, now: u64) -> Verdict {
        // Keystrokes typed ahead of output that came since belong before it.
        if run.last >= self.last_output {
            self.lines += run.enters;
        }
        let read = match self.readers.iter_mut().find(|r| r.0 == run.reader.pgid) {
            Some(r) => {
                r.1 += 1;
                r.1
            }
            None => {
                if self.readers.len() >= 64 {
                    self.readers.remove(0);
                }
                self.readers.push((run.reader.pgid, 1));
                1
            }
        };
        let mut why = Vec::new();
        if run.enters > 1 || self.lines > 1 {
            why.push("more than one line");
        }
        if run.bytes > SUSPICIOUS_BYTES {
            why.push("over 256 bytes");
        }
        if now.saturating_sub(run.first) > SUSPICIOUS_US {
            why.push("over 60 s");
        }
        if run.raw && run.echoed && !run.reader.shell {
            why.push("a line editor showed it as typed");
        }
        if run.reader.shell {
            why.push(match (run.raw, run.reason) {
                (true, _) => "a shell's line editor read it",
                (false, Reason::EchoOff) => "echo off at a shell prompt",
                (false, Reason::Prompt) => "a shell read it after a password-like prompt",
            });
        }
        if run.reader.pgid != 0 && read >= SAME_READER_RUNS {
            why.push("one program read 8 secrets");
        }
        Verdict {
            why,
            lines: self.lines.max(run.enters),
        }
    }
}
