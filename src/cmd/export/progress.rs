//! The export's progress line on a terminal (standard error): sessions and bytes done of the
//! total, the rate and the time left. Quiet when standard error is not a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the line is redrawn.
const EVERY: Duration = Duration::from_millis(200);

/// Progress of an export.
pub struct Progress {
    shown: bool,
    started: Instant,
    last: Option<Instant>,
    sessions: (usize, usize),
    bytes: (u64, u64),
}

impl Progress {
    /// Progress over `sessions` sessions of `bytes` bytes in all.
    pub fn new(sessions: usize, bytes: u64) -> Progress {
        Progress {
            shown: std::io::stderr().is_terminal(),
            started: Instant::now(),
            last: None,
            sessions: (0, sessions),
            bytes: (0, bytes),
        }
    }

    /// `n` more bytes copied.
    pub fn add_bytes(&mut self, n: u64) {
        self.bytes.0 = self.bytes.0.saturating_add(n);
        self.draw(false);
    }

    /// One more session done.
    pub fn session_done(&mut self) {
        self.sessions.0 += 1;
        self.draw(false);
    }

    /// Clears the line (the summary follows).
    pub fn finish(&mut self) {
        if self.shown && self.last.is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }

    fn draw(&mut self, force: bool) {
        if !self.shown {
            return;
        }
        let now = Instant::now();
        if !force && self.last.is_some_and(|t| now - t < EVERY) {
            return;
        }
        self.last = Some(now);
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[K{}",
            self.line(now - self.started)
        );
    }

    /// "exporting 12/500 sessions, 1.2/3.4 GB, 95 MB/s, 0:24 left".
    fn line(&self, elapsed: Duration) -> String {
        let (done, total) = self.bytes;
        let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
        let left = if done == 0 || rate <= 0.0 {
            "--:--".to_string()
        } else {
            let s = (total.saturating_sub(done) as f64 / rate) as u64;
            format!("{}:{:02}", s / 60, s % 60)
        };
        format!(
            "exporting {}/{} sessions, {:.1}/{:.1} GB, {:.0} MB/s, {left} left",
            self.sessions.0,
            self.sessions.1,
            done as f64 / 1e9,
            total as f64 / 1e9,
            rate / 1e6,
        )
    }
}

/// A writer that counts what goes through it into the progress.
pub struct Counted<'a, W> {
    pub inner: W,
    pub progress: &'a mut Progress,
}

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.progress.add_bytes(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_how_far_and_how_long() {
        let mut p = Progress::new(500, 2_000_000_000);
        p.shown = false;
        p.sessions.0 = 12;
        p.bytes.0 = 500_000_000;
        assert_eq!(
            p.line(Duration::from_secs(5)),
            "exporting 12/500 sessions, 0.5/2.0 GB, 100 MB/s, 0:15 left"
        );
    }
}
