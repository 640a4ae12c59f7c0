//! tlog JSON messages (`tlog-rec -w file`), one per line. Each message has `pos` (ms since the
//! recording started), a `timing` string and text and binary payloads:
//! `+N` wait N ms; `<N` / `>N` take N characters of `in_txt` / `out_txt`; `[A/B` / `]A/B` skip A
//! replacement characters of the text and take B bytes of `in_bin` / `out_bin`; `=WxH` resize.
//! One recording is read: messages of another `rec` id in the same file are skipped.

use std::collections::VecDeque;
use std::io::BufRead;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::lines::{Line, LineReader};
use crate::model::{Event, EventData, Header};
use crate::open::{EventReader, EventSource, Format};
use crate::{FormatError, Result};

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    rec: Option<String>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    term: Option<String>,
    #[serde(default)]
    session: Option<Value>,
    #[serde(default)]
    id: Option<u64>,
    pos: u64,
    #[serde(default)]
    time: Option<f64>,
    timing: String,
    #[serde(default)]
    in_txt: String,
    #[serde(default)]
    in_bin: Vec<u8>,
    #[serde(default)]
    out_txt: String,
    #[serde(default)]
    out_bin: Vec<u8>,
}

struct TlogReader<R> {
    lines: LineReader<R>,
    rec: Option<String>,
    queue: VecDeque<Event>,
    cut: Option<String>,
}

pub(crate) fn open<R: BufRead + Send + 'static>(r: R) -> Result<EventReader> {
    let mut reader = TlogReader {
        lines: LineReader::new(r),
        rec: None,
        queue: VecDeque::new(),
        cut: None,
    };
    let first = reader
        .next_message()?
        .ok_or_else(|| FormatError::Header("no tlog message".into()))?;
    let mut header = Header::new(80, 24);
    header.term_type = first.term.clone();
    header.timestamp = first.time.map(|t| t.floor() as i64);
    let mut info = Map::new();
    for (k, v) in [
        ("host", &first.host),
        ("user", &first.user),
        ("rec", &first.rec),
    ] {
        if let Some(v) = v {
            info.insert(k.into(), Value::String(v.clone()));
        }
    }
    if let Some(s) = &first.session {
        info.insert("session".into(), s.clone());
    }
    header.extra.insert("tlog".into(), Value::Object(info));
    reader.rec = first.rec.clone();
    let line = reader.lines.number();
    reader.expand(first, line)?;
    // The window size tlog logs before any I/O is the initial size, not a resize.
    if let Some(Event {
        data: EventData::Resize { cols, rows },
        ..
    }) = reader.queue.front()
    {
        header.cols = *cols;
        header.rows = *rows;
        reader.queue.pop_front();
    }
    Ok(EventReader::new(Format::Tlog, header, Box::new(reader)))
}

impl<R: BufRead> TlogReader<R> {
    fn next_message(&mut self) -> Result<Option<Message>> {
        loop {
            let line_no = self.lines.number() + 1;
            let (bytes, complete) = match self.lines.next_line()? {
                None => return Ok(None),
                Some(Line::Complete(b)) => (b, true),
                Some(Line::Unterminated(b)) => (b, false),
            };
            if bytes.trim_ascii().is_empty() {
                continue;
            }
            let msg: Message = match serde_json::from_slice(bytes) {
                Ok(m) => m,
                Err(_) if !complete => {
                    self.cut = Some(format!("the input ends inside line {line_no}"));
                    return Ok(None);
                }
                Err(e) => {
                    return Err(FormatError::line(
                        line_no,
                        format!("not a tlog message: {e}"),
                    ));
                }
            };
            if self.rec.is_some() && msg.rec != self.rec {
                continue;
            }
            return Ok(Some(msg));
        }
    }

