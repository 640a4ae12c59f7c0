//! The one way sessrec prints. Commands write their results with `writeln!` on [`stdout`],
//! whose errors carry a [`ClosedPipe`] mark when the reader went away (`sessrec ls | head`), so
//! `main` ends such a command normally instead of panicking as `println!` does. Messages go to
//! standard error through [`warn`] and [`note`]. Any text that comes from a recording, a
//! manifest, the store or a user's environment goes through [`safe`] first.

use std::fmt::Display;
use std::io::{self, Write};

pub use sessrec_formats::terminal_safe as safe;

/// Marks the error of a write to standard output whose reader has gone away.
#[derive(Debug)]
pub struct ClosedPipe;

impl Display for ClosedPipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for ClosedPipe {}

/// Standard output (line-buffered, locked for the command).
pub struct Stdout(io::StdoutLock<'static>);

/// Standard output, for a command's results.
pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

/// `error`, marked as [`ClosedPipe`] if it says the reader went away.
pub fn mark_closed_pipe(error: io::Error) -> io::Error {
    if error.kind() == io::ErrorKind::BrokenPipe {
        io::Error::new(io::ErrorKind::BrokenPipe, ClosedPipe)
    } else {
        error
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(mark_closed_pipe)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf).map_err(mark_closed_pipe)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(mark_closed_pipe)
    }
}

/// JSON from `serde_json` made safe on a terminal, as the same JSON value
/// ([`sessrec_formats::json_safe`]).
pub fn json_safe(json: String) -> String {
    sessrec_formats::json_safe(&json).into_owned()
}

/// `result` with a write to a closed standard output counted as done: for commands whose exit
/// status is their answer (`verify`, `info`), which must not turn into 0 because the reader
/// went away (`sessrec verify F | head -c0` still exits with the verdict).
pub fn unless_closed(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if marked_closed(&e) => Ok(()),
        other => other,
    }
}

/// Whether `error` (or one of its causes) is a write to a closed standard output: a normal end.
pub fn is_closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.is::<ClosedPipe>() || cause.downcast_ref::<io::Error>().is_some_and(marked_closed)
    })
}

/// Whether `error` is one [`mark_closed_pipe`] marked.
fn marked_closed(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<ClosedPipe>())
}

/// `sessrec: warning: MESSAGE` on standard error, made terminal-safe. A closed standard error
/// cannot be reported anywhere, so it is ignored.
pub fn warn(message: impl Display) {
    note(format_args!("warning: {message}"));
}

/// `sessrec: MESSAGE` on standard error, made terminal-safe.
pub fn note(message: impl Display) {
    let text = message.to_string();
    let _ = writeln!(io::stderr(), "sessrec: {}", safe(&text));
}

/// `sessrec: error: ERROR: CAUSE: CAUSE` (outermost first, each cause once), made
/// terminal-safe.
pub fn error(error: &anyhow::Error) {
    note(format_args!("error: {error:#}"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn json_stays_the_same_value_and_becomes_terminal_safe() {
        let value = serde_json::json!({"user": "a\u{9b}31m\u{202E}x\u{7f}\u{E0041}\n"});
        let text = json_safe(serde_json::to_string_pretty(&value).unwrap());
        assert!(text.is_ascii() && text.contains("{\n"), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn a_closed_pipe_is_recognised_through_context() {
        let closed = mark_closed_pipe(io::Error::from(io::ErrorKind::BrokenPipe));
        let error = Err::<(), _>(closed)
            .context("printing the table")
            .unwrap_err();
        assert!(is_closed_pipe(&error));
        let other = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(
            !is_closed_pipe(&other),
            "a broken socket is not a closed stdout"
        );
    }
}
