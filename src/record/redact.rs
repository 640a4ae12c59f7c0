//! Keeps secrets typed at password prompts out of the recording.
//!
//! Input is withheld while the PTY is in canonical mode with echo off (ECHO clear, ICANON set:
//! `read -s`, sudo, ssh, getpass, psql), or after output that ends like a password prompt, until
//! Enter. Readline at a shell prompt and full-screen programs (vim, less) clear both ECHO and
//! ICANON: those keystrokes are commands and are kept. A withheld run leaves one marker with the
//! number of keystrokes and when they were typed.

use regex::Regex;
use sessrec_formats::MarkerKind;

/// Why input is being withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The terminal is in canonical mode with echo off.
    EchoOff,
    /// The last output looked like a password prompt.
    Prompt,
}

struct Run {
    reason: Reason,
    keystrokes: u64,
    first_us: u64,
}

/// Decides, chunk by chunk, which input may be recorded.
pub struct Redactor {
    prompts: Vec<Regex>,
    prompt_armed: bool,
    run: Option<Run>,
    /// The end of the last output line, to match prompts split across reads.
    tail: Vec<u8>,
    /// The last input chunk: output that ends with it is the terminal echoing what was typed,
    /// not a program asking for a password.
    last_input: Vec<u8>,
}

/// What to do with an input chunk.
pub enum Verdict {
    /// Record it.
    Record,
    /// Withhold it; when `Some`, the run ended with this chunk: record this marker label.
    Withhold(Option<String>),
}

impl Redactor {
    /// `prompts` are matched against the end of the output (the last 200 characters).
    pub fn new(prompts: Vec<Regex>) -> Self {
        Redactor {
            prompts,
            prompt_armed: false,
            run: None,
            tail: Vec::new(),
            last_input: Vec::new(),
        }
    }

    /// The built-in password prompt pattern: a line ending in "password:", "passphrase for key
    /// ...:", "PIN:", "token:" and the like. A constant that the tests below compile and
    /// exercise; should it ever fail to compile, recording refuses to start rather than run
    /// without it.
    pub fn default_prompts() -> Result<Vec<Regex>, regex::Error> {
        Regex::new(r"(?i)(pass(word|phrase|code)|\bpin|one-time code|otp|token)[^\n:]{0,80}:\s*$")
            .map(|r| vec![r])
    }

    /// Notes output from the session. Cheap on bulk output: only the last line can be a prompt,
    /// and only a line ending in `:` (and spaces) is matched against the patterns.
    pub fn output(&mut self, bytes: &[u8]) {
        let echo = !self.last_input.is_empty() && bytes.ends_with(&self.last_input);
        let end = bytes.trim_ascii_end();
        let line_start = memchr_last_newline(bytes).map_or(0, |i| i + 1);
        if line_start > 0 {
            self.tail.clear();
        }
        if end.last() != Some(&b':') || echo {
            // Keep a short tail so a prompt split across reads is still seen whole.
            self.keep_tail(&bytes[line_start..]);
            self.prompt_armed = false;
            return;
        }
        self.keep_tail(&bytes[line_start..]);
        let line = String::from_utf8_lossy(&self.tail);
        let line = line.trim_end();
        self.prompt_armed = !line.is_empty() && self.prompts.iter().any(|p| p.is_match(line));
    }

    fn keep_tail(&mut self, bytes: &[u8]) {
        self.tail
            .extend_from_slice(&bytes[bytes.len().saturating_sub(200)..]);
        if self.tail.len() > 400 {
            self.tail.drain(..self.tail.len() - 200);
        }
    }

    /// Classifies an input chunk typed at `time_us`, given whether the PTY now has echo off in
    /// canonical mode.
    pub fn input(&mut self, bytes: &[u8], time_us: u64, echo_off_canonical: bool) -> Verdict {
        self.last_input.clear();
        self.last_input
            .extend_from_slice(&bytes[..bytes.len().min(64)]);
        let reason = if echo_off_canonical {
            Some(Reason::EchoOff)
        } else if self.prompt_armed
            || self
                .run
                .as_ref()
                .is_some_and(|r| r.reason == Reason::Prompt)
        {
            Some(Reason::Prompt)
        } else {
            None
        };
        let Some(reason) = reason else {
            return Verdict::Record;
        };
        let run = self.run.get_or_insert(Run {
            reason,
            keystrokes: 0,
            first_us: time_us,
        });
        run.keystrokes += bytes.len() as u64;
        let enter = bytes
            .iter()
            .any(|&b| b == b'\r' || b == b'\n' || b == 3 || b == 4);
        if !enter {
            return Verdict::Withhold(None);
        }
        self.prompt_armed = false;
        let run = self.run.take().map(|r| marker(&r, time_us));
        Verdict::Withhold(run)
    }
}

fn marker(run: &Run, now_us: u64) -> String {
    let why = match run.reason {
        Reason::EchoOff => "echo off",
        Reason::Prompt => "password prompt",
    };
    MarkerKind::Withheld.label(&format!(
        "{} keystrokes over {:.3} s ({why})",
        run.keystrokes,
        now_us.saturating_sub(run.first_us) as f64 / 1e6
    ))
}

fn memchr_last_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().rposition(|&b| b == b'\n' || b == b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn withheld(v: &Verdict) -> bool {
        matches!(v, Verdict::Withhold(_))
    }

    #[test]
    fn the_default_prompt_pattern_compiles() {
        assert_eq!(Redactor::default_prompts().unwrap().len(), 1);
    }

    #[test]
    fn echo_off_canonical_is_withheld_until_enter() {
        let mut r = Redactor::new(Redactor::default_prompts().unwrap());
        assert!(withheld(&r.input(b"hun", 10, true)));
        assert!(withheld(&r.input(b"ter2", 20, true)));
        match r.input(b"\r", 1_500_010, true) {
            Verdict::Withhold(Some(m)) => {
                assert_eq!(m, "input withheld: 8 keystrokes over 1.500 s (echo off)")
            }
            _ => panic!("expected the marker"),
        }
        assert!(!withheld(&r.input(b"ls\r", 2_000_000, false)));
    }

    #[test]
    fn a_prompt_arms_it_and_readline_does_not() {
        let mut r = Redactor::new(Redactor::default_prompts().unwrap());
        r.output(b"[sudo] password for alice: ");
        assert!(withheld(&r.input(b"s3cret", 1, false)));
        assert!(withheld(&r.input(b"\r", 2, false)));
        r.output(b"\r\nalice@host:~$ ");
        // Typing "password:" at a shell prompt: each key is echoed back; that is not a prompt.
        for key in b"echo password:" {
            assert!(!withheld(&r.input(&[*key], 3, false)));
            r.output(&[*key]);
        }
        assert!(!withheld(&r.input(b"\r", 4, false)));
        r.output(b"Enter passphrase for key '/home/a/.ssh/id_ed25519': ");
        assert!(withheld(&r.input(b"x", 4, false)));
    }
}
