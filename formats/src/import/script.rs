//! util-linux `script`: a typescript (first line `Script started on ...`) and a timing file,
//! classic (`DELAY BYTES` per line: output only) or advanced (`O|I DELAY BYTES`, `H DELAY NAME
//! VALUE`, `S DELAY SIGWINCH ROWS=R COLS=C`). With `--log-io` input and output share one log;
//! with separate `--log-in`/`--log-out` files the input log is found beside the timing file.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::civil::parse_datetime;
use super::read_full;
use crate::lines::{Line, LineReader};
use crate::model::{Event, EventData, Header, Micros};
use crate::open::{EventReader, EventSource, Format};
use crate::time::parse_seconds;
use crate::{FormatError, MAX_LINE, Result};

type Log = Box<dyn BufRead + Send>;

struct ScriptReader {
    timing: LineReader<BufReader<File>>,
    output: Log,
    /// A separate input log, when there is one.
    input: Option<Log>,
    advanced: bool,
    clock: Micros,
    queue: VecDeque<Event>,
    exit: Option<i32>,
    cut: Option<String>,
    done: bool,
}

pub(crate) fn open<R: BufRead + Send + 'static>(
    mut log: R,
    timing: Option<&Path>,
) -> Result<EventReader> {
    let timing_path = timing.ok_or_else(|| {
        FormatError::Invalid(
            "a script typescript needs its timing file: pass --timing FILE (or keep it beside the \
             typescript as NAME.tm)"
                .into(),
        )
    })?;
    let mut first = Vec::new();
    (&mut log)
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut first)
        .map_err(|e| FormatError::io("reading the typescript", e))?;
    let mut header = header_from_start_line(&String::from_utf8_lossy(&first));
    let open_timing = || -> Result<LineReader<BufReader<File>>> {
        let file = File::open(timing_path).map_err(|e| {
            FormatError::io(
                format!("cannot open the timing file {}", timing_path.display()),
                e,
            )
        })?;
        Ok(LineReader::new(BufReader::new(file)))
    };
    // Sniff the timing format, and read the advanced format's leading header entries now: they
    // hold size, TERM and command, which the header needs before any event.
    let mut sniff = open_timing()?;
    let mut advanced = None;
    let (mut in_log, mut out_log) = (None, None);
    while let Some(Line::Complete(l) | Line::Unterminated(l)) = sniff.next_line()? {
        let is_advanced = *advanced.get_or_insert(l.first().is_some_and(u8::is_ascii_alphabetic));
        let text = String::from_utf8_lossy(l);
        let mut parts = text.splitn(4, ' ');
        if !is_advanced || parts.next() != Some("H") {
            break;
        }
        let _delay = parts.next();
        let (name, value) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        match name {
            "COLUMNS" => header.cols = value.parse().unwrap_or(header.cols),
            "LINES" => header.rows = value.parse().unwrap_or(header.rows),
            "TERM" => header.term_type = Some(value.to_owned()),
            "COMMAND" => header.command = Some(value.to_owned()),
            "START_TIME" => header.timestamp = parse_datetime(value).or(header.timestamp),
            "INPUT_LOG" => in_log = Some(value.to_owned()),
            "OUTPUT_LOG" => out_log = Some(value.to_owned()),
            _ => {}
        }
    }
    let mut reader = ScriptReader {
        timing: open_timing()?,
        output: Box::new(log),
        input: None,
        advanced: advanced.unwrap_or(false),
        clock: 0,
        queue: VecDeque::new(),
        exit: None,
        cut: None,
        done: false,
    };
    if let (Some(i), Some(o)) = (&in_log, &out_log)
        && i != o
    {
        reader.input = Some(open_input_log(timing_path, i)?);
    }
    Ok(EventReader::new(Format::Script, header, Box::new(reader)))
}

fn open_input_log(timing_path: &Path, name: &str) -> Result<Log> {
    let base = Path::new(name).file_name().unwrap_or_default();
    let path = timing_path.parent().unwrap_or(Path::new(".")).join(base);
    let file = File::open(&path).map_err(|e| {
        FormatError::io(
            format!(
                "cannot open the input log {} named by the timing file",
                path.display()
            ),
            e,
        )
    })?;
    let mut r = BufReader::new(file);
    let mut first = Vec::new();
    (&mut r)
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut first)
        .map_err(|e| FormatError::io("reading the input log", e))?;
    Ok(Box::new(r))
}

/// `Script started on DATE [COMMAND="..." TERM="..." TTY="..." COLUMNS="100" LINES="30"]`
fn header_from_start_line(line: &str) -> Header {
    let mut header = Header::new(80, 24);
    let rest = line
        .trim_end()
        .strip_prefix("Script started on ")
        .unwrap_or("");
    let (date, attrs) = rest.split_once(" [").unwrap_or((rest, ""));
    header.timestamp = parse_datetime(date);
    for (key, value) in attributes(attrs) {
        match key.as_str() {
            "COMMAND" => header.command = Some(value),
            "TERM" => header.term_type = Some(value),
            "COLUMNS" => header.cols = value.parse().unwrap_or(header.cols),
            "LINES" => header.rows = value.parse().unwrap_or(header.rows),
            _ => {}
        }
    }
    header
}

