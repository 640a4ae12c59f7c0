//! A line reader that never allocates more than [`crate::MAX_LINE`] for one line and tells a
//! complete line from a final line cut short (no newline), which is how a truncated file ends.

use std::io::{BufRead, ErrorKind};

use crate::{FormatError, MAX_LINE, Result};

/// One line as read.
pub(crate) enum Line<'a> {
    /// A line that ended with `\n` (the newline and any `\r` before it are removed).
    Complete(&'a [u8]),
    /// The last bytes of the input, with no newline after them.
    Unterminated(&'a [u8]),
}

/// Reads lines with a bounded buffer and counts them.
pub(crate) struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    number: u64,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self::after_lines(inner, 0)
    }

    /// A reader whose first line is line `before + 1` (the lines before were read elsewhere).
    pub(crate) fn after_lines(inner: R, before: u64) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            number: before,
        }
    }

    /// The 1-based number of the line last returned.
    pub(crate) fn number(&self) -> u64 {
        self.number
    }

    pub(crate) fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Skips blank lines at memchr speed, counting them (see [`skip_blank_lines`]).
    pub(crate) fn skip_blank(&mut self) -> Result<()> {
        let n = skip_blank_lines(&mut self.inner)
            .map_err(|e| FormatError::io(format!("reading line {}", self.number + 1), e))?;
        self.number += n;
        Ok(())
    }

    /// Reads the next line, or `None` at the end of the input.
    pub(crate) fn next_line(&mut self) -> Result<Option<Line<'_>>> {
        self.buf.clear();
        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(FormatError::io(
                        format!("reading line {}", self.number + 1),
                        e,
                    ));
                }
            };
            if available.is_empty() {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                self.number += 1;
                return Ok(Some(Line::Unterminated(&self.buf)));
            }
            let (take, done) = match memchr::memchr(b'\n', available) {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            if self.buf.len() + take > MAX_LINE + 1 {
                return Err(FormatError::TooLong {
                    what: format!("line {}", self.number + 1),
                    limit: MAX_LINE,
                });
            }
            self.buf.extend_from_slice(&available[..take]);
            self.inner.consume(take);
            if done {
                self.number += 1;
                self.buf.pop();
                if self.buf.last() == Some(&b'\r') {
                    self.buf.pop();
                }
                return Ok(Some(Line::Complete(&self.buf)));
            }
        }
    }
}

/// Skips whole blank lines (white space up to a newline) at the reader's position and says how
/// many: a file of millions of empty lines costs what its bytes cost, not a call per line.
pub(crate) fn skip_blank_lines(r: &mut impl BufRead) -> std::io::Result<u64> {
    let mut lines = 0;
    loop {
        let available = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let blank = available
            .iter()
            .position(|b| !matches!(b, b'\n' | b'\r' | b' ' | b'\t'))
            .unwrap_or(available.len());
        // Only whole lines: white space up to the last newline of the run.
        let Some(end) = memchr::memrchr(b'\n', &available[..blank]) else {
            return Ok(lines);
        };
        lines += memchr::memchr_iter(b'\n', &available[..=end]).count() as u64;
        r.consume(end + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_reports_cut_tail() {
        let mut r = LineReader::new(&b"a\r\nbc\nde"[..]);
        assert!(matches!(r.next_line().unwrap(), Some(Line::Complete(b"a"))));
        assert!(matches!(
            r.next_line().unwrap(),
            Some(Line::Complete(b"bc"))
        ));
        assert!(matches!(
            r.next_line().unwrap(),
            Some(Line::Unterminated(b"de"))
        ));
        assert_eq!(r.number(), 3);
        assert!(r.next_line().unwrap().is_none());
    }

    #[test]
    fn skips_blank_lines_counting_them() {
        let mut r = LineReader::new(&b"\n\r\n  \n  x\n\n"[..]);
        r.skip_blank().unwrap();
        assert_eq!(r.number(), 3);
        assert!(matches!(
            r.next_line().unwrap(),
            Some(Line::Complete(b"  x"))
        ));
        assert_eq!(r.number(), 4);
        r.skip_blank().unwrap();
        assert_eq!(r.number(), 5);
        assert!(r.next_line().unwrap().is_none());
    }
}
