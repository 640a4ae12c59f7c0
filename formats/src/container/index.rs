//! Seeking: the trailer's frame index, or for a crashed file the checkpoints, found by walking
//! frame headers without decompressing anything.

use std::io::{BufRead, Read, Seek, SeekFrom};

use super::records::{Checkpoint, FrameEntry, Trailer, record_json, trailer_record};
use super::walk::{Item, walk};
use super::{ContainerReader, TRAILER_FOOTER};
use crate::asciicast::{AsciicastReader, Version, read_header_line};
use crate::model::{Event, Micros};
use crate::open::{EventReader, EventSource, Format};
use crate::{FormatError, Result};

/// Where each data frame is and which times it covers.
#[derive(Debug, Clone, Default)]
pub struct SeekIndex {
    /// The frames, in order.
    pub frames: Vec<FrameEntry>,
    /// Whether the index came from a trailer (the file is complete).
    pub from_trailer: bool,
}

impl SeekIndex {
    /// Reads the trailer's index, or rebuilds one from the checkpoints of a crashed file.
    pub fn load<R: Read + Seek>(file: &mut R) -> Result<SeekIndex> {
        if let Some(frames) = read_trailer_index(file)? {
            return Ok(SeekIndex {
                frames,
                from_trailer: true,
            });
        }
        let mut frames = Vec::new();
        walk(file, |_, item| {
            if let Item::Checkpoint(payload) = item
                && let Ok(cp) = serde_json::from_slice::<Checkpoint>(record_json(&payload))
            {
                frames.push(cp.entry);
            }
        })
        .map_err(|e| FormatError::io("reading the recording's frames", e))?;
        Ok(SeekIndex {
            frames,
            from_trailer: false,
        })
    }

    /// The number of the frame to start decoding at to see every event at or after `t_ms`.
    pub fn frame_for(&self, t_ms: u64) -> Option<usize> {
        let after = self.frames.partition_point(|f| f.base_ms < t_ms);
        after.checked_sub(1)
    }
}

fn read_trailer_index<R: Read + Seek>(file: &mut R) -> Result<Option<Vec<FrameEntry>>> {
    let io = |e| FormatError::io("reading the trailer", e);
    let len = file.seek(SeekFrom::End(0)).map_err(io)?;
    if len < 16 {
        return Ok(None);
    }
    file.seek(SeekFrom::End(-8)).map_err(io)?;
    let mut foot = [0u8; 8];
    file.read_exact(&mut foot).map_err(io)?;
    if &foot[4..] != TRAILER_FOOTER {
        return Ok(None);
    }
    let json_len = u64::from(u32::from_le_bytes([foot[0], foot[1], foot[2], foot[3]]));
    if json_len + 16 > len || json_len > super::MAX_SKIPPABLE {
        return Ok(None);
    }
    file.seek(SeekFrom::End(-(json_len as i64) - 8))
        .map_err(io)?;
    let mut payload = vec![0u8; json_len as usize + 8];
    file.read_exact(&mut payload).map_err(io)?;
    Ok(trailer_record(&payload)
        .and_then(|r| serde_json::from_slice::<Trailer>(record_json(r)).ok())
        .map(|t| t.frames))
}

/// Opens a container and returns its events from time `t` on, decoding only from the frame that
/// holds `t` (the header comes from frame 0). The hash chain is not checked on this path; use
/// [`super::verify`] for that.
pub fn open_at<R: Read + Seek + Send + 'static>(mut file: R, t: Micros) -> Result<EventReader> {
    let seek = |file: &mut R, to: u64| {
        file.seek(SeekFrom::Start(to))
            .map_err(|e| FormatError::io("seeking in the recording", e))
    };
    seek(&mut file, 0)?;
    let header = v3_header(&mut ContainerReader::new(&mut file, Vec::new()).map_err(decoder)?)?;
    let index = SeekIndex::load(&mut file)?;
    let (reader, base_ms) = match index.frame_for(t / 1000) {
        Some(i) if i > 0 => {
            let frame = &index.frames[i];
            seek(&mut file, frame.offset)?;
            let reader =
                ContainerReader::from_frame(file, i as u64, frame.offset).map_err(decoder)?;
            (reader, frame.base_ms)
        }
        _ => {
            seek(&mut file, 0)?;
            let mut reader = ContainerReader::new(file, Vec::new()).map_err(decoder)?;
            v3_header(&mut reader)?;
            (reader, 0)
        }
    };
    let events = AsciicastReader::after_header(reader, Version::V3, base_ms * 1000);
    Ok(EventReader::new(
        Format::CastZst,
        header,
        Box::new(SkipUntil { inner: events, t }),
    ))
}

fn decoder(e: std::io::Error) -> FormatError {
    FormatError::io("starting the zstd decoder", e)
}

/// Reads the header line of a container, which must be asciicast v3.
fn v3_header(reader: &mut impl BufRead) -> Result<crate::Header> {
    match read_header_line(reader)? {
        Some((Version::V3, header)) => Ok(header),
        Some(_) => Err(FormatError::Header(
            "a .cast.zst must hold asciicast v3".into(),
        )),
        None => Err(FormatError::Header("the recording holds no header".into())),
    }
}

/// Drops events before `t`.
struct SkipUntil<S> {
    inner: S,
    t: Micros,
}

impl<S: EventSource> EventSource for SkipUntil<S> {
    fn next_event(&mut self) -> Result<Option<Event>> {
        loop {
            match self.inner.next_event()? {
                Some(e) if e.time < self.t => continue,
                other => return Ok(other),
            }
        }
    }

    fn truncation(&self) -> Option<String> {
        self.inner.truncation()
    }
}
