//! asciicast v1: one JSON document. It cannot be streamed without a streaming JSON parser, and v1
//! files are small legacy recordings, so it is read whole up to [`V1_LIMIT`].

use std::collections::VecDeque;
use std::io::Read;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::model::{Event, EventData, Header, Micros};
use crate::open::EventSource;
use crate::time::parse_seconds;
use crate::{FormatError, Result};

/// The largest asciicast v1 document read, in bytes.
pub const V1_LIMIT: u64 = 64 * 1024 * 1024;

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
    stdout: Vec<(Value, String)>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// The events of a v1 document, already parsed.
pub(crate) struct V1Reader {
    events: VecDeque<Event>,
}

impl EventSource for V1Reader {
    fn next_event(&mut self) -> Result<Option<Event>> {
        Ok(self.events.pop_front())
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
    let mut clock: Micros = 0;
    let mut events = VecDeque::with_capacity(doc.stdout.len());
    for (i, (delay, data)) in doc.stdout.into_iter().enumerate() {
        let d = parse_seconds(&delay.to_string())
            .ok_or_else(|| FormatError::Header(format!("stdout[{i}]: invalid delay {delay}")))?;
        clock = clock.saturating_add(d);
        events.push_back(Event {
            time: clock,
            data: EventData::Output(data.into_bytes()),
        });
    }
    Ok((header, V1Reader { events }))
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
    }
}
