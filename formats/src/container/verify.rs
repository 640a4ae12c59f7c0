//! `verify`: one pass over a whole file, checking the chain, the checkpoints, the signatures and
//! the trailer, and timing the events so a cut file can say up to when it is verified.

use std::io::{BufRead, Read, Seek, SeekFrom};

use super::integrity::{Damage, Integrity, Verdict};
use super::{ContainerReader, TRAILER_FOOTER};
use crate::keys::PublicKey;
use crate::time::parse_seconds;
use crate::{FormatError, Result};

/// The result of [`verify`].
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// What the pass established.
    pub integrity: Integrity,
    /// The verdict.
    pub verdict: Verdict,
    /// Event lines that could be read.
    pub events: u64,
    /// Time (ms) of the last event that could be read.
    pub last_event_ms: u64,
}

impl VerifyReport {
    /// Milliseconds of readable events after the last verified checkpoint: the unsigned tail.
    pub fn unverified_tail_ms(&self) -> u64 {
        self.last_event_ms
            .saturating_sub(self.integrity.verified_end_ms.unwrap_or(0))
    }

    /// Readable events after the last verified checkpoint.
    pub fn unverified_tail_events(&self) -> u64 {
        self.events.saturating_sub(self.integrity.verified_events)
    }
}

/// Verifies a `.cast.zst` against the `trusted` keys.
pub fn verify<R: Read + Seek>(mut file: R, trusted: Vec<PublicKey>) -> Result<VerifyReport> {
    let io = |e| FormatError::io("reading the recording", e);
    let len = file.seek(SeekFrom::End(0)).map_err(io)?;
    let mut has_footer = false;
    if len >= 8 {
        file.seek(SeekFrom::End(-4)).map_err(io)?;
        let mut foot = [0u8; 4];
        file.read_exact(&mut foot).map_err(io)?;
        has_footer = &foot == TRAILER_FOOTER;
    }
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    if has_footer {
        // A complete file: proven from its compressed bytes and records alone.
        if let Some(p) = super::fast::prove(&mut file, trusted.clone()).map_err(io)? {
            let verdict = p.integrity.verdict();
            return Ok(VerifyReport {
                integrity: p.integrity,
                verdict,
                events: p.events,
                last_event_ms: p.last_event_ms,
            });
        }
        file.seek(SeekFrom::Start(0)).map_err(io)?;
    }
    let mut reader = ContainerReader::new(file, trusted).map_err(io)?;
    let (events, last_event_ms) = time_events(&mut reader)?;
    let mut integrity = reader.integrity().clone();
    // A file cut short does not end with a trailer; one that does but whose frames do not reach
    // it had its length fields changed.
    if let (Some(cut), true, None) = (&integrity.cut, has_footer, &integrity.damage) {
        integrity.damage = Some(Damage {
            frame: integrity.data_frames,
            offset: cut.offset,
            reason: "the file ends with a trailer but the frames before it do not reach it \
                     (lengths were changed)"
                .into(),
        });
    }
    let verdict = integrity.verdict();
    Ok(VerifyReport {
        integrity,
        verdict,
        events,
        last_event_ms,
    })
}

/// Counts the v3 event lines and sums their intervals, reading only the time of each line.
fn time_events<R: BufRead>(reader: &mut R) -> Result<(u64, u64)> {
    let mut line = Vec::new();
    let mut first = true;
    let mut events = 0;
    let mut clock = 0u64;
    loop {
        line.clear();
        if !first {
            crate::lines::skip_blank_lines(reader)
                .map_err(|e| FormatError::io("reading the recording", e))?;
        }
        let n = (&mut *reader)
            .take(crate::MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| FormatError::io("reading the recording", e))?;
        if n == 0 || line.last() != Some(&b'\n') {
            // End, or an incomplete last line (a cut): it holds no whole event.
            return Ok((events, clock / 1000));
        }
        if std::mem::take(&mut first) {
            continue;
        }
        let text = line.trim_ascii();
        if text.is_empty() || text[0] == b'#' {
            continue;
        }
        let interval = text
            .strip_prefix(b"[")
            .and_then(|t| t.split(|&b| b == b',').next())
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(parse_seconds);
        if let Some(us) = interval {
            clock = clock.saturating_add(us);
            events += 1;
        }
    }
}
