//! asciicast v1: one JSON document. It cannot be streamed without a streaming JSON parser, and v1
//! files are small legacy recordings, so it is read whole up to [`V1_LIMIT`].

use std::borrow::Cow;
use std::io::Read;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::model::{Event, EventData, Header, Micros};
use crate::open::EventSource;
use crate::time::parse_seconds;
use crate::{FormatError, Result};

pub use crate::limits::MAX_V1_DOCUMENT as V1_LIMIT;

#[derive(Deserialize)]
struct V1Doc {
    version: u8,
    width: u16,
    height: u16,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    env: Option<Map<String, Value>>,
    stdout: Stdout,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// The events of a v1 document, already parsed, kept compactly: 12 bytes an event beside its
/// text, so a document of millions of tiny events (the limit allows ten million) stays within
/// a reviewer's memory. Empty events only move the clock, and are not kept.
pub(crate) struct V1Reader {
    times: Vec<Micros>,
    /// Where each event's text ends in `text`.
    ends: Vec<u32>,
    text: String,
    next: usize,
}

impl EventSource for V1Reader {
    fn next_event(&mut self) -> Result<Option<Event>> {
        let Some(&time) = self.times.get(self.next) else {
            return Ok(None);
        };
        let start = self
            .next
            .checked_sub(1)
            .map_or(0, |i| self.ends[i] as usize);
        let end = self.ends[self.next] as usize;
        self.next += 1;
        Ok(Some(Event {
            time,
            data: EventData::Output(self.text.as_bytes()[start..end].to_vec()),
        }))
    }
}

/// The `stdout` array, read element by element straight into a [`V1Reader`].
struct Stdout(V1Reader);

impl<'de> Deserialize<'de> for Stdout {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_seq(StdoutVisitor)
    }
}

struct StdoutVisitor;

impl<'de> serde::de::Visitor<'de> for StdoutVisitor {
    type Value = Stdout;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of [delay, text] events")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Stdout, A::Error> {
        let mut r = V1Reader {
            times: Vec::new(),
            ends: Vec::new(),
            text: String::new(),
            next: 0,
        };
        let mut clock: Micros = 0;
        let mut i = 0usize;
        let mut moved = false;
        while let Some((delay, data)) = seq.next_element::<(serde_json::Number, Cow<'de, str>)>()? {
            let d = parse_seconds(&delay.to_string()).ok_or_else(|| {
                serde::de::Error::custom(format!("stdout[{i}]: invalid delay {delay}"))
            })?;
            clock = clock.saturating_add(d);
            i += 1;
            if data.is_empty() {
                moved = true;
                continue;
            }
            r.text.push_str(&data);
            r.times.push(clock);
            r.ends.push(r.text.len() as u32);
            moved = false;
        }
        if moved || r.times.is_empty() {
            // The end of the recording is its last event, even an empty one.
            r.times.push(clock);
            r.ends.push(r.text.len() as u32);
        }
        Ok(Stdout(r))
    }
}

/// Reads a whole v1 document.
pub(crate) fn read(reader: impl Read) -> Result<(Header, V1Reader)> {
    let mut text = Vec::new();
    reader
        .take(V1_LIMIT + 1)
        .read_to_end(&mut text)
        .map_err(|e| FormatError::io("reading asciicast v1", e))?;
    if text.len() as u64 > V1_LIMIT {
        return Err(FormatError::TooLong {
            what: "asciicast v1 document".into(),
            limit: V1_LIMIT as usize,
        });
    }
    let doc: V1Doc = serde_json::from_slice(&text).map_err(|e| {
        FormatError::line(
            e.line() as u64,
            format!("not an asciicast v1 document: {e}"),
        )
    })?;
    drop(text);
    if doc.version != 1 {
        return Err(FormatError::Header(format!(
            "unsupported asciicast version {}",
            doc.version
        )));
    }
    let mut extra = doc.extra;
    extra.remove("duration");
    let header = Header {
        cols: doc.width,
        rows: doc.height,
        term_type: doc
            .env
            .as_ref()
            .and_then(|e| e.get("TERM"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        command: doc.command,
        title: doc.title,
        env: doc.env,
        extra,
        ..Header::default()
    };
    Ok((header, doc.stdout.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_v1_document() {
        let doc =
            br#"{"version": 1, "width": 80, "height": 24, "duration": 1.5, "command": "/bin/bash",
            "title": "t", "env": {"TERM": "xterm", "SHELL": "/bin/bash"}, "extra": 7,
            "stdout": [[0.25, "a"], [1.000001, "b\u001b[0m"]]}"#;
        let (h, mut r) = read(&doc[..]).unwrap();
        assert_eq!(
            (h.cols, h.rows, h.term_type.as_deref()),
            (80, 24, Some("xterm"))
        );
        assert_eq!(h.extra.get("extra"), Some(&Value::from(7)));
        assert!(!h.extra.contains_key("duration"));
        assert_eq!(r.next_event().unwrap(), Some(Event::output(250_000, "a")));
        assert_eq!(
            r.next_event().unwrap(),
            Some(Event::output(1_250_001, "b\x1b[0m"))
        );
        assert_eq!(r.next_event().unwrap(), None);
        assert!(read(&br#"{"version": 1, "width": 80}"#[..]).is_err());
        // Empty events move the clock; the last one still ends the recording.
        let doc =
            br#"{"version": 1, "width": 8, "height": 2, "stdout": [[1, ""], [1, "x"], [2, ""]]}"#;
        let (_, mut r) = read(&doc[..]).unwrap();
        assert_eq!(r.next_event().unwrap(), Some(Event::output(2_000_000, "x")));
        assert_eq!(r.next_event().unwrap(), Some(Event::output(4_000_000, "")));
        assert_eq!(r.next_event().unwrap(), None);
    }
}
