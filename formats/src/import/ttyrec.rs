//! ttyrec (ttyrec, termrec `-f ttyrec`): records of `sec: u32le, usec: u32le, len: u32le` and
//! `len` output bytes. No size, input or exit status is stored: the size comes from a leading
//! `CSI 8;ROWS;COLS t` (termrec writes one) or defaults to 80x24.

use std::io::BufRead;

use super::read_full;

use crate::model::{Event, EventData, Header, Micros};
use crate::open::{EventReader, EventSource, Format};
use crate::{FormatError, MAX_LINE, Result};

/// Whether the first bytes look like a ttyrec record header.
pub(crate) fn looks_like(head: &[u8]) -> bool {
    if head.len() < 12 {
        return false;
    }
    let usec = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let len = u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize;
    usec < 1_000_000 && len <= MAX_LINE
}

struct TtyrecReader<R> {
    r: R,
    start: Micros,
    last: Micros,
    record: u64,
    offset: u64,
    pending: Option<Event>,
    cut: Option<String>,
}

pub(crate) fn open<R: BufRead + Send + 'static>(r: R) -> Result<EventReader> {
    let mut reader = TtyrecReader {
        r,
        start: 0,
        last: 0,
        record: 0,
        offset: 0,
        pending: None,
        cut: None,
    };
    let first = reader.read_record()?;
    let mut header = Header::new(80, 24);
    if let Some((sec, ev)) = first {
        header.timestamp = Some(i64::from(sec));
        if let EventData::Output(bytes) = &ev.data
            && let Some((cols, rows)) = leading_size(bytes)
        {
            header.cols = cols;
            header.rows = rows;
        }
        reader.pending = Some(ev);
    }
    Ok(EventReader::new(Format::Ttyrec, header, Box::new(reader)))
}

/// `ESC [ 8 ; ROWS ; COLS t` at the start of the first record.
fn leading_size(bytes: &[u8]) -> Option<(u16, u16)> {
    let start = memchr::memmem::find(bytes.get(..64).unwrap_or(bytes), b"\x1b[8;")?;
    let rest = &bytes[start + 4..];
    let end = rest.iter().position(|&b| b == b't')?;
    let text = std::str::from_utf8(&rest[..end]).ok()?;
    let (rows, cols) = text.split_once(';')?;
    Some((cols.parse().ok()?, rows.parse().ok()?))
}

impl<R: BufRead> TtyrecReader<R> {
    /// Reads one record: its seconds field and the event.
    fn read_record(&mut self) -> Result<Option<(u32, Event)>> {
        let mut head = [0u8; 12];
        let got = read_full(&mut self.r, &mut head).map_err(|e| {
            FormatError::io(format!("reading ttyrec record {}", self.record + 1), e)
        })?;
        if got == 0 {
            return Ok(None);
        }
        self.record += 1;
        if got < 12 {
            self.cut = Some(format!(
                "the input ends inside the header of ttyrec record {} (byte {})",
                self.record, self.offset
            ));
            return Ok(None);
        }
        let sec = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let usec = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let len = u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize;
        if usec >= 1_000_000 {
            return Err(FormatError::record(
                format!("ttyrec record {}", self.record),
                self.offset,
                format!("microseconds field is {usec} (must be below 1000000)"),
            ));
        }
        if len > MAX_LINE {
            return Err(FormatError::TooLong {
                what: format!("ttyrec record {} at byte {}", self.record, self.offset),
                limit: MAX_LINE,
            });
        }
        let mut data = vec![0u8; len];
        let got = read_full(&mut self.r, &mut data)
            .map_err(|e| FormatError::io(format!("reading ttyrec record {}", self.record), e))?;
        if got < len {
            data.truncate(got);
            self.cut = Some(format!(
                "ttyrec record {} is cut after {got} of {len} bytes (byte {})",
                self.record, self.offset
            ));
        }
        self.offset += 12 + got as u64;
        let abs = u64::from(sec) * 1_000_000 + u64::from(usec);
        if self.record == 1 {
            self.start = abs;
        }
        // Clocks can step back; keep event times monotonic.
        let time = abs.saturating_sub(self.start).max(self.last);
        self.last = time;
        Ok(Some((sec, Event::output(time, data))))
    }
}

impl<R: BufRead + Send> EventSource for TtyrecReader<R> {
    fn next_event(&mut self) -> Result<Option<Event>> {
        if let Some(e) = self.pending.take() {
            return Ok(Some(e));
        }
        if self.cut.is_some() {
            return Ok(None);
        }
        Ok(self.read_record()?.map(|(_, e)| e))
    }

    fn truncation(&self) -> Option<String> {
        self.cut.clone()
    }
}