/// `KEY="VALUE" KEY="VALUE"` pairs.
fn attributes(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(eq) = rest.find("=\"") {
        let key = rest[..eq]
            .rsplit([' ', '['])
            .next()
            .unwrap_or("")
            .to_owned();
        let after = &rest[eq + 2..];
        let Some(end) = after.find('"') else { break };
        out.push((key, after[..end].to_owned()));
        rest = &after[end + 1..];
    }
    out
}

impl ScriptReader {
    fn take_bytes(&mut self, input: bool, n: usize, line: u64) -> Result<Vec<u8>> {
        if n > MAX_LINE {
            return Err(FormatError::TooLong {
                what: format!("the {n} bytes timing line {line} asks for"),
                limit: MAX_LINE,
            });
        }
        let mut data = vec![0u8; n];
        let src = match (&mut self.input, input) {
            (Some(i), true) => i,
            _ => &mut self.output,
        };
        let got =
            read_full(src, &mut data).map_err(|e| FormatError::io("reading the typescript", e))?;
        if got < n {
            data.truncate(got);
            self.cut = Some(format!(
                "the typescript ends early: timing line {line} wants {n} bytes, {got} were left"
            ));
            self.done = true;
        }
        Ok(data)
    }

    fn read_line(&mut self) -> Result<bool> {
        let line_no = self.timing.number() + 1;
        let text = match self.timing.next_line()? {
            None => return Ok(false),
            Some(Line::Complete(l) | Line::Unterminated(l)) => {
                String::from_utf8_lossy(l).into_owned()
            }
        };
        let bad = |why: &str| FormatError::line(line_no, format!("timing file: {why}: {text:?}"));
        let mut parts = text.split_ascii_whitespace();
        let kind = if self.advanced {
            parts.next().ok_or_else(|| bad("empty line"))?
        } else {
            "O"
        };
        let delay = parts
            .next()
            .and_then(parse_seconds)
            .ok_or_else(|| bad("invalid delay"))?;
        self.clock = self.clock.saturating_add(delay);
        let time = self.clock;
        match kind {
            "O" | "I" => {
                let n: usize = parts
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| bad("invalid byte count"))?;
                let data = self.take_bytes(kind == "I", n, line_no)?;
                let data = if kind == "O" {
                    EventData::Output(data)
                } else {
                    EventData::Input(data)
                };
                self.queue.push_back(Event { time, data });
            }
            "H" => {
                if parts.next() == Some("EXIT_CODE") {
                    self.exit = parts.next().and_then(|v| v.parse().ok());
                }
            }
            "S" => {
                let mut size = (None, None);
                for p in parts {
                    if let Some(v) = p.strip_prefix("ROWS=") {
                        size.1 = v.parse().ok();
                    } else if let Some(v) = p.strip_prefix("COLS=") {
                        size.0 = v.parse().ok();
                    }
                }
                if let (Some(cols), Some(rows)) = size {
                    self.queue.push_back(Event {
                        time,
                        data: EventData::Resize { cols, rows },
                    });
                }
            }
            _ => return Err(bad("unknown entry type")),
        }
        Ok(true)
    }

    /// After the timed bytes, the classic typescript ends with `Script done ... [COMMAND_EXIT_CODE="N"]`.
    fn read_footer(&mut self) -> Result<()> {
        let mut rest = Vec::new();
        (&mut self.output)
            .take(64 * 1024)
            .read_to_end(&mut rest)
            .map_err(|e| FormatError::io("reading the typescript", e))?;
        let text = String::from_utf8_lossy(&rest);
        if let Some(line) = text.lines().find(|l| l.starts_with("Script done on ")) {
            for (k, v) in attributes(line) {
                if k == "COMMAND_EXIT_CODE" && self.exit.is_none() {
                    self.exit = v.parse().ok();
                }
            }
        }
        Ok(())
    }
}

impl EventSource for ScriptReader {
    fn next_event(&mut self) -> Result<Option<Event>> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Ok(Some(e));
            }
            if self.done {
                return Ok(None);
            }
            if !self.read_line()? {
                self.done = true;
                self.read_footer()?;
                if let Some(status) = self.exit.take() {
                    self.queue.push_back(Event {
                        time: self.clock,
                        data: EventData::Exit(status),
                    });
                }
            }
        }
    }

    fn truncation(&self) -> Option<String> {
        self.cut.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_attributes() {
        let a = attributes(r#"Script done on 2026-11-26 21:35:16+00:00 [COMMAND_EXIT_CODE="3"]"#);
        assert_eq!(a, vec![("COMMAND_EXIT_CODE".to_string(), "3".to_string())]);
        let h = header_from_start_line(
            r#"Script started on 2026-11-26 20:57:07+00:00 [COMMAND="bash -l" TERM="xterm" COLUMNS="100" LINES="30"]"#,
        );
        assert_eq!(
            (h.cols, h.rows, h.command.as_deref()),
            (100, 30, Some("bash -l"))
        );
    }
}
