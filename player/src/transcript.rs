//! A plain transcript of what the user saw: output rendered through a virtual terminal (avt),
//! soft-wrapped rows joined, escape sequences gone, full-screen programs (alternate screen) left
//! out as a terminal's scrollback leaves them out.

use std::io::Write;

use avt::Terminal;
use avt::observer::Transcript;
use sessrec_formats::{Event, EventData, FormatError};

use crate::screen::screen_size;
use crate::utf8::Utf8Decoder;

/// Why a transcript could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    /// Reading the recording failed.
    #[error(transparent)]
    Read(#[from] FormatError),
    /// Writing the transcript failed.
    #[error("writing the transcript")]
    Write(#[from] std::io::Error),
}

/// Renders `events` on a `cols`×`rows` terminal and writes the transcript lines to `out`.
pub fn write_transcript<W: Write>(
    events: impl Iterator<Item = Result<Event, FormatError>>,
    cols: u16,
    rows: u16,
    out: &mut W,
) -> Result<(), TranscriptError> {
    let (cols, rows) = screen_size(cols, rows);
    let mut terminal = Terminal::new(cols, rows)
        .map_err(|e| TranscriptError::Write(std::io::Error::other(e.to_string())))?;
    let mut transcript = Transcript::new();
    let mut decoder = Utf8Decoder::default();
    for event in events {
        let lines = match event?.data {
            EventData::Output(bytes) => {
                terminal.feed_with(decoder.decode(&bytes).as_str(), &mut transcript)
            }
            EventData::Resize { cols, rows } if cols > 0 && rows > 0 => {
                let (cols, rows) = screen_size(cols, rows);
                terminal.resize_with(cols, rows, &mut transcript)
            }
            _ => continue,
        };
        write_lines(out, &lines)?;
    }
    write_lines(out, &transcript.finish(&terminal))?;
    out.flush()?;
    Ok(())
}

/// Writes rows of the virtual terminal; characters that could act on the terminal the
/// transcript is read on (controls, bidi overrides, zero-width) are shown escaped.
fn write_lines<W: Write>(out: &mut W, lines: &[String]) -> std::io::Result<()> {
    for line in lines {
        out.write_all(sessrec_formats::terminal_safe_lines(line).as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_without_escapes_and_joins_wraps() {
        let events = vec![
            Ok(Event::output(0, "\x1b[1;31mred\x1b[0m\r\n")),
            Ok(Event::output(1, "abcdefghij\r\n\x1b]0;title\x07x")),
        ];
        let mut out = Vec::new();
        write_transcript(events.into_iter(), 4, 3, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "red\nabcdefghij\nx\n");
    }

    #[test]
    fn bidi_overrides_and_zero_width_are_escaped() {
        let events = vec![Ok(Event::output(0, "ls \u{202E}txt.exe\u{200B}\x7f\r\n"))];
        let mut out = Vec::new();
        write_transcript(events.into_iter(), 40, 3, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.contains('\u{202E}') && !text.contains('\u{200B}'),
            "{text:?}"
        );
        assert!(!text.contains('\x7f'), "{text:?}");
        assert!(text.contains("\\u{202e}"), "{text:?}");
    }
}