    /// Turns one message into events.
    fn expand(&mut self, msg: Message, line: u64) -> Result<()> {
        let bad = |why: String| {
            FormatError::line(line, format!("tlog message {}: {why}", msg.id.unwrap_or(0)))
        };
        let mut clock = msg.pos.saturating_mul(1000);
        let (mut in_txt, mut out_txt) = (msg.in_txt.as_str(), msg.out_txt.as_str());
        let (mut in_bin, mut out_bin) = (msg.in_bin.as_slice(), msg.out_bin.as_slice());
        let timing = msg.timing.as_bytes();
        let mut i = 0;
        while i < timing.len() {
            let op = timing[i];
            i += 1;
            let start = i;
            while i < timing.len()
                && (timing[i].is_ascii_digit() || timing[i] == b'/' || timing[i] == b'x')
            {
                i += 1;
            }
            let arg = std::str::from_utf8(&timing[start..i]).unwrap_or("");
            let num = |s: &str| {
                s.parse::<u64>()
                    .map_err(|_| bad(format!("invalid timing entry {}{arg}", op as char)))
            };
            let pair = |s: &str| -> Result<(u64, u64)> {
                let (a, b) = s
                    .split_once('/')
                    .ok_or_else(|| bad(format!("invalid timing entry {}{s}", op as char)))?;
                Ok((num(a)?, num(b)?))
            };
            match op {
                b'+' => clock = clock.saturating_add(num(arg)?.saturating_mul(1000)),
                b'<' | b'>' => {
                    let txt = if op == b'<' {
                        &mut in_txt
                    } else {
                        &mut out_txt
                    };
                    let n = num(arg)? as usize;
                    let end = char_boundary(txt, n).ok_or_else(|| {
                        bad(format!(
                            "{}{n} wants more text than the message has",
                            op as char
                        ))
                    })?;
                    let (taken, rest) = txt.split_at(end);
                    *txt = rest;
                    self.push(op == b'<', clock, taken.as_bytes().to_vec());
                }
                b'[' | b']' => {
                    let (skip, take) = pair(arg)?;
                    let (txt, bin) = if op == b'[' {
                        (&mut in_txt, &mut in_bin)
                    } else {
                        (&mut out_txt, &mut out_bin)
                    };
                    let end = char_boundary(txt, skip as usize)
                        .ok_or_else(|| bad("skips more text than the message has".into()))?;
                    *txt = &txt[end..];
                    let take = take as usize;
                    if take > bin.len() {
                        return Err(bad("takes more binary bytes than the message has".into()));
                    }
                    let (taken, rest) = bin.split_at(take);
                    *bin = rest;
                    self.push(op == b'[', clock, taken.to_vec());
                }
                b'=' => {
                    let (w, h) = arg
                        .split_once('x')
                        .ok_or_else(|| bad(format!("invalid window entry ={arg}")))?;
                    let (cols, rows) = (num(w)? as u16, num(h)? as u16);
                    self.queue.push_back(Event {
                        time: clock,
                        data: EventData::Resize { cols, rows },
                    });
                }
                other => return Err(bad(format!("unknown timing entry {:?}", other as char))),
            }
        }
        Ok(())
    }

    /// Appends I/O, merging with the previous event of the same kind at the same time.
    fn push(&mut self, input: bool, time: u64, bytes: Vec<u8>) {
        if let Some(last) = self.queue.back_mut()
            && last.time == time
        {
            match (&mut last.data, input) {
                (EventData::Input(b), true) | (EventData::Output(b), false) => {
                    b.extend_from_slice(&bytes);
                    return;
                }
                _ => {}
            }
        }
        let data = if input {
            EventData::Input(bytes)
        } else {
            EventData::Output(bytes)
        };
        self.queue.push_back(Event { time, data });
    }
}

/// Byte index after `n` characters of `s`.
fn char_boundary(s: &str, n: usize) -> Option<usize> {
    if n == 0 {
        return Some(0);
    }
    s.char_indices().nth(n - 1).map(|(i, c)| i + c.len_utf8())
}

impl<R: BufRead + Send> EventSource for TlogReader<R> {
    fn next_event(&mut self) -> Result<Option<Event>> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Ok(Some(e));
            }
            let Some(msg) = self.next_message()? else {
                return Ok(None);
            };
            let line = self.lines.number();
            self.expand(msg, line)?;
        }
    }

    fn truncation(&self) -> Option<String> {
        self.cut.clone()
    }
}
