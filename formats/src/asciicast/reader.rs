//! Streaming reader for the event lines of asciicast v2 and v3.

use std::borrow::Cow;
use std::io::BufRead;

use serde_json::Value;
use serde_json::value::RawValue;

use super::Version;
use crate::lines::{Line, LineReader};
use crate::model::{Event, EventData, Micros, parse_size};
use crate::open::EventSource;
use crate::time::parse_seconds;
use crate::utf8::{self, RAW_CODE};
use crate::{FormatError, Result};

/// Reads `[time, code, data]` lines one at a time. Memory use is one line.
pub struct AsciicastReader<R> {
    lines: LineReader<R>,
    version: Version,
    clock: Micros,
    cut: Option<String>,
}

impl<R: BufRead> AsciicastReader<R> {
    /// Reads the events that follow a header. `clock` is the absolute time (µs) the first v3
    /// interval is relative to (0 at the start of a file; a frame's base time when seeking).
    pub fn after_header(reader: R, version: Version, clock: Micros) -> Self {
        AsciicastReader {
            lines: LineReader::after_lines(reader, 1),
            version,
            clock,
            cut: None,
        }
    }

    /// The wrapped reader.
    pub fn get_ref(&self) -> &R {
        self.lines.get_ref()
    }

    /// Absolute time of the last event read.
    pub fn clock(&self) -> Micros {
        self.clock
    }

    /// The number of the next line to read, counting the header as line 1.
    fn line_no(&self) -> u64 {
        self.lines.number() + 1
    }
}

/// Parses one event line; `None` for comments and blank lines. Updates `clock`.
fn parse_line(
    line: &[u8],
    line_no: u64,
    version: Version,
    clock: &mut Micros,
) -> Result<Option<Event>> {
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() || (version == Version::V3 && trimmed[0] == b'#') {
        return Ok(None);
    }
    let (time, code, data): (&RawValue, Cow<'_, str>, Value) = serde_json::from_slice(trimmed)
        .map_err(|e| FormatError::line(line_no, format!("not an event [time, code, data]: {e}")))?;
    let t = parse_seconds(time.get())
        .ok_or_else(|| FormatError::line(line_no, format!("invalid time {}", time.get())))?;
    let time = match version {
        Version::V2 => t,
        _ => clock.saturating_add(t),
    };
    *clock = time;
    let text = |data: Value| -> Result<String> {
        match data {
            Value::String(s) => Ok(s),
            other => Err(FormatError::line(
                line_no,
                format!("event data must be a string, found {other}"),
            )),
        }
    };
    let data = match code.as_ref() {
        "o" => EventData::Output(text(data)?.into_bytes()),
        "i" => EventData::Input(text(data)?.into_bytes()),
        "m" => EventData::Marker(text(data)?),
        "r" => {
            let s = text(data)?;
            let (cols, rows) = parse_size(&s).ok_or_else(|| {
                FormatError::line(line_no, format!("invalid resize {s:?}, expected COLSxROWS"))
            })?;
            EventData::Resize { cols, rows }
        }
        RAW_CODE => {
            let s = text(data)?;
            match utf8::decode_raw(&s) {
                Some(('o', bytes)) => EventData::Output(bytes),
                Some((_, bytes)) => EventData::Input(bytes),
                None => {
                    return Err(FormatError::line(
                        line_no,
                        "invalid raw-bytes event, expected \"o:BASE64\" or \"i:BASE64\"",
                    ));
                }
            }
        }
        "x" => {
            let s = match data {
                Value::String(s) => s,
                other => other.to_string(),
            };
            match s.trim().parse() {
                Ok(status) => EventData::Exit(status),
                Err(_) => EventData::Other {
                    code: "x".into(),
                    data: s,
                },
            }
        }
        _ => EventData::Other {
            code: code.into_owned(),
            data: match data {
                Value::String(s) => s,
                other => other.to_string(),
            },
        },
    };
    Ok(Some(Event { time, data }))
}

impl<R: BufRead + Send> EventSource for AsciicastReader<R> {
    fn next_event(&mut self) -> Result<Option<Event>> {
        if self.cut.is_some() {
            return Ok(None);
        }
        loop {
            self.lines.skip_blank()?;
            let line_no = self.line_no();
            let (bytes, complete) = match self.lines.next_line()? {
                None => return Ok(None),
                Some(Line::Complete(b)) => (b, true),
                Some(Line::Unterminated(b)) => (b, false),
            };
            match parse_line(bytes, line_no, self.version, &mut self.clock) {
                Ok(Some(event)) => return Ok(Some(event)),
                Ok(None) => continue,
                // A last line without a newline that does not parse is where the file was cut.
                Err(_) if !complete => {
                    self.cut = Some(format!(
                        "the input ends inside line {line_no} ({} bytes of an incomplete event dropped)",
                        bytes.len()
                    ));
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn truncation(&self) -> Option<String> {
        self.cut.clone()
    }
}
