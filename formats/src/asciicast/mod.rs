//! asciicast v1, v2 and v3: streaming readers into the [`crate::model`], pure encoders out of it.
//!
//! Readers detect the version from the first line (v1 is one JSON document and is read whole,
//! up to [`V1_LIMIT`]). v3 `#` comments and blank lines are skipped. Unknown header keys are kept in
//! [`Header::extra`]; unknown event codes become [`EventData::Other`]. Invalid UTF-8 travels in `b`
//! events (see the crate's `utf8` module docs in the README).

mod header;
mod reader;
mod v1;
mod writer;

pub use reader::AsciicastReader;
pub use v1::V1_LIMIT;
pub use writer::{Encoder, V2Encoder, V3Encoder, chunks};

use crate::model::Header;

/// The asciicast versions this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// v1: one JSON document with a `stdout` array of `[delay, data]`.
    V1,
    /// v2: header line, then `[absolute_time, code, data]` lines.
    V2,
    /// v3: header line, then `[interval, code, data]` lines, `#` comments allowed.
    V3,
}

/// Parses a header line of v2 or v3 (the version is read from it).
pub fn parse_header_line(line: &[u8]) -> crate::Result<(Version, Header)> {
    header::parse(line)
}

pub(crate) use v1::read as read_v1;

/// Checks that a header line a writer is about to write is within
/// [`MAX_HEADER`](crate::limits::MAX_HEADER).
pub fn check_header_line(line: &[u8]) -> crate::Result<()> {
    if line.len() > crate::limits::MAX_HEADER {
        return Err(crate::FormatError::TooLong {
            what: "the header to write".into(),
            limit: crate::limits::MAX_HEADER,
        });
    }
    Ok(())
}

/// Checks that a header read is one sessrec can write again: encoded, at most
/// [`MAX_HEADER_READ`](crate::limits::MAX_HEADER_READ) bytes.
pub(crate) fn check_header_read(header: &crate::Header) -> crate::Result<()> {
    let len = header::to_v3_line(header).len();
    if len > crate::limits::MAX_HEADER_READ {
        return Err(crate::FormatError::TooLong {
            what: "the header".into(),
            limit: crate::limits::MAX_HEADER_READ,
        });
    }
    Ok(())
}

/// Reads and parses the header line from `reader`; `None` when the input is empty.
pub(crate) fn read_header_line(
    reader: &mut impl std::io::BufRead,
) -> crate::Result<Option<(Version, Header)>> {
    use std::io::{BufRead, Read};
    let mut line = Vec::new();
    reader
        .take(crate::MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| crate::FormatError::io("reading the header", e))?;
    if line.len() > crate::MAX_LINE {
        return Err(crate::FormatError::TooLong {
            what: "line 1".into(),
            limit: crate::MAX_LINE,
        });
    }
    if line.is_empty() {
        return Ok(None);
    }
    header::parse(line.trim_ascii_end()).map(Some)
}
